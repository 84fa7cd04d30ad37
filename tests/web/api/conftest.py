"""Fixtures of the API tests: a small register, two member organisations, an admin, and
a token for each (plus a revoked one), committed so that requests see them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.factories import (
    catalogue_data,
    make_framework,
    make_organisation,
    make_supplier,
    make_user,
)
from web.extensions import db
from web.models import Accreditation, Commitment, Contact, Role, User
from web.services import matching
from web.services.catalogue import load_catalogue
from web.services.tokens import create_token, revoke_token
from web.services.versions import bump_version

NEED = "external wall insulation"
# Near Knowsley; the insulation suppliers are within 15 km.
SEARCH: dict[str, Any] = {"need": NEED, "lat": 53.41, "lon": -2.90, "radius_km": 50}


@dataclasses.dataclass(frozen=True)
class ApiWorld:
    """Ids and token secrets of the committed test data."""

    member: str  # token of a member of org A
    colleague: str  # token of another member of org A
    other: str  # token of a member of org B
    admin: str  # token of a framework admin
    revoked: str  # a revoked token of the member
    member_id: int
    org_id: int
    other_org_id: int
    suppliers: tuple[int, ...]  # active insulation suppliers, by id
    inactive: int
    grounds: int  # an active supplier matching nothing insulation-related


@pytest.fixture(autouse=True)
def _fresh_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables are emptied between tests, so data versions restart: never reuse an index."""
    monkeypatch.setattr(matching, "_cache", None)


def _no_password(user: User, password: str) -> None:
    user.password_hash = "!"  # matches no password


def build_world(app: Flask) -> ApiWorld:
    """Create and commit the data of :class:`ApiWorld`."""
    # Nobody here signs in with a password, and scrypt takes ~0.5 s a user: skip it.
    with app.app_context(), mock.patch.object(User, "set_password", _no_password):
        load_catalogue(catalogue_data())
        framework = make_framework(lots=("L1", "L2"))
        lot1, lot2 = framework.lots
        org = make_organisation(name="Knowsley Homes")
        other_org = make_organisation(name="Other Council")
        member = make_user(organisation=org, name="Ada Member")
        colleague = make_user(organisation=org, name="Colleague")
        other = make_user(organisation=other_org, name="Other Member")
        admin = make_user(role=Role.ADMIN, name="Framework Admin")
        suppliers = []
        for n, lat in enumerate((53.41, 53.45, 53.50), start=1):
            supplier = make_supplier(
                external_id=f"EWI-{n}", name=f"Insulation {n} Ltd", latitude=lat,
                longitude=-2.85, description="External wall insulation for social housing.",
            )
            supplier.lots.append(lot1 if n < 3 else lot2)
            supplier.commitments.append(Commitment(option_code="SV-APP",
                                                   quantity_per_million=n))
            supplier.accreditations.append(
                Accreditation(name="TrustMark", expires_on=dt.date(2099, 1, 1)))
            supplier.contacts.append(Contact(name="Pat Contact", role="Bids", email="p@x.example"))
            suppliers.append(supplier)
        inactive = make_supplier(name="Gone Insulation Ltd", active=False)
        grounds = make_supplier(
            external_id="GROUNDS", name="Grounds 100% Ltd", description="Grass cutting.",
            capabilities=["grounds maintenance"], cpv_codes=["77310000"],
        )
        bump_version()
        tokens = {user: create_token(user, name="test")[1]
                  for user in (member, colleague, other, admin)}
        revoked, revoked_secret = create_token(member, name="old")
        revoke_token(revoked)
        world = ApiWorld(
            member=tokens[member], colleague=tokens[colleague], other=tokens[other],
            admin=tokens[admin], revoked=revoked_secret, member_id=member.id, org_id=org.id,
            other_org_id=other_org.id, suppliers=tuple(s.id for s in suppliers),
            inactive=inactive.id, grounds=grounds.id,
        )
        db.session.commit()
    return world


@pytest.fixture
def world(app: Flask) -> Iterator[ApiWorld]:
    yield build_world(app)


class Api:
    """Calls the API with a token: ``api.get("/suppliers", token=world.member)``."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def call(self, method: str, path: str, *, token: str | None = None,
             **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open("/api/v1" + path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api(client: FlaskClient) -> Api:
    return Api(client)


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    """``response`` is RFC 9457 problem details with ``status``; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["instance"] == response.request.path
    return body  # type: ignore[no-any-return]


def make_shortlist(api: Api, token: str, name: str = "Walls 2027", **search: Any) -> int:
    """Create a shortlist through the API; return its id."""
    response = api.post("/shortlists", token=token,
                        json={"name": name, "search": {**SEARCH, **search}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]  # type: ignore[no-any-return]
