"""scripts/loadtest.py: how errors are put down to faults, and what the log says was rerun."""

from __future__ import annotations

import http.client
import random
import re
import socket
import sys
import threading
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import loadtest  # noqa: E402  (scripts/ is not a package)


@pytest.mark.parametrize(("started", "ended", "status", "expected"), [
    (9.0, 10.2, 503, "pg restart"),   # in flight when the cut began
    (10.3, 10.4, 0, "pg restart"),    # no answer, during the cut
    (10.6, 11.0, 503, "other"),       # after the cut ended
    (9.0, 10.2, 422, "other"),        # a wrong answer is never put down to a fault
])
def test_an_error_during_a_cut_counts_as_the_database_s(
    started: float, ended: float, status: int, expected: str
) -> None:
    faults = loadtest.Faults(cuts=[(10.0, 10.5)])
    record = ("entry", started, ended, status, f"HTTP {status}" if status else "Reset", None)
    assert loadtest.classify(record, faults) == expected


def test_a_success_is_never_an_error() -> None:
    faults = loadtest.Faults(cuts=[(10.0, 10.5)])
    assert loadtest.classify(("search", 10.1, 10.2, 200, "", None), faults) == "ok"


def test_reruns_are_counted_from_the_gunicorn_log(tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    log.write_text(
        "[x] WARNING in db_setup: database connection lost before any commit (terminating "
        "connection due to administrator command); running the view again\n"
        "[x] WARNING in db_setup: database connection lost after a commit began (server "
        "closed the connection unexpectedly); running the view again\n"
        "[x] WARNING in db_setup: database connection lost before any commit (x); running "
        "the view again\n"
        "[x] WARNING in db_setup: database connection lost before any write (x); running "
        "the view again\n"
        "[x] INFO Booting worker with pid: 12\n", encoding="utf-8")
    assert loadtest._rerun_summary(log) == [
        "- views run again after losing the database connection: 4 (2 before any commit, "
        "1 in a commit with nothing written, 1 after a commit began; from gunicorn's log)"]
    log.write_text("[x] INFO Booting worker with pid: 12\n", encoding="utf-8")
    assert loadtest._rerun_summary(log) == []


def test_cutting_connections_needs_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        loadtest.parse_args(["--faults", "cut"])
    assert "needs --database-url" in capsys.readouterr().err
    args = loadtest.parse_args(["--faults", "kill,cut",
                                "--database-url", "postgresql://postgres@127.0.0.1/fm_load"])
    assert args.faults == {"kill", "cut"}


def test_a_cut_commit_that_went_through_is_counted_apart(tmp_path: Path) -> None:
    log = tmp_path / "gunicorn.log"
    log.write_text(
        "[x] WARNING in db_setup: database connection lost after a commit began (terminating "
        "connection due to administrator command); it went through, so the answer made "
        "before it stands\n", encoding="utf-8")
    assert loadtest._rerun_summary(log) == [
        "- commits cut off that had gone through, answered as made before them: 1 (from "
        "gunicorn's log)"]


def test_form_adds_are_checked_once_each(tmp_path: Path) -> None:
    """A form add answered 303 must have made its shortlist once, with its one supplier."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE shortlists (id INTEGER PRIMARY KEY, name TEXT)"))
        connection.execute(sa.text("CREATE TABLE shortlist_entries (id INTEGER PRIMARY KEY, "
                                   "shortlist_id INTEGER, supplier_id INTEGER)"))
        connection.execute(sa.text("CREATE TABLE audit_events (id INTEGER PRIMARY KEY, "
                                   "action TEXT)"))
        connection.execute(sa.text(
            "INSERT INTO shortlists VALUES (1, 'once'), (2, 'twice'), (3, 'twice')"))
        connection.execute(sa.text(
            "INSERT INTO shortlist_entries VALUES (1, 1, 7), (2, 2, 7), (3, 3, 7)"))
    engine.dispose()
    records = [("form", 0.0, 0.1, 303, "", ("form", name, 7))
               for name in ("once", "twice", "missing")]
    writes = loadtest.verify_writes(url, records)
    assert (writes["forms"], writes["lost_forms"], writes["forms_twice"]) == (
        3, ["missing"], ["twice"])
    assert loadtest.lost_writes(writes) == 1


@pytest.mark.parametrize(("retries", "error", "said"), [
    (0, None, "committed 2.0 s later); no search"),
    (1, None, "2.0 s later, imported again 1 time after losing its connection); no search"),
    (2, None, "imported again 2 times after losing its connection); no search"),
    (2, "OperationalError: cut", "2 times after losing its connection): FAILED"),
])
def test_the_register_change_says_when_it_was_imported_again(
    retries: int, error: str | None, said: str
) -> None:
    faults = loadtest.Faults(change_begin=10.0, change_end=12.0, change_retries=retries,
                             change_error=error)
    [line] = loadtest._change_summary([], faults, measure_from=1.0)
    assert line.startswith("- register changed at 9.0 s (one supplier imported, ")
    assert said in line


class _OneShotServer:
    """A real socket on 127.0.0.1 that reads one request and answers ``reply`` bytes."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.request = b""
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.sock.accept()
        with connection:
            while b"\r\n\r\n" not in self.request:
                self.request += connection.recv(4096)
            head, _, body = self.request.partition(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1)) if (
                b"Content-Length" in head) else 0
            while len(body) < length:
                body += connection.recv(4096)
            self.request = head + b"\r\n\r\n" + body
            connection.sendall(self.reply)
        self.sock.close()


@pytest.mark.parametrize(("reply", "status", "body"), [
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n"
     b'{"a":1}', 200, b'{"a":1}'),
    (b"HTTP/1.1 201 CREATED\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n\r\n", 201, b"abcdefg"),
    (b"HTTP/1.1 303 SEE OTHER\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", 303, b""),
    (b"HTTP/1.0 503 SERVICE UNAVAILABLE\r\n\r\nbusy", 503, b"busy"),  # no length: until close
])
def test_the_client_reads_each_kind_of_response(reply: bytes, status: int, body: bytes) -> None:
    server = _OneShotServer(reply)
    got = loadtest.http_exchange(server.port, "POST", "/api/v1/search?x=1", b'{"need":"roof"}',
                                 {"Authorization": "Bearer t", "Content-Type": "application/json"})
    server.thread.join(5)
    assert got == (status, body)
    head, _, sent_body = server.request.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/v1/search?x=1 HTTP/1.1"
    assert {b"Connection: close", b"Authorization: Bearer t", b"Content-Length: 15",
            f"Host: 127.0.0.1:{server.port}".encode()} <= set(lines)
    assert sent_body == b'{"need":"roof"}'


@pytest.mark.parametrize(("reply", "error"), [
    (b"", http.client.RemoteDisconnected),  # closed with no answer (a killed worker)
    (b"HTTP/1.1 200 OK\r\nContent-Len", http.client.RemoteDisconnected),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", http.client.IncompleteRead),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc", http.client.IncompleteRead),
])
def test_a_cut_short_response_is_an_error(reply: bytes, error: type[Exception]) -> None:
    server = _OneShotServer(reply)
    with pytest.raises(error):
        loadtest.http_exchange(server.port, "GET", "/readyz", None, {})
    server.thread.join(5)


def test_a_refused_connection_is_an_os_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]
    with pytest.raises(OSError):
        loadtest.http_exchange(port, "GET", "/", None, {})


@pytest.mark.parametrize(("kind", "request_line", "token_sent"), [
    ("health", b"GET /healthz HTTP/1.1", False),
    ("options", b"GET /api/v1/social-value-options HTTP/1.1", True),
])
def test_the_floor_kinds_send_their_request(
    kind: str, request_line: bytes, token_sent: bool
) -> None:
    server = _OneShotServer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    plan = loadtest.ClientPlan(server.port, "fm_secret", "session=x", "csrf", ["roofing"],
                               ["SW1A 1AA"], [1], [(kind, 1)], 1, 0.0, 0.0, 1, None)
    client = loadtest._Client(plan, random.Random(1), "c0")
    getattr(client, f"do_{kind}")()
    server.thread.join(5)
    assert server.request.split(b"\r\n")[0] == request_line
    assert (b"Authorization: Bearer fm_secret" in server.request) is token_sent
    [(recorded_kind, _, _, status, error, _)] = client.records
    assert (recorded_kind, status, error) == (kind, 200, "")
    assert kind in loadtest.MIX_KINDS and loadtest.EXPECTED_STATUS[kind] == 200
