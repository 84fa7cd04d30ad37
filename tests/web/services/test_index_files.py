"""Saved matching indexes: built once per host, mapped by every other process, rebuilt when
damaged, pruned, and never in the way when the folder cannot be used."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import pytest
from flask import Flask

from matcher import Index
from tests.factories import make_supplier
from web.extensions import db
from web.services import index_files, matching
from web.services.versions import bump_version, version_token

URL = "sqlite:///somewhere.sqlite3"


def here() -> str:
    """The URL of the test database, as the app names it."""
    return str(db.engine.url)


@pytest.fixture
def folder(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh index folder for this test, and no index in memory."""
    path = tmp_path / "index"
    monkeypatch.setitem(app.config, "INDEX_DIRECTORY", str(path))
    monkeypatch.setattr(matching, "_cache", None)
    return path


@pytest.fixture
def version(app_context: Flask) -> str:
    make_supplier(external_id="EWI", description="External wall insulation.")
    bump_version()
    db.session.commit()
    return version_token()


def counting_build(calls: list[str], version: str, gate: threading.Event | None = None,
                   building: threading.Event | None = None):  # type: ignore[no-untyped-def]
    def build() -> Index:
        if building is not None:
            building.set()
        if gate is not None:
            assert gate.wait(30)
        calls.append(threading.current_thread().name)
        return matching.build_index(data_version=version)
    return build


def test_an_index_is_built_once_then_loaded_from_its_file(
    folder: Path, version: str, caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []
    built, how = index_files.obtain(version, counting_build(calls, version), database=here())
    assert how == "built and saved" and len(calls) == 1
    files = list(folder.glob("*.index"))
    fingerprint = index_files.code_fingerprint()
    assert [f.name for f in files] == [index_files.file_name(version, fingerprint, here())]
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    loaded, how = index_files.obtain(version, counting_build(calls, version), database=here())
    assert how == "loaded from its file" and len(calls) == 1
    assert loaded.row_of("EWI") is not None and not loaded._lat.flags.writeable
    with caplog.at_level(logging.INFO, logger=matching.__name__):
        matching.get_index()
    assert "loaded from its file" in caplog.text


def test_a_process_waits_for_anothers_build_and_maps_it(
    app: Flask, folder: Path, version: str,
) -> None:
    """Two threads stand for two workers: flock locks conflict between open files, in one
    process as between several."""
    calls: list[str] = []
    gate, building = threading.Event(), threading.Event()
    results: dict[str, tuple[Index, str]] = {}

    def obtain(name: str, build_gate: threading.Event | None) -> None:
        with app.app_context():
            results[name] = index_files.obtain(
                version, counting_build(calls, version, build_gate, building), database=here())

    first = threading.Thread(target=obtain, args=("first", gate), name="first", daemon=True)
    first.start()
    assert building.wait(30)  # the first holds the lock: it builds only under it
    second = threading.Thread(target=obtain, args=("second", None), name="second",
                              daemon=True)
    second.start()
    second.join(0.3)
    assert second.is_alive()  # waiting for the first one's build
    gate.set()
    first.join(30)
    second.join(30)
    assert not first.is_alive() and not second.is_alive()
    assert calls == ["first"]
    assert results["first"][1] == "built and saved"
    assert results["second"][1] == "loaded from its file (built by another process)"


def test_a_damaged_file_is_built_again_and_replaced(
    folder: Path, version: str, caplog: pytest.LogCaptureFixture,
) -> None:
    folder.mkdir()
    path = folder / index_files.file_name(version, index_files.code_fingerprint(), here())
    path.write_bytes(b"FMINDEX1" + b"\0" * 100)
    calls: list[str] = []
    with caplog.at_level(logging.WARNING, logger=index_files.__name__):
        index, how = index_files.obtain(version, counting_build(calls, version), database=here())
    assert "cannot be used" in caplog.text and how == "built and saved" and calls
    assert index.row_of("EWI") is not None
    _, how = index_files.obtain(version, counting_build(calls, version), database=here())
    assert how == "loaded from its file"


def test_only_the_newest_files_are_kept(folder: Path, version: str) -> None:
    folder.mkdir()
    for n in range(5):
        old = folder / f"old-{n}.index"
        old.write_bytes(b"x")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    index_files.obtain(version, counting_build([], version), database=here())
    left = sorted(p.name for p in folder.glob("*.index"))
    assert len(left) == index_files.FILES_KEPT
    assert "old-4.index" in left and "old-3.index" in left and "old-0.index" not in left


def test_off_keeps_indexes_in_memory_only(
    app: Flask, folder: Path, version: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "INDEX_DIRECTORY", "off")
    index, how = index_files.obtain(version, counting_build([], version), database=here())
    assert how == "built" and index._lat.flags.writeable
    assert not folder.exists()


def test_a_folder_that_cannot_be_made_is_not_in_the_way(
    app: Flask, tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setitem(app.config, "INDEX_DIRECTORY", str(blocker / "index"))
    with caplog.at_level(logging.WARNING, logger=index_files.__name__):
        index, how = index_files.obtain(version, counting_build([], version), database=here())
    assert how == "built" and index.row_of("EWI") is not None
    assert "cannot be used" in caplog.text


def test_the_file_name_names_the_version_the_day_and_the_code(version: str) -> None:
    name = index_files.file_name(version, index_files.code_fingerprint(), here())
    assert version in name and name.endswith(".index")
    assert index_files.code_fingerprint()[:16] in name
    assert index_files.file_name("7@1/../x", "f" * 32, URL).count("/") == 0
    assert name != index_files.file_name(version, index_files.code_fingerprint(), URL + "2")


def test_unversioned_data_is_never_saved(folder: Path, app_context: Flask) -> None:
    """Before any recorded change every database is at version "0": a file could not tell
    one database's content from another's."""
    index, how = index_files.obtain("0", counting_build([], "0"), database=here())
    assert how == "built" and not folder.exists()


def test_a_separate_process_builds_when_asked_and_this_one_maps_its_file(
    folder: Path, version: str,
) -> None:
    folder.mkdir()
    for n in range(index_files.FILES_KEPT + 2):
        old = folder / f"old-{n}.index"
        old.write_bytes(b"x")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    calls: list[str] = []
    index, how = index_files.obtain(version, counting_build(calls, version), database=here(),
                                    separate=True)
    assert how == "built in a separate process and loaded"
    assert calls == []  # not built in this process
    assert len(list(folder.glob("*.index"))) == index_files.FILES_KEPT  # old ones pruned
    assert index.row_of("EWI") is not None and not index._lat.flags.writeable
    assert index.build_seconds > 0  # measured by the builder, saved with the index
    _, how = index_files.obtain(version, counting_build(calls, version), database=here(),
                                separate=True)
    assert how == "loaded from its file" and calls == []


def test_a_builder_that_runs_other_code_leaves_the_build_to_this_process(
    folder: Path, version: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As after a new release is installed under a running service: the builder's code
    fingerprint (of the files on disk) differs from the one this process started with."""
    monkeypatch.setattr(index_files, "code_fingerprint", lambda: "f" * 32)
    calls: list[str] = []
    with caplog.at_level(logging.WARNING, logger=index_files.__name__):
        index, how = index_files.obtain(version, counting_build(calls, version),
                                        database=here(), separate=True)
    assert "runs other code" in caplog.text
    assert how == "built and saved" and len(calls) == 1
