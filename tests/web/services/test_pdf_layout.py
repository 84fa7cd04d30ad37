"""The PDF layout: wrapping that loses nothing and tables that break pages cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from fpdf import FPDF
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.web.test_exports import _pdf_pages
from web.services.pdf_layout import BODY, CELL_PADDING_X_MM, Layout, Style


def _pdf() -> FPDF:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    return pdf


@pytest.fixture
def layout() -> Layout:
    return Layout(_pdf())


@pytest.mark.parametrize(("text", "width_mm", "expected"), [
    ("", 50, ("",)),
    ("short", 50, ("short",)),
    ("one two three", 1000, ("one two three",)),
    ("first line\nsecond line", 1000, ("first line", "second line")),
    ("a\n\nb", 1000, ("a", "", "b")),
    ("alpha beta gamma delta", 20, ("alpha beta", "gamma delta")),
])
def test_wrap(layout: Layout, text: str, width_mm: float, expected: tuple[str, ...]) -> None:
    assert layout.wrap(text, width_mm, BODY) == expected


def test_a_word_wider_than_a_line_is_split_and_nothing_is_lost(layout: Layout) -> None:
    word = "Supercalifragilisticexpialidocious" * 3
    lines = layout.wrap(f"a {word} b", 30, BODY)
    assert len(lines) > 3
    assert "".join(lines).replace(" ", "") == f"a{word}b"
    assert all(layout.text_width(line, BODY) <= 30 for line in lines)


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(min_codepoint=32, max_codepoint=255,
                                  blacklist_characters="\x7f"), max_size=300),
       width=st.floats(min_value=5, max_value=180), bold=st.booleans())
def test_wrapped_lines_fit_and_keep_every_character(text: str, width: float, bold: bool) -> None:
    layout = Layout(_pdf())
    style = Style(9, bold=bold)
    lines = layout.wrap(text, width, style)
    for line in lines:
        assert layout.text_width(line, style) <= width + 1e-9 or len(line) == 1
    # Lines break at spaces (dropped there) or inside a long word: the rest is kept in order.
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


LATIN_1 = "".join(chr(c) for c in range(32, 256) if c != 0x7F)


@pytest.mark.parametrize("style", [BODY, Style(9, bold=True), Style(11, bold=True),
                                   Style(13.5)])
@pytest.mark.parametrize("text", ["Walls 2027", "", " ", "£1,234 - «quoted» café", LATIN_1])
def test_measured_widths_are_fpdfs(layout: Layout, style: Style, text: str) -> None:
    pdf = layout.pdf
    pdf.set_font("Helvetica", style="B" if style.bold else "", size=style.size_pt)
    for piece in (text, *text):  # the whole text, and each of its characters
        assert layout.text_width(piece, style) == pdf.get_string_width(piece), piece


TRUETYPE_FONT = Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf")


@pytest.mark.skipif(not TRUETYPE_FONT.exists(), reason=f"needs {TRUETYPE_FONT} (Debian's "
                    "fonts-liberation, which chromium brings)")
def test_a_truetype_font_is_measured_by_fpdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only core fonts are summed from their width table: a TrueType font's is keyed by
    glyph, so summing it by character would give every character the default width."""
    from web.services import pdf_layout

    pdf = _pdf()
    pdf.add_font("Liberation", fname=str(TRUETYPE_FONT))
    monkeypatch.setattr(pdf_layout, "FONT_FAMILY", "Liberation")
    layout = Layout(pdf)
    pdf.set_font("Liberation", size=9)
    for text in ("Walls 2027", "iiii", "WWWW"):
        assert layout.text_width(text, BODY) == pdf.get_string_width(text), text
    assert layout.text_width("iiii", BODY) < layout.text_width("WWWW", BODY)


def test_a_long_paragraph_runs_over_pages_with_every_line_drawn(layout: Layout) -> None:
    text = "\n".join(f"line {n}" for n in range(150))
    layout.draw(layout.paragraph(text))
    pages = _pdf_pages(bytes(layout.pdf.output()))
    assert len(pages) >= 3
    assert [t for page in pages for t in page] == [f"line {n}" for n in range(150)]


def test_a_table_repeats_its_header_on_every_page(layout: Layout) -> None:
    rows = [(str(n), f"row {n}") for n in range(120)]
    layout.draw(layout.table((20, 60), rows, header=["#", "Name"]))
    pages = _pdf_pages(bytes(layout.pdf.output()))
    assert len(pages) >= 2
    for page in pages:
        assert page[:2] == ["#", "Name"]
    drawn = [t for page in pages for t in page[2:]]
    assert drawn == [t for row in rows for t in row]


def test_a_row_taller_than_a_page_is_split_not_cut(layout: Layout) -> None:
    reason = "\n".join(f"reason line {n}" for n in range(100))
    layout.draw(layout.table((30, 100), [("Near Ltd", reason)], header=["Supplier", "Reason"]))
    pages = _pdf_pages(bytes(layout.pdf.output()))
    assert len(pages) >= 2
    drawn = [t for page in pages for t in page if t.startswith("reason line")]
    assert drawn == [f"reason line {n}" for n in range(100)]
    assert all(page[:2] == ["Supplier", "Reason"] for page in pages)


def test_kept_together_blocks_move_to_the_next_page_when_they_do_not_fit(layout: Layout) -> None:
    layout.draw(layout.paragraph("\n".join("filler" for _ in range(55))))
    heading = layout.heading("1. Near Ltd (S1)", 11)
    table = layout.table((40, 40), [("capability", "0.9")], header=["Component", "Value"])
    layout.draw(heading, table, keep_together=True)
    pages = _pdf_pages(bytes(layout.pdf.output()))
    assert "1. Near Ltd (S1)" not in pages[0]
    assert pages[1][:2] == ["1. Near Ltd (S1)", "Component"]


def test_a_table_cell_wraps_within_its_column(layout: Layout) -> None:
    table = layout.table((30,), [("external wall insulation and render repairs",)])
    lines = table.rows[0].cells[0]
    assert len(lines) > 1
    assert all(layout.text_width(line, BODY) <= 30 - 2 * CELL_PADDING_X_MM for line in lines)
    assert table.rows[0].height_mm > table.rows[0].line_height_mm * 2


def test_a_row_must_have_a_cell_per_column(layout: Layout) -> None:
    with pytest.raises(ValueError, match="2 cells in a table of 3 columns"):
        layout.table((10, 10, 10), [("a", "b")])


def test_a_heading_never_ends_a_page(layout: Layout) -> None:
    layout.draw(layout.paragraph("\n".join("filler" for _ in range(56))))
    layout.draw(layout.heading("Removed suppliers"),
                layout.table((40, 40), [("Far Ltd", "too far")], header=["Supplier", "Reason"]))
    pages = _pdf_pages(bytes(layout.pdf.output()))
    assert pages[0][-1] == "filler"
    assert pages[1][:3] == ["Removed suppliers", "Supplier", "Reason"]
