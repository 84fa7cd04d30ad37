"""The orjson provider writes what Flask's standard provider wrote, in less CPU."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider

from web.json_provider import OrjsonProvider


@dataclasses.dataclass
class _Point:
    x: int
    label: str


CASES = [
    pytest.param({"b": 1, "a": [1.5, None, True, "x"]}, id="order-kept"),
    pytest.param({"name": "Café £5 — ✓"}, id="unicode"),
    pytest.param({"on": dt.date(2026, 11, 26)}, id="date"),
    pytest.param({"at": dt.datetime(2026, 11, 26, 17, 5, tzinfo=dt.UTC)}, id="datetime"),
    pytest.param({"value": decimal.Decimal("12.50")}, id="decimal"),
    pytest.param({"id": uuid.UUID(int=7)}, id="uuid"),
    pytest.param({"point": _Point(1, "a")}, id="dataclass"),
    pytest.param({1: "one", 2: "two"}, id="int-keys"),
    pytest.param({"text": "lone \ud800 surrogate"}, id="surrogate-falls-back"),
    pytest.param({"big": 2**70}, id="bigint-falls-back"),
    pytest.param([{"nested": {"deep": [1, 2, {"k": "v"}]}}], id="nested"),
]


def _apps() -> tuple[Flask, Flask]:
    fast = Flask(__name__)
    fast.json = OrjsonProvider(fast)
    standard = Flask(__name__)
    standard.json = DefaultJSONProvider(standard)
    standard.json.sort_keys = False  # type: ignore[attr-defined]
    return fast, standard


@pytest.mark.parametrize("obj", CASES)
def test_dumps_means_what_the_standard_provider_wrote(obj: object) -> None:
    fast, standard = _apps()
    assert json.loads(fast.json.dumps(obj)) == json.loads(standard.json.dumps(obj))


@pytest.mark.parametrize("obj", CASES)
def test_response_means_what_the_standard_provider_wrote(obj: object) -> None:
    fast, standard = _apps()
    with fast.app_context():
        ours = fast.json.response(obj)
    with standard.app_context():
        theirs = standard.json.response(obj)
    assert ours.mimetype == theirs.mimetype == "application/json"
    assert ours.get_data().endswith(b"\n")
    assert json.loads(ours.get_data()) == json.loads(theirs.get_data())


def test_key_order_is_kept() -> None:
    fast, _ = _apps()
    assert fast.json.dumps({"rank": 1, "name": "A", "breakdown": {}}) == (
        '{"rank":1,"name":"A","breakdown":{}}'
    )


def test_text_is_utf8_not_escaped() -> None:
    fast, _ = _apps()
    with fast.app_context():
        assert fast.json.response({"name": "Café"}).get_data() == '{"name":"Café"}\n'.encode()


def test_debug_and_keyword_arguments_pretty_print_as_before() -> None:
    fast, _ = _apps()
    fast.debug = True
    with fast.app_context():
        assert fast.json.response({"a": 1}).get_data() == b'{\n  "a": 1\n}\n'
    assert fast.json.dumps({"a": 1}, indent=1) == '{\n "a": 1\n}'


def test_the_app_factory_uses_it(app: Flask) -> None:
    assert isinstance(app.json, OrjsonProvider)
