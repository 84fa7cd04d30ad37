"""The social-value catalogue and thesaurus services."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.factories import catalogue_data
from web.extensions import db
from web.models import SocialValueCatalogue, SocialValueOption
from web.services.catalogue import (
    CatalogueError,
    current_catalogue,
    load_catalogue,
    parse_thesaurus,
    replace_thesaurus,
    thesaurus_groups,
)
from web.services.versions import bump_version, current_version

pytestmark = pytest.mark.usefixtures("app_context")


def test_loading_a_catalogue_makes_it_current_and_bumps_the_index_version() -> None:
    before = current_version()
    catalogue, created = load_catalogue(catalogue_data())
    assert created
    assert current_catalogue() is catalogue
    assert [o.code for o in catalogue.options] == ["SV-APP", "SV-SPEND"]
    assert current_version() == before + 1


def test_loading_the_same_version_again_changes_nothing() -> None:
    load_catalogue(catalogue_data())
    version = current_version()
    _catalogue, created = load_catalogue(catalogue_data())
    assert not created
    assert current_version() == version
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SocialValueOption)) == 2


def test_a_published_version_is_never_edited_in_place() -> None:
    load_catalogue(catalogue_data())
    changed = catalogue_data()
    changed["options"][0]["proxy_gbp_per_unit"] = 999.0
    with pytest.raises(CatalogueError, match="new version"):
        load_catalogue(changed)


def test_a_new_version_becomes_current_and_the_old_one_is_kept() -> None:
    load_catalogue(catalogue_data("2026.1"))
    newer, _ = load_catalogue(catalogue_data("2026.2"))
    assert current_catalogue() is newer
    versions = db.session.scalars(sa.select(SocialValueCatalogue.version).order_by(
        SocialValueCatalogue.version)).all()
    assert versions == ["2026.1", "2026.2"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("version"), "malformed"),
        (lambda d: d.update(published_on="yesterday"), "malformed"),
        (lambda d: d["options"][0].update(theme="nope"), "unknown theme"),
        (lambda d: d["options"][0].update(proxy_gbp_per_unit="lots"), "malformed"),
    ],
)
def test_malformed_catalogue_is_refused(mutate, message) -> None:  # type: ignore[no-untyped-def]
    data = catalogue_data()
    mutate(data)
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(data)


def test_thesaurus_parsing() -> None:
    text = ["# trade terms", "EWI, external wall insulation", "", "PV, Solar PV, pv  # dup"]
    assert parse_thesaurus(text) == [("ewi", "external wall insulation"), ("pv", "solar pv")]


def test_thesaurus_group_needs_two_terms() -> None:
    with pytest.raises(CatalogueError, match="line 2"):
        parse_thesaurus(["a, b", "lonely"])


def test_replacing_the_thesaurus_is_idempotent() -> None:
    groups = [("ewi", "external wall insulation")]
    assert replace_thesaurus(groups)
    version = current_version()
    assert not replace_thesaurus(groups)
    assert current_version() == version
    assert thesaurus_groups() == groups


def test_bump_version_counts_up_from_one() -> None:
    assert current_version("other") == 0
    assert bump_version("other") == 1
    assert bump_version("other") == 2
