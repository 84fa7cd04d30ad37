"""Shortlists: create one from a search, add and remove suppliers, lock, record the outcome
and correct it.

Operations flush and record an audit event; they never commit (the view does). Each takes
the acting user; access (which organisation may see a shortlist) is the caller's check,
made once in :func:`web.views.shortlists.get_shortlist` with :func:`can_read` and
:func:`can_edit`.

**Scores are never taken from the browser.** Adding a supplier re-runs the search the member
was looking at (the results page's query string) and stores that supplier's rank, score and
breakdown as the engine gives them.

**Locking** re-runs the shortlist's own search (its stored inputs, with the resolved
location so a postcode-directory update cannot move it) against today's data, refreshes
every entry's score from it and freezes a snapshot: the inputs, weights, catalogue version,
algorithm version, the index data version, a sha256 hash of the shortlisted suppliers'
records and the entries. After that no operation changes the shortlist except recording
its outcome, once, and correcting that outcome (with a reason; :func:`correct_outcome`).

**Fair rotation** (data part): :func:`recent_awards` counts each supplier's awards recorded
through the service in the last 12 months, as corrected.

``Shortlist.search_inputs`` holds::

    {"params": {...},          # plain keys as parse_search takes them (need, postcode, ...)
     "query_string": "...",    # the same, url-encoded: a link back to the results
     "location": {"postcode", "latitude", "longitude", "la_code", "la_name"},
     "weights": {"capability", "distance", "social_value"},   # effective, after defaults
     "social_value": [{"code", "weight"}, ...],
     "searched_on": "YYYY-MM-DD"}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlencode

import sqlalchemy as sa
import sqlalchemy.orm as so

from matcher import ALGORITHM_VERSION, Query
from web.extensions import db
from web.models import (
    AuditEvent,
    Shortlist,
    ShortlistEntry,
    ShortlistStatus,
    SocialValueCatalogue,
    SocialValueOption,
    Supplier,
    User,
)
from web.models.base import utcnow
from web.postcodes import PostcodeDirectory
from web.services.audit import events_for, record_event
from web.services.catalogue import current_catalogue
from web.services.matching import (
    MAX_LIMIT,
    IndexNotCurrent,
    SearchInputError,
    SearchLocation,
    parse_search,
    result_to_dict,
    run_search,
)
from web.services.queries import contains
from web.services.versions import bump_version, version_token

__all__ = [
    "AWARD_WINDOW",
    "HASH_METHOD",
    "AddResult",
    "Outcome",
    "SearchInputError",
    "ShortlistBusy",
    "ShortlistError",
    "ShortlistLocked",
    "TrailItem",
    "active_entries",
    "add_from_search",
    "audit_trail",
    "can_edit",
    "can_read",
    "canonical_json",
    "correct_outcome",
    "create_shortlist",
    "data_hash",
    "describe_correction",
    "describe_search",
    "draft_shortlists",
    "entry_record",
    "SHORTLIST_STATUSES",
    "ShortlistPage",
    "delete_draft",
    "list_shortlists",
    "lock_shortlist",
    "ordered_entries",
    "outcome_corrections",
    "record_outcome",
    "recent_awards",
    "remove_entry",
    "reproducibility_pack",
    "search_inputs",
    "search_params_from_query_string",
    "supplier_records",
    "update_shortlist",
    "verify_data_hash",
]

OBJECT_TYPE = "shortlist"
MAX_NAME_CHARS = 200  # Shortlist.name is String(200)
LIST_PAGE_SIZE = 25  # shortlists per page of the list
SHORTLIST_STATUSES = tuple(status.value for status in ShortlistStatus)
MAX_TEXT_CHARS = 5000  # notes and reasons: a paragraph or two
#: Results ranked first when a supplier is added: a page of results as members and the
#: API see them (20). The supplier added is nearly always on it, and building 500 results
#: to find one took more CPU than the rest of the request together.
FIRST_RANK_PAGE = 20
#: Fair rotation looks back 12 months (365 days; a leap year's extra day does not matter).
AWARD_WINDOW = dt.timedelta(days=365)

#: Search keys that take several values (repeated in a query string).
SEARCH_LIST_KEYS = (
    "cpv_codes", "keywords", "local_authorities", "lots", "social_value",
    "required_accreditations",
)
#: Search keys with one value. Paging (limit, offset, page) is not part of a search.
SEARCH_SCALAR_KEYS = (
    "need", "postcode", "lat", "lon", "radius_km", "contract_value", "sme_only", "vcse_only",
    "weights", "site",
)
_ALIASES = {"latitude": "lat", "longitude": "lon"}

#: The supplier columns hashed when a shortlist is locked (with lots, accreditations and
#: commitments); timestamps are left out so an edit that is undone hashes the same again.
HASHED_COLUMNS = (
    "id", "external_id", "name", "company_number", "address", "postcode", "latitude",
    "longitude", "la_code", "description", "capabilities", "cpv_codes", "sme", "vcse",
    "service_radius_km", "min_contract_value", "max_contract_value", "website", "email",
    "phone", "active",
)
_FLOAT_COLUMNS = (
    "latitude", "longitude", "service_radius_km", "min_contract_value", "max_contract_value",
)
HASH_METHOD = (
    "sha256 of the canonical JSON (keys sorted, no spaces, UTF-8) of "
    '{"data_version": <index data version>, "suppliers": [<each shortlisted (not removed) '
    "supplier's record as stored, ordered by id>]}"
)


class ShortlistError(ValueError):
    """The operation is not allowed or its input is invalid; the message says why."""


class ShortlistLocked(ShortlistError):
    """The shortlist is locked: nothing about it may change."""

    def __init__(self, shortlist: Shortlist) -> None:
        super().__init__(
            f"Shortlist “{shortlist.name}” is locked, so it cannot be changed. "
            "Start a new shortlist from a search instead."
        )


class ShortlistBusy(ShortlistError):
    """The operation needs the current index, which is being rebuilt: try again shortly."""

    retry_after_s = 30


class Outcome(enum.StrEnum):
    """What came of a locked shortlist."""

    AWARDED = "awarded"
    NONE_SUITABLE = "none_suitable"


@dataclasses.dataclass(frozen=True, slots=True)
class AddResult:
    """What :func:`add_from_search` did."""

    shortlist: Shortlist
    entry: ShortlistEntry
    created_shortlist: bool
    #: False when the supplier was not among the suppliers the search ranked.
    ranked: bool


@dataclasses.dataclass(frozen=True, slots=True)
class TrailItem:
    """One line of a shortlist's audit trail, ready to show."""

    at: dt.datetime
    actor: str
    action: str
    label: str
    summary: str


# ---------------------------------------------------------------------------------------
# Access


def can_read(user: User | None, shortlist: Shortlist) -> bool:
    """Members read their own organisation's shortlists; framework admins read all."""
    if user is None:
        return False
    return user.is_admin or (
        user.organisation_id is not None and user.organisation_id == shortlist.organisation_id
    )


def can_edit(user: User | None, shortlist: Shortlist) -> bool:
    """Only members of the owning organisation change a shortlist (admins only read)."""
    return (
        user is not None
        and not user.is_admin
        and user.organisation_id is not None
        and user.organisation_id == shortlist.organisation_id
    )


@dataclasses.dataclass(frozen=True)
class ShortlistPage:
    """A page of shortlists, each with its counts of current and removed entries, and how
    many shortlists match in all."""

    rows: list[tuple[Shortlist, int, int]]
    total: int


def list_shortlists(
    user: User, *, name: str = "", status: str | None = None,
    organisation_id: int | None = None, page: int = 1, per_page: int = LIST_PAGE_SIZE,
) -> ShortlistPage:
    """Page ``page`` of the shortlists ``user`` may read, newest first: a member sees its
    organisation's own, an admin every one (or ``organisation_id``'s). Only those whose
    name contains ``name`` (ignoring case) and, given, with ``status`` ("draft", "locked").
    """
    conditions: list[sa.ColumnElement[bool]] = []
    if not user.is_admin:
        conditions.append(Shortlist.organisation_id == _organisation_id(user))
    elif organisation_id is not None:
        conditions.append(Shortlist.organisation_id == organisation_id)
    if name.strip():
        conditions.append(contains(Shortlist.name, name.strip()))
    if status:
        conditions.append(Shortlist.status == ShortlistStatus(status))
    total = db.session.scalar(
        sa.select(sa.func.count()).select_from(Shortlist).where(*conditions)) or 0
    shortlists = db.session.scalars(
        sa.select(Shortlist).where(*conditions)
        .order_by(Shortlist.created_at.desc(), Shortlist.id.desc())
        .limit(per_page).offset((max(page, 1) - 1) * per_page)
    ).all()
    # The entries of this page's shortlists only: counting them for every match first (one
    # grouped join) made an admin's page twice as slow at 5,000 shortlists (18 ms, not 9).
    active = sa.func.count(ShortlistEntry.id).filter(ShortlistEntry.removed_at.is_(None))
    removed = sa.func.count(ShortlistEntry.id).filter(ShortlistEntry.removed_at.is_not(None))
    counts = {row[0]: (row[1], row[2]) for row in db.session.execute(
        sa.select(ShortlistEntry.shortlist_id, active, removed)
        .where(ShortlistEntry.shortlist_id.in_([s.id for s in shortlists]))
        .group_by(ShortlistEntry.shortlist_id)
    )} if shortlists else {}
    return ShortlistPage([(s, *counts.get(s.id, (0, 0))) for s in shortlists], total)


def draft_shortlists(user: User) -> list[Shortlist]:
    """The drafts of ``user``'s organisation, newest first: where a supplier can be added."""
    if user.organisation_id is None:
        return []
    return list(db.session.scalars(
        sa.select(Shortlist)
        .where(Shortlist.organisation_id == user.organisation_id,
               Shortlist.status == ShortlistStatus.DRAFT)
        .order_by(Shortlist.created_at.desc(), Shortlist.id.desc())
    ))


def active_entries(shortlist: Shortlist) -> list[ShortlistEntry]:
    """Entries not removed, best score first (unranked last, then by name)."""
    return [e for e in ordered_entries(shortlist) if e.removed_at is None]


def ordered_entries(shortlist: Shortlist) -> list[ShortlistEntry]:
    """Every entry: current ones best score first, then removed ones."""
    names = _supplier_names(e.supplier_id for e in shortlist.entries)
    return sorted(
        shortlist.entries,
        key=lambda e: (
            e.removed_at is not None,
            e.score is None,
            -(e.score or 0.0),
            names.get(e.supplier_id, "").lower(),
            e.id,
        ),
    )


# ---------------------------------------------------------------------------------------
# Searches


def search_params_from_query_string(query_string: str) -> dict[str, Any]:
    """The search inputs in a results page's query string, as :func:`parse_search` takes them.

    Repeated keys (``cpv_codes``, ``lots``, ``social_value``, …) become lists; other keys
    keep their last value; empty values, paging and unknown keys are dropped.
    """
    parsed = parse_qs(query_string.lstrip("?"), keep_blank_values=False)
    for alias, key in _ALIASES.items():
        if alias in parsed and key not in parsed:
            parsed[key] = parsed[alias]
    params: dict[str, Any] = {}
    for key in SEARCH_LIST_KEYS:
        values = [v.strip() for v in parsed.get(key, []) if v.strip()]
        if values:
            params[key] = values
    for key in SEARCH_SCALAR_KEYS:
        values = [v.strip() for v in parsed.get(key, []) if v.strip()]
        if values:
            params[key] = values[-1]
    return params


def search_inputs(
    params: Mapping[str, Any], query: Query, location: SearchLocation,
    *, query_string: str | None = None, site_name: str | None = None,
) -> dict[str, Any]:
    """What a shortlist keeps of the search it was made from (``Shortlist.search_inputs``):
    the plain params (without paging), the query string to run it again, the resolved
    location, the weights and social-value choices, and the date searched."""
    return {
        "params": {k: v for k, v in params.items() if k not in ("limit", "offset")},
        "query_string": query_string if query_string is not None
        else urlencode(params, doseq=True),
        "location": {**dataclasses.asdict(location), "site": site_name},
        "weights": {
            "capability": query.weights.capability,
            "distance": query.weights.distance,
            "social_value": query.weights.social_value,
        },
        "social_value": [{"code": c.code, "weight": c.weight} for c in query.social_value],
        "searched_on": (query.on_date or dt.date.today()).isoformat(),
    }


@dataclasses.dataclass(frozen=True, slots=True)
class _Ranking:
    found: dict[int, dict[str, Any]]
    total: int
    algorithm_version: str
    data_version: str


def _rank(query: Query, supplier_ids: Iterable[int], *, current: bool = False) -> _Ranking:
    """Run ``query`` and pick out the results of ``supplier_ids``, paging through the whole
    ranking if need be: ``FIRST_RANK_PAGE`` results first, then ``MAX_LIMIT`` at a time.

    A result is the same whatever page it is on (the order is total, ties broken by a
    fixed hash), so the page sizes change only the work done, not what is stored.
    ``current``: rank with the index of the data as it is now (see ``get_index``).
    """
    wanted = set(supplier_ids)
    found: dict[int, dict[str, Any]] = {}
    offset = 0
    limit = FIRST_RANK_PAGE
    while True:
        response = run_search(dataclasses.replace(query, limit=limit, offset=offset),
                              current=current)
        for result in response.results:
            if result.supplier_id in wanted:
                found[result.supplier_id] = result_to_dict(result)
        offset += limit
        limit = MAX_LIMIT
        if len(found) == len(wanted) or offset >= response.total or not response.results:
            return _Ranking(found, response.total, response.algorithm_version,
                            response.data_version)


def _apply_result(
    entry: ShortlistEntry, result: Mapping[str, Any] | None, ranking: _Ranking,
    *, searched_on: str, other_search: Mapping[str, Any] | None = None,
) -> None:
    """Store a search result (or its absence) on ``entry``."""
    meta: dict[str, Any] = {
        "ranked": result is not None,
        "search_total": ranking.total,
        "algorithm_version": ranking.algorithm_version,
        "data_version": ranking.data_version,
        "searched_on": searched_on,
    }
    if other_search is not None:
        meta["search_params"] = dict(other_search)
    if result is None:
        entry.rank = None
        entry.score = None
        entry.breakdown = {"components": [], **meta}
        return
    entry.rank = int(result["rank"])
    entry.score = float(result["score"])
    entry.breakdown = {**result["breakdown"], "distance_km": result["distance_km"], **meta}


# ---------------------------------------------------------------------------------------
# Changes


def create_shortlist(
    *, name: str, actor: User, search_inputs: Mapping[str, Any], search_total: int | None = None
) -> Shortlist:
    """Create an empty draft for ``actor``'s organisation from a search.

    :raise ShortlistError: no name, a name too long, or an actor with no organisation.
    """
    organisation_id = _organisation_id(actor)
    name = _text(name, "Enter a name for the new shortlist", limit=MAX_NAME_CHARS)
    shortlist = Shortlist(
        organisation_id=organisation_id, created_by_id=actor.id, name=name, notes="",
        search_inputs=dict(search_inputs), status=ShortlistStatus.DRAFT,
    )
    db.session.add(shortlist)
    db.session.flush()
    _record(shortlist, "shortlist.created", actor, {"name": name})
    _record(shortlist, "shortlist.search_run", actor, {
        "purpose": "created",
        "params": search_inputs.get("params", {}),
        "total": search_total,
    })
    return shortlist


def add_from_search(
    *,
    actor: User,
    supplier_id: int,
    search_params: Mapping[str, Any],
    directory: PostcodeDirectory,
    shortlist: Shortlist | None = None,
    new_shortlist_name: str | None = None,
    reason: str = "",
    query_string: str | None = None,
    site_name: str | None = None,
    on_date: dt.date | None = None,
) -> AddResult:
    """Add a supplier to ``shortlist`` (or to a new draft named ``new_shortlist_name``),
    re-running the search given by ``search_params`` (``parse_search`` keys) to store its
    rank, score and breakdown. A supplier the search does not rank is added all the same,
    unscored. A supplier removed earlier is put back.

    ``query_string`` (the results page's, kept to link back to it) and ``site_name`` (the
    member's site the search started from) are stored with the search inputs.

    :raise ShortlistLocked: ``shortlist`` is locked.
    :raise SearchInputError: the search inputs are invalid.
    :raise ShortlistError: unknown or inactive supplier, already on the shortlist, no name
        for a new shortlist, or a shortlist of another organisation.
    """
    organisation_id = _organisation_id(actor)
    supplier = db.session.get(Supplier, supplier_id)
    if supplier is None or not supplier.active:
        raise ShortlistError("That supplier is not on the register")
    reason = _text(reason, None, limit=MAX_TEXT_CHARS, required=False)
    entry: ShortlistEntry | None = None
    if shortlist is not None:
        if shortlist.organisation_id != organisation_id:
            raise ShortlistError("That shortlist belongs to another organisation")
        _require_draft(shortlist)
        entry = _entry_for(shortlist, supplier.id)
        if entry is not None and entry.removed_at is None:
            raise ShortlistError(f"{supplier.name} is already on shortlist “{shortlist.name}”")
    elif new_shortlist_name is None or not new_shortlist_name.strip():
        raise ShortlistError("Enter a name for the new shortlist")

    query, location = parse_search(search_params, directory=directory, on_date=on_date)
    inputs = search_inputs(search_params, query, location, query_string=query_string,
                            site_name=site_name)
    ranking = _rank(query, [supplier.id])
    result = ranking.found.get(supplier.id)

    created = shortlist is None
    if shortlist is None:
        shortlist = create_shortlist(
            name=new_shortlist_name or "", actor=actor, search_inputs=inputs,
            search_total=ranking.total,
        )
    elif not shortlist.search_inputs:
        shortlist.search_inputs = inputs
    other_search = (
        None if shortlist.search_inputs.get("params") == inputs["params"] else inputs["params"]
    )

    restored = entry is not None
    if entry is None:
        entry = ShortlistEntry(shortlist=shortlist, supplier_id=supplier.id)
        db.session.add(entry)
    before = _entry_state(entry) if restored else None
    entry.reason_added = reason
    entry.removed_at = None
    entry.reason_removed = None
    _apply_result(entry, result, ranking, searched_on=inputs["searched_on"],
                  other_search=other_search)
    db.session.flush()
    _record(shortlist, "shortlist.entry_added", actor, {
        "supplier_id": supplier.id,
        "external_id": supplier.external_id,
        "supplier_name": supplier.name,
        "rank": entry.rank,
        "score": entry.score,
        "search_total": ranking.total,
        "reason": reason,
        "restored": restored,
        "before": before,
        "other_search": other_search,
    })
    return AddResult(shortlist, entry, created, result is not None)


def remove_entry(entry: ShortlistEntry, *, actor: User, reason: str) -> ShortlistEntry:
    """Take a supplier off a draft shortlist, keeping the entry with the reason.

    :raise ShortlistLocked: the shortlist is locked.
    :raise ShortlistError: no reason, or the entry was already removed.
    """
    shortlist = entry.shortlist
    _require_member(actor, shortlist)
    _require_draft(shortlist)
    if entry.removed_at is not None:
        raise ShortlistError("That supplier has already been removed")
    reason = _text(reason, "Enter the reason for removing the supplier", limit=MAX_TEXT_CHARS)
    entry.removed_at = utcnow()
    entry.reason_removed = reason
    db.session.flush()
    supplier = db.session.get(Supplier, entry.supplier_id)
    _record(shortlist, "shortlist.entry_removed", actor, {
        "supplier_id": entry.supplier_id,
        "supplier_name": supplier.name if supplier else None,
        "reason": reason,
        "score": entry.score,
    })
    return entry


def update_shortlist(
    shortlist: Shortlist, *, actor: User, name: str, notes: str
) -> dict[str, dict[str, str]]:
    """Rename a draft and/or change its notes; return the changes (``{field: {before,
    after}}``, empty when nothing changed).

    :raise ShortlistLocked: the shortlist is locked.
    :raise ShortlistError: an empty or too long name, or notes too long.
    """
    _require_member(actor, shortlist)
    _require_draft(shortlist)
    wanted = {
        "name": _text(name, "Enter a name for the shortlist", limit=MAX_NAME_CHARS),
        "notes": _text(notes, None, limit=MAX_TEXT_CHARS, required=False),
    }
    changes = {
        key: {"before": getattr(shortlist, key), "after": value}
        for key, value in wanted.items()
        if getattr(shortlist, key) != value
    }
    if changes:
        for key, change in changes.items():
            setattr(shortlist, key, change["after"])
        db.session.flush()
        _record(shortlist, "shortlist.edited", actor, {"changes": changes})
    return changes


def delete_draft(shortlist: Shortlist, *, actor: User) -> None:
    """Delete a draft shortlist and its entries (one started by mistake, or not needed);
    flush. A locked shortlist is a record of a decision and is never deleted.

    Audited as ``shortlist.deleted`` under the shortlist's id, with its name, creator and
    entries: with the draft's earlier events, what remains of it in the audit trail.

    :raise ShortlistLocked: the shortlist is locked.
    :raise ShortlistError: the actor is not a member of its organisation.
    """
    _require_member(actor, shortlist)
    _require_draft(shortlist)
    _record(shortlist, "shortlist.deleted", actor, {
        "name": shortlist.name,
        "created_by_id": shortlist.created_by_id,
        "created_at": _utc(shortlist.created_at).isoformat(),
        "entries": [{"supplier_id": e.supplier_id, "removed": e.removed_at is not None}
                    for e in shortlist.entries],
    })
    db.session.delete(shortlist)
    db.session.flush()


def lock_shortlist(
    shortlist: Shortlist,
    *,
    actor: User,
    directory: PostcodeDirectory,
    on_date: dt.date | None = None,
) -> Shortlist:
    """Re-score the entries with the shortlist's own search, then freeze it for good.

    :raise ShortlistLocked: it is already locked.
    :raise ShortlistError: no supplier on it, or its search can no longer run.
    """
    _require_member(actor, shortlist)
    _require_draft(shortlist)
    entries = [e for e in shortlist.entries if e.removed_at is None]
    if not entries:
        raise ShortlistError("Add at least one supplier before locking the shortlist")
    params = _stored_params(shortlist)
    try:
        query, _location = parse_search(params, directory=directory, on_date=on_date)
    except SearchInputError as error:
        raise ShortlistError(
            f"The shortlist’s search can no longer be run, so it cannot be locked: {error}"
        ) from None
    searched_on = (query.on_date or dt.date.today()).isoformat()
    try:
        # The frozen scores and the data hash must describe the register as it is now, not
        # the previous index that searches may be answered from while it is rebuilt.
        ranking = _rank(query, [e.supplier_id for e in entries], current=True)
    except IndexNotCurrent as error:
        raise ShortlistBusy(f"Not locked yet: {error}") from None

    changes: list[dict[str, Any]] = []
    for entry in entries:
        before = (entry.rank, entry.score)
        _apply_result(entry, ranking.found.get(entry.supplier_id), ranking,
                      searched_on=searched_on)
        if before != (entry.rank, entry.score):
            changes.append({
                "supplier_id": entry.supplier_id,
                "before": {"rank": before[0], "score": before[1]},
                "after": {"rank": entry.rank, "score": entry.score},
            })

    records = supplier_records(e.supplier_id for e in entries)
    digest = data_hash(records, data_version=ranking.data_version)
    catalogue = current_catalogue()
    now = utcnow()
    shortlist.status = ShortlistStatus.LOCKED
    shortlist.locked_at = now
    shortlist.locked_by_id = actor.id
    shortlist.algorithm_version = ranking.algorithm_version
    shortlist.catalogue_version = catalogue.version if catalogue is not None else None
    shortlist.data_hash = digest
    db.session.flush()
    shortlist.snapshot = {
        "schema": 1,
        "locked_at": now.isoformat(),
        "locked_by": {"id": actor.id, "name": actor.name, "email": actor.email},
        "search_inputs": shortlist.search_inputs,
        "evaluated_on": searched_on,
        "weights": shortlist.search_inputs.get("weights"),
        "social_value": shortlist.search_inputs.get("social_value"),
        "catalogue_version": shortlist.catalogue_version,
        "algorithm_version": shortlist.algorithm_version,
        "data_version": ranking.data_version,
        "data_hash": digest,
        "hash_method": HASH_METHOD,
        "search_total": ranking.total,
        "entries": [entry_record(e) for e in ordered_entries(shortlist)],
        "suppliers": records,
    }
    db.session.flush()
    _record(shortlist, "shortlist.search_run", actor, {
        "purpose": "lock", "params": params, "total": ranking.total,
    })
    _record(shortlist, "shortlist.locked", actor, {
        "data_hash": digest,
        "algorithm_version": shortlist.algorithm_version,
        "catalogue_version": shortlist.catalogue_version,
        "data_version": ranking.data_version,
        "entries": len(entries),
        "score_changes": changes,
    })
    return shortlist


def record_outcome(
    shortlist: Shortlist,
    *,
    actor: User,
    outcome: Outcome | str,
    awarded_supplier_id: int | None = None,
    awarded_value: float | None = None,
    note: str = "",
) -> Shortlist:
    """Record what came of a locked shortlist: the supplier awarded and the contract value,
    or that none was suitable (with a note). Recorded once; :func:`correct_outcome` changes
    it afterwards.

    :raise ShortlistError: not locked yet, already recorded, or invalid details.
    """
    _require_member(actor, shortlist)
    if shortlist.status != ShortlistStatus.LOCKED:
        raise ShortlistError("Lock the shortlist before recording its outcome")
    if shortlist.outcome is not None:
        raise ShortlistError("The outcome of this shortlist has already been recorded")
    state = _checked_outcome(shortlist, outcome, awarded_supplier_id, awarded_value, note)
    _apply_outcome(shortlist, state)
    shortlist.outcome_at = utcnow()
    shortlist.outcome_by_id = actor.id
    db.session.flush()
    if state["outcome"] == Outcome.AWARDED.value:
        # Fair rotation reads award counts from the matching index: rebuild it.
        bump_version()
    details: dict[str, Any] = {"outcome": state["outcome"], "note": state["note"]}
    if state["outcome"] == Outcome.AWARDED.value:
        details.update(supplier_id=state["supplier_id"], supplier_name=state["supplier_name"],
                       value=state["value"])
    _record(shortlist, "shortlist.outcome_recorded", actor, details)
    return shortlist


def correct_outcome(
    shortlist: Shortlist,
    *,
    actor: User,
    reason: str,
    outcome: Outcome | str,
    awarded_supplier_id: int | None = None,
    awarded_value: float | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Correct the recorded outcome of a locked shortlist (the supplier awarded, the value,
    none suitable, the note), giving the reason; return the audited ``{"before", "after",
    "reason"}``.

    Only the outcome changes: the locked snapshot (inputs, weights, versions, data hash,
    scores) is never touched. The outcome as it was is kept in the audit trail
    (``shortlist.outcome_corrected``, with before, after and the reason), so nothing
    recorded is lost.

    **No time limit.** An outcome can be corrected at any time, with a reason. A mistake
    found late (an award recorded against the wrong supplier, found at the contract's
    first review) is as wrong as one found the next day, and a window would leave it
    wrong for good or push it outside the audit trail; the reason and the trail are the
    safeguard, not the clock.

    **The outcome's date stays the first recording's** (``outcome_at``, ``outcome_by_id``):
    a correction fixes the record of a decision, it does not make a new one, so fair
    rotation keeps counting the award from when it was first recorded and a correction
    cannot extend or restart a supplier's 12 months. When the awarded supplier changes
    (or an award is added or withdrawn) the data version is bumped, so every worker's
    matching index re-reads the award counts.

    :raise ShortlistError: a draft, no outcome recorded yet, no reason or one too long,
        invalid details, or nothing changed.
    """
    _require_member(actor, shortlist)
    if shortlist.status != ShortlistStatus.LOCKED:
        raise ShortlistError("A draft shortlist has no outcome to correct")
    if shortlist.outcome is None:
        raise ShortlistError(
            "No outcome has been recorded for this shortlist yet, so there is nothing to "
            "correct: record the outcome instead"
        )
    reason = _text(reason, "Enter the reason for the correction", limit=MAX_TEXT_CHARS)
    after = _checked_outcome(shortlist, outcome, awarded_supplier_id, awarded_value, note)
    before = _outcome_state(shortlist)
    if _same_outcome(before, after):
        raise ShortlistError(
            "The outcome is the same as the one recorded: change the outcome, the supplier, "
            "the value or the note"
        )
    _apply_outcome(shortlist, after)
    db.session.flush()
    if before["supplier_id"] != after["supplier_id"]:
        # Fair rotation reads award counts from the matching index: rebuild it.
        bump_version()
    correction = {"before": before, "after": after, "reason": reason}
    _record(shortlist, "shortlist.outcome_corrected", actor, correction)
    return correction


def outcome_corrections(shortlist: Shortlist) -> list[dict[str, Any]]:
    """The corrections of the shortlist's outcome, oldest first, as plain JSON data:
    ``{"corrected_at", "corrected_by", "reason", "before", "after"}`` (before and after as
    :func:`correct_outcome` audits them)."""
    events = [
        e for e in events_for(OBJECT_TYPE, shortlist.id, organisation_id=shortlist.organisation_id)
        if e.action == "shortlist.outcome_corrected"
    ]
    names = _user_names(e.actor_id for e in events if e.actor_id is not None)
    return [
        {
            "corrected_at": _utc(event.at).isoformat(),
            "corrected_by": names.get(event.actor_id) if event.actor_id else None,
            "reason": (event.details or {}).get("reason"),
            "before": (event.details or {}).get("before"),
            "after": (event.details or {}).get("after"),
        }
        for event in events
    ]


def _checked_outcome(
    shortlist: Shortlist, outcome: Outcome | str, awarded_supplier_id: int | None,
    awarded_value: float | None, note: str,
) -> dict[str, Any]:
    """The outcome asked for, checked, as :func:`_outcome_state` describes one.

    :raise ShortlistError: an unknown outcome, a supplier not on the shortlist, a value
        that is not an amount of £0 or more, no note for none suitable, a note too long.
    """
    try:
        outcome = Outcome(outcome)
    except ValueError:
        raise ShortlistError("Choose whether a supplier was awarded the contract") from None
    note = _text(note, None, limit=MAX_TEXT_CHARS, required=False)
    if outcome is Outcome.NONE_SUITABLE:
        if not note:
            raise ShortlistError("Enter why none of the suppliers was suitable")
        return {"outcome": outcome.value, "supplier_id": None, "supplier_name": None,
                "value": None, "note": note}
    active = {e.supplier_id for e in shortlist.entries if e.removed_at is None}
    if awarded_supplier_id not in active:
        raise ShortlistError("Choose the supplier awarded the contract from the shortlist")
    if awarded_value is None or not math.isfinite(awarded_value) or awarded_value < 0:
        raise ShortlistError("Enter the contract value, in pounds, of £0 or more")
    supplier = db.session.get(Supplier, awarded_supplier_id)
    return {"outcome": outcome.value, "supplier_id": awarded_supplier_id,
            "supplier_name": supplier.name if supplier else None,
            "value": float(awarded_value), "note": note}


def _outcome_state(shortlist: Shortlist) -> dict[str, Any]:
    """The recorded outcome: ``{"outcome", "supplier_id", "supplier_name", "value",
    "note"}`` (the supplier's name as it is now, so the trail reads without a lookup)."""
    supplier = (db.session.get(Supplier, shortlist.awarded_supplier_id)
                if shortlist.awarded_supplier_id is not None else None)
    return {
        "outcome": shortlist.outcome,
        "supplier_id": shortlist.awarded_supplier_id,
        "supplier_name": supplier.name if supplier else None,
        "value": shortlist.awarded_value,
        "note": shortlist.outcome_note or "",
    }


def _same_outcome(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a[key] == b[key] for key in ("outcome", "supplier_id", "value", "note"))


def _apply_outcome(shortlist: Shortlist, state: Mapping[str, Any]) -> None:
    shortlist.outcome = state["outcome"]
    shortlist.awarded_supplier_id = state["supplier_id"]
    shortlist.awarded_value = state["value"]
    shortlist.outcome_note = state["note"]


# ---------------------------------------------------------------------------------------
# Fair rotation


def recent_awards(
    supplier_ids: Iterable[int] | None, *, since: dt.datetime | dt.date | None = None
) -> dict[int, int]:
    """How many contracts each supplier was awarded through the service since ``since``
    (default: the last 12 months), from recorded outcomes.

    With ``supplier_ids`` every one of them is in the result (0 for none); with ``None``
    the result holds only the suppliers that have awards (the matching index reads it so).
    """
    ids = None if supplier_ids is None else sorted(set(supplier_ids))
    if ids is not None and not ids:
        return {}
    if since is None:
        since = utcnow() - AWARD_WINDOW
    elif not isinstance(since, dt.datetime):
        since = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
    elif since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    counts = dict.fromkeys(ids, 0) if ids is not None else {}
    query = (
        sa.select(Shortlist.awarded_supplier_id, sa.func.count())
        .where(
            Shortlist.outcome == Outcome.AWARDED.value,
            Shortlist.awarded_supplier_id.is_not(None),
            Shortlist.outcome_at >= since.astimezone(dt.UTC),
        )
        .group_by(Shortlist.awarded_supplier_id)
    )
    if ids is not None:
        query = query.where(Shortlist.awarded_supplier_id.in_(ids))
    for supplier_id, count in db.session.execute(query):
        counts[supplier_id] = count
    return counts


# ---------------------------------------------------------------------------------------
# Reproducibility


def supplier_records(supplier_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The suppliers' records as stored (``HASHED_COLUMNS``, lots, accreditations and
    commitments), as plain JSON data ordered by id: what a data hash covers."""
    ids = sorted(set(supplier_ids))
    suppliers = db.session.scalars(
        sa.select(Supplier)
        .where(Supplier.id.in_(ids))
        .order_by(Supplier.id)
        .options(
            so.selectinload(Supplier.lots),
            so.selectinload(Supplier.accreditations),
            so.selectinload(Supplier.commitments),
        )
    )
    records = []
    for supplier in suppliers:
        record: dict[str, Any] = {key: getattr(supplier, key) for key in HASHED_COLUMNS}
        for key in _FLOAT_COLUMNS:  # 5 and 5.0 must hash alike, however the value was set
            if record[key] is not None:
                record[key] = float(record[key])
        record["capabilities"] = list(record["capabilities"] or [])
        record["cpv_codes"] = list(record["cpv_codes"] or [])
        record["lots"] = sorted(lot.code for lot in supplier.lots)
        record["accreditations"] = sorted(
            ({"name": a.name,
              "expires_on": a.expires_on.isoformat() if a.expires_on else None}
             for a in supplier.accreditations),
            key=lambda a: (a["name"], a["expires_on"] or ""),
        )
        record["commitments"] = sorted(
            ({"option_code": c.option_code,
              "quantity_per_million": float(c.quantity_per_million)}
             for c in supplier.commitments),
            key=lambda c: c["option_code"],
        )
        records.append(record)
    return records


def canonical_json(data: Any) -> bytes:
    """``data`` as canonical JSON bytes: keys sorted, no spaces, UTF-8."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def data_hash(records: Sequence[Mapping[str, Any]], *, data_version: str) -> str:
    """The sha256 (hex) of the supplier data a ranking used; see ``HASH_METHOD``."""
    payload = {"data_version": str(data_version), "suppliers": list(records)}
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def verify_data_hash(shortlist: Shortlist) -> bool | None:
    """Whether today's data still hashes to the locked shortlist's hash (None for a draft).

    False means a shortlisted supplier, or anything the index is built from, changed since
    the lock: the frozen scores stay as they were, but a re-run may differ.
    """
    if shortlist.status != ShortlistStatus.LOCKED or not shortlist.snapshot:
        return None
    records = supplier_records(e.supplier_id for e in shortlist.entries if e.removed_at is None)
    return data_hash(records, data_version=version_token()) == shortlist.data_hash


def reproducibility_pack(
    shortlist: Shortlist, *, records: Sequence[Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    """What it takes to reproduce the ranking: inputs, weights, versions and data hash.

    For a locked shortlist, the frozen snapshot's values; for a draft, today's values,
    marked as not frozen. ``records``: the draft's current suppliers' :func:`supplier_records`,
    when the caller has read them already (they are read here otherwise).
    """
    inputs = shortlist.search_inputs or {}
    if shortlist.status == ShortlistStatus.LOCKED and shortlist.snapshot:
        snap = shortlist.snapshot
        return {
            "locked": True,
            "locked_at": snap["locked_at"],
            "locked_by": snap["locked_by"],
            "evaluated_on": snap["evaluated_on"],
            "search_inputs": snap["search_inputs"],
            "weights": snap["weights"],
            "social_value": snap["social_value"],
            "catalogue_version": snap["catalogue_version"],
            "algorithm_version": snap["algorithm_version"],
            "data_version": snap["data_version"],
            "data_hash": snap["data_hash"],
            "hash_method": snap["hash_method"],
            "search_total": snap["search_total"],
        }
    catalogue = current_catalogue()
    data_version = version_token()
    if records is None:
        records = supplier_records(
            e.supplier_id for e in shortlist.entries if e.removed_at is None
        )
    return {
        "locked": False,
        "note": "Draft: scores and the data hash are today's and are frozen only when the "
                "shortlist is locked.",
        "locked_at": None,
        "locked_by": None,
        "evaluated_on": None,
        "search_inputs": inputs,
        "weights": inputs.get("weights"),
        "social_value": inputs.get("social_value"),
        "catalogue_version": catalogue.version if catalogue is not None else None,
        "algorithm_version": ALGORITHM_VERSION,
        "data_version": data_version,
        "data_hash": data_hash(records, data_version=data_version),
        "hash_method": HASH_METHOD,
        "search_total": None,
    }


def describe_search(
    search_inputs: Mapping[str, Any], *, catalogue_version: str | None = None
) -> list[tuple[str, str]]:
    """The search inputs as (label, value) lines for people: the detail page's summary and
    the exports' method section. Social-value options are named from ``catalogue_version``
    (default: the current catalogue)."""
    params = search_inputs.get("params") or {}
    location = search_inputs.get("location") or {}
    lines: list[tuple[str, str]] = [("Need", str(params.get("need") or "(none)"))]
    if params.get("cpv_codes"):
        lines.append(("CPV codes", ", ".join(_as_list(params["cpv_codes"]))))
    if location.get("site"):
        where = str(location["site"])
    elif location.get("postcode"):
        where = str(location["postcode"])
        if location.get("la_name"):
            where += f" ({location['la_name']})"
    elif location.get("latitude") is not None:
        where = f"{location['latitude']:.5f}, {location['longitude']:.5f}"
    else:
        where = "(unknown)"
    lines.append(("Location", where))
    if params.get("radius_km"):
        lines.append(("Radius", f"{float(params['radius_km']):g} km"))
    if params.get("local_authorities"):
        lines.append(("Local authorities", ", ".join(_as_list(params["local_authorities"]))))
    if not params.get("radius_km") and not params.get("local_authorities"):
        lines.append(("Area", "Anywhere (closer suppliers score higher)"))
    if params.get("lots"):
        lines.append(("Lots", ", ".join(_as_list(params["lots"]))))
    if params.get("contract_value"):
        raw = str(params["contract_value"]).replace("£", "").replace(",", "")
        try:
            value = f"£{float(raw):,.0f}"
        except ValueError:
            value = str(params["contract_value"])
        lines.append(("Estimated contract value", value))
    choices = search_inputs.get("social_value") or []
    if choices:
        titles = _option_titles(catalogue_version)
        lines.append(("Social value", "; ".join(
            f"{titles.get(c['code'], c['code'])} (weight {c['weight']:g})" for c in choices
        )))
    weights = search_inputs.get("weights") or {}
    if weights:
        lines.append(("Component weights", ", ".join(
            f"{key.replace('_', ' ')} {value:g}" for key, value in weights.items()
        )))
    filters = [label for key, label in (("sme_only", "SME only"), ("vcse_only", "VCSE only"))
               if str(params.get(key, "")).lower() in ("1", "true", "yes", "y", "on")]
    if params.get("required_accreditations"):
        filters.append("accreditations: " + ", ".join(_as_list(params["required_accreditations"])))
    if filters:
        lines.append(("Filters", "; ".join(filters)))
    if search_inputs.get("searched_on"):
        lines.append(("Searched on", str(search_inputs["searched_on"])))
    return lines


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _option_titles(catalogue_version: str | None) -> dict[str, str]:
    query = sa.select(SocialValueOption.code, SocialValueOption.title).join(SocialValueCatalogue)
    if catalogue_version is None:
        query = query.where(SocialValueCatalogue.is_current.is_(True))
    else:
        query = query.where(SocialValueCatalogue.version == catalogue_version)
    return dict(db.session.execute(query).all())


# ---------------------------------------------------------------------------------------
# Audit trail

_LABELS = {
    "shortlist.created": "Shortlist created",
    "shortlist.search_run": "Search run",
    "shortlist.entry_added": "Supplier added",
    "shortlist.entry_removed": "Supplier removed",
    "shortlist.edited": "Shortlist edited",
    "shortlist.locked": "Shortlist locked",
    "shortlist.exported": "Shortlist exported",
    "shortlist.outcome_recorded": "Outcome recorded",
    "shortlist.outcome_corrected": "Outcome corrected",
}


def audit_trail(shortlist: Shortlist) -> list[TrailItem]:
    """The shortlist's audit events, oldest first, described for people.

    Scoped to the owning organisation's events and framework staff's (no organisation).
    """
    events = events_for(OBJECT_TYPE, shortlist.id, organisation_id=shortlist.organisation_id)
    actors = _user_names(e.actor_id for e in events if e.actor_id is not None)
    return [
        TrailItem(
            at=event.at,
            actor=actors.get(event.actor_id, "System") if event.actor_id else "System",
            action=event.action,
            label=_LABELS.get(event.action, event.action),
            summary=_describe(event),
        )
        for event in events
    ]


def _describe(event: AuditEvent) -> str:
    d = event.details or {}
    match event.action:
        case "shortlist.created":
            return f"Named “{d.get('name', '')}”"
        case "shortlist.search_run":
            need = (d.get("params") or {}).get("need") or ""
            total = d.get("total")
            ranked = f"{total:,} suppliers ranked" if isinstance(total, int) else ""
            purpose = "Re-run to lock the shortlist" if d.get("purpose") == "lock" else ""
            return "; ".join(p for p in (purpose, f"need “{need}”" if need else "", ranked) if p)
        case "shortlist.entry_added":
            place = (
                f"rank {d['rank']} of {d.get('search_total', '?')}, score {d['score']:.1f}"
                if d.get("rank") is not None and d.get("score") is not None
                else "not ranked by the search"
            )
            text = f"{d.get('supplier_name')} ({place})"
            if d.get("restored"):
                text += ", put back after being removed"
            if d.get("other_search"):
                text += ", from a different search"
            return text + (f": {d['reason']}" if d.get("reason") else "")
        case "shortlist.entry_removed":
            return f"{d.get('supplier_name')}: {d.get('reason', '')}"
        case "shortlist.edited":
            return "; ".join(_describe_change(k, v) for k, v in (d.get("changes") or {}).items())
        case "shortlist.locked":
            moved = len(d.get("score_changes") or [])
            text = f"Data hash {str(d.get('data_hash', ''))[:12]}…"
            if moved:
                text += f"; {moved} score{'s' if moved != 1 else ''} refreshed from today’s data"
            return text
        case "shortlist.exported":
            return f"As {str(d.get('format', '')).upper()}"
        case "shortlist.outcome_recorded":
            if d.get("outcome") == Outcome.AWARDED.value:
                return f"Awarded to {d.get('supplier_name')}, £{d.get('value', 0):,.2f}"
            return f"None suitable: {d.get('note', '')}"
        case "shortlist.outcome_corrected":
            return describe_correction(d)
    return ""


def describe_correction(details: Mapping[str, Any]) -> str:
    """A correction (``before``, ``after``, ``reason``) in words, for the trail and the
    exports: "Awarded to Near Ltd, £1,000.00 → none suitable; note changed. Reason: …"."""
    before, after = details.get("before") or {}, details.get("after") or {}
    changes = []
    if any(before.get(k) != after.get(k) for k in ("outcome", "supplier_id", "value")):
        changes.append(f"{_describe_outcome(before)} → {_describe_outcome(after)}")
    if before.get("note", "") != after.get("note", ""):
        changes.append("note added" if not before.get("note")
                       else "note removed" if not after.get("note") else "note changed")
    text = "; ".join(changes)
    return f"{text[:1].upper()}{text[1:]}. Reason: {details.get('reason', '')}"


def _describe_outcome(state: Mapping[str, Any]) -> str:
    if state.get("outcome") == Outcome.AWARDED.value:
        value = state.get("value")
        money = f", £{value:,.2f}" if isinstance(value, int | float) else ""
        return f"awarded to {state.get('supplier_name') or 'a supplier'}{money}"
    return "none suitable"


def _describe_change(key: str, change: Mapping[str, str]) -> str:
    if key == "name":
        return f"renamed from “{change['before']}” to “{change['after']}”"
    return "notes changed" if change.get("before") else "notes added"


# ---------------------------------------------------------------------------------------
# Helpers


def _record(shortlist: Shortlist, action: str, actor: User, details: Mapping[str, Any]) -> None:
    record_event(
        action, actor=actor, organisation_id=actor.organisation_id, object_type=OBJECT_TYPE,
        object_id=shortlist.id, details=details,
    )


def _utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC: SQLite hands back naive UTC timestamps."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _organisation_id(actor: User) -> int:
    if actor.organisation_id is None:
        raise ShortlistError("Only members of an organisation can keep shortlists")
    return actor.organisation_id


def _require_member(actor: User, shortlist: Shortlist) -> None:
    if not can_edit(actor, shortlist):
        raise ShortlistError("Only its organisation’s members can change a shortlist")


def _require_draft(shortlist: Shortlist) -> None:
    if shortlist.status != ShortlistStatus.DRAFT:
        raise ShortlistLocked(shortlist)


def _text(value: str | None, missing: str | None, *, limit: int, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ShortlistError(missing or "Enter some text")
    if len(text) > limit:
        raise ShortlistError(f"Use {limit:,} characters or fewer")
    return text


def _entry_for(shortlist: Shortlist, supplier_id: int) -> ShortlistEntry | None:
    """The entry of ``supplier_id`` on ``shortlist`` (removed or not), if there is one."""
    return next((e for e in shortlist.entries if e.supplier_id == supplier_id), None)


def _entry_state(entry: ShortlistEntry) -> dict[str, Any]:
    return {
        "rank": entry.rank,
        "score": entry.score,
        "removed_at": entry.removed_at,
        "reason_removed": entry.reason_removed,
    }


def entry_record(entry: ShortlistEntry) -> dict[str, Any]:
    """An entry as plain JSON data (the form locked snapshots and exports use)."""
    supplier = db.session.get(Supplier, entry.supplier_id)
    return {
        "supplier_id": entry.supplier_id,
        "external_id": supplier.external_id if supplier else None,
        "name": supplier.name if supplier else None,
        "status": "removed" if entry.removed_at is not None else "shortlisted",
        "rank": entry.rank,
        "score": entry.score,
        "breakdown": entry.breakdown,
        "reason_added": entry.reason_added,
        "added_at": entry.created_at.isoformat() if entry.created_at else None,
        "removed_at": entry.removed_at.isoformat() if entry.removed_at else None,
        "reason_removed": entry.reason_removed,
    }


def _stored_params(shortlist: Shortlist) -> dict[str, Any]:
    """The shortlist's search params, pinned to the location resolved when it was created."""
    inputs = shortlist.search_inputs or {}
    params = dict(inputs.get("params") or {})
    location = inputs.get("location") or {}
    if location.get("latitude") is not None and location.get("longitude") is not None:
        params.pop("postcode", None)
        params["lat"], params["lon"] = location["latitude"], location["longitude"]
    return params


def _supplier_names(supplier_ids: Iterable[int]) -> dict[int, str]:
    ids = set(supplier_ids)
    if not ids:
        return {}
    return dict(db.session.execute(
        sa.select(Supplier.id, Supplier.name).where(Supplier.id.in_(ids))
    ).all())


def _user_names(user_ids: Iterable[int]) -> dict[int, str]:
    ids = set(user_ids)
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())
