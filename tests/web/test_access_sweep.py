"""Access sweep over every route: a member of organisation B, a signed-out visitor and an
admin against organisation A's objects. B must never read or change A's things, nor learn
that they exist; nothing answers 500."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import make_organisation, make_supplier, make_user
from web.extensions import db
from web.models import (
    ApiToken,
    Framework,
    Lot,
    Shortlist,
    ShortlistEntry,
    ShortlistStatus,
    Site,
    Supplier,
    User,
)
from web.services.tokens import create_token

#: Routes anyone may call.
PUBLIC = {"main.home", "main.accessibility", "main.cookies", "main.privacy",
          "main.data_attribution", "main.healthz", "ops.readyz", "auth.sign_in",
          "auth.sign_out", "api.openapi_document", "static"}
#: Routes that hold organisation A's own objects in their URL.
ORG_A_OBJECTS = re.compile(r"^(shortlists\.(detail|edit|remove_entry|export|lock|outcome"
                           r"|correct_outcome)|account\.revoke)$")


@dataclass
class World:
    """Two member organisations, an admin, and organisation A's objects."""

    values: dict[str, Any]
    member_a: int
    member_b: int
    admin: int
    shortlist: int
    token: int


@pytest.fixture
def world(app_context: Flask) -> World:
    org_a, org_b = make_organisation(name="Org A"), make_organisation(name="Org B")
    member_a = make_user(organisation=org_a, email="a@a.example")
    member_b = make_user(organisation=org_b, email="b@b.example")
    admin = make_user(role="admin", email="admin@fw.example", organisation=None)
    framework = Framework(code="FW", name="Framework")
    framework.lots = [Lot(code="L1", name="Lot 1")]
    db.session.add(framework)
    supplier, other = make_supplier(), make_supplier()
    site = Site(organisation=org_a, name="Depot", postcode="L34 1AB", latitude=53.42,
                longitude=-2.81)
    db.session.add(site)
    shortlist = Shortlist(organisation_id=org_a.id, created_by_id=member_a.id, name="A's list",
                          status=ShortlistStatus.DRAFT, search_inputs={"need": "roofing"})
    shortlist.entries = [ShortlistEntry(supplier_id=supplier.id, rank=1, score=50.0)]
    db.session.add(shortlist)
    db.session.flush()
    token, _secret = create_token(member_a, name="A's token")
    db.session.commit()
    values = {
        "shortlist_id": shortlist.id, "entry_id": shortlist.entries[0].id, "token_id": token.id,
        "supplier_id": supplier.id, "organisation_id": org_a.id, "site_id": site.id,
        "user_id": member_a.id, "lot_id": framework.lots[0].id, "first_id": supplier.id,
        "second_id": other.id, "fmt": "csv", "version": "2026.1", "token": "nope",
        "filename": "nope.css", "year": 2026,
    }
    return World(values, member_a.id, member_b.id, admin.id, shortlist.id, token.id)


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) for every rule and method, except signing in and out
    (they would change who the sweep is signed in as)."""
    return [
        (rule.endpoint, method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
        if rule.endpoint not in ("auth.sign_in", "auth.sign_out")
    ]


def call(client: FlaskClient, method: str, rule: str, values: dict[str, Any]) -> int:
    path = re.sub(r"<(?:[^:<>]+:)?([a-z_]+)(?:\([^)]*\))?>",
                  lambda m: str(values[m.group(1)]), rule)
    return client.open(path, method=method, data={}).status_code


def state_of_a(world: World) -> tuple[Any, ...]:
    """Organisation A's things, to check nothing changed them."""
    db.session.expire_all()
    shortlist = db.session.get(Shortlist, world.shortlist)
    entries = [(e.supplier_id, e.removed_at) for e in shortlist.entries]
    token = db.session.get(ApiToken, world.token)
    user = db.session.get(User, world.member_a)
    suppliers = db.session.scalars(sa.select(Supplier.active).order_by(Supplier.id)).all()
    return (shortlist.name, shortlist.notes, shortlist.status, entries, token.revoked_at,
            user.active, suppliers)


def test_member_of_another_organisation_gets_nothing(  # type: ignore[no-untyped-def]
    app: Flask, auth, client, world: World
) -> None:
    before = state_of_a(world)
    auth.login_as(db.session.get(User, world.member_b))
    for endpoint, method, rule in routes(app):
        status = call(client, method, rule, world.values)
        assert status < 500, (endpoint, method, status)
        if endpoint.startswith("admin."):
            assert status == 403, (endpoint, method, status)
        elif ORG_A_OBJECTS.match(endpoint):
            assert status == 404, (endpoint, method, status)
        elif endpoint.startswith("api.") and endpoint != "api.openapi_document":
            # the API takes bearer tokens only: a browser session is not enough
            assert status == 401, (endpoint, method, status)
    assert state_of_a(world) == before


def test_signed_out_visitor_is_sent_to_sign_in(  # type: ignore[no-untyped-def]
    app: Flask, client, world: World
) -> None:
    before = state_of_a(world)
    for endpoint, method, rule in routes(app):
        if endpoint in PUBLIC:
            continue
        status = call(client, method, rule, world.values)
        if endpoint.startswith("api."):
            assert status == 401, (endpoint, method, status)
        else:
            assert status in (302, 405), (endpoint, method, status)
    assert state_of_a(world) == before


def test_admin_reaches_every_admin_page_without_a_server_error(  # type: ignore[no-untyped-def]
    app: Flask, auth, client, world: World
) -> None:
    auth.login_as(db.session.get(User, world.admin))
    for endpoint, method, rule in routes(app):
        if method != "GET" or not endpoint.startswith("admin."):
            continue
        status = call(client, method, rule, world.values)
        assert status < 500, (endpoint, status)
