"""Fuzz tests (hypothesis) of the JSON API's request bodies and query strings.

Every body an operation takes is sent as generated JSON of any shape, as a valid body with
one of its fields (at any depth) replaced by a wrong type, a huge string, control
characters or a number out of range, as bytes that are not UTF-8 or not JSON at all, cut
short at any byte, with the wrong content type, and too large. The answer is a success or
RFC 9457 problem details with a 4xx, never a 5xx; and a refused request changes nothing
(shortlists, entries, audit events; a search that ran adds its own ``search.run`` event).

The schemathesis run (test_schemathesis.py) generates from the OpenAPI document; this file
generates what the document does not describe.
"""

from __future__ import annotations

import copy
import io
import json
import operator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.http import parse_options_header
from werkzeug.test import TestResponse

from tests.web.api.conftest import SEARCH, Api, ApiWorld, assert_problem, make_shortlist
from web.api.routing import JSON_MEDIA, MAX_BODY_BYTES
from web.api.schemas import MAX_ID
from web.extensions import db
from web.models import AuditEvent, Shortlist, ShortlistEntry

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
SERVER_ERROR = 500
MAX_DETAIL_CHARS = 300  # a problem's detail and each error's message: a sentence
HUGE_CHARS = 100_000  # a string far past every field's limit, the body still under 256 KB

# ---------------------------------------------------------------------------------------
# The operations that take a body: (method, path with placeholders, a valid body)

CREATE = {"name": "Walls 2027", "search": SEARCH}
FULL_SEARCH: dict[str, Any] = {
    **SEARCH, "cpv_codes": ["45321000"], "lots": ["L1"], "contract_value": 250000,
    "social_value": [{"code": "SV-APP", "weight": 2}],
    "filters": {"sme_only": False, "required_accreditations": ["TrustMark"]},
    "weights": {"capability": 60, "distance": 25}, "limit": 5, "offset": 0,
}
OPERATIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "search": ("POST", "/search", FULL_SEARCH),
    "create shortlist": ("POST", "/shortlists", CREATE),
    "add entry": ("POST", "/shortlists/{shortlist}/entries",
                  {"supplier_id": "{supplier}", "reason": "Good fit"}),
    "remove entry": ("DELETE", "/shortlists/{shortlist}/entries/{entry}",
                     {"reason": "No capacity"}),
}
#: What each operation answers when it accepts the request.
SUCCESS = {"search": 200, "create shortlist": 201, "add entry": 201, "remove entry": 200}


@pytest.fixture
def seeded(app: Flask, api: Api, world: ApiWorld) -> dict[str, Any]:
    """The test register, a draft shortlist of the member's with one supplier on it, and
    the ids the operations' paths and bodies need."""
    shortlist = make_shortlist(api, world.member)
    added = api.post(f"/shortlists/{shortlist}/entries", token=world.member,
                     json={"supplier_id": world.suppliers[0]})
    assert added.status_code == 201
    return {"world": world, "shortlist": shortlist, "entry": added.get_json()["id"],
            "supplier": world.suppliers[1]}


def counts(app: Flask) -> dict[str, int]:
    """Rows a refused request must not change; searches are counted on their own."""
    def count(model: Any, *where: Any) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    with app.app_context():
        return {
            "shortlists": count(Shortlist),
            "entries": count(ShortlistEntry),
            "removed": count(ShortlistEntry, ShortlistEntry.removed_at.is_not(None)),
            "events": count(AuditEvent, AuditEvent.action != "search.run"),
            "searches": count(AuditEvent, AuditEvent.action == "search.run"),
        }


def fill(value: Any, ids: dict[str, Any]) -> Any:
    """``value`` with the placeholders "{shortlist}", "{supplier}", "{entry}" as real ids."""
    if isinstance(value, str) and value.startswith("{") and value.strip("{}") in ids:
        return ids[value.strip("{}")]
    if isinstance(value, dict):
        return {key: fill(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, ids) for item in value]
    return value


def send(api: Api, seeded: dict[str, Any], name: str, data: bytes, *,
         content_type: str = "application/json", **kwargs: Any) -> TestResponse:
    """Send ``data`` as the body of operation ``name`` with the member's token."""
    method, path, _ = OPERATIONS[name]
    return api.call(method, path.format(**seeded), token=seeded["world"].member, data=data,
                    headers={"Content-Type": content_type}, **kwargs)


def assert_answer(response: TestResponse, name: str) -> dict[str, Any] | None:
    """A success of ``name`` (None) or problem details with a 4xx (returned)."""
    assert response.status_code < SERVER_ERROR, response.get_data(as_text=True)[:2000]
    if response.status_code == SUCCESS[name]:
        return None
    assert 400 <= response.status_code < 500, response.status_code
    problem = assert_problem(response, response.status_code)
    assert 0 < len(problem["detail"]) <= MAX_DETAIL_CHARS
    assert all(ch.isprintable() for ch in problem["detail"])
    for error in problem.get("errors") or ():
        assert set(error) == {"field", "message"}
        assert 0 < len(error["message"]) <= MAX_DETAIL_CHARS, error
        assert all(ch.isprintable() for ch in error["message"]), error
    return problem


def assert_refusal_changed_nothing(app: Flask, seeded: dict[str, Any], before: dict[str, int],
                                   name: str, problem: dict[str, Any] | None) -> None:
    """A refusal changed nothing; an operation accepted changed what it should, and is
    undone (so that the next example meets the same shortlist)."""
    after = counts(app)
    if problem is not None:
        event(f"{name}: {problem['status']}")
        assert after == before
        return
    event(f"{name}: accepted")
    if name == "search":
        assert after == {**before, "searches": before["searches"] + 1}
    elif name == "create shortlist":
        assert after["shortlists"] == before["shortlists"] + 1
    elif name == "add entry":
        assert after["entries"] == before["entries"] + 1
        with app.app_context():
            db.session.execute(sa.delete(ShortlistEntry).where(
                ShortlistEntry.supplier_id == seeded["supplier"]))
            db.session.commit()
    else:
        assert after["removed"] == before["removed"] + 1
        with app.app_context():
            entry = db.session.get(ShortlistEntry, seeded["entry"])
            entry.removed_at = entry.reason_removed = None
            db.session.commit()


# ---------------------------------------------------------------------------------------
# Generated bodies

#: Text nobody means: controls (NUL, CR, ESC), format characters (bidi overrides, BOM),
#: private use, odd spaces, digits of other scripts.
odd_text = st.text(st.characters(categories=["Cc", "Cf", "Co", "Zs", "Zl", "Zp", "Nd"]),
                   min_size=1, max_size=10)
huge_text = st.builds(operator.mul, st.sampled_from(["x", "é", "\x00", " ", "4532"]),
                      st.integers(1_000, HUGE_CHARS))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20), odd_text,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(sorted({*FULL_SEARCH, "name", "search",
                                                          "supplier_id", "reason"})),
                                  st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=12,
)
#: What a field is replaced with: wrong types, huge and odd strings, numbers JSON cannot
#: say plainly (written as raw JSON text), ids past 32 bits, lone surrogate escapes.
RAW_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e309", "-1e309", "1e-400", "-0", "-1",
               "0", "2147483648", "9" * 400, "1.5", "1E3")
replacements = st.one_of(
    scalars, huge_text,
    st.sampled_from(RAW_NUMBERS).map(lambda raw: ("raw", raw)),
    st.sampled_from(['"\\ud800"', '"a\\u0000b"', '"\\udfff\\ud800"']).map(lambda r: ("raw", r)),
    st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=2),
    st.just([]), st.just({}), st.just(["x"] * 60),
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a field or list item of ``value``, at any depth."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found.extend(paths(item, (*prefix, index)))
    return found


RAW = "\x00raw\x00"  # marks where raw JSON text replaces a value


def encode(body: Any) -> bytes:
    """``body`` as JSON, with raw replacements written as they are."""
    raws: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, tuple) and len(value) == 2 and value[0] == "raw":
            raws.append(value[1])
            return RAW
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    text = json.dumps(mark(body))
    for raw in raws:
        text = text.replace(json.dumps(RAW), raw, 1)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def mutated(draw: st.DrawFn, name: str) -> Any:
    """The valid body of operation ``name`` with up to three of its fields (at any depth)
    replaced or removed, or unknown ones added."""
    valid = OPERATIONS[name][2]
    body = copy.deepcopy(valid)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(paths(valid)))
        how = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add"]))
        # A copy: st.just() hands out the same list or dict every time.
        replacement = copy.deepcopy(draw(replacements))
        try:
            parent = body
            for part in path[:-1]:
                parent = parent[part]
            if how == "drop":
                parent.pop(path[-1])
            elif how == "add" and isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=8))] = replacement
            else:
                parent[path[-1]] = replacement
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change replaced or removed this field's parent
    return body


# ---------------------------------------------------------------------------------------
# The tests


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@FUZZ
@given(data=st.data())
def test_any_json_is_an_answer_or_a_problem(
    app: Flask, api: Api, seeded: dict[str, Any], name: str, data: st.DataObject
) -> None:
    body = data.draw(st.one_of(json_values, st.dictionaries(st.text(max_size=5), json_values)))
    before = counts(app)
    response = send(api, seeded, name, encode(body))
    problem = assert_answer(response, name)
    assert_refusal_changed_nothing(app, seeded, before, name, problem)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@FUZZ
@given(data=st.data())
def test_a_valid_body_with_bad_fields_is_an_answer_or_a_problem(
    app: Flask, api: Api, seeded: dict[str, Any], name: str, data: st.DataObject
) -> None:
    body = fill(data.draw(mutated(name)), seeded)
    before = counts(app)
    response = send(api, seeded, name, encode(body))
    problem = assert_answer(response, name)
    assert_refusal_changed_nothing(app, seeded, before, name, problem)
    if problem is not None and problem["detail"].endswith("see errors."):
        assert problem.get("errors"), problem  # each problem names the field it concerns


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@FUZZ
@given(data=st.data())
def test_bytes_that_are_not_json_are_a_400(
    app: Flask, api: Api, seeded: dict[str, Any], name: str, data: st.DataObject
) -> None:
    valid = encode(fill(OPERATIONS[name][2], seeded))
    raw = data.draw(st.one_of(
        st.integers(0, len(valid) - 1).map(lambda cut: valid[:cut]),  # cut short
        st.binary(max_size=40),
        st.sampled_from([b"\xef\xbb\xbf" + valid, valid.replace(b'"', b"'"), valid + b"x",
                         valid.decode().encode("utf-16"), valid.decode().encode("latin-1")
                         + b"\xff", b"\xc3\x28", b"{\x00}"]),
    ))
    before = counts(app)
    response = send(api, seeded, name, raw)
    problem = assert_answer(response, name)
    assert problem is not None
    assert problem["status"] in (400, 422)  # 422: bytes that are JSON, of the wrong shape
    assert counts(app) == before


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@FUZZ
@given(content_type=st.one_of(
    st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                     "application/xml", "application/jsonx", "json", "application/",
                     "application/json; charset=latin-1", "application/problem+json",
                     "APPLICATION/JSON", "application/json;;", "application/vnd.x+json", ""]),
    st.text(st.characters(exclude_characters="\r\n"), max_size=30),  # a header holds no CR/LF
))
def test_content_types_other_than_json_are_a_415(
    app: Flask, api: Api, seeded: dict[str, Any], name: str, content_type: str
) -> None:
    body = encode(fill(OPERATIONS[name][2], seeded))
    before = counts(app)
    response = send(api, seeded, name, body, content_type=content_type)
    problem = assert_answer(response, name)
    if JSON_MEDIA.match(parse_options_header(content_type)[0].lower()):
        event("read as JSON")
        assert_refusal_changed_nothing(app, seeded, before, name, problem)
    else:
        event("refused")
        assert problem is not None and problem["status"] == 415
        assert counts(app) == before


@pytest.mark.parametrize("name", sorted(OPERATIONS))
@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 3 * 1024 * 1024])
def test_a_body_too_large_is_a_413(
    app: Flask, api: Api, seeded: dict[str, Any], name: str, size: int
) -> None:
    body = b'{"reason": "' + b"x" * size + b'"}'
    before = counts(app)
    response = send(api, seeded, name, body)
    assert_problem(response, 413)
    assert counts(app) == before


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_a_body_too_large_without_a_length_is_a_413(
    app: Flask, api: Api, seeded: dict[str, Any], name: str
) -> None:
    # Chunked: no Content-Length, so only reading finds the body too large.
    data = b'{"reason": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    method, path, _ = OPERATIONS[name]
    response = api.client.open(
        "/api/v1" + path.format(**seeded), method=method, input_stream=io.BytesIO(data),
        headers={"Authorization": f"Bearer {seeded['world'].member}",
                 "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_problem(response, 413)


@FUZZ
@given(reason=st.one_of(st.text(max_size=30), odd_text, huge_text,
                        st.binary(max_size=20).map(lambda b: b.decode("latin-1"))))
def test_remove_reason_in_the_query_string(
    app: Flask, api: Api, seeded: dict[str, Any], reason: str
) -> None:
    before = counts(app)
    response = api.delete(f"/shortlists/{seeded['shortlist']}/entries/{seeded['entry']}",
                          token=seeded["world"].member, query_string={"reason": reason})
    problem = assert_answer(response, "remove entry")
    assert_refusal_changed_nothing(app, seeded, before, "remove entry", problem)


@FUZZ
@given(params=st.dictionaries(
    st.sampled_from(["q", "lot", "page", "per_page", "x"]),
    st.one_of(st.text(max_size=20), odd_text, huge_text, st.sampled_from(RAW_NUMBERS)),
    max_size=4,
))
def test_supplier_list_takes_any_query(
    app: Flask, api: Api, seeded: dict[str, Any], params: dict[str, str]
) -> None:
    response = api.get("/suppliers", token=seeded["world"].member, query_string=params)
    assert response.status_code < SERVER_ERROR
    if response.status_code != 200:
        assert_problem(response, 422)


@pytest.mark.parametrize("path", [f"/shortlists/{MAX_ID + 1}", "/suppliers/" + "9" * 30,
                                  "/shortlists/0", "/shortlists/-1", "/shortlists/٣"])
def test_ids_out_of_range_are_a_404(api: Api, seeded: dict[str, Any], path: str) -> None:
    assert_problem(api.get(path, token=seeded["world"].member), 404)
