"""The social-value catalogue pages."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.factories import catalogue_data, make_user
from web.extensions import db
from web.models import User
from web.services.catalogue import load_catalogue


@pytest.fixture
def signed_in(client, auth, app_context: Flask) -> None:  # type: ignore[no-untyped-def]
    user = make_user()
    db.session.commit()
    auth.login_as(db.session.get(User, user.id))


def test_signed_out_visitors_are_sent_to_sign_in(client, app) -> None:  # type: ignore[no-untyped-def]
    for url in ("/catalogue/", "/catalogue/2026.1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/sign-in?next=")


def test_no_catalogue_yet(client, signed_in) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/catalogue/")
    assert response.status_code == 200
    assert "No social value catalogue has been published yet." in response.get_data(as_text=True)


def test_current_catalogue(client, signed_in, app_context) -> None:  # type: ignore[no-untyped-def]
    data = catalogue_data()
    data["options"][0]["description"] = "Weeks of apprenticeship <b>on the contract</b>."
    data["options"][1]["indicative"] = False
    load_catalogue(data)
    db.session.commit()
    response = client.get("/catalogue/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<title>Social value catalogue – Framework Match</title>" in html
    assert "Version 2026.1, published 1 November 2026" in html
    assert "the version new searches use" in html
    # themes, then their options with measure, unit, proxy and source
    assert html.index("Skills and employment") < html.index("Apprenticeship weeks")
    assert html.index("Local economy") < html.index("Local SME spend")
    assert "Weeks of apprenticeship" in html and "Unit: week" in html
    assert "£260.00 per week" in html and "£0.50 per £1" in html
    assert "Test source (2024)" in html and "Test source (2023)" in html
    assert "&lt;b&gt;on the contract&lt;/b&gt;" in html  # catalogue text is escaped
    assert html.count('govuk-tag--yellow">Indicative') == 2  # the key, and SV-APP only
    assert 'id="option-SV-APP"' in html
    assert "All versions" not in html


def test_older_versions(client, signed_in, app_context) -> None:  # type: ignore[no-untyped-def]
    load_catalogue(catalogue_data("2026.1"))
    newer = catalogue_data("2027.1", published_on="2027-04-01")
    newer["options"][0]["proxy_gbp_per_unit"] = 300.0
    load_catalogue(newer)
    db.session.commit()
    html = client.get("/catalogue/").get_data(as_text=True)
    assert "Version 2027.1, published 1 April 2027" in html and "£300.00 per week" in html
    assert "All versions" in html
    assert 'href="/catalogue/2026.1">Version 2026.1</a>' in html
    old = client.get("/catalogue/2026.1")
    assert old.status_code == 200
    old_html = old.get_data(as_text=True)
    assert "<title>Social value catalogue version 2026.1 – Framework Match</title>" in old_html
    assert "This is an older version" in old_html and "£260.00 per week" in old_html
    assert 'href="/catalogue/2027.1">Version 2027.1</a>' in old_html


def test_unknown_version_is_404(client, signed_in) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/catalogue/1999.1").status_code == 404
