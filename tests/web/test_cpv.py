"""The CPV list: import (CSV and XLSX, both layouts), suggestions, descriptions, the
autocomplete endpoint, supplier profiles and ``flask cpv``."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from tests.conftest import shared_data
from tests.factories import make_supplier, make_user
from web.cpv_cli import cpv
from web.extensions import db
from web.models import CpvCode
from web.services.cpv import (
    ImportFileError,
    cpv_count,
    cpv_list_loaded,
    describe,
    import_cpv,
    suggest,
    supplier_counts,
)

TIDY_HEADER = ("cpv8", "cpv_code", "description_en", "division", "level", "parent_cpv8")
# A small slice of the list: a division, its group, class, category and finer codes.
SMALL = [
    ("45000000", "45000000-7", "Construction work", "45", "division", ""),
    ("45400000", "45400000-1", "Building completion work", "45", "group", "45000000"),
    ("45420000", "45420000-7", "Joinery and carpentry installation work", "45", "class",
     "45400000"),
    ("45421000", "45421000-4", "Joinery work", "45", "category", "45420000"),
    ("45421150", "45421150-0", "Non-metal joinery installation work", "45", "subcategory",
     "45421000"),
    ("45421151", "45421151-7", "Installation of fitted kitchens", "45", "subcategory",
     "45421150"),
    ("45320000", "45320000-6", "Insulation work", "45", "class", "45000000"),
    ("45321000", "45321000-3", "Thermal insulation work", "45", "category", "45320000"),
    ("39141400", "39141400-8", "Fitted kitchens", "39", "subcategory", ""),
    ("44112400", "44112400-2", "Roof", "44", "subcategory", ""),
    ("45261900", "45261900-3", "Roof repair and maintenance work", "45", "subcategory", ""),
    ("45453000", "45453000-7", "Waterproofing work", "45", "category", ""),
]


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]],
              delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "cpv.csv", TIDY_HEADER, SMALL)


@pytest.fixture
def loaded(app_context: Flask, small_csv: Path) -> Flask:
    """The small list imported and committed."""
    assert import_cpv(small_csv).ok
    db.session.commit()
    return app_context


def codes_in_table() -> dict[str, CpvCode]:
    return {row.code8: row for row in db.session.scalars(sa.select(CpvCode))}


# ---------------------------------------------------------------------------------------
# Import


def test_import_small_file(app_context: Flask, small_csv: Path) -> None:
    report = import_cpv(small_csv)
    assert report.ok and report.problems == []
    assert (report.read, report.imported, report.replaced) == (len(SMALL), len(SMALL), 0)
    assert report.describe() == (
        "cpv.csv (cpv8, cpv_code, description_en): imported 12 CPV codes, replacing 0."
    )
    rows = codes_in_table()
    kitchens = rows["45421151"]
    assert (kitchens.code_with_check, kitchens.description, kitchens.level, kitchens.parent) == (
        "45421151-7", "Installation of fitted kitchens", 7, "45421150"
    )
    assert [(rows[c].level, rows[c].parent) for c in ("45000000", "45400000", "45420000",
                                                      "45421000")] == [
        (1, None), (2, "45000000"), (3, "45400000"), (4, "45420000")]
    # No parent in the file: the nearest broader code in it.
    assert rows["45261900"].parent == "45000000"
    assert rows["39141400"].parent is None  # no broader code of division 39 in this file


def test_bad_rows_are_reported_by_row_and_nothing_is_written(
    loaded: Flask, tmp_path: Path
) -> None:
    bad = write_csv(tmp_path / "bad.csv", TIDY_HEADER, [
        ("45000000", "45000000-7", "Construction work", "", "", ""),        # row 2: fine
        ("4500000", "", "Seven digits", "", "", ""),                          # row 3
        ("45100000", "45000000-7", "Site preparation work", "", "", ""),     # row 4
        ("45200000", "45200000-77", "Works for complete structures", "", "", ""),  # row 5
        ("45300000", "45300000-0", "   ", "", "", ""),                        # row 6
        ("45000000", "45000000-7", "Construction work again", "", "", ""),   # row 7
        ("", "", "No code", "", "", ""),                                      # row 8
        ("45400000", "45400000-1", "Building completion work", "", "", "4540"),  # row 9
        ("45410000", "45410000-4", "Plastering work", "", "", "45999000"),   # row 10
    ])
    report = import_cpv(bad)
    assert not report.ok and report.imported == 0 and report.read == 9
    assert [(p.row, p.message) for p in report.problems] == [
        (3, "“4500000” is not an 8-digit CPV code, like 45000000"),
        (4, "the check-digit code 45000000-7 does not match 45100000"),
        (5, "“45200000-77” is not a CPV code with its check digit, like 45000000-7"),
        (6, "the description is missing"),
        (7, "45000000 is also on row 2"),
        (8, "the code is missing"),
        (9, "the parent “4540” is not an 8-digit CPV code"),
        (10, "the parent 45999000 is not in the file"),
    ]
    assert str(report.problems[0]) == "Row 3: “4500000” is not an 8-digit CPV code, like 45000000"
    assert report.describe() == "bad.csv: 8 problems in 9 rows; nothing imported."
    db.session.rollback()
    assert len(codes_in_table()) == len(SMALL)  # the list imported before is untouched


def test_reimport_replaces_the_list(loaded: Flask, tmp_path: Path) -> None:
    other = write_csv(tmp_path / "other.csv", TIDY_HEADER, [
        ("45000000", "45000000-7", "Construction work (revised)", "45", "division", ""),
        ("90000000", "90000000-7", "Sewage, refuse, cleaning and environmental services",
         "90", "division", ""),
    ])
    report = import_cpv(other)
    assert (report.ok, report.imported, report.replaced) == (True, 2, len(SMALL))
    db.session.commit()
    rows = codes_in_table()
    assert sorted(rows) == ["45000000", "90000000"]
    assert rows["45000000"].description == "Construction work (revised)"


def test_eu_layout_is_recognised_whatever_the_case(app_context: Flask, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "eu.csv", ("Code", "BG", "en", "FR"), [
        ("45000000-7", "Строителни работи", "Construction work", "Travaux de construction"),
        ("45421000-4", "", "Joinery work", "Travaux de menuiserie"),
        ("45421151", "", "Installation of fitted kitchens", ""),  # no check digit: accepted
    ], delimiter=";")
    report = import_cpv(path)
    assert report.ok, report.problems
    assert report.layout == "Code, en"
    rows = codes_in_table()
    assert [(r.code8, r.code_with_check, r.description, r.level, r.parent)
            for r in sorted(rows.values(), key=lambda r: r.code8)] == [
        ("45000000", "45000000-7", "Construction work", 1, None),
        ("45421000", "45421000-4", "Joinery work", 4, "45000000"),
        ("45421151", None, "Installation of fitted kitchens", 7, "45421000"),
    ]


def test_eu_layout_bad_codes(app_context: Flask, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "eu.csv", ("CODE", "EN"), [
        ("45000000-X", "Construction work"), ("", "Nothing"), ("45421000-4", "")])
    assert [(p.row, p.message) for p in import_cpv(path).problems] == [
        (2, "“45000000-X” is not a CPV code with its check digit, like 45000000-7"),
        (3, "the code is missing"),
        (4, "the description is missing"),
    ]


def test_eu_layout_as_xlsx(app_context: Flask, tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["CODE", "DA", "EN"])
    sheet.append(["45000000-7", "Bygge- og anlægsarbejder", "Construction work"])
    sheet.append(["45320000-6", "Isoleringsarbejde", "Insulation work"])
    path = tmp_path / "cpv_2008.xlsx"
    workbook.save(path)
    report = import_cpv(path)
    assert (report.ok, report.imported) == (True, 2)
    assert codes_in_table()["45320000"].parent == "45000000"


def test_unrecognised_or_empty_files(app_context: Flask, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="header must name a code column"):
        import_cpv(write_csv(tmp_path / "x.csv", ("id", "name"), [("1", "x")]))
    empty = import_cpv(write_csv(tmp_path / "empty.csv", TIDY_HEADER, []))
    assert [(p.row, p.message) for p in empty.problems] == [(1, "the file holds no CPV codes")]


def test_the_whole_cpv_2008_list(app_context: Flask) -> None:
    path = shared_data("cpv", "cpv_2008_en.csv")
    started = time.perf_counter()
    report = import_cpv(path)
    elapsed = time.perf_counter() - started
    assert report.ok, report.problems[:5]
    assert report.imported == 9454
    db.session.commit()
    assert cpv_count() == 9454
    rows = codes_in_table()
    assert sum(1 for r in rows.values() if r.level == 1) == 45  # divisions
    kitchens = rows["45421151"]
    assert (kitchens.code_with_check, kitchens.parent) == ("45421151-7", "45421150")
    assert all(r.parent is None or r.parent in rows for r in rows.values())
    assert elapsed < 20, f"import took {elapsed:.1f} s"
    # Suggestions stay quick over the whole list.
    for query in ("45421", "fitted kitchens", "roof", "insulation work"):
        suggest(query)
        started = time.perf_counter()
        for _ in range(5):
            suggest(query)
        per_call = (time.perf_counter() - started) / 5
        assert per_call < 0.05, f"{query}: {per_call * 1000:.1f} ms"
    assert suggest("fitted kitchens")[:2] == [
        ("39141400", "Fitted kitchens", None),
        ("45421151", "Installation of fitted kitchens", None),
    ]


# ---------------------------------------------------------------------------------------
# Suggestions and descriptions


def test_suggest_by_code_prefix(loaded: Flask) -> None:
    assert [s.code for s in suggest("4542")] == ["45420000", "45421000", "45421150", "45421151"]
    assert suggest("45421151-7") == [("45421151", "Installation of fitted kitchens", None)]
    assert [s.code for s in suggest("45", limit=3)] == ["45000000", "45261900", "45320000"]
    assert suggest("99") == [] and suggest("") == [] and suggest("  ") == []


def test_suggest_by_words(loaded: Flask) -> None:
    # Case-insensitive, every word; whole-word starts before the rest.
    assert [s.code for s in suggest("FITTED kitchens")] == ["39141400", "45421151"]
    assert [s.code for s in suggest("roof")] == ["44112400", "45261900", "45453000"]
    assert [s.code for s in suggest("insul")] == ["45320000", "45321000"]
    assert [s.code for s in suggest("45 insulation")] == ["45320000", "45321000"]
    assert [s.code for s in suggest("39 kitchens")] == ["39141400"]
    assert suggest("a") == [] and suggest("100% nothing like this") == []
    assert suggest("50%_x") == []  # LIKE wildcards are not words


def test_suggest_counts_suppliers_at_or_below_the_code(loaded: Flask) -> None:
    make_supplier(cpv_codes=["45421151"])
    make_supplier(cpv_codes=["45421000", "45321000"])
    make_supplier(cpv_codes=["45421151"], active=False)
    assert supplier_counts(["45420000", "45421151", "45321000", "44112400"]) == {
        "45420000": 2, "45421151": 1, "45321000": 1, "44112400": 0}
    assert suggest("4542115", count_suppliers=True) == [
        ("45421150", "Non-metal joinery installation work", 1),
        ("45421151", "Installation of fitted kitchens", 1),
    ]


def test_describe(loaded: Flask) -> None:
    assert describe(["45421151", "45421151-7", "4542", "99999999", "nonsense"]) == {
        "45421151": "Installation of fitted kitchens",
        "45421151-7": "Installation of fitted kitchens",
        "4542": "Joinery and carpentry installation work",
    }
    assert describe([]) == {}


def test_empty_list(app_context: Flask) -> None:
    assert not cpv_list_loaded() and cpv_count() == 0
    assert suggest("45") == [] and describe(["45000000"]) == {}


# ---------------------------------------------------------------------------------------
# The autocomplete endpoint and supplier profiles


def test_endpoint_suggests_from_the_list_with_descriptions(
    loaded: Flask, client, auth  # type: ignore[no-untyped-def]
) -> None:
    make_supplier(cpv_codes=["45321000"])
    auth.login_as(make_user())
    db.session.commit()
    data = client.get("/search/cpv-codes", query_string={"q": "4532"}).get_json()
    assert data == {"codes": [
        {"code": "45320000", "description": "Insulation work", "suppliers": 1},
        {"code": "45321000", "description": "Thermal insulation work", "suppliers": 1},
    ]}
    words = client.get("/search/cpv-codes", query_string={"q": "fitted kitch"}).get_json()
    assert [c["code"] for c in words["codes"]] == ["39141400", "45421151"]
    assert client.get("/search/cpv-codes", query_string={"q": "x"}).get_json() == {"codes": []}
    assert client.get("/search/cpv-codes").get_json() == {"codes": []}


def test_endpoint_falls_back_to_the_register_without_a_list(
    app_context: Flask, client, auth  # type: ignore[no-untyped-def]
) -> None:
    make_supplier(cpv_codes=["45321000"])
    make_supplier(cpv_codes=["45321000", "45421151"])
    auth.login_as(make_user())
    db.session.commit()
    data = client.get("/search/cpv-codes", query_string={"q": "45"}).get_json()
    assert data == {"codes": [{"code": "45321000", "suppliers": 2},
                              {"code": "45421151", "suppliers": 1}]}
    # Words need the list.
    assert client.get("/search/cpv-codes", query_string={"q": "kitchens"}).get_json() == {
        "codes": []}


def test_endpoint_needs_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/search/cpv-codes", query_string={"q": "45"})
    assert response.status_code in (302, 401)


def test_profile_shows_cpv_descriptions(
    app_context: Flask, client, auth, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    supplier = make_supplier(cpv_codes=["45421151", "45999999"])
    auth.login_as(make_user())
    db.session.commit()
    html = client.get(f"/suppliers/{supplier.id}").get_data(as_text=True)
    assert "45421151, 45999999" in html  # no list imported: the codes alone
    assert import_cpv(write_csv(tmp_path / "cpv.csv", TIDY_HEADER, SMALL)).ok
    db.session.commit()
    html = client.get(f"/suppliers/{supplier.id}").get_data(as_text=True)
    assert "<li>45421151 Installation of fitted kitchens</li>" in html
    assert "<li>45999999</li>" in html


# ---------------------------------------------------------------------------------------
# flask cpv


def test_cli_import_and_lookup(
    app_context: Flask, runner: FlaskCliRunner, small_csv: Path
) -> None:
    result = runner.invoke(cpv, ["lookup", "45421"])
    assert result.exit_code == 1 and "The CPV list is empty" in result.output

    result = runner.invoke(cpv, ["import", str(small_csv)])
    assert result.exit_code == 0, result.output
    assert "cpv.csv (cpv8, cpv_code, description_en): imported 12 CPV codes, replacing 0." \
        in result.output
    db.session.remove()
    assert cpv_count() == len(SMALL)  # committed

    make_supplier(cpv_codes=["45421151"])
    db.session.commit()
    result = runner.invoke(cpv, ["lookup", "4542115"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "45421150  Non-metal joinery installation work  (1 supplier)",
        "45421151  Installation of fitted kitchens  (1 supplier)",
    ]
    result = runner.invoke(cpv, ["lookup", "fitted", "kitchens", "--limit", "1"])
    assert result.output.splitlines() == ["39141400  Fitted kitchens"]
    result = runner.invoke(cpv, ["lookup", "nothing", "like", "this"])
    assert result.exit_code == 1 and "No CPV code matches “nothing like this”" in result.output


def test_cli_import_refuses_a_bad_file(
    loaded: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    bad = write_csv(tmp_path / "bad.csv", ("CODE", "EN"), [
        ("45000000-7", "Construction work"), ("4500", "Short"), ("45100000-8", "")])
    result = runner.invoke(cpv, ["import", str(bad)])
    assert result.exit_code == 1
    assert "Row 3: “4500” is not a CPV code with its check digit, like 45000000-7" in result.output
    assert "Row 4: the description is missing" in result.output
    assert "bad.csv: 2 problems in 3 rows; nothing imported." in result.output
    db.session.remove()
    assert cpv_count() == len(SMALL)

    result = runner.invoke(cpv, ["import", str(write_csv(tmp_path / "x.csv", ("a", "b"), []))])
    assert result.exit_code == 1 and "the header must name a code column" in result.output
