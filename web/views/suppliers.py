"""Supplier profiles: everything the register holds on a supplier."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, abort, current_app, render_template
from flask.typing import ResponseReturnValue

from web.auth import login_required
from web.extensions import db
from web.models import SocialValueCatalogue, SocialValueOption, Supplier
from web.postcodes import get_directory
from web.services.cpv import describe

bp = Blueprint("suppliers", __name__, url_prefix="/suppliers")


@bp.get("/<int:supplier_id>")
@login_required
def profile(supplier_id: int) -> ResponseReturnValue:
    """A supplier's profile, with its lots, accreditations and social-value commitments."""
    supplier = get_supplier(supplier_id)
    la_name = get_directory(current_app).la_name(supplier.la_code) if supplier.la_code else None
    return render_template(
        "suppliers/profile.html",
        supplier=supplier,
        la_name=la_name,
        options=_current_options(),
        cpv_descriptions=describe(supplier.cpv_codes or ()),
        today=dt.date.today(),
    )


def get_supplier(supplier_id: int) -> Supplier:
    """The active supplier ``supplier_id`` with everything its profile shows.

    :raise 404: when there is no such supplier or it is no longer active.
    """
    supplier = db.session.scalar(
        sa.select(Supplier).where(Supplier.id == supplier_id).options(
            so.selectinload(Supplier.lots),
            so.selectinload(Supplier.accreditations),
            so.selectinload(Supplier.commitments),
            so.selectinload(Supplier.contacts),
        )
    )
    if supplier is None or not supplier.active:
        abort(404)
    return supplier


def _current_options() -> dict[str, SocialValueOption]:
    rows = db.session.scalars(
        sa.select(SocialValueOption).join(SocialValueCatalogue)
        .where(SocialValueCatalogue.is_current.is_(True))
    )
    return {option.code: option for option in rows}
