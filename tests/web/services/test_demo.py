"""The demo loader: complete, and idempotent (loading twice changes nothing)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from web.extensions import db
from web.models import (
    Accreditation,
    Commitment,
    Framework,
    Lot,
    MemberOrganisation,
    Role,
    Site,
    SocialValueOption,
    Supplier,
    ThesaurusGroup,
    User,
)
from web.postcodes import get_directory
from web.services.demo import DEFAULT_DEMO_PASSWORD, DemoError, load_demo
from web.services.versions import current_version

DEMO = Path(__file__).resolve().parents[3] / "fixtures" / "demo"
COUNTED = (Framework, Lot, Supplier, Accreditation, Commitment, MemberOrganisation, Site, User,
           SocialValueOption, ThesaurusGroup)


def table_snapshot() -> dict[str, Any]:
    """Every counted table's row count, plus a digest of the suppliers' own columns."""
    counts = {model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
              for model in COUNTED}
    suppliers = db.session.execute(
        sa.select(Supplier.external_id, Supplier.name, Supplier.latitude, Supplier.longitude,
                  Supplier.description, Supplier.updated_at).order_by(Supplier.external_id)
    ).all()
    return {"counts": counts, "suppliers": [tuple(row) for row in suppliers]}


def test_demo_loads_everything_and_twice_changes_nothing(app_context: Flask) -> None:
    directory = get_directory(app_context)
    first = load_demo(DEMO, directory=directory)
    db.session.commit()
    assert first.changed
    snapshot, version = table_snapshot(), current_version()
    counts = snapshot["counts"]
    assert counts["Supplier"] >= 1500
    assert counts["MemberOrganisation"] >= 8
    assert counts["Lot"] >= 5
    assert counts["SocialValueOption"] >= 10
    assert counts["ThesaurusGroup"] >= 50

    second = load_demo(DEMO, directory=directory)
    db.session.commit()
    assert not second.changed, second.describe()
    assert second.supplier_report.unchanged == counts["Supplier"]
    assert table_snapshot() == snapshot
    assert current_version() == version


def test_demo_users_can_sign_in_with_the_documented_password(app_context: Flask) -> None:
    load_demo(DEMO, directory=get_directory(app_context))
    members = json.loads((DEMO / "members.json").read_text())
    admin_email = members["admins"][0]["email"]
    admin = db.session.scalar(sa.select(User).where(User.email == admin_email))
    assert admin is not None and admin.role == Role.ADMIN and admin.organisation is None
    assert admin.check_password(DEFAULT_DEMO_PASSWORD)
    member_email = members["organisations"][0]["users"][0]["email"]
    member = db.session.scalar(sa.select(User).where(User.email == member_email))
    assert member is not None and member.organisation is not None
    assert {site.postcode for site in member.organisation.sites}


def test_a_broken_demo_file_is_a_clear_error(app_context: Flask, tmp_path: Path) -> None:
    broken = tmp_path / "demo"
    shutil.copytree(DEMO, broken)
    (broken / "framework.json").write_text("{not json")
    with pytest.raises(DemoError, match="framework.json"):
        load_demo(broken, directory=get_directory(app_context))


def test_demo_load_cli_once(runner, app_context: Flask) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["demo", "load", "--once"])
    assert result.exit_code == 0, result.output
    assert "1600 imported" in result.output
    again = runner.invoke(args=["demo", "load", "--once"])
    assert again.exit_code == 0
    assert "already loaded" in again.output
