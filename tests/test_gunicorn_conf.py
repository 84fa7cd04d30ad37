"""gunicorn with ``gunicorn.conf.py``, as deployed: warm-up, graceful shutdown, a killed
worker replaced. Real gunicorn processes on loopback, on their own SQLite database."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

GUNICORN = Path(sys.executable).with_name("gunicorn")
START_TIMEOUT_S = 90  # booting and warming a worker (migrated, empty database)
SLOW_REQUEST_S = 2.0  # long enough to be in flight when the signal arrives

# The deployed app, plus one route that takes a while: a request guaranteed to be in
# flight when the test signals gunicorn.
WRAPPER = f'''
import time

from wsgi import app as deployed


class Slow:
    """WSGI middleware, as a deployment might add: it keeps the app as ``.app``."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/__slow":
            time.sleep({SLOW_REQUEST_S})
            environ = dict(environ, PATH_INFO="/healthz")
        return self.app(environ, start_response)


app = Slow(deployed)
'''


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(self, path: str, timeout_s: float = 10) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if self.get("/readyz", timeout_s=2) == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("gunicorn never became ready:\n" + self.log.read_text()[-3000:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def database_file(tmp_path_factory: pytest.TempPathFactory, postcode_directory_path: Path) -> Path:
    """A migrated, empty SQLite database of its own (the server runs in other processes)."""
    import flask_migrate

    from web import create_app

    folder = tmp_path_factory.mktemp("gunicorn")
    path = folder / "served.sqlite3"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "s" * 32,
                      "POSTCODES_DIRECTORY_PATH": str(postcode_directory_path)},
                     instance_path=str(folder / "instance"))
    with app.app_context():
        flask_migrate.upgrade()
        from web.extensions import db

        db.engine.dispose()
    (folder / "served_wsgi.py").write_text(WRAPPER)
    return path


@pytest.fixture
def server(request: pytest.FixtureRequest, database_file: Path,
           postcode_directory_path: Path) -> Iterator[Server]:
    port = _free_port()
    log = database_file.parent / f"gunicorn-{port}.log"
    env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
    env.update(
        DATABASE_URL=f"sqlite:///{database_file}", SECRET_KEY="s" * 32,
        POSTCODE_DIRECTORY=str(postcode_directory_path), GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1", GUNICORN_GRACEFUL_TIMEOUT="20", LOG_LEVEL="INFO",
        INDEX_DIRECTORY=str(database_file.parent / f"index-{port}"),
        PYTHONPATH=os.pathsep.join([str(database_file.parent), str(REPO_ROOT)]),
    )
    env.update(getattr(request, "param", {}))  # a test's own settings
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(REPO_ROOT / "gunicorn.conf.py"), "served_wsgi:app"],
            cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    served = Server(process, port, log)
    try:
        served.wait_ready()
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def _in_background(server: Server, path: str) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(server.get(path, timeout_s=30))
        except OSError as error:
            outcome.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    return thread, outcome


def test_workers_warm_up_before_serving(server: Server) -> None:
    assert server.get("/healthz") == 200
    log = server.log.read_text()
    # preloaded: the master builds the index once and the worker inherits it
    assert "master: index and postcode directory ready" in log
    (worker,) = server.workers()
    assert f"worker {worker}: warm in" in log
    assert "(index inherited)" in log
    assert "(index built)" not in log.split("master: index")[1]


@pytest.mark.parametrize("server", [{"GUNICORN_PRELOAD": "0"}], indirect=True)
def test_without_preloading_each_worker_builds_its_own_index(server: Server) -> None:
    assert server.get("/healthz") == 200
    log = server.log.read_text()
    assert "master: index" not in log
    (worker,) = server.workers()
    assert f"worker {worker}: warm in" in log
    assert "(index built)" in log


@pytest.fixture
def versioned(database_file: Path, postcode_directory_path: Path) -> None:
    """The served database with a recorded change, so that its index is saved to a file."""
    from web import create_app
    from web.extensions import db
    from web.services.versions import bump_version

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{database_file}",
                      "SECRET_KEY": "s" * 32,
                      "POSTCODES_DIRECTORY_PATH": str(postcode_directory_path)},
                     instance_path=str(database_file.parent / "instance"))
    with app.app_context():
        bump_version()
        db.session.commit()
        db.engine.dispose()


@pytest.mark.parametrize("server", [{"GUNICORN_PRELOAD": "0", "GUNICORN_WORKERS": "2"}],
                         indirect=True)
def test_one_worker_builds_the_index_and_the_other_maps_its_file(
    versioned: None, server: Server,
) -> None:
    assert server.get("/readyz") == 200
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and server.log.read_text().count(": warm in") < 2:
        time.sleep(0.1)
    log = server.log.read_text()
    assert log.count(": warm in") == 2  # both workers, each with "(index built)"
    assert log.count("built and saved") == 1
    assert log.count("loaded from its file") == 1


def test_sigterm_finishes_the_request_in_flight_then_exits(server: Server) -> None:
    thread, outcome = _in_background(server, "/__slow")
    time.sleep(SLOW_REQUEST_S / 4)  # the request is now being served
    server.process.send_signal(signal.SIGTERM)
    thread.join(timeout=30)
    assert outcome == [200]  # finished, not cut off
    assert server.process.wait(timeout=30) == 0
    with pytest.raises(OSError):  # and nothing listens any more
        server.get("/healthz", timeout_s=2)


def test_a_killed_worker_is_replaced(server: Server) -> None:
    (first,) = server.workers()
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and server.workers() in ([], [first]):
        time.sleep(0.1)
    (second,) = server.workers()
    assert second != first
    server.wait_ready()
    assert server.get("/healthz") == 200
    assert server.get("/readyz") == 200
    # the replacement is forked from the preloaded master: no rebuild before serving
    log = server.log.read_text()
    assert f"worker {second}: warm in" in log
    assert log.split(f"worker {second}: warm in")[1].split("\n")[0].endswith(
        "(index inherited)")
