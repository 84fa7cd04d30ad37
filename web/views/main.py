"""Public pages: home, data attribution, accessibility statement, cookies, privacy; health."""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from web.extensions import db
from web.models import Lot, MemberOrganisation, SocialValueCatalogue, SocialValueOption
from web.services.matching import active_supplier_count

bp = Blueprint("main", __name__)


@bp.get("/")
def home() -> ResponseReturnValue:
    """The home page: what the service does and who it is for, with live counts."""
    return render_template("main/home.html", counts=_counts())


@bp.get("/data-attribution")
def data_attribution() -> ResponseReturnValue:
    """Where our reference data comes from, with the wording its licences require."""
    return render_template(
        "main/data_attribution.html", postcode_attribution=_postcode_attribution()
    )


@bp.get("/accessibility")
def accessibility() -> ResponseReturnValue:
    """The accessibility statement."""
    return render_template("main/accessibility.html")


@bp.get("/cookies")
def cookies() -> ResponseReturnValue:
    """The cookies we set (one, strictly necessary)."""
    lifetime = current_app.permanent_session_lifetime
    return render_template(
        "main/cookies.html", session_hours=round(lifetime.total_seconds() / 3600)
    )


@bp.get("/privacy")
def privacy() -> ResponseReturnValue:
    """The privacy notice: what we store and why."""
    return render_template("main/privacy.html")


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness check for load balancers and `make run`: the process answers requests."""
    return jsonify(status="ok")


def _counts() -> dict[str, int] | None:
    """Active suppliers, lots, member organisations and current social-value options;
    None when the database cannot say (the home page then simply leaves them out)."""
    current_options = (
        sa.select(sa.func.count())
        .select_from(SocialValueOption)
        .join(SocialValueCatalogue)
        .where(SocialValueCatalogue.is_current)
    )
    queries = {
        "lots": sa.select(sa.func.count()).select_from(Lot),
        "members": sa.select(sa.func.count()).select_from(MemberOrganisation),
        "social_value_options": current_options,
    }
    try:
        return {"suppliers": active_supplier_count()} | {
            name: db.session.scalar(query) or 0 for name, query in queries.items()}
    except SQLAlchemyError as error:
        # A fresh install without migrations must still show its home page; one line,
        # not a traceback per visit.
        db.session.rollback()
        cause = getattr(error, "orig", None) or error
        current_app.logger.warning(
            "home page counts unavailable (%s: %s)", type(error).__name__, cause
        )
        return None


def _postcode_attribution() -> str | None:
    """The postcode directory's own attribution statement, if that package provides one."""
    # Imported here, not at module level: the public pages must work whatever state
    # the postcode package is in, and it loads numpy.
    for module_name in ("web.postcodes", "web.postcodes.sources"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        attribution = getattr(module, "ATTRIBUTION", None)
        if isinstance(attribution, str) and attribution:
            return attribution
    return None
