"""Fuzz tests (hypothesis) of the HTML search: the form, the results page and the CPV
autocomplete with arbitrary query strings; the "Add to shortlist" form the results page
posts and the sign-in form with arbitrary fields; and the limits on request, URL and field
sizes, with the regression tests of what the fuzzing found.

Whatever the query string holds (huge values, control characters, invalid UTF-8 and
Latin-1 bytes, repeated keys, numbers like NaN or 1e309, random postcodes and CPV codes),
the answer is the results page (200) or the form again with a GOV.UK error summary of
short, printable messages (400): never a 5xx or a traceback. Nothing but a search's own
audit event (``search.run``, one per results page shown) is written; a refused form
writes nothing at all.
"""

from __future__ import annotations

import html
import io
import operator
import re
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from tests.factories import (
    catalogue_data,
    make_framework,
    make_organisation,
    make_supplier,
    make_user,
)
from web.extensions import db, limiter
from web.forms import search as search_form
from web.forms.shortlists import MAX_SEARCH_CHARS
from web.models import AuditEvent, Shortlist, ShortlistEntry, Site, Supplier
from web.services import matching
from web.services.catalogue import load_catalogue
from web.services.shortlists import MAX_NAME_CHARS, MAX_TEXT_CHARS
from web.services.versions import bump_version

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
RESULTS = "/search/results"
MAX_MESSAGE_CHARS = 300  # an error message is a sentence, not an echo of the input
HUGE_CHARS = 100_000  # a very long URL: far past what any browser or proxy sends
FIELDS = (
    "need", "cpv", "site", "postcode", "local", "radius", "la", "lot", "value", "only",
    "accreditation", "weight_capability", "weight_distance", "weight_social_value",
    "weight_rotation", "sv-SV-APP", "sv-SV-SPEND", "page",
)
NUMBERS = ("NaN", "nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e-400", "-1", "-0",
           "0", "0x10", "1_000", "٣", "３", "1e5", " 25 ", "£1,000,000", "9" * 400, "-5")
WORDS = ("external wall insulation", "roofing", "insulation", "loft", "the and of")
SERVER_ERROR = 500

# ---------------------------------------------------------------------------------------
# The world: a member with a site, a catalogue, lots and a small register


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tables are emptied between tests, so data versions repeat: never reuse a cache.
    monkeypatch.setattr(matching, "_cache", None)
    monkeypatch.setattr(search_form, "_register_cache", {})


@pytest.fixture
def member(client: FlaskClient, auth: Any, app_context: Flask) -> dict[str, int]:
    """A member of an organisation with a site near Knowsley, signed in; their ids."""
    load_catalogue(catalogue_data())
    make_framework(lots=("L1", "L2"))
    org = make_organisation(name="Knowsley Homes")
    site = Site(organisation=org, name="Head office", postcode="L34 1AB",
                la_code="E08000011", latitude=53.4203, longitude=-2.8112)
    db.session.add(site)
    other = make_organisation(name="Other Homes")
    other_site = Site(organisation=other, name="Elsewhere", postcode="SW1A 1AA",
                      latitude=51.501, longitude=-0.142, la_code="E09000033")
    db.session.add(other_site)
    user = make_user(organisation=org)
    near = make_supplier(name="Near Insulation Ltd", latitude=53.43, longitude=-2.80)
    make_supplier(name="Far Insulation Ltd", latitude=51.50, longitude=-0.12,
                  la_code="E09000033", cpv_codes=["45321000", "45261000"])
    draft = Shortlist(organisation_id=org.id, created_by_id=user.id, name="EWI draft")
    db.session.add(draft)
    bump_version()
    db.session.commit()
    auth.login_as(user)
    return {"user": user.id, "site": site.id, "other_site": other_site.id,
            "supplier": near.id, "draft": draft.id}


def counts() -> dict[str, int]:
    """Rows a refused request must not change; searches are counted on their own."""
    def count(model: Any, *where: Any) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    db.session.expire_all()
    return {
        "suppliers": count(Supplier),
        "shortlists": count(Shortlist),
        "entries": count(ShortlistEntry),
        "events": count(AuditEvent, AuditEvent.action != "search.run"),
        "searches": count(AuditEvent, AuditEvent.action == "search.run"),
    }


def text(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def error_messages(page: str) -> list[str]:
    """The messages of the page's GOV.UK error summary, as shown."""
    start = page.find('class="govuk-error-summary"')
    if start < 0:
        return []
    summary = page[start:page.index("</ul>", start)]
    return [html.unescape(re.sub(r"<[^>]+>", "", item)).strip()
            for item in re.findall(r"<li>(.*?)</li>", summary, re.S)]


def assert_clean(response: TestResponse) -> str:
    """No 5xx and no traceback; return the page."""
    page = text(response)
    assert response.status_code < SERVER_ERROR, page[-2000:]
    assert "Traceback" not in page and 'File "' not in page
    return page


def assert_error_summary(page: str) -> list[str]:
    """The page shows a GOV.UK error summary whose messages are short printable sentences."""
    assert "<title>Error: " in page
    messages = error_messages(page)
    assert messages, "no message in the error summary"
    for message in messages:
        assert 0 < len(message) <= MAX_MESSAGE_CHARS, message
        assert all(ch.isprintable() for ch in message), ascii(message)
    return messages


# ---------------------------------------------------------------------------------------
# Generated query strings

#: Characters nobody types on purpose (controls incl. NUL, CR and ESC; bidi overrides and
#: other format characters; lone surrogates, sent as the invalid UTF-8 they encode to).
odd_chars = st.characters(categories=["Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp", "Nd", "No"])
huge_text = st.builds(
    operator.mul, st.sampled_from(["a", "roof ", "\x00", "’", "9", "L34 1AB,", "\ud800"]),
    st.integers(1_000, HUGE_CHARS),
)
postcodes = st.one_of(
    st.sampled_from(["L34 1AB", "sw1a1aa", "M1 1AE", "BT1 1AA", "ZZ99 9ZZ", "L34", "L34 1"]),
    st.from_regex(r"\A[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}\Z"),
)
cpv_codes = st.from_regex(r"\A[0-9]{2,9}(-[0-9])?([ ,;][0-9]{8})*\Z")


def with_odd_characters(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Values of ``strategy``, as they are or with odd characters around and inside."""
    return st.one_of(strategy, st.tuples(st.text(odd_chars, max_size=2), strategy,
                                         st.text(odd_chars, max_size=2)).map("".join))


values = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(NUMBERS),
    st.sampled_from(["any", "postcode", "radius", "la", "E08000011", "L1", "sme", "vcse",
                     "CHAS", "3", "", " "]),
    with_odd_characters(postcodes),
    with_odd_characters(cpv_codes),
    st.text(max_size=30),
    st.text(odd_chars, max_size=10),
    huge_text,
)


@st.composite
def encoded(draw: st.DrawFn, strategy: st.SearchStrategy[str]) -> bytes:
    """A drawn text as bytes: UTF-8 (lone surrogates kept, as invalid UTF-8), Latin-1 or
    Windows-1252 (mixed encodings), or raw random bytes."""
    how = draw(st.sampled_from(["utf-8", "utf-8", "latin-1", "cp1252", "raw"]))
    if how == "raw":
        return draw(st.binary(max_size=20))
    value = draw(strategy)
    try:
        return value.encode(how) if how != "utf-8" else value.encode(how, "surrogatepass")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    """A query string: a valid search with some of its values replaced, keys repeated (a
    list where one value is expected), unknown keys added and broken escapes appended."""
    pairs: list[tuple[bytes, bytes]] = [
        (b"need", draw(st.sampled_from(WORDS)).encode()), (b"radius", b"any"),
    ]
    if draw(st.booleans()):  # from a postcode rather than the member's site
        pairs += [(b"site", b"postcode"),
                  (b"postcode", draw(encoded(with_odd_characters(postcodes))))]
    if draw(st.booleans()):
        pairs.append((b"cpv", draw(encoded(with_odd_characters(cpv_codes)))))
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.one_of(st.sampled_from(FIELDS).map(str.encode), encoded(st.text())))
        value = draw(encoded(values))
        how = draw(st.sampled_from(["replace", "repeat", "repeat"]))
        if how == "replace":
            pairs = [(k, v) for k, v in pairs if k != key]
        pairs.insert(draw(st.integers(0, len(pairs))), (key, value))
    query = "&".join(
        f"{quote_from_bytes(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in pairs
    )
    junk = draw(st.sampled_from(["", "", "&", "&&=", "%", "%zz", "%ff%fe", ";need=x",
                                 "&need", "=", "&page=%00", "&sv-SV-APP"]))
    return query + junk


# ---------------------------------------------------------------------------------------
# The results page, the form and the autocomplete


@FUZZ
@given(query=query_strings())
def test_results_page_or_the_form_with_its_errors(
    client: FlaskClient, member: dict[str, int], query: str
) -> None:
    before = counts()
    response = client.get(f"{RESULTS}?{query}")
    page = assert_clean(response)
    after = counts()
    if response.status_code == 200:
        event("results")
        assert "<title>Search results" in page
        assert after == {**before, "searches": before["searches"] + 1}
    else:
        event("refused")
        assert response.status_code == 400
        assert "<title>Error: Search for suppliers" in page
        assert_error_summary(page)
        assert after == before


@FUZZ
@given(query=query_strings())
def test_search_form_is_always_shown(
    client: FlaskClient, member: dict[str, int], query: str
) -> None:
    response = client.get(f"/search?{query}")
    page = assert_clean(response)
    assert response.status_code == 200
    assert "<title>Search for suppliers" in page
    assert "govuk-error-summary" not in page  # the form is filled in, not checked


@FUZZ
@given(q=encoded(values))
def test_cpv_autocomplete_answers_a_list(
    client: FlaskClient, member: dict[str, int], q: bytes
) -> None:
    response = client.get("/search/cpv-codes?q=" + quote_from_bytes(q, safe=""))
    assert response.status_code == 200
    codes = response.get_json()["codes"]
    assert isinstance(codes, list) and len(codes) <= 10
    assert all(re.fullmatch(r"[0-9]{8}", c["code"]) for c in codes)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("need=roof&cpv=%00%1b", "cpv", "“��” is not a CPV code"),
        ("need=roof&cpv=4532%1b[2J", "cpv", "“4532�[2J” is not a CPV code"),
        ("need=roof&site=postcode&postcode=%1b[31mL34", "postcode",
         "\"�[31mL34\" is not a valid postcode"),
        ("need=roof&weight_distance=" + "9" * 100, "weight_distance",
         "Distance weight must be a number between 0 and 100, like 25"),
        ("need=roof&weight_capability=1e309", "weight_capability",
         "Capability weight must be between 0 and 100"),
    ],
)
def test_messages_show_no_control_characters_and_say_what_to_do(
    client: FlaskClient, member: dict[str, int], query: str, field: str, message: str
) -> None:
    # Regression: the CPV and postcode messages quoted the input as it came, so control
    # characters (NUL, an escape sequence) reached the page; a weight of 100 nines was
    # "not a number"; the weights had no length limit.
    response = client.get(f"{RESULTS}?{query}")
    assert response.status_code == 400
    page = text(response)
    assert any(message in m for m in assert_error_summary(page)), error_messages(page)
    assert f'href="#{field}"' in page


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (f"{RESULTS}?need=" + "a" * HUGE_CHARS, 400,
         "Description must be 5,000 characters or fewer"),
        (f"{RESULTS}?need=roof&radius=any&la=" + "%ff" * (HUGE_CHARS // 3), 400,
         "Select local authorities from the list"),
        (f"{RESULTS}?need=roof&radius=any&" + "x" * HUGE_CHARS + "=1", 200, None),
        ("/search?need=" + "%e2%80%99" * (HUGE_CHARS // 9), 200, None),
        ("/search/cpv-codes?q=" + "4" * HUGE_CHARS, 200, None),
    ],
)
def test_a_very_long_url_gets_a_page_not_an_error(
    client: FlaskClient, member: dict[str, int], path: str, status: int, message: str | None
) -> None:
    response = client.get(path)
    assert_clean(response)
    assert response.status_code == status
    if message is not None:
        assert assert_error_summary(text(response)) == [message]


def test_unknown_query_parameters_are_not_recorded_or_carried_in_links(
    client: FlaskClient, member: dict[str, int], app_context: Flask
) -> None:
    # Regression: every parameter of the URL, known or not, went into the audit event and
    # the page's links, so junk of any size was stored with each search.
    junk = "x" * 10_000
    response = client.get(f"{RESULTS}?need=roof&radius=any&utm_source={junk}&{junk}=1")
    assert response.status_code == 200
    assert junk not in text(response)
    recorded = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "search.run"))
    assert recorded.details["query_string"] == "need=roof&radius=any"


# ---------------------------------------------------------------------------------------
# Request and field size limits


def test_size_limits_are_configured(app: Flask) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 20 * 1024 * 1024  # the largest upload
    # Any other body: the largest form, 500,000 characters of catalogue JSON URL-encoded.
    assert 3 * 500_000 <= app.config["MAX_TEXT_BODY_LENGTH"] <= 4 * 1024 * 1024
    assert app.config["MAX_FORM_MEMORY_SIZE"] == 500_000  # a multipart form's text field
    assert app.config["MAX_FORM_PARTS"] == 1000


def test_a_form_too_large_is_a_413_page(client: FlaskClient, app: Flask) -> None:
    # Regression: URL-encoded forms were bounded only by MAX_CONTENT_LENGTH, sized for
    # uploads (Werkzeug applies MAX_FORM_MEMORY_SIZE to multipart forms alone), so a 20 MB
    # sign-in form was read into memory; and the 413 page spoke of a file.
    too_big = app.config["MAX_TEXT_BODY_LENGTH"] + 1
    response = client.post("/sign-in", data={"email": "a" * too_big, "password": "x"})
    page = assert_clean(response)
    assert response.status_code == 413
    assert "What you sent is too big" in page
    assert "file" not in page.split("<main", 1)[1].lower()
    # The largest form that is not too big gets its fields' own messages.
    fits = client.post("/sign-in", data={"email": "a" * 1_400_000, "password": "x"})
    assert fits.status_code == 400
    assert "Email address must be 300 characters or fewer" in error_messages(text(fits))


@pytest.mark.parametrize(
    "data",
    [
        {f"field{n}": "x" for n in range(1_001)},  # MAX_FORM_PARTS
        {"email": "a" * 500_001},  # MAX_FORM_MEMORY_SIZE
    ],
)
def test_a_multipart_form_past_its_limits_is_a_413_page(
    client: FlaskClient, app: Flask, data: dict[str, str]
) -> None:
    response = client.post("/sign-in", data=data, content_type="multipart/form-data")
    assert_clean(response)
    assert response.status_code == 413


def test_a_body_over_the_content_limit_is_a_413_page(client: FlaskClient, app: Flask) -> None:
    # Claimed, not sent: the length alone is refused before anything is read.
    size = app.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post("/sign-in", input_stream=io.BytesIO(b"x"),
                           content_type="multipart/form-data; boundary=x",
                           environ_overrides={"CONTENT_LENGTH": str(size)})
    page = assert_clean(response)
    assert response.status_code == 413
    assert "The file is too big" in page and "smaller than 20 MB" in page


@pytest.mark.parametrize("path", ["/shortlists/2147483648", "/shortlists/" + "9" * 30,
                                  "/suppliers/" + "9" * 30, "/shortlists/1/entries/"
                                  + "9" * 30 + "/remove"])
def test_an_id_past_32_bits_in_a_url_is_a_404(
    client: FlaskClient, member: dict[str, int], path: str
) -> None:
    # Regression: <int:…> took any number, and the database could not hold it: a 500
    # (SQLite: "Python int too large"; PostgreSQL: "integer out of range").
    response = client.get(path)
    assert_clean(response)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "a" * 301 + "@x.example", "password": "x"},
         "Email address must be 300 characters or fewer"),
        ({"email": "a@x.example", "password": "p" * 1001},
         "Password must be 1,000 characters or fewer"),
        ({"email": "a\x00b@x.example", "password": "x"},
         "Enter an email address in the correct format, like name@example.com"),
        ({"email": "a\x1b@x.example", "password": "x"},
         "Enter an email address in the correct format, like name@example.com"),
    ],
)
def test_sign_in_fields_have_limits_and_refuse_control_characters(
    client: FlaskClient, app: Flask, data: dict[str, str], message: str
) -> None:
    # Regression: an email address holding NUL passed the form and reached the database,
    # which on PostgreSQL cannot hold NUL in text: a 500.
    response = client.post("/sign-in", data=data)
    assert response.status_code == 400
    assert message in assert_error_summary(text(response))


@FUZZ
@given(email=values, password=st.one_of(values, st.text(odd_chars, max_size=10)))
def test_sign_in_takes_any_text(
    client: FlaskClient, app: Flask, email: str, password: str
) -> None:
    # Lone surrogates are sent as the invalid UTF-8 they encode to.
    data = {"email": email.encode("utf-8", "surrogatepass"),
            "password": password.encode("utf-8", "surrogatepass")}
    limiter.reset()  # every example gets to the form, not the rate limit
    response = client.post("/sign-in", data=data)
    assert response.status_code == 400  # nobody has an account here
    assert_error_summary(assert_clean(response))


# ---------------------------------------------------------------------------------------
# The "Add to shortlist" form of the results page, and the other shortlist forms


#: A valid "Add to shortlist" form (placeholders for the member's ids) ...
VALID_ADD = {
    "supplier_id": "SUPPLIER", "shortlist_id": "new", "new_shortlist_name": "Walls 2027",
    "search": "need=external+wall+insulation&site=SITE&radius=any", "reason": "",
}
#: ... and what each of its fields may be replaced with.
ADD_MUTATIONS = {
    "supplier_id": st.one_of(st.sampled_from(["0", "-1", "1e3", "9" * 30, "²", "٣", "",
                                              "2147483648", " SUPPLIER"]), values),
    "shortlist_id": st.one_of(st.sampled_from(["DRAFT", "9" * 30, "²", "٣", "-1", "0",
                                               "2147483648", "3.0", ""]), values),
    "search": st.one_of(st.just(""), query_strings()),
    "new_shortlist_name": st.one_of(st.sampled_from(["", "a" * (MAX_NAME_CHARS + 1)]), values),
    "reason": values,
}


@st.composite
def add_forms(draw: st.DrawFn) -> dict[str, str]:
    """A valid "Add to shortlist" form with none to three of its fields replaced."""
    data = dict(VALID_ADD)
    for name in draw(st.lists(st.sampled_from(sorted(ADD_MUTATIONS)), max_size=3, unique=True)):
        data[name] = draw(ADD_MUTATIONS[name])
    return data


@FUZZ
@given(form=add_forms())
def test_add_to_shortlist_takes_any_form(
    client: FlaskClient, member: dict[str, int], form: dict[str, str]
) -> None:
    ids = {"SUPPLIER": str(member["supplier"]), "DRAFT": str(member["draft"]),
           "SITE": str(member["site"])}
    for placeholder, value in ids.items():
        form = {name: text.replace(placeholder, value) for name, text in form.items()}
    before = counts()
    response = client.post(
        "/shortlists/add",
        # Lone surrogates are sent as the invalid UTF-8 they encode to.
        data={name: text.encode("utf-8", "surrogatepass") for name, text in form.items()},
    )
    page = assert_clean(response)
    after = counts()
    if response.status_code == 303:
        event("added")
        assert after["entries"] == before["entries"] + 1
        with client.session_transaction() as session:
            session.pop("_flashes", None)
        # The next example starts from the same register.
        db.session.execute(sa.delete(ShortlistEntry))
        db.session.execute(sa.delete(AuditEvent))
        db.session.execute(sa.delete(Shortlist).where(Shortlist.id != member["draft"]))
        db.session.commit()
    elif response.status_code == 404:  # a shortlist id that is no shortlist of theirs
        event("no such shortlist")
        assert "Page not found" in page
        assert after == before
    else:
        event("refused")
        assert response.status_code == 400
        assert_error_summary(page)
        assert after == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("shortlist_id", "9" * 30, "Choose one of your draft shortlists, or a new shortlist"),
        ("shortlist_id", "²", "Choose one of your draft shortlists, or a new shortlist"),
        ("shortlist_id", "2147483648", "Choose one of your draft shortlists, or a new shortlist"),
        ("supplier_id", "9" * 30, "Choose a supplier to add"),
        ("supplier_id", "0", "Choose a supplier to add"),
        ("new_shortlist_name", "a\x00b", "Name of the new shortlist must not contain"),
        ("reason", "r" * (MAX_TEXT_CHARS + 1), "Reason must be 5000 characters or fewer"),
        ("reason", "\x1b[2J", "must not contain control characters"),
    ],
)
def test_add_to_shortlist_refuses_out_of_range_ids_and_control_characters(
    client: FlaskClient, member: dict[str, int], field: str, value: str, message: str
) -> None:
    # Regression: an id past 32 bits, or of digits of another script ("²" is a digit to
    # str.isdigit, not to int), reached the database or int(): a 500. Text holding NUL
    # reached the database, which on PostgreSQL cannot hold it: a 500.
    data = {"supplier_id": str(member["supplier"]), "shortlist_id": "new",
            "search": "need=external+wall+insulation&radius=any",
            "new_shortlist_name": "Walls", "reason": "", field: value}
    before = counts()
    response = client.post("/shortlists/add", data=data)
    assert response.status_code == 400
    assert any(message in m for m in assert_error_summary(text(response)))
    assert counts() == before


def test_the_longest_search_can_be_added_to_a_shortlist(
    client: FlaskClient, member: dict[str, int]
) -> None:
    # Regression: the form carrying the results page's query string allowed 20,000
    # characters, but a need of 5,000 characters like "’" is 45,000 URL-encoded, so such a
    # search could not be added ("Field cannot be longer than 20000 characters").
    need = "insulation ’" + "’" * (search_form.MAX_NEED_CHARS - 12)
    results = client.get(RESULTS, query_string={"need": need, "site": member["site"],
                                                "radius": "any"})
    assert results.status_code == 200
    search = re.search(r'name="search" value="([^"]*)"', text(results))
    assert search is not None
    query = html.unescape(search[1])
    assert 20_000 < len(query) <= MAX_SEARCH_CHARS
    response = client.post("/shortlists/add", data={
        "supplier_id": str(member["supplier"]), "shortlist_id": "new", "search": query,
        "new_shortlist_name": "Long need",
    })
    assert response.status_code == 303, error_messages(text(response))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "n" * (MAX_NAME_CHARS + 1), "notes": ""}, "Name must be 200 characters or fewer"),
        ({"name": "Walls", "notes": "n" * (MAX_TEXT_CHARS + 1)},
         "Notes must be 5000 characters or fewer"),
        ({"name": "Walls\x00", "notes": ""}, "Name must not contain control characters"),
        ({"name": "Walls", "notes": "tab\tand\r\nnew line are fine, \x07 is not"},
         "Notes must not contain control characters"),
    ],
)
def test_shortlist_name_and_notes_have_limits_with_clear_messages(
    client: FlaskClient, member: dict[str, int], data: dict[str, str], message: str
) -> None:
    before = counts()
    response = client.post(f"/shortlists/{member['draft']}/edit", data=data)
    assert response.status_code == 400
    assert message in assert_error_summary(text(response))
    assert counts() == before


@pytest.mark.parametrize("name", ["CRM\x00", "CRM\x1b[2J", "CRM\r\nsystem"])
def test_token_name_refuses_control_characters(
    client: FlaskClient, member: dict[str, int], name: str
) -> None:
    # Regression: a name holding NUL reached the database, which on PostgreSQL cannot hold
    # it: a 500.
    before = counts()
    response = client.post("/account/tokens", data={"name": name})
    assert response.status_code == 400
    assert "Token name must not contain control characters" in assert_error_summary(
        text(response))
    assert counts() == before


def test_text_areas_keep_tabs_and_new_lines(
    client: FlaskClient, member: dict[str, int], app_context: Flask
) -> None:
    response = client.post(f"/shortlists/{member['draft']}/edit",
                           data={"name": "Walls", "notes": "Line one\r\n\tLine two"})
    assert response.status_code == 303
    assert db.session.get(Shortlist, member["draft"]).notes == "Line one\r\n\tLine two"
