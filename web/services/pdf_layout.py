"""Wrapped paragraphs and bordered tables for the shortlist PDF, drawn with fpdf2's primitives.

fpdf2's ``multi_cell`` and ``table()`` measure a line again from its start at every
character added to it (quadratic in the line's length), and ``table()`` and
``unbreakable()`` lay everything out twice. For a shortlist of 25 suppliers that was about
100 ms of CPU per PDF, most of it in line breaking. Here each word is measured once per
font (:meth:`Layout.text_width` caches it) and lines are wrapped greedily at spaces, so the
cost grows with the length of the text, and every block is measured before it is drawn,
so a block that must stay on one page is moved to the next page without drawing it twice.

Measure with :meth:`Layout.paragraph`, :meth:`Layout.heading` and :meth:`Layout.table`
(which return frozen, measured blocks), then draw with :meth:`Layout.draw`. Text must
already be in the core fonts' Latin-1 range (the caller's job).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fpdf import FPDF
from fpdf.fonts import CoreFont

__all__ = ["Block", "Layout", "Paragraph", "Style", "Table"]

#: Space between a table cell's border and its text, left and right.
CELL_PADDING_X_MM = 1.0
#: Space between a table cell's border and its text, above and below.
CELL_PADDING_Y_MM = 0.75
#: Where a line's baseline sits below its top, as a share of the line height, plus a share
#: of the font size: fpdf2's own rule for ``cell`` (so the text sits where it used to).
BASELINE_LINE_SHARE = 0.5
BASELINE_FONT_SHARE = 0.3
FONT_FAMILY = "Helvetica"


@dataclasses.dataclass(frozen=True, slots=True)
class Style:
    """A font: bold or regular Helvetica at a size in points."""

    size_pt: float = 9
    bold: bool = False


BODY = Style()


@dataclasses.dataclass(frozen=True, slots=True)
class Paragraph:
    """Lines of text already wrapped to the page's width, with space around them."""

    lines: tuple[str, ...]
    style: Style
    line_height_mm: float
    space_before_mm: float = 0.0
    space_after_mm: float = 0.0
    #: A heading: never the last thing on a page, away from what it introduces.
    keep_with_next: bool = False

    @property
    def height_mm(self) -> float:
        return (self.space_before_mm + len(self.lines) * self.line_height_mm
                + self.space_after_mm)

    @property
    def first_part_mm(self) -> float:
        """The least of it that can start a page: the space above and one line."""
        return self.space_before_mm + self.line_height_mm


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    """One table row: each cell's wrapped lines and its style."""

    cells: tuple[tuple[str, ...], ...]
    styles: tuple[Style, ...]
    line_height_mm: float

    @property
    def line_count(self) -> int:
        return max((len(lines) for lines in self.cells), default=1) or 1

    @property
    def height_mm(self) -> float:
        return self.line_count * self.line_height_mm + 2 * CELL_PADDING_Y_MM


@dataclasses.dataclass(frozen=True, slots=True)
class Table:
    """A bordered table; the header row (if any) is repeated on every page it spans."""

    widths_mm: tuple[float, ...]
    header: Row | None
    rows: tuple[Row, ...]

    @property
    def height_mm(self) -> float:
        header = self.header.height_mm if self.header else 0.0
        return header + sum(row.height_mm for row in self.rows)

    @property
    def first_part_mm(self) -> float:
        """The least of it that can start a page: the header and the first row."""
        header = self.header.height_mm if self.header else 0.0
        return header + (self.rows[0].height_mm if self.rows else 0.0)


Block = Paragraph | Table


class Layout:
    """Measures and draws blocks on ``pdf``, from its left margin across its full width."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self._widths: dict[tuple[Style, str], float] = {}

    # -- measuring -----------------------------------------------------------------------

    def text_width(self, text: str, style: Style) -> float:
        """Width of ``text`` in mm in ``style`` (cached: words repeat across a report)."""
        key = (style, text)
        width = self._widths.get(key)
        if width is None:
            self._use(style)
            # A core font's width is the sum of its characters' widths (in thousandths of
            # the font size): summed here, as fpdf2 does it, without fpdf2's text-shaping
            # and fragment machinery, which was half the CPU of a shortlist PDF.
            # (Only a core font's table is keyed by character: a TrueType font's is by
            # glyph, so one is measured by fpdf2.)
            font = self.pdf.current_font
            width = (sum(map(font.cw.__getitem__, text)) * style.size_pt * 0.001 / self.pdf.k
                     if isinstance(font, CoreFont) else self.pdf.get_string_width(text))
            self._widths[key] = width
        return width

    def wrap(self, text: str, width_mm: float, style: Style) -> tuple[str, ...]:
        """``text`` broken into lines no wider than ``width_mm``: at spaces, at its own line
        breaks, and inside a word only when the word alone is wider than a line."""
        lines: list[str] = []
        space = self.text_width(" ", style)
        for paragraph in text.split("\n"):
            line: list[str] = []
            line_width = 0.0
            for word in paragraph.split(" "):
                word_width = self.text_width(word, style)
                extra = word_width + (space if line else 0.0)
                if line and line_width + extra > width_mm:
                    lines.append(" ".join(line))
                    line, line_width = [], 0.0
                    extra = word_width
                if word_width > width_mm:  # alone on a line by now (see above)
                    pieces = self._break_word(word, width_mm, style)
                    lines.extend(pieces[:-1])
                    line, line_width = [pieces[-1]], self.text_width(pieces[-1], style)
                else:
                    line.append(word)
                    line_width += extra
            lines.append(" ".join(line).rstrip(" "))
        return tuple(lines)

    def _break_word(self, word: str, width_mm: float, style: Style) -> list[str]:
        pieces, start, used = [], 0, 0.0
        for at, char in enumerate(word):
            char_width = self.text_width(char, style)
            if used + char_width > width_mm and at > start:
                pieces.append(word[start:at])
                start, used = at, 0.0
            used += char_width
        pieces.append(word[start:])
        return pieces

    def paragraph(self, text: str, *, style: Style = BODY, line_height_mm: float = 4.5,
                  space_before_mm: float = 0.0, space_after_mm: float = 0.0) -> Paragraph:
        """``text`` wrapped to the width between the margins."""
        width = self.pdf.epw - 2 * self.pdf.c_margin
        return Paragraph(self.wrap(text, width, style), style, line_height_mm,
                         space_before_mm, space_after_mm)

    def heading(self, text: str, size_pt: float = 13) -> Paragraph:
        """A bold heading with a little space above and below."""
        return dataclasses.replace(
            self.paragraph(text, style=Style(size_pt, bold=True), line_height_mm=size_pt * 0.5,
                           space_before_mm=2, space_after_mm=1),
            keep_with_next=True)

    def table(self, widths_mm: Sequence[float], rows: Sequence[Sequence[str]], *,
              header: Sequence[str] | None = None, bold_first_column: bool = False,
              line_height_mm: float = 4.5) -> Table:
        """A table of ``rows`` (strings) in columns of ``widths_mm``, with an optional
        bold ``header`` row."""
        widths = tuple(widths_mm)
        bold = Style(BODY.size_pt, bold=True)

        def row(cells: Sequence[str], styles: Sequence[Style]) -> Row:
            if len(cells) != len(widths):
                raise ValueError(f"a row of {len(cells)} cells in a table of {len(widths)} columns")
            return Row(tuple(self.wrap(cell, width - 2 * CELL_PADDING_X_MM, style)
                             for cell, width, style in zip(cells, widths, styles, strict=True)),
                       tuple(styles), line_height_mm)

        body_styles = [bold if bold_first_column and n == 0 else BODY
                       for n in range(len(widths))]
        return Table(
            widths,
            row(header, [bold] * len(widths)) if header is not None else None,
            tuple(row(cells, body_styles) for cells in rows),
        )

    # -- drawing -------------------------------------------------------------------------

    def draw(self, *blocks: Block, keep_together: bool = False) -> None:
        """Draw ``blocks`` one below the other from the current position, starting new
        pages as needed. With ``keep_together``, blocks that fit on one page but not on
        the rest of this one start on the next page. A heading starts a new page rather
        than end one: it goes over with the start of the block after it."""
        if keep_together:
            self._keep(sum(block.height_mm for block in blocks))
        for at, block in enumerate(blocks):
            if isinstance(block, Paragraph) and block.keep_with_next and at + 1 < len(blocks):
                self._keep(block.height_mm + blocks[at + 1].first_part_mm)
            if isinstance(block, Paragraph):
                self._draw_paragraph(block)
            else:
                self._draw_table(block)

    def _keep(self, height: float) -> None:
        """A new page if ``height`` does not fit on the rest of this one but fits on a page."""
        if height > self._room() and height <= self._page_room():
            self.pdf.add_page()

    def _room(self) -> float:
        return self.pdf.page_break_trigger - self.pdf.get_y()

    def _page_room(self) -> float:
        return self.pdf.page_break_trigger - self.pdf.t_margin

    def _use(self, style: Style) -> None:
        pdf = self.pdf
        emphasis = "B" if style.bold else ""
        if pdf.font_style != emphasis or pdf.font_size_pt != style.size_pt \
                or pdf.font_family != FONT_FAMILY.lower():
            pdf.set_font(FONT_FAMILY, style=emphasis, size=style.size_pt)

    def _text_line(self, x: float, top: float, line_height: float, text: str) -> None:
        if text:
            self.pdf.text(x, top + BASELINE_LINE_SHARE * line_height
                          + BASELINE_FONT_SHARE * self.pdf.font_size, text)

    def _draw_paragraph(self, paragraph: Paragraph) -> None:
        pdf = self.pdf
        self._use(paragraph.style)
        y = pdf.get_y() + paragraph.space_before_mm
        x = pdf.l_margin + pdf.c_margin
        for line in paragraph.lines:
            if y + paragraph.line_height_mm > pdf.page_break_trigger:
                pdf.add_page()
                self._use(paragraph.style)
                y = pdf.get_y()
            self._text_line(x, y, paragraph.line_height_mm, line)
            y += paragraph.line_height_mm
        pdf.set_xy(pdf.l_margin, y + paragraph.space_after_mm)

    def _draw_table(self, table: Table) -> None:
        pdf = self.pdf
        if table.header is not None:
            self._keep(table.first_part_mm)  # never a header alone at the foot of a page
            self._draw_row(table, table.header)
        for row in table.rows:
            self._draw_row(table, row)
        pdf.set_x(pdf.l_margin)

    def _draw_row(self, table: Table, row: Row) -> None:
        """Draw ``row``; on a new page if it does not fit here but fits on a page, and
        split across pages (its lines never lost) only if it is taller than a page."""
        header = table.header if row is not table.header else None
        header_height = header.height_mm if header else 0.0
        if row.height_mm > self._room() and row.height_mm <= self._page_room() - header_height:
            self._new_page(table, header)
        start, count = 0, row.line_count
        while start < count:
            fits = int((self._room() - 2 * CELL_PADDING_Y_MM) // row.line_height_mm)
            if fits <= 0:
                self._new_page(table, header)
                continue
            end = min(count, start + fits)
            self._draw_cells(table, row, start, end)
            start = end
            if start < count:
                self._new_page(table, header)

    def _new_page(self, table: Table, header: Row | None) -> None:
        self.pdf.add_page()
        if header is not None:
            self._draw_cells(table, header, 0, header.line_count)

    def _draw_cells(self, table: Table, row: Row, start: int, end: int) -> None:
        pdf = self.pdf
        top = pdf.get_y()
        height = (end - start) * row.line_height_mm + 2 * CELL_PADDING_Y_MM
        x = pdf.l_margin
        for lines, style, width in zip(row.cells, row.styles, table.widths_mm, strict=True):
            pdf.rect(x, top, width, height)
            self._use(style)
            for n, line in enumerate(lines[start:end]):
                self._text_line(x + CELL_PADDING_X_MM,
                                top + CELL_PADDING_Y_MM + n * row.line_height_mm,
                                row.line_height_mm, line)
            x += width
        pdf.set_xy(pdf.l_margin, top + height)
