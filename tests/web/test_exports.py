"""Shortlist exports: each file read back, the reproducibility pack, formula neutralisation."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from openpyxl import load_workbook

from tests.factories import make_supplier
from tests.web.test_shortlists_service import World, make_world
from web.extensions import db
from web.models import AuditEvent, Shortlist
from web.services import exports, matching
from web.services import shortlists as service

EVIL = '=HYPERLINK("http://x")'
GENERATED = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "_cache", None)


@pytest.fixture
def world(app_context: Flask) -> Iterator[World]:
    yield make_world(app_context)


@pytest.fixture
def shortlist(world: World) -> Shortlist:
    """Three suppliers ranked Near, Mid, then one with a formula for a name (furthest, no
    social value), and Far removed; notes that start with a minus sign."""
    evil = make_supplier(external_id="+EVIL", name=EVIL, latitude=53.60, longitude=-2.85,
                         description="External wall insulation for social housing.")
    world.suppliers.append(evil)
    from web.services.versions import bump_version

    bump_version()
    result = world.add(reason="@closest")
    for supplier in (world.suppliers[1], evil, world.suppliers[2]):
        world.add(supplier, shortlist=result.shortlist, reason="-good reviews")
    service.remove_entry(result.shortlist.entries[-1], actor=world.user, reason="=1+1 too far")
    service.update_shortlist(result.shortlist, actor=world.user, name="Walls 2027",
                             notes="-check capacity")
    return result.shortlist


def _export(shortlist: Shortlist, world: World, fmt: str) -> exports.Export:
    return exports.export_shortlist(shortlist, fmt, actor=world.user, generated_at=GENERATED)


def _lock(shortlist: Shortlist, world: World) -> None:
    service.lock_shortlist(shortlist, actor=world.colleague, directory=world.directory)


def test_neutralise_only_touches_strings_that_start_a_formula() -> None:
    assert [exports.neutralise(v) for v in (
        "=1+1", "+44 151", "-5", "@SUM(A1)", "\tx", "\rx", "plain", "a=b", "", -5, 1.5, None,
    )] == ["'=1+1", "'+44 151", "'-5", "'@SUM(A1)", "'\tx", "'\rx", "plain", "a=b", "", -5,
           1.5, None]


@pytest.mark.parametrize("locked", [False, True], ids=["draft", "locked"])
def test_csv_is_the_ranked_table_with_the_pack_on_every_row(
    world: World, shortlist: Shortlist, locked: bool
) -> None:
    if locked:
        _lock(shortlist, world)
    file = _export(shortlist, world, "csv")
    assert file.filename == f"shortlist-{shortlist.id}-2026-11-26.csv"
    assert file.mimetype == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(file.data.decode("utf-8-sig"))))
    assert [r["external_id"] for r in rows] == ["EWI-1", "EWI-2", "'+EVIL", "EWI-3"]
    assert [r["position"] for r in rows] == ["1", "2", "3", ""]
    assert [r["status"] for r in rows] == ["shortlisted"] * 3 + ["removed"]
    assert rows[2]["name"] == "'" + EVIL
    assert rows[0]["reason_added"] == "'@closest"
    assert rows[3]["reason_removed"] == "'=1+1 too far"
    first = rows[0]
    assert float(first["score"]) == pytest.approx(
        sum(float(first[f"{c}_contribution"]) for c in ("capability", "distance",
                                                        "social_value")), abs=0.05)
    assert float(first["capability_weight"]) > 0
    assert float(first["distance_km"]) >= 0
    assert float(first["social_value_gbp"]) > 0
    pack = service.reproducibility_pack(shortlist)
    assert {r["data_hash"] for r in rows} == {pack["data_hash"]}
    assert {r["algorithm_version"] for r in rows} == {pack["algorithm_version"]}
    assert {r["catalogue_version"] for r in rows} == {"2026.1"}
    assert {r["shortlist_status"] for r in rows} == {"locked" if locked else "draft"}
    assert bool(first["locked_at"]) is locked
    # no outcome recorded yet: the outcome columns are there, empty
    assert {(r["outcome"], r["awarded"], r["awarded_value"]) for r in rows} == {("", "", "")}


def test_xlsx_has_a_method_sheet_the_table_and_a_sheet_per_supplier(
    world: World, shortlist: Shortlist
) -> None:
    _lock(shortlist, world)
    file = _export(shortlist, world, "xlsx")
    assert file.filename.endswith(".xlsx")
    assert file.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(file.data))
    assert book.sheetnames == ["Method", "Shortlist", "1 Near Insulation Ltd",
                               "2 Mid Insulation Ltd", "3 =HYPERLINK(\"http   x\")"]
    assert all(len(name) <= 31 for name in book.sheetnames)

    method = {row[0]: row[1] for row in book["Method"].iter_rows(min_row=2, values_only=True)
              if row[0]}
    snap = shortlist.snapshot
    assert snap is not None
    assert method["Need"] == "external wall insulation"
    assert method["Radius"] == "50 km"
    assert method["Estimated contract value"] == "£500,000"
    assert method["Social value"] == "Apprenticeship weeks (weight 2)"
    assert method["Component weights"] == "capability 0.6, distance 0.25, social value 0.15"
    assert method["Catalogue version"] == "2026.1"
    assert method["Algorithm version"] == snap["algorithm_version"]
    assert method["Data hash (sha256)"] == snap["data_hash"]
    assert method["Locked by"] == "Colleague"
    assert method["Locked at"] == snap["locked_at"]
    assert method["Generated at"] == GENERATED.isoformat()

    table = list(book["Shortlist"].iter_rows(values_only=True))
    header = table[0]
    names = [row[header.index("name")] for row in table[1:]]
    assert names == ["Near Insulation Ltd", "Mid Insulation Ltd", "'" + EVIL,
                     "Far Insulation Ltd"]
    score = table[1][header.index("score")]
    assert isinstance(score, float)  # numbers stay numbers
    assert table[1][header.index("position")] == 1
    # no cell anywhere holds a formula
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)

    evil = list(book.worksheets[4].iter_rows(values_only=True))
    assert evil[0][0] == "3. " + EVIL  # starts with a digit: not a formula
    components = [row for row in evil if row[0] in ("capability", "distance", "social_value")]
    assert [row[0] for row in components] == ["capability", "distance", "social_value"]
    assert all(isinstance(row[3], int | float) for row in components)
    total = next(row for row in evil if row[0] == "Total")
    assert total[3] == pytest.approx(sum(row[3] for row in components), abs=0.05)
    # no text became a link, and the layout: labels and headers bold, header row frozen
    assert not any(sheet._hyperlinks for sheet in book.worksheets)
    assert book.properties.creator == "Framework Match"
    assert book.properties.title == f"Shortlist {shortlist.id}: {shortlist.name}"
    assert book["Shortlist"].freeze_panes == "A2"
    assert all(cell.font.b for cell in book["Shortlist"][1])
    assert book["Method"]["A2"].font.b and not book["Method"]["B2"].font.b
    assert book["Method"]["B2"].alignment.wrap_text


def test_sheet_names_are_valid_and_unique() -> None:
    used: set[str] = set()
    long = "A" * 40
    names = [exports._sheet_name(1, long, used), exports._sheet_name(1, long, used),
             exports._sheet_name(2, "'Quoted: [x]/y?*'", used), exports._sheet_name(3, "", used)]
    assert names == ["1 " + "A" * 29, "1 " + "A" * 25 + " (2)", "2 Quoted   x  y", "3"]
    assert all(len(n) <= 31 for n in names)


def test_json_carries_everything_and_the_hash_can_be_recomputed(
    world: World, shortlist: Shortlist
) -> None:
    _lock(shortlist, world)
    service.record_outcome(shortlist, actor=world.user, outcome="awarded",
                           awarded_supplier_id=world.suppliers[0].id, awarded_value=400000)
    file = _export(shortlist, world, "json")
    assert file.mimetype == "application/json"
    data = json.loads(file.data)
    assert data["schema"] == 1
    assert data["shortlist"]["name"] == "Walls 2027"
    assert data["shortlist"]["notes"] == "-check capacity"  # JSON is data: not neutralised
    pack = data["reproducibility"]
    assert pack["locked"] is True
    assert pack["search_inputs"]["params"]["need"] == "external wall insulation"
    assert pack["weights"] == {"capability": 0.6, "distance": 0.25, "social_value": 0.15}
    assert pack["catalogue_version"] == "2026.1"
    recomputed = service.data_hash(data["suppliers"], data_version=pack["data_version"])
    assert recomputed == pack["data_hash"] == shortlist.data_hash
    assert [e["name"] for e in data["entries"]] == [
        "Near Insulation Ltd", "Mid Insulation Ltd", EVIL, "Far Insulation Ltd"]
    assert data["entries"][0]["breakdown"]["components"][0]["component"] == "capability"
    assert data["outcome"]["awarded_supplier"] == "Near Insulation Ltd"
    assert data["outcome"]["awarded_value"] == 400000


def test_exports_after_a_correction_show_the_corrected_outcome_and_its_history(
    world: World, shortlist: Shortlist
) -> None:
    _lock(shortlist, world)
    service.record_outcome(shortlist, actor=world.user, outcome="awarded",
                           awarded_supplier_id=world.suppliers[0].id, awarded_value=40_000)
    locked = (dict(shortlist.snapshot or {}), shortlist.data_hash)
    service.correct_outcome(shortlist, actor=world.colleague, reason="Value mistyped",
                            outcome="awarded", awarded_supplier_id=world.suppliers[0].id,
                            awarded_value=400_000)
    service.correct_outcome(shortlist, actor=world.user, reason="Wrong supplier chosen",
                            outcome="awarded", awarded_supplier_id=world.suppliers[1].id,
                            awarded_value=400_000, note="Call-off 7")

    data = json.loads(_export(shortlist, world, "json").data)
    outcome = data["outcome"]
    assert (outcome["outcome"], outcome["awarded_supplier"], outcome["awarded_value"],
            outcome["note"]) == ("awarded", "Mid Insulation Ltd", 400_000, "Call-off 7")
    assert [(c["corrected_by"], c["reason"], c["before"]["supplier_name"],
             c["before"]["value"], c["after"]["supplier_name"], c["after"]["value"])
            for c in outcome["corrections"]] == [
        ("Colleague", "Value mistyped", "Near Insulation Ltd", 40_000, "Near Insulation Ltd",
         400_000),
        ("Ada Member", "Wrong supplier chosen", "Near Insulation Ltd", 400_000,
         "Mid Insulation Ltd", 400_000),
    ]
    # The frozen ranking is what it was: the hash still recomputes from the export.
    assert (data["reproducibility"]["data_hash"], shortlist.snapshot) == (locked[1], locked[0])
    assert service.data_hash(data["suppliers"], data_version=data["reproducibility"][
        "data_version"]) == locked[1]

    text = _pdf_text(_export(shortlist, world, "pdf").data)
    assert "Awarded to Mid Insulation Ltd, £400,000.00." in text
    for expected in ("by Colleague: Awarded to Near Insulation Ltd, £40,000.00 -> awarded",
                     "Reason: Value mistyped",
                     "by Ada Member: Awarded to Near Insulation Ltd, £400,000.00 -> awarded "
                     "to Mid Insulation",  # a line break may fall before "Ltd"
                     "note added. Reason: Wrong supplier chosen"):
        assert expected in text, expected
    rows = list(csv.DictReader(io.StringIO(
        _export(shortlist, world, "csv").data.decode("utf-8-sig"))))
    assert [r["name"] for r in rows][:2] == ["Near Insulation Ltd", "Mid Insulation Ltd"]
    # the corrected outcome: on every row, the award on the awarded supplier's row only
    assert {r["outcome"] for r in rows} == {"awarded"}
    assert [(r["name"], r["awarded"], float(r["awarded_value"])) for r in rows
            if r["awarded"]] == [("Mid Insulation Ltd", "yes", 400_000)]
    book = load_workbook(io.BytesIO(_export(shortlist, world, "xlsx").data))
    assert book.sheetnames[:2] == ["Method", "Shortlist"]
    cover = [row for row in book["Method"].iter_rows(values_only=True) if row[0]]
    outcome_at = cover.index(("Outcome", None))
    assert cover[outcome_at + 1:outcome_at + 4] == [
        ("Outcome", "Awarded"), ("Awarded to", "Mid Insulation Ltd"),
        ("Awarded value (£)", 400_000)]
    assert ("Note", "Call-off 7") in cover
    corrections = [value for label, value in cover if label == "Correction"]
    assert len(corrections) == 2
    assert "by Colleague: Awarded to Near Insulation Ltd, £40,000.00 → awarded" in corrections[0]
    assert corrections[1].endswith("Reason: Wrong supplier chosen")
    table = list(book["Shortlist"].iter_rows(values_only=True))
    column = {name: i for i, name in enumerate(table[0])}
    assert [(r[column["name"]], r[column["awarded_value"]]) for r in table[1:]
            if r[column["awarded"]] == "yes"] == [("Mid Insulation Ltd", 400_000)]


def _pdf_streams(data: bytes) -> list[bytes]:
    """The raw data of each stream object, with the end-of-line before ``endstream``
    (compressed data may itself end with a CR or LF byte, so that line end is not
    stripped here: :func:`_inflate` leaves it over)."""
    return [m.group(1) for m in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S)]


def _inflate(stream: bytes) -> bytes:
    """A Flate stream decompressed; bytes after its end (the line end) are ignored.

    :raise zlib.error: not Flate data, or cut short.
    """
    inflater = zlib.decompressobj()
    out = inflater.decompress(stream)
    if not inflater.eof:
        raise zlib.error("incomplete or not a Flate stream")
    return out


def _pdf_text(data: bytes) -> str:
    """The text drawn by a PDF's content streams (fpdf2 writes core-font text as literal
    strings in Flate-compressed streams)."""
    chunks = []
    for stream in _pdf_streams(data):
        try:
            chunks.append(_inflate(stream))
        except zlib.error:
            chunks.append(stream)
    text = b"".join(chunks).decode("latin-1")
    return "".join(m.replace("\\(", "(").replace("\\)", ")").replace("\\\\", "\\")
                   for m in re.findall(r"\(((?:[^()\\]|\\.)*)\)\s*Tj", text))


@pytest.mark.parametrize("locked", [False, True], ids=["draft", "locked"])
def test_pdf_is_a_printable_report(world: World, shortlist: Shortlist, locked: bool) -> None:
    if locked:
        _lock(shortlist, world)
        service.record_outcome(shortlist, actor=world.user, outcome="none_suitable",
                               note="All over budget")
    file = _export(shortlist, world, "pdf")
    assert file.mimetype == "application/pdf"
    assert file.data.startswith(b"%PDF")
    assert b"/MediaBox [0 0 595.28 841.89]" in file.data  # A4 in points
    text = _pdf_text(file.data)
    for expected in ("Shortlist", "Walls 2027", "Inputs and method", "Ranked suppliers",
                     "Near Insulation Ltd", "Mid Insulation Ltd", "Far Insulation Ltd",
                     "HYPERLINK", "Removed suppliers", "too far", "external wall insulation",
                     "Data hash"):
        assert expected in text, expected
    assert service.reproducibility_pack(shortlist)["data_hash"] in text
    assert ("All over budget" in text) is locked


def test_every_export_is_audited(world: World, shortlist: Shortlist) -> None:
    for fmt in ("csv", "xlsx", "pdf", "json"):
        _export(shortlist, world, fmt)
    events = db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "shortlist.exported").order_by(AuditEvent.id)).all()
    assert [e.details["format"] for e in events] == ["csv", "xlsx", "pdf", "json"]
    assert {e.object_id for e in events} == {str(shortlist.id)}
    assert events[0].details["filename"] == f"shortlist-{shortlist.id}-2026-11-26.csv"
    assert [t.summary for t in service.audit_trail(shortlist)[-4:]] == [
        "As CSV", "As XLSX", "As PDF", "As JSON"]


def test_a_draft_export_reads_its_suppliers_in_as_many_queries_however_many_there_are(
    world: World,
) -> None:
    one = world.add().shortlist
    three = world.add(new_shortlist_name="Three").shortlist
    for supplier in world.suppliers[1:]:
        world.add(supplier, shortlist=three)
    db.session.flush()
    counts = []
    for shortlist_id in (one.id, three.id):
        db.session.expunge_all()  # nothing loaded yet, as at the start of a request
        shortlist = db.session.get(Shortlist, shortlist_id)
        world.user = db.session.merge(world.user, load=False)
        counts.append(_statements(lambda: _export(shortlist, world, "csv")))  # noqa: B023
    assert counts[0] == counts[1]


def _statements(call: Callable[[], object]) -> int:
    """How many SQL statements ``call()`` runs."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return len(statements)


def test_an_unknown_format_is_refused(world: World, shortlist: Shortlist) -> None:
    with pytest.raises(KeyError):
        _export(shortlist, world, "docx")


def test_an_unranked_supplier_exports_without_a_breakdown(world: World) -> None:
    shortlist = world.add(world.unmatched).shortlist
    rows = list(csv.DictReader(io.StringIO(
        _export(shortlist, world, "csv").data.decode("utf-8-sig"))))
    assert rows[0]["name"] == "Grounds Ltd" and rows[0]["score"] == ""
    book = load_workbook(io.BytesIO(_export(shortlist, world, "xlsx").data))
    cells = [c for row in book.worksheets[2].iter_rows(values_only=True) for c in row if c]
    assert "The search did not rank this supplier, so it has no breakdown." in cells
    assert "did not rank" in _pdf_text(_export(shortlist, world, "pdf").data)


def _pdf_pages(data: bytes) -> list[list[str]]:
    """The strings drawn on each page, in order (one content stream per page)."""
    pages = []
    for stream in _pdf_streams(data):
        try:
            text = _inflate(stream).decode("latin-1")
        except zlib.error:
            continue
        drawn = re.findall(r"\(((?:[^()\\]|\\.)*)\)\s*Tj", text)
        if drawn:
            pages.append([d.replace("\\(", "(").replace("\\)", ")") for d in drawn])
    return pages


def test_pdf_keeps_each_breakdown_heading_with_its_table(world: World, shortlist: Shortlist) -> None:
    report = exports.build_report(shortlist)
    ranked = [e for e in report["entries"] if e["position"] is not None]
    # Enough suppliers for many page breaks, each at a different height on its page.
    many = [{**ranked[n % len(ranked)], "position": n + 1} for n in range(40)]
    pages = _pdf_pages(exports.write_pdf({**report, "entries": many}))
    assert len(pages) > 5
    headings = 0
    for drawn in pages:
        for at, text in enumerate(drawn):
            if re.fullmatch(r"\d+\. .+ \(.+\)", text):
                headings += 1
                assert "Component" in drawn[at + 1:], f"{text!r} ends a page without its table"
    assert headings == len(many)
