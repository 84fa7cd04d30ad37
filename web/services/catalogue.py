"""The social-value catalogue and the capability thesaurus: loading and reading."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from web.extensions import db
from web.models import SocialValueCatalogue, SocialValueOption, SocialValueTheme, ThesaurusGroup
from web.services.versions import bump_version

# Option columns compared to tell whether a stored version matches a file.
OPTION_COLUMNS = (
    "theme_code", "code", "title", "description", "measure", "unit", "proxy_gbp_per_unit",
    "source", "source_year", "indicative",
)


class CatalogueError(ValueError):
    """A catalogue file is malformed or conflicts with a published version."""


def load_catalogue(data: Mapping[str, Any], *, make_current: bool = True) -> tuple[SocialValueCatalogue, bool]:
    """Add the catalogue version described by ``data`` unless it exists; return it and
    whether it was created.

    A published version is never edited in place (saved shortlists keep its numbers): the
    same version with different content is refused.

    :raise CatalogueError: on a missing field or a conflicting existing version.
    """
    try:
        version = str(data["version"])
        published_on = dt.date.fromisoformat(str(data["published_on"]))
        themes = [(t["code"], t["name"], t.get("description", "")) for t in data["themes"]]
        options = [_option_values(o) for o in data["options"]]
    except (KeyError, TypeError, ValueError) as error:
        raise CatalogueError(f"social-value catalogue file is malformed: {error}") from None
    theme_codes = {code for code, _, _ in themes}
    for option in options:
        if option["theme_code"] not in theme_codes:
            raise CatalogueError(f"option {option['code']} names unknown theme {option['theme_code']}")

    existing = db.session.scalar(
        sa.select(SocialValueCatalogue).where(SocialValueCatalogue.version == version)
    )
    if existing is not None:
        stored = sorted(_stored_values(o) for o in existing.options)
        if stored != sorted(_comparable(o) for o in options):
            raise CatalogueError(
                f"catalogue version {version} already exists with different options: "
                "publish the change as a new version"
            )
        created = False
        catalogue = existing
    else:
        catalogue = SocialValueCatalogue(version=version, published_on=published_on)
        catalogue.themes = [
            SocialValueTheme(code=code, name=name, description=desc) for code, name, desc in themes
        ]
        catalogue.options = [SocialValueOption(**values) for values in options]
        db.session.add(catalogue)
        created = True
    if make_current and not catalogue.is_current:
        db.session.execute(sa.update(SocialValueCatalogue).values(is_current=False))
        catalogue.is_current = True
        created = True
    db.session.flush()
    if created:
        bump_version()
    return catalogue, created


def current_catalogue() -> SocialValueCatalogue | None:
    """The catalogue version new searches use, if any."""
    return db.session.scalar(
        sa.select(SocialValueCatalogue).where(SocialValueCatalogue.is_current.is_(True))
    )


def _option_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "theme_code": str(raw["theme"]),
        "code": str(raw["code"]),
        "title": str(raw["title"]),
        "description": str(raw.get("description", "")),
        "measure": str(raw["measure"]),
        "unit": str(raw["unit"]),
        "proxy_gbp_per_unit": float(raw["proxy_gbp_per_unit"]),
        "source": str(raw["source"]),
        "source_year": int(raw["source_year"]) if raw.get("source_year") is not None else None,
        "indicative": bool(raw.get("indicative", True)),
    }


def _comparable(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(values[k] for k in sorted(values))


def _stored_values(option: SocialValueOption) -> tuple[Any, ...]:
    return _comparable({key: getattr(option, key) for key in OPTION_COLUMNS})


def parse_thesaurus(lines: Iterable[str]) -> list[tuple[str, ...]]:
    """Parse thesaurus text: one group of interchangeable terms per line, comma-separated;
    ``#`` starts a comment. Terms are lower-cased; groups of fewer than two are refused.

    :raise CatalogueError: naming the line of a group with fewer than two terms.
    """
    groups: list[tuple[str, ...]] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        terms = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
        if len(terms) < 2:
            raise CatalogueError(f"thesaurus line {number}: a group needs at least two terms")
        groups.append(terms)
    return groups


def replace_thesaurus(groups: Iterable[tuple[str, ...]]) -> bool:
    """Make the thesaurus exactly ``groups``; return True if anything changed."""
    wanted = [list(g) for g in groups]
    stored = [g.terms for g in db.session.scalars(sa.select(ThesaurusGroup).order_by(ThesaurusGroup.id))]
    if stored == wanted:
        return False
    db.session.execute(sa.delete(ThesaurusGroup))
    db.session.add_all(ThesaurusGroup(terms=terms) for terms in wanted)
    db.session.flush()
    bump_version()
    return True


def thesaurus_groups() -> list[tuple[str, ...]]:
    """The stored thesaurus groups."""
    return [
        tuple(g.terms)
        for g in db.session.scalars(sa.select(ThesaurusGroup).order_by(ThesaurusGroup.id))
    ]
