"""Exports of a shortlist: CSV, XLSX, PDF and JSON, each carrying the reproducibility pack.

- **CSV**: the ranked table only, one row per supplier (removed ones last, with the
  reason), so it opens cleanly in any spreadsheet or script. Every row also carries the
  pack's identifiers (status, locked at, catalogue and algorithm versions, data version and
  data hash) and the outcome once recorded (the outcome on every row; ``awarded`` and the
  value on the awarded supplier's); the full search inputs, the outcome's note and its
  corrections are in the other formats.
- **XLSX**: a "Method" cover sheet (inputs, weights, versions, data hash, who locked it and
  when, the outcome with its note and corrections), the "Shortlist" ranked table (with the
  CSV's outcome columns), and one sheet per shortlisted supplier with its score breakdown.
- **PDF**: a printable A4 report with the same content, and the outcome with any
  corrections of it.
- **JSON**: everything, including the supplier records the data hash covers, so anyone can
  recompute the hash, and the outcome with its corrections (each with the outcome before
  and after, who, when and why).

Spreadsheet cells that start with ``= + - @``, a tab or a carriage return are prefixed with
``'`` (OWASP's advice against formula injection, CWE-1236); numbers stay numbers.

A locked shortlist is exported from its frozen snapshot; a draft from today's data, marked
as not frozen. :func:`export_shortlist` records each export in the audit trail.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
import xlsxwriter
from fpdf import FPDF
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet as XlsxWorksheet

from web.extensions import db
from web.models import MemberOrganisation, Shortlist, ShortlistStatus, Supplier, User
from web.models.base import utcnow
from web.services.audit import record_event
from web.services.pdf_layout import Block, Layout, Paragraph
from web.services.shortlists import (
    OBJECT_TYPE,
    describe_correction,
    describe_search,
    entry_record,
    ordered_entries,
    outcome_corrections,
    reproducibility_pack,
    supplier_records,
)

__all__ = ["FORMATS", "Export", "build_report", "export_shortlist", "neutralise"]

#: Characters that make a spreadsheet read a cell as a formula (or smuggle one in).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
SERVICE = "Framework Match"


@dataclasses.dataclass(frozen=True, slots=True)
class Export:
    """A file ready to send."""

    filename: str
    mimetype: str
    data: bytes


def neutralise(value: Any) -> Any:
    """``value`` safe for a spreadsheet cell: a string a spreadsheet would read as a
    formula gets a leading ``'``; anything else is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


# ---------------------------------------------------------------------------------------
# The report every format is written from


def build_report(
    shortlist: Shortlist, *, generated_at: dt.datetime | None = None
) -> dict[str, Any]:
    """Everything an export holds, as plain JSON data."""
    generated_at = generated_at or utcnow()
    locked = shortlist.status == ShortlistStatus.LOCKED and bool(shortlist.snapshot)
    snapshot = shortlist.snapshot or {}
    if locked:
        entries = [dict(e) for e in snapshot.get("entries", [])]
        suppliers = snapshot.get("suppliers", [])
        pack = reproducibility_pack(shortlist)
    else:
        ordered = ordered_entries(shortlist)
        # entry_record looks each supplier up by id: read them in one query and hold them,
        # so that each look-up finds its supplier in the session instead of querying.
        held = db.session.scalars(  # noqa: F841 (held for the look-ups)
            sa.select(Supplier).where(Supplier.id.in_({e.supplier_id for e in ordered}))
        ).all()
        entries = [entry_record(e) for e in ordered]
        suppliers = supplier_records(e.supplier_id for e in ordered if e.removed_at is None)
        # The pack's data hash covers these same records: read once, not twice.
        pack = reproducibility_pack(shortlist, records=suppliers)
    position = 0
    for entry in entries:
        if entry["status"] == "shortlisted":
            position += 1
            entry["position"] = position
        else:
            entry["position"] = None
    organisation = db.session.get(MemberOrganisation, shortlist.organisation_id)
    creator = db.session.get(User, shortlist.created_by_id)
    return {
        "format": "framework-match shortlist export",
        "schema": 1,
        "generated_at": generated_at.isoformat(),
        "shortlist": {
            "id": shortlist.id,
            "name": shortlist.name,
            "organisation": organisation.name if organisation else None,
            "status": shortlist.status.value,
            "notes": shortlist.notes,
            "created_at": _iso(shortlist.created_at),
            "created_by": creator.name if creator else None,
        },
        "reproducibility": pack,
        "method": [
            {"label": label, "value": value}
            for label, value in describe_search(
                pack["search_inputs"] or {}, catalogue_version=pack["catalogue_version"]
            )
        ],
        "entries": entries,
        "outcome": _outcome(shortlist),
        "suppliers": suppliers,
    }


def _outcome(shortlist: Shortlist) -> dict[str, Any] | None:
    if shortlist.outcome is None:
        return None
    supplier = (
        db.session.get(Supplier, shortlist.awarded_supplier_id)
        if shortlist.awarded_supplier_id else None
    )
    return {
        "outcome": shortlist.outcome,
        "awarded_supplier_id": shortlist.awarded_supplier_id,
        "awarded_supplier": supplier.name if supplier else None,
        "awarded_value": shortlist.awarded_value,
        "note": shortlist.outcome_note,
        "recorded_at": _iso(shortlist.outcome_at),
        # The outcome as it stood before each correction, and why it was corrected.
        "corrections": outcome_corrections(shortlist),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _pack_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The method section: the search inputs, then the versions and data hash."""
    pack = report["reproducibility"]
    rows = [(m["label"], m["value"]) for m in report["method"]]
    locked_by = pack.get("locked_by") or {}
    rows += [
        ("Status", report["shortlist"]["status"]),
        ("Locked by", locked_by.get("name") or "Not locked"),
        ("Locked at", pack.get("locked_at") or "Not locked"),
        ("Scores evaluated on", pack.get("evaluated_on") or "When each supplier was added"),
        ("Catalogue version", pack.get("catalogue_version") or "(none)"),
        ("Algorithm version", pack.get("algorithm_version") or ""),
        ("Data version", str(pack.get("data_version") or "")),
        ("Data hash (sha256)", pack.get("data_hash") or ""),
        ("Hash method", pack.get("hash_method") or ""),
        ("Generated at", report["generated_at"]),
    ]
    if not pack.get("locked"):
        rows.append(("Note", pack.get("note", "")))
    return rows


def _outcome_rows(outcome: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The recorded outcome as (label, value) rows: what, to whom, the note, when, and
    each correction in the PDF's words."""
    if outcome["outcome"] == "awarded":
        rows: list[tuple[str, Any]] = [("Outcome", "Awarded"),
                                        ("Awarded to", outcome["awarded_supplier"]),
                                        ("Awarded value (£)", outcome["awarded_value"])]
    else:
        rows = [("Outcome", "None of the suppliers was suitable")]
    if outcome.get("note"):
        rows.append(("Note", outcome["note"]))
    rows.append(("Recorded at", outcome.get("recorded_at") or ""))
    rows += [("Correction", _correction_text(c)) for c in outcome.get("corrections") or []]
    return rows


def _correction_text(correction: Mapping[str, Any]) -> str:
    """One correction of the outcome in words: when, by whom, what changed and why."""
    return (f"Corrected {correction['corrected_at'][:16].replace('T', ' ')} UTC by "
            f"{correction['corrected_by'] or 'someone'}: {describe_correction(correction)}")


def _components(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every component any entry's breakdown has, in order of first appearance."""
    names: dict[str, None] = {}
    for entry in entries:
        for component in (entry.get("breakdown") or {}).get("components", []):
            names.setdefault(component["component"], None)
    return list(names)


def _component(entry: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for component in (entry.get("breakdown") or {}).get("components", []):
        if component["component"] == name:
            return component  # type: ignore[no-any-return]
    return {}


def _table(report: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """The ranked table: header and rows (shortlisted by position, then removed)."""
    entries = report["entries"]
    components = _components(entries)
    pack = report["reproducibility"]
    header = ["position", "search_rank", "external_id", "name", "score"]
    for name in components:
        header += [f"{name}_value", f"{name}_weight", f"{name}_contribution"]
    header += [
        "distance_km", "social_value_gbp", "status", "reason_added", "removed_at",
        "reason_removed", "shortlist_id", "shortlist_status", "locked_at", "catalogue_version",
        "algorithm_version", "data_version", "data_hash", "outcome", "awarded", "awarded_value",
    ]
    outcome = report.get("outcome") or {}
    rows = []
    for entry in entries:
        breakdown = entry.get("breakdown") or {}
        row: list[Any] = [
            entry["position"], entry["rank"], entry["external_id"], entry["name"], entry["score"],
        ]
        for name in components:
            component = _component(entry, name)
            row += [component.get("value"), component.get("weight"),
                    component.get("contribution")]
        row += [
            breakdown.get("distance_km"), breakdown.get("social_value_gbp"), entry["status"],
            entry["reason_added"], entry["removed_at"], entry["reason_removed"],
            report["shortlist"]["id"], report["shortlist"]["status"], pack.get("locked_at"),
            pack.get("catalogue_version"), pack.get("algorithm_version"),
            pack.get("data_version"), pack.get("data_hash"),
        ]
        awarded = (outcome.get("outcome") == "awarded"
                   and entry.get("supplier_id") == outcome.get("awarded_supplier_id"))
        row += [
            outcome.get("outcome"), "yes" if awarded else None,
            outcome.get("awarded_value") if awarded else None,
        ]
        rows.append(row)
    return header, rows


# ---------------------------------------------------------------------------------------
# Writers


def write_csv(report: Mapping[str, Any]) -> bytes:
    """The ranked table as UTF-8 CSV (with a byte-order mark, so Excel reads £ right)."""
    header, rows = _table(report)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else neutralise(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def write_json(report: Mapping[str, Any]) -> bytes:
    """Everything, as indented UTF-8 JSON."""
    return json.dumps(report, indent=2, ensure_ascii=False, default=str).encode("utf-8") + b"\n"


def write_xlsx(report: Mapping[str, Any]) -> bytes:
    """A workbook: the Method cover sheet, the Shortlist table, a sheet per supplier."""
    buffer = io.BytesIO()
    # Strings are written as strings, never read as formulas, numbers or links: the
    # injection defence is neutralise(), and a supplier's text must come out as typed.
    workbook = xlsxwriter.Workbook(buffer, {
        "in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
        "strings_to_urls": False, "nan_inf_to_errors": True,
    })
    workbook.set_properties({
        "author": SERVICE,  # the document's creator (dc:creator)
        "title": _clean(f"Shortlist {report['shortlist']['id']}: {report['shortlist']['name']}"),
    })
    styles = _Styles(
        bold=workbook.add_format({"bold": True}),
        title=workbook.add_format({"bold": True, "font_size": 14}),
        wrap=workbook.add_format({"text_wrap": True, "valign": "top"}),
    )

    cover = _Sheet(workbook.add_worksheet("Method"))
    cover.sheet.set_column(0, 0, 26)
    cover.sheet.set_column(1, 1, 100)
    labelled = (styles.bold, styles.wrap)  # a label in bold, its value wrapped
    cover.append([f"Shortlist: {report['shortlist']['name']}"], styles.title)
    cover.append(["Organisation", report["shortlist"]["organisation"]], columns=labelled)
    cover.append(["Shortlist id", report["shortlist"]["id"]], columns=labelled)
    cover.append([])
    cover.append(["Inputs and method"], styles.bold)
    for label, value in _pack_rows(report):
        cover.append([label, value], columns=labelled)
    if report.get("outcome"):
        cover.append([])
        cover.append(["Outcome"], styles.bold)
        for label, value in _outcome_rows(report["outcome"]):
            cover.append([label, value], columns=labelled)

    table = _Sheet(workbook.add_worksheet("Shortlist"))
    header, rows = _table(report)
    table.append(header, styles.bold)
    for row in rows:
        table.append(row)
    table.sheet.freeze_panes(1, 0)
    for index, name in enumerate(header):
        table.sheet.set_column(index, index, 40 if name in (
            "name", "reason_added", "reason_removed") else max(12, len(name) + 2))

    used: set[str] = {"method", "shortlist"}
    for entry in report["entries"]:
        if entry["position"] is None:
            continue
        sheet = workbook.add_worksheet(_sheet_name(entry["position"], entry["name"] or "", used))
        _breakdown_sheet(_Sheet(sheet), entry, styles)

    workbook.close()
    return buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class _Styles:
    bold: Format
    title: Format
    wrap: Format


class _Sheet:
    """A worksheet written a row at a time, each value as its own type."""

    def __init__(self, sheet: XlsxWorksheet) -> None:
        self.sheet = sheet
        self.row = 0

    def append(self, values: Iterable[Any], style: Format | None = None, *,
               columns: Sequence[Format | None] = ()) -> None:
        """Write ``values`` as the next row, in ``columns``' style for the first columns
        and ``style`` for the rest."""
        for column, value in enumerate(values):
            cell = columns[column] if column < len(columns) else style
            if value is None:
                continue
            if isinstance(value, str):
                self.sheet.write_string(self.row, column, _clean(neutralise(value)), cell)
            elif isinstance(value, bool):
                self.sheet.write_boolean(self.row, column, value, cell)
            elif isinstance(value, int | float):
                self.sheet.write_number(self.row, column, value, cell)
            else:
                self.sheet.write_string(self.row, column, _clean(neutralise(str(value))), cell)
        self.row += 1


def _breakdown_sheet(sheet: _Sheet, entry: Mapping[str, Any], styles: _Styles) -> None:
    breakdown = entry.get("breakdown") or {}
    sheet.append([f"{entry['position']}. {entry['name']}"], styles.title)
    for label, value in (
        ("External id", entry["external_id"]),
        ("Search rank", entry["rank"]),
        ("Score (0–100)", entry["score"]),
        ("Distance (km)", breakdown.get("distance_km")),
        ("Estimated social value (£)", breakdown.get("social_value_gbp")),
        ("Reason added", entry["reason_added"]),
        ("Matched terms", ", ".join(breakdown.get("matched_terms", []))),
        ("Flags", ", ".join(breakdown.get("flags", []))),
    ):
        sheet.append([label, value], columns=(styles.bold,))
    sheet.append([])
    if not breakdown.get("components"):
        sheet.append(["The search did not rank this supplier, so it has no breakdown."])
    else:
        sheet.append(["Component", "Value (0–1)", "Weight", "Contribution", "Reason"],
                     styles.bold)
        for component in breakdown["components"]:
            sheet.append([component["component"], component["value"], component["weight"],
                          component["contribution"], component["reason"]],
                         columns=(None, None, None, None, styles.wrap))
        sheet.append(["Total", None, None, breakdown.get("total"), None], styles.bold)
    items = breakdown.get("social_value_items") or []
    if items:
        sheet.append([])
        sheet.append(["Social value option", "Unit", "Per £1m", "Quantity", "Proxy £/unit",
                      "£"], styles.bold)
        for item in items:
            sheet.append([item["title"], item["unit"], item["quantity_per_million"],
                          item["quantity"], item["proxy_gbp_per_unit"], item["gbp"]])
    for column, width in enumerate((28, 14, 12, 14, 80, 12)):
        sheet.sheet.set_column(column, column, width)


def _clean(text: str) -> str:
    """Drop control characters XLSX cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", text)


def _sheet_name(position: int, name: str, used: set[str]) -> str:
    """A unique, valid worksheet name: at most 31 characters, none of ``[]:*?/\\``, not
    starting or ending with an apostrophe."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in _clean(name)).strip(" '")
    base = f"{position} {cleaned}"[:31].rstrip(" '") or str(position)
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f" ({n})"
        candidate = base[: 31 - len(suffix)].rstrip(" '") + suffix
        n += 1
    used.add(candidate.lower())
    return candidate


# PDF -----------------------------------------------------------------------------------

# Core PDF fonts cover Latin-1 only; these are the common characters beyond it.
_PDF_REPLACEMENTS = str.maketrans({
    "‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...",
    "•": "-", "×": "x", "≈": "~", "≥": ">=", "≤": "<=", "→": "->", "€": "EUR",
    "\u00a0": " ", "\u2009": " ",
})


def _pdf_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        value = f"{value:,.2f}"
    text = str(value).translate(_PDF_REPLACEMENTS)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Report(FPDF):
    """An A4 report with a running footer."""

    def __init__(self, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report_title = title
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 5, _pdf_text(f"{self.report_title} - page {self.page_no()}/{{nb}}"),
                  align="C")


def write_pdf(report: Mapping[str, Any]) -> bytes:
    """A printable A4 report: title, inputs and method, ranked table, each breakdown."""
    shortlist = report["shortlist"]
    title = f"Shortlist {shortlist['id']}: {shortlist['name']}"
    pdf = _Report(_pdf_text(title))
    pdf.set_title(_pdf_text(title))
    pdf.set_author(SERVICE)
    pdf.set_creator(SERVICE)
    pdf.alias_nb_pages()
    pdf.add_page()
    page = Layout(pdf)

    def heading(text: str, size: int = 13) -> Paragraph:
        return page.heading(_pdf_text(text), size)

    def paragraph(text: str) -> Paragraph:
        return page.paragraph(_pdf_text(text))

    page.draw(heading(title, 16), paragraph(
        f"{shortlist['organisation'] or ''} - {shortlist['status']} - generated "
        f"{report['generated_at'][:16].replace('T', ' ')} UTC by {SERVICE}"))
    if shortlist["notes"]:
        page.draw(heading("Notes", 11), paragraph(shortlist["notes"]))

    page.draw(heading("Inputs and method"), page.table(
        (45, 135), [(_pdf_text(label), _pdf_text(value)) for label, value in _pack_rows(report)],
        bold_first_column=True))

    shortlisted = [e for e in report["entries"] if e["position"] is not None]
    removed = [e for e in report["entries"] if e["position"] is None]
    components = _components(shortlisted)
    if not shortlisted:
        page.draw(heading("Ranked suppliers"), paragraph("No suppliers are on this shortlist."))
    else:
        header = ["#", "Supplier", "Score",
                  *[c.replace("_", " ").capitalize() for c in components], "km", "Social value"]
        rows = []
        for entry in shortlisted:
            breakdown = entry.get("breakdown") or {}
            contributions = [_component(entry, name).get("contribution") for name in components]
            km = breakdown.get("distance_km")
            gbp = breakdown.get("social_value_gbp")
            rows.append([
                str(entry["position"]),
                _pdf_text(f"{entry['name']} ({entry['external_id']})"),
                _pdf_text(entry["score"]) if entry["score"] is not None else "-",
                *[_pdf_text(c) if c is not None else "-" for c in contributions],
                f"{km:.1f}" if km is not None else "-",
                _pdf_text(f"£{gbp:,.0f}") if gbp is not None else "-",
            ])
        widths = (8, 62, 14) + (20,) * len(components) + (16, 20)
        page.draw(heading("Ranked suppliers"),
                  page.table(widths, rows, header=[_pdf_text(h) for h in header]),
                  paragraph("Component columns show each component's contribution to the score "
                            "(points of 100); the breakdowns below give each value, weight and "
                            "reason."))

    if removed:
        page.draw(heading("Removed suppliers"), page.table(
            (70, 110), [(_pdf_text(f"{e['name']} ({e['external_id']})"),
                         _pdf_text(e["reason_removed"])) for e in removed],
            header=["Supplier", "Reason removed"]))

    outcome = report["outcome"]
    if outcome:
        blocks = [heading("Outcome")]
        if outcome["outcome"] == "awarded":
            blocks.append(paragraph(f"Awarded to {outcome['awarded_supplier']}, "
                                    f"£{outcome['awarded_value']:,.2f}."))
        else:
            blocks.append(paragraph("None of the suppliers was suitable."))
        if outcome["note"]:
            blocks.append(paragraph(outcome["note"]))
        blocks.extend(paragraph(_correction_text(c)) for c in outcome["corrections"])
        page.draw(*blocks)

    for entry in shortlisted:
        # One supplier's heading, facts and table on one page: a heading stranded at the
        # foot of a page, its table overleaf, reads as a supplier without a breakdown.
        page.draw(*_pdf_breakdown(page, entry, heading, paragraph), keep_together=True)
    return bytes(pdf.output())


def _pdf_breakdown(
    page: Layout, entry: Mapping[str, Any], heading: Callable[..., Paragraph],
    paragraph: Callable[[str], Paragraph],
) -> list[Block]:
    breakdown = entry.get("breakdown") or {}
    blocks: list[Block] = [
        heading(f"{entry['position']}. {entry['name']} ({entry['external_id']})", 11)]
    if entry["score"] is None:
        blocks.append(paragraph("The search did not rank this supplier, so it has no breakdown."))
    else:
        facts = [f"Score {entry['score']:.1f} of 100", f"search rank {entry['rank']}"]
        if breakdown.get("distance_km") is not None:
            facts.append(f"{breakdown['distance_km']:.1f} km away")
        if breakdown.get("social_value_gbp") is not None:
            facts.append(f"estimated social value £{breakdown['social_value_gbp']:,.0f}")
        blocks.append(paragraph(", ".join(facts) + "."))
        blocks.append(page.table(
            (26, 16, 16, 22, 100),
            [(_pdf_text(c["component"].replace("_", " ")), f"{c['value']:.2f}",
              f"{c['weight']:.2f}", f"{c['contribution']:.1f}", _pdf_text(c["reason"]))
             for c in breakdown.get("components", [])],
            header=["Component", "Value", "Weight", "Contribution", "Reason"]))
        if breakdown.get("matched_terms"):
            blocks.append(paragraph("Matched terms: " + ", ".join(breakdown["matched_terms"])))
        if breakdown.get("flags"):
            blocks.append(paragraph("Flags: " + ", ".join(breakdown["flags"])))
    if entry["reason_added"]:
        blocks.append(paragraph(f"Reason added: {entry['reason_added']}"))
    return blocks


# ---------------------------------------------------------------------------------------
# The entry point


FORMATS: dict[str, tuple[str, Callable[[Mapping[str, Any]], bytes]]] = {
    "csv": ("text/csv; charset=utf-8", write_csv),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", write_xlsx),
    "pdf": ("application/pdf", write_pdf),
    "json": ("application/json", write_json),
}


def export_shortlist(
    shortlist: Shortlist, fmt: str, *, actor: User, generated_at: dt.datetime | None = None
) -> Export:
    """Write ``shortlist`` as ``fmt`` (csv, xlsx, pdf or json) and audit the export.

    :raise KeyError: an unknown format.
    """
    mimetype, write = FORMATS[fmt]
    generated_at = generated_at or utcnow()
    report = build_report(shortlist, generated_at=generated_at)
    data = write(report)
    filename = f"shortlist-{shortlist.id}-{generated_at.date().isoformat()}.{fmt}"
    record_event(
        "shortlist.exported", actor=actor, organisation_id=actor.organisation_id,
        object_type=OBJECT_TYPE, object_id=shortlist.id,
        details={"format": fmt, "filename": filename,
                 "data_hash": report["reproducibility"]["data_hash"]},
    )
    return Export(filename, mimetype, data)
