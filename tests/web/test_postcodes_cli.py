"""``flask postcodes build|import|lookup`` on a minimal app (not the app factory)."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from web.postcodes import PostcodeDirectory, clear_directory_cache, default_directory_path
from web.postcodes import cli as postcodes_cli
from web.postcodes.build import BuildStats
from web.postcodes.cli import postcodes


def make_runner(instance: Path, directory_path: Path | None = None) -> FlaskCliRunner:
    """A CLI runner for a bare app with only the postcodes group registered."""
    app = Flask(__name__, instance_path=str(instance))
    if directory_path is not None:
        app.config["POSTCODES_DIRECTORY_PATH"] = str(directory_path)
    app.cli.add_command(postcodes)
    return app.test_cli_runner()


@pytest.fixture
def runner(tmp_path: Path, postcode_directory_path: Path) -> FlaskCliRunner:
    """Runner whose app points at the session-built directory."""
    return make_runner(tmp_path / "instance", postcode_directory_path)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_directory_cache()


def test_lookup_prints_the_location(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["postcodes", "lookup", "l341ab"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert {key: value.strip() for key, value in lines.items()} == {
        "Postcode": "L34 1AB",
        "Kind": "unit",
        "Latitude": "53.420321",
        "Longitude": "-2.811224",
        "LA code": "E08000011",
        "LA name": "Knowsley",
    }


@pytest.mark.parametrize(("query", "kind"), [("L34", "outcode"), ("l34 1", "sector")])
def test_lookup_outcode_and_sector(runner: FlaskCliRunner, query: str, kind: str) -> None:
    result = runner.invoke(args=["postcodes", "lookup", query])
    assert result.exit_code == 0, result.output
    assert f"Kind:      {kind}" in result.stdout


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("L34 1ZX", 'Postcode "L34 1ZX" was not found. Did you mean L34 1'),
        ("not-a-postcode", "is not a valid postcode"),
        ("BT1 1AA", "Northern Ireland"),
    ],
)
def test_lookup_errors_go_to_stderr_with_exit_1(
    runner: FlaskCliRunner, query: str, expected: str
) -> None:
    result = runner.invoke(args=["postcodes", "lookup", query])
    assert result.exit_code == 1
    assert expected in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_lookup_lists_suggestions_once(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["postcodes", "lookup", "L34 1ZX"])
    assert result.stderr.count("L34 1AX") == 1
    assert "Did you mean L34 1" in result.stderr


def test_lookup_without_a_directory_says_how_to_build(tmp_path: Path) -> None:
    result = make_runner(tmp_path / "instance").invoke(args=["postcodes", "lookup", "L34 1AB"])
    assert result.exit_code == 1
    assert "flask postcodes build" in result.stderr


def test_build_writes_the_default_path_and_reports(
    tmp_path: Path, postcode_directory_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []

    def fake_build(
        path: Path,
        *,
        progress: Callable[[int, int], None] | None = None,
        codepoint_zip: Path | None = None,
    ) -> BuildStats:
        # Copy the session build instead of spending seconds building again.
        calls.append(path)
        for done in range(1, 4):
            if progress:
                progress(done, 3)
        path.parent.mkdir(parents=True)
        shutil.copyfile(postcode_directory_path, path)
        return BuildStats(path, "ONS test", "1", 10, 7, 1, 1, 1, 1, 1, 1, 0, 0.5, 123)

    monkeypatch.setattr(postcodes_cli, "build_directory", fake_build)
    instance = tmp_path / "instance"
    result = make_runner(instance).invoke(args=["postcodes", "build"])
    assert result.exit_code == 0, result.output
    expected_path = default_directory_path(instance)
    assert calls == [expected_path]
    assert "Unit postcodes: 7" in result.output
    assert "Done in" in result.output
    lookup = make_runner(instance).invoke(args=["postcodes", "lookup", "SW1A 1AA"])
    assert "Westminster" in lookup.stdout


def test_import_codepoint_zip(tmp_path: Path) -> None:
    zip_path = tmp_path / "codepo_gb.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr(
            "Data/CSV/l.csv",
            '"L34 1AB",10,346185,391809,"E92000001","E19000001","E18000002","","E08000011",""\n',
        )
    instance = tmp_path / "instance"
    result = make_runner(instance).invoke(args=["postcodes", "import", str(zip_path)])
    assert result.exit_code == 0, result.output
    assert "Unit postcodes: 1 " in result.output
    imported = PostcodeDirectory.open(default_directory_path(instance))
    assert imported.lookup("L34 1AB").la_name == "Knowsley"
    assert "Code-Point" in imported.source


def test_import_rejects_other_zips(tmp_path: Path) -> None:
    zip_path = tmp_path / "other.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    result = make_runner(tmp_path / "instance").invoke(args=["postcodes", "import", str(zip_path)])
    assert result.exit_code == 1
    assert "Code-Point" in result.output
    assert "Traceback" not in result.output


def test_build_if_missing_keeps_an_existing_file(
    runner: FlaskCliRunner, postcode_directory_path: Path
) -> None:
    before = postcode_directory_path.stat().st_mtime_ns
    result = runner.invoke(args=["postcodes", "build", "--if-missing"])
    assert result.exit_code == 0, result.output
    assert "not rebuilding" in result.output
    assert postcode_directory_path.stat().st_mtime_ns == before
