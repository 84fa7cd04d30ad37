"""Matching indexes saved in the instance folder, so each is built once per host.

After the register changes, every gunicorn worker needs the new index. The first to get
there builds it and saves it (``matcher.store``); the others wait for that build (a file
lock) and then map the saved file instead of building their own. So a change costs one
build per host rather than one per worker, a worker that gunicorn starts later (after a
crash, or a restart with unchanged data) maps the current index in a fraction of a second,
and all the workers share one copy of the index's arrays in memory (the page cache)
instead of holding one each.

A file is named by the algorithm version, the data version, the day, the database and a
digest of the code that builds and reads indexes, so an index is never reused by other
code, for other data, or past the day it was built (fair rotation counts the awards of
the 12 months before the build). The newest ``FILES_KEPT`` files are kept; older ones are deleted (a
process still using one keeps its mapping until it lets go). The folder is created
readable by this user only: a saved index is unpickled, so it is trusted like code.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import hashlib
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np
from flask import current_app

import matcher
from matcher import ALGORITHM_VERSION, Index
from matcher.store import IndexFileError, load_index, save_index

log = logging.getLogger(__name__)

FILES_KEPT = 3  # the current index, and two that slower processes may still be mapping
SUFFIX = ".index"
LOCK_NAME = "build.lock"
BUILDER_TIMEOUT_S = 1800  # a million suppliers build in well under a minute
UNVERSIONED = "0"  # web.services.versions.version_token() before any change


def directory() -> Path | None:
    """The app's folder of saved indexes (``INDEX_DIRECTORY``), or None when turned off."""
    configured = current_app.config.get("INDEX_DIRECTORY")
    if configured == "off":
        return None
    return Path(configured) if configured else Path(current_app.instance_path) / "index"


@functools.cache
def code_fingerprint() -> str:
    """A digest of the code an index file depends on: the engine's sources, this module's
    and the builder's, and the Python and numpy versions that pickle and map it."""
    digest = hashlib.blake2b(digest_size=16)
    sources = sorted(Path(matcher.__file__).parent.glob("*.py"))
    sources += [Path(__file__), Path(__file__).with_name("matching.py")]
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    digest.update(f"{sys.version_info[:2]}|{np.__version__}|{ALGORITHM_VERSION}".encode())
    return digest.hexdigest()


def obtain(version: str, build: Callable[[], Index], *, database: str,
           separate: bool = False) -> tuple[Index, str]:
    """The index for data ``version`` of ``database`` (its URL): mapped from its saved
    file, else built with ``build()`` (by this process, or by another one that holds the
    lock, then mapped) and saved. Returns the index and how it was obtained, for the log.

    ``separate``: build in a process of its own (:mod:`web.index_builder`), which shares
    the build lock, so the build neither competes with this process's requests for the
    interpreter lock nor dies with this process. If that process cannot run the code this
    one runs (a new release on disk), the build happens here after all.

    A damaged or unreadable file is deleted and built again; if the folder cannot be
    written, the built index is used from memory (logged), as without files. Data that
    was never versioned (``"0"``: no change recorded yet) is not saved: its version does
    not tell one database's content from another's.
    """
    folder = directory()
    if folder is None or version == UNVERSIONED:
        return build(), "built"
    fingerprint = code_fingerprint()
    path = folder / file_name(version, fingerprint, database)
    index = _load(path, fingerprint)
    if index is not None:
        return index, "loaded from its file"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = open(folder / LOCK_NAME, "a")  # noqa: SIM115 (held below; closing unlocks)
    except OSError as error:
        log.warning("index folder %s cannot be used (%s); building in memory only",
                    folder, error)
        return build(), "built"
    with lock:
        _wait_for(lock)
        index = _load(path, fingerprint)  # built by another process while this one waited
        if index is not None:
            return index, "loaded from its file (built by another process)"
        if separate and _build_separately(version, path, fingerprint, lock):
            index = _load(path, fingerprint)
            if index is None:
                raise IndexFileError(f"the index builder saved no usable {path}")
            _prune(folder, keep=path)
            return index, "built in a separate process and loaded"
        built = build()
        try:
            save_index(built, path, fingerprint=fingerprint)
            _prune(folder, keep=path)
            return load_index(path, fingerprint=fingerprint), "built and saved"
        except (OSError, IndexFileError) as error:
            log.warning("the index could not be saved to %s (%s); it is used from memory",
                        path, error)
            return built, "built"


def _build_separately(version: str, path: Path, fingerprint: str, lock: IO[str]) -> bool:
    """Run :mod:`web.index_builder` and wait for it; False when it cannot run this code.

    The builder inherits the open lock file, so the lock stays held until it exits even
    if this process is killed first.

    :raise RuntimeError: the builder failed (its last words in the message).
    """
    import web
    from web.extensions import db
    from web.index_builder import CODE_CHANGED

    root = Path(web.__file__).resolve().parents[1]
    command = [sys.executable, "-m", "web.index_builder",
               "--instance-path", current_app.instance_path, "--version", version,
               "--path", str(path), "--fingerprint", fingerprint]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    env["DATABASE_URL"] = db.engine.url.render_as_string(hide_password=False)
    done = subprocess.run(command, cwd=root, env=env, pass_fds=(lock.fileno(),),
                          capture_output=True, text=True, timeout=BUILDER_TIMEOUT_S,
                          check=False)
    if done.returncode == CODE_CHANGED:
        log.warning("the index builder runs other code than this process (a new release "
                    "on disk? restart the service): building here")
        return False
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the index builder exited with {done.returncode}: {last[0]}")
    return True


def file_name(version: str, fingerprint: str, database: str) -> str:
    """The file of the index for data ``version`` of ``database`` built today by code
    ``fingerprint``."""
    safe_version = re.sub(r"[^0-9A-Za-z@.-]", "_", version)
    safe_algorithm = re.sub(r"[^0-9A-Za-z.-]", "_", ALGORITHM_VERSION)
    where = hashlib.blake2b(database.encode(), digest_size=4).hexdigest()
    return (f"{safe_algorithm}-{safe_version}-{dt.date.today():%Y%m%d}-{where}-"
            f"{fingerprint[:16]}{SUFFIX}")


def _load(path: Path, fingerprint: str) -> Index | None:
    if not path.exists():
        return None
    try:
        return load_index(path, fingerprint=fingerprint)
    except FileNotFoundError:  # pruned by another process meanwhile
        return None
    except (OSError, IndexFileError) as error:
        log.warning("saved index %s cannot be used (%s); building it again", path, error)
        path.unlink(missing_ok=True)
        return None


def _prune(folder: Path, *, keep: Path) -> None:
    """Delete all but the newest ``FILES_KEPT`` index files (never ``keep``)."""
    dated = []
    for path in folder.glob(f"*{SUFFIX}"):
        try:
            dated.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # pruned by another process meanwhile
            continue
    for _mtime, old in sorted(dated, reverse=True)[FILES_KEPT:]:
        if old != keep:
            old.unlink(missing_ok=True)


def _wait_for(lock: IO[str]) -> None:
    """Take the exclusive lock on the open file ``lock``, waiting for another process's
    build to finish; closing the file releases it."""
    started = time.perf_counter()
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    waited = time.perf_counter() - started
    if waited > 1:
        log.info("waited %.1f s for another process's index build", waited)
