"""The social-value catalogue: themes, options, measures, proxy values and their sources."""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue

from web.auth import login_required
from web.extensions import db
from web.models import SocialValueCatalogue, SocialValueOption

bp = Blueprint("catalogue", __name__, url_prefix="/catalogue")


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """The current catalogue, with links to the older versions."""
    return _render(get_catalogue(None))


@bp.get("/<version>")
@login_required
def version(version: str) -> ResponseReturnValue:
    """One published version of the catalogue (saved shortlists refer to theirs)."""
    return _render(get_catalogue(version))


def get_catalogue(version: str | None) -> SocialValueCatalogue | None:
    """The catalogue ``version``, or the current one for None, with themes and options.

    :raise 404: for a version that does not exist.
    """
    condition = (
        SocialValueCatalogue.is_current.is_(True) if version is None
        else SocialValueCatalogue.version == version
    )
    catalogue = db.session.scalar(
        sa.select(SocialValueCatalogue).where(condition).options(
            so.selectinload(SocialValueCatalogue.themes),
            so.selectinload(SocialValueCatalogue.options),
        )
    )
    if catalogue is None and version is not None:
        abort(404)
    return catalogue


def _render(catalogue: SocialValueCatalogue | None) -> ResponseReturnValue:
    versions = db.session.execute(
        sa.select(SocialValueCatalogue.version, SocialValueCatalogue.published_on,
                  SocialValueCatalogue.is_current)
        .order_by(SocialValueCatalogue.published_on.desc(), SocialValueCatalogue.version.desc())
    ).all()
    options_by_theme: dict[str, list[SocialValueOption]] = {}
    for option in catalogue.options if catalogue else ():
        options_by_theme.setdefault(option.theme_code, []).append(option)
    return render_template(
        "catalogue/index.html", catalogue=catalogue, versions=versions,
        options_by_theme=options_by_theme,
    )
