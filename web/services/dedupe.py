"""Likely duplicate suppliers: suggestions with a score and reasons, merging, ruling out.

**Scoring.** A pair's score (0–100) adds up the evidence, each component stating its value,
its points and why, as a breakdown reads elsewhere in the service (component → value →
points → total):

* *name*: rapidfuzz ``token_sort_ratio`` of the two names after company-suffix
  normalisation (:func:`normalise_name`: case, punctuation, "the", ltd/limited/plc/llp/cic,
  "& co"), times :data:`NAME_POINTS_PER_PERCENT` (at most 60 points);
* *company number*: the same Companies House number is strong evidence
  (:data:`SAME_COMPANY_POINTS`); two different numbers are strong evidence against
  (:data:`DIFFERENT_COMPANY_POINTS`); a missing number says nothing;
* *location*: the same postcode, the same postcode sector, or within :data:`NEAR_KM` add
  points; more than :data:`FAR_KM` apart takes some away.

A pair is suggested from :data:`SUGGEST_THRESHOLD`. "Acme Roofing Ltd" and "ACME Roofing
Limited" at the same postcode score 75; with different company numbers, 45 (not suggested);
with the same company number, 100.

**Blocking.** Comparing every pair is O(n²); instead each supplier is put in a few blocks
and only suppliers sharing a block are compared: its company number, its postcode unit,
its postcode sector, the first characters of its normalised name, and its
:data:`NAME_BLOCK_TOKENS` rarest name tokens (rare tokens make small blocks; common trade
words such as "roofing" or "services" would make huge ones). Within a name or sector block
names are compared with rapidfuzz ``process.cdist`` (vectorised, in C), keeping pairs over
a cutoff; company-number and postcode-unit blocks are small and every pair in them is a
candidate. Candidates are then scored in full, once per pair.

**Merging** (:func:`merge_suppliers`): the survivor keeps its own values and gains the
other's lots, accreditations (per name the later expiry; no expiry counts as the latest,
as :meth:`Accreditation.is_valid_on` reads it), commitments (per option the larger
quantity), capabilities and CPV codes (union), contacts, and any blank field the other
fills. The other supplier is deactivated and points at the survivor (``merged_into_id``);
suppliers merged into it before now point at the survivor too. Shortlist entries:

* on a **locked** shortlist nothing changes: its entries and snapshot are a record of what
  was decided, and the merged supplier row they point at still exists;
* on a **draft**, an entry for the merged supplier is re-pointed at the survivor, unless
  the survivor is already on that shortlist (a shortlist holds a supplier once): then the
  survivor's entry is kept as it is and the merged supplier's entry, if not already
  removed, is marked removed with the reason "merged into …", so the draft's history
  still shows it.

Everything is audited with before and after; operations flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
import sqlalchemy.orm as so
from rapidfuzz import fuzz, process

from web.extensions import db
from web.models import (
    Accreditation,
    Commitment,
    Contact,
    Shortlist,
    ShortlistEntry,
    ShortlistStatus,
    Supplier,
    User,
)
from web.models.base import utcnow
from web.models.supplier import NotDuplicate
from web.services.admin import AdminError, diff_snapshots, supplier_snapshot
from web.services.audit import record_event
from web.services.versions import bump_version

__all__ = [
    "Component",
    "DuplicatePair",
    "Suggestions",
    "compare_suppliers",
    "is_ruled_out",
    "mark_not_duplicate",
    "merge_suppliers",
    "normalise_name",
    "suggest_duplicates",
]

NameScorer = Callable[..., float]

# --- scoring constants (points out of 100) -------------------------------------------------
NAME_POINTS_PER_PERCENT = 0.6  # points per % of name similarity: identical names give 60
SAME_COMPANY_POINTS = 40.0  # one Companies House number: almost certainly one company
DIFFERENT_COMPANY_POINTS = -30.0  # two numbers: two legal entities, however alike the names
SAME_POSTCODE_POINTS = 15.0
SAME_SECTOR_POINTS = 10.0  # e.g. both in "L34 1"
NEAR_POINTS = 5.0
NEAR_KM = 5.0  # km: "near" for offices of one firm entered twice
FAR_KM = 50.0  # km: further apart than this, a shared name is more likely coincidence
FAR_POINTS = -10.0
SUGGEST_THRESHOLD = 60.0  # suggested from this score

# --- blocking -------------------------------------------------------------------------------
NAME_BLOCK_TOKENS = 2  # each name joins the blocks of its rarest tokens, this many
NAME_PREFIX_CHARS = 4  # and the block of its first characters (catches a typo in a rare token)
NAME_CANDIDATE_CUTOFF = 80  # token_sort_ratio a name-block pair needs to be scored
SECTOR_CANDIDATE_CUTOFF = 70  # ... and a pair in the same postcode sector
MAX_BLOCK_SIZE = 3000  # suppliers; a larger block is skipped (counted in Suggestions)
PARALLEL_BLOCK_SIZE = 500  # suppliers; cdist uses every core from this block size (threads
# cost more than they save on the many small blocks)

EARTH_RADIUS_KM = 6371.009  # km, mean radius (IUGG); haversine error ~0.5%, ample here

_SUFFIX_TOKENS = frozenset({"ltd", "limited", "plc", "llp", "cic", "lp"})
_TRAILING_TOKENS = frozenset({"co", "company"})  # "Acme Co Ltd", "Acme & Co"
_STOP_TOKENS = frozenset({"the", "and"})
# Dropped, not made spaces: "O'Brien" is one word and "T.S.G." or "L.L.P." one token.
_JOINING_RE = re.compile(r"['’`.]")
_NON_ALNUM_RE = re.compile(r"[^0-9a-z]+")


def normalise_name(name: str) -> str:
    """A supplier name reduced to the words that tell companies apart.

    >>> normalise_name("The Acme Roofing Co. Ltd")
    'acme roofing'
    >>> normalise_name("ACME & Co (Roofing) Limited")
    'acme roofing'
    >>> normalise_name("T.S.G. Building Services PLC")
    'tsg building services'
    """
    text = name.casefold().replace("&", " and ")
    text = _NON_ALNUM_RE.sub(" ", _JOINING_RE.sub("", text))
    tokens = text.split()
    cleaned: list[str] = []
    for position, token in enumerate(tokens):
        if token in _SUFFIX_TOKENS:
            continue
        if token in _TRAILING_TOKENS and (
            (position > 0 and tokens[position - 1] == "and")
            or all(t in _SUFFIX_TOKENS for t in tokens[position + 1:])
        ):
            continue  # "& co", or "co"/"company" at the end (before any ltd)
        cleaned.append(token)
    words = [t for t in cleaned if t not in _STOP_TOKENS]
    return " ".join(words or tokens)  # a name of nothing but suffixes stays as it is


@dataclass(frozen=True, slots=True)
class Component:
    """One piece of evidence about a pair: what it is, its value, its points and why."""

    name: str
    value: str
    points: float
    reason: str


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    """Two suppliers that may be one, lower id first, with the score and its breakdown."""

    first_id: int
    second_id: int
    first_name: str
    second_name: str
    score: float
    components: tuple[Component, ...]

    @property
    def reasons(self) -> list[str]:
        """The components that added points, as short reasons."""
        return [c.reason for c in self.components if c.points > 0]


@dataclass(frozen=True, slots=True)
class Suggestions:
    """The suggested pairs, best first, and what finding them took."""

    pairs: tuple[DuplicatePair, ...]
    suppliers: int  # active suppliers considered
    blocks: int  # blocks with two or more suppliers
    candidates: int  # pairs scored
    skipped_blocks: int  # blocks over MAX_BLOCK_SIZE, not compared
    seconds: float


@dataclass(frozen=True, slots=True)
class _Record:
    id: int
    name: str
    key: str  # normalise_name(name)
    company_number: str | None
    postcode: str | None
    latitude: float
    longitude: float


# --- scoring -------------------------------------------------------------------------------


def _sector(postcode: str | None) -> str | None:
    """``"L34 1AB"`` → ``"L34 1"``; None for a postcode that is not a full unit."""
    if not postcode or " " not in postcode:
        return None
    outward, inward = postcode.rsplit(" ", 1)
    return f"{outward} {inward[0]}" if len(inward) == 3 else None


def _km(a: _Record, b: _Record) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(
        (lon2 - lon1) / 2
    ) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _score(a: _Record, b: _Record, *, scorer: NameScorer = fuzz.token_sort_ratio) -> DuplicatePair:
    if a.id > b.id:
        a, b = b, a
    similarity = scorer(a.key, b.key)
    components = [Component(
        "Name", f"{similarity:.0f}% similar", similarity * NAME_POINTS_PER_PERCENT,
        "same name" if a.key == b.key else f"names {similarity:.0f}% similar",
    )]
    if a.company_number and b.company_number:
        if a.company_number == b.company_number:
            components.append(Component(
                "Company number", a.company_number, SAME_COMPANY_POINTS,
                f"same company number {a.company_number}",
            ))
        else:
            components.append(Component(
                "Company number", f"{a.company_number} and {b.company_number}",
                DIFFERENT_COMPANY_POINTS, "different company numbers",
            ))
    else:
        components.append(Component("Company number", "not both known", 0.0,
                                    "company number not known for both"))
    km = _km(a, b)
    if a.postcode and a.postcode == b.postcode:
        components.append(Component("Location", a.postcode, SAME_POSTCODE_POINTS,
                                     f"same postcode {a.postcode}"))
    elif (sector := _sector(a.postcode)) is not None and sector == _sector(b.postcode):
        components.append(Component("Location", f"sector {sector}", SAME_SECTOR_POINTS,
                                    f"same postcode sector {sector}"))
    elif km <= NEAR_KM:
        components.append(Component("Location", f"{km:.1f} km apart", NEAR_POINTS,
                                    f"{km:.1f} km apart"))
    elif km > FAR_KM:
        components.append(Component("Location", f"{km:.0f} km apart", FAR_POINTS,
                                    f"{km:.0f} km apart"))
    else:
        components.append(Component("Location", f"{km:.0f} km apart", 0.0,
                                    f"{km:.0f} km apart"))
    total = max(0.0, min(100.0, sum(c.points for c in components)))
    return DuplicatePair(a.id, b.id, a.name, b.name, round(total, 1), tuple(components))


def _record(supplier: Supplier) -> _Record:
    return _Record(
        supplier.id, supplier.name, normalise_name(supplier.name), supplier.company_number,
        supplier.postcode, supplier.latitude, supplier.longitude,
    )


def compare_suppliers(first: Supplier, second: Supplier) -> DuplicatePair:
    """The score and breakdown of one pair, whatever it is (for the review page)."""
    return _score(_record(first), _record(second))


# --- suggestions ---------------------------------------------------------------------------


def _load_records() -> list[_Record]:
    rows = db.session.execute(
        sa.select(Supplier.id, Supplier.name, Supplier.company_number, Supplier.postcode,
                  Supplier.latitude, Supplier.longitude)
        .where(Supplier.active.is_(True)).order_by(Supplier.id)
    )
    return [
        _Record(r.id, r.name, normalise_name(r.name), r.company_number, r.postcode,
                r.latitude, r.longitude)
        for r in rows
    ]


def _ruled_out() -> set[tuple[int, int]]:
    return {
        (row.supplier_id, row.other_id)
        for row in db.session.execute(sa.select(NotDuplicate.supplier_id, NotDuplicate.other_id))
    }


def _blocks(records: Sequence[_Record]) -> dict[tuple[str, str], list[int]]:
    """Block key → positions in ``records``. Keys are (kind, value)."""
    frequency = Counter(token for r in records for token in set(r.key.split()))
    blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
    for position, record in enumerate(records):
        tokens = sorted(set(record.key.split()), key=lambda t: (frequency[t], t))
        for token in tokens[:NAME_BLOCK_TOKENS]:
            blocks[("name", token)].append(position)
        compact = record.key.replace(" ", "")
        if len(compact) >= NAME_PREFIX_CHARS:
            blocks[("name", "^" + compact[:NAME_PREFIX_CHARS])].append(position)
        if record.company_number:
            blocks[("company", record.company_number)].append(position)
        if record.postcode:
            blocks[("postcode", record.postcode)].append(position)
            if (sector := _sector(record.postcode)) is not None:
                blocks[("sector", sector)].append(position)
    return {key: members for key, members in blocks.items() if len(members) > 1}


def _similar_pairs(
    records: Sequence[_Record], members: list[int], cutoff: int, scorer: NameScorer
) -> Iterable[tuple[int, int]]:
    """Pairs of positions in one block whose names score ``cutoff`` or more."""
    names = [records[m].key for m in members]
    matrix = process.cdist(
        names, names, scorer=scorer, score_cutoff=cutoff, dtype=np.uint8,
        workers=-1 if len(names) >= PARALLEL_BLOCK_SIZE else 1,
    )
    rows, columns = np.nonzero(np.triu(matrix, k=1))
    for i, j in zip(rows.tolist(), columns.tolist(), strict=True):
        yield members[i], members[j]


def suggest_duplicates(
    *, threshold: float = SUGGEST_THRESHOLD, scorer: NameScorer = fuzz.token_sort_ratio
) -> Suggestions:
    """Likely duplicate pairs among active suppliers, best first (score, then ids).

    Pairs an admin has marked "not a duplicate" are left out.
    """
    started = time.perf_counter()
    records = _load_records()
    ruled_out = _ruled_out()
    blocks = _blocks(records)
    candidates: set[tuple[int, int]] = set()
    skipped = 0
    for (kind, _value), members in blocks.items():
        if len(members) > MAX_BLOCK_SIZE:
            skipped += 1
            continue
        if kind in ("company", "postcode"):
            candidates.update(itertools.combinations(members, 2))
        else:
            cutoff = NAME_CANDIDATE_CUTOFF if kind == "name" else SECTOR_CANDIDATE_CUTOFF
            candidates.update(_similar_pairs(records, members, cutoff, scorer))
    pairs = []
    for i, j in candidates:
        a, b = records[i], records[j]
        if (min(a.id, b.id), max(a.id, b.id)) in ruled_out:
            continue
        pair = _score(a, b, scorer=scorer)
        if pair.score >= threshold:
            pairs.append(pair)
    pairs.sort(key=lambda p: (-p.score, p.first_id, p.second_id))
    return Suggestions(
        pairs=tuple(pairs), suppliers=len(records), blocks=len(blocks),
        candidates=len(candidates), skipped_blocks=skipped,
        seconds=time.perf_counter() - started,
    )


# --- decisions -----------------------------------------------------------------------------


def _ordered(first_id: int, second_id: int) -> tuple[int, int]:
    return (first_id, second_id) if first_id < second_id else (second_id, first_id)


def is_ruled_out(first_id: int, second_id: int) -> bool:
    """True if an admin has said the two suppliers are not duplicates."""
    low, high = _ordered(first_id, second_id)
    return db.session.scalar(
        sa.select(NotDuplicate.id).where(NotDuplicate.supplier_id == low,
                                         NotDuplicate.other_id == high)
    ) is not None


def mark_not_duplicate(
    first: Supplier, second: Supplier, *, actor: User, reason: str = ""
) -> NotDuplicate | None:
    """Remember that the two are different suppliers; None if that was already known.

    :raise AdminError: for a supplier paired with itself.
    """
    if first.id == second.id:
        raise AdminError("A supplier cannot be a duplicate of itself")
    if is_ruled_out(first.id, second.id):
        return None
    low, high = _ordered(first.id, second.id)
    decision = NotDuplicate(supplier_id=low, other_id=high, decided_by_id=actor.id,
                            decided_at=utcnow(), reason=reason.strip())
    db.session.add(decision)
    db.session.flush()
    record_event(
        "supplier.not_duplicate", actor=actor, organisation_id=actor.organisation_id,
        object_type="supplier", object_id=low,
        details={"before": {}, "after": {"not_duplicate_of": high, "reason": reason.strip()},
                 "pair": [low, high],
                 "names": [s.name for s in sorted((first, second), key=lambda s: s.id)]},
    )
    return decision


# --- merging -------------------------------------------------------------------------------

# Survivor fields filled from the merged supplier when the survivor has none.
_FILLABLE = (
    "company_number", "address", "description", "service_radius_km", "min_contract_value",
    "max_contract_value", "website", "email", "phone",
)


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What a merge did to shortlists, for the flash message and the audit trail."""

    repointed_entries: tuple[int, ...]
    removed_entries: tuple[int, ...]
    locked_entries_kept: tuple[int, ...]


def _later(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    if a is None or b is None:
        return None  # no expiry outlasts any date
    return max(a, b)


def merge_suppliers(
    survivor: Supplier, merged: Supplier, *, actor: User, reason: str = ""
) -> MergeResult:
    """Merge ``merged`` into ``survivor`` (see the module docstring for the rules).

    :raise AdminError: for the same supplier twice, or an inactive one.
    """
    if survivor.id == merged.id:
        raise AdminError("Choose two different suppliers to merge")
    for supplier in (survivor, merged):
        if not supplier.active:
            raise AdminError(f"{supplier.name} ({supplier.external_id}) is not active, "
                             "so it cannot be merged")
    survivor_before = supplier_snapshot(survivor)
    merged_before = supplier_snapshot(merged)

    for name in _FILLABLE:
        if getattr(survivor, name) in (None, "") and getattr(merged, name) not in (None, ""):
            setattr(survivor, name, getattr(merged, name))
    survivor.capabilities = _union(survivor.capabilities, merged.capabilities, key=str.casefold)
    survivor.cpv_codes = _union(survivor.cpv_codes, merged.cpv_codes)
    survivor.sme = survivor.sme or merged.sme
    survivor.vcse = survivor.vcse or merged.vcse

    lot_ids = {lot.id for lot in survivor.lots}
    survivor.lots.extend(lot for lot in merged.lots if lot.id not in lot_ids)

    held = {a.name.casefold(): a for a in survivor.accreditations}
    for other in merged.accreditations:
        mine = held.get(other.name.casefold())
        if mine is None:
            survivor.accreditations.append(Accreditation(name=other.name,
                                                         expires_on=other.expires_on))
        else:
            mine.expires_on = _later(mine.expires_on, other.expires_on)

    made = {c.option_code: c for c in survivor.commitments}
    for other in merged.commitments:
        mine = made.get(other.option_code)
        if mine is None:
            survivor.commitments.append(Commitment(
                option_code=other.option_code, quantity_per_million=other.quantity_per_million
            ))
        else:
            mine.quantity_per_million = max(mine.quantity_per_million,
                                            other.quantity_per_million)

    known = {(c.name.casefold(), (c.email or "").casefold()) for c in survivor.contacts}
    for other in merged.contacts:
        if (other.name.casefold(), (other.email or "").casefold()) not in known:
            survivor.contacts.append(Contact(name=other.name, role=other.role,
                                             email=other.email, phone=other.phone))

    now = utcnow()
    merged.active = False
    merged.merged_into_id = survivor.id
    merged.deactivated_at = now
    merged.deactivation_reason = (
        f"Merged into {survivor.name} ({survivor.external_id})"
        + (f": {reason.strip()}" if reason.strip() else "")
    )
    db.session.execute(
        sa.update(Supplier).where(Supplier.merged_into_id == merged.id)
        .values(merged_into_id=survivor.id)
    )
    db.session.flush()
    result = _move_shortlist_entries(survivor, merged, actor=actor)

    survivor_after = supplier_snapshot(survivor)
    before, after = diff_snapshots(survivor_before, survivor_after)
    details = {
        "before": before, "after": after, "merged": merged_before,
        "merged_id": merged.id, "reason": reason.strip(),
        "shortlist_entries_repointed": list(result.repointed_entries),
        "shortlist_entries_removed": list(result.removed_entries),
        "locked_shortlist_entries_kept": list(result.locked_entries_kept),
    }
    record_event("supplier.merged", actor=actor, organisation_id=actor.organisation_id,
                 object_type="supplier", object_id=survivor.id, details=details)
    merged_after = supplier_snapshot(merged)
    m_before, m_after = diff_snapshots(merged_before, merged_after)
    record_event("supplier.merged_into", actor=actor, organisation_id=actor.organisation_id,
                 object_type="supplier", object_id=merged.id,
                 details={"before": m_before, "after": m_after, "survivor_id": survivor.id,
                          "reason": reason.strip()})
    bump_version()
    return result


def _union(first: Sequence[str], second: Sequence[str],
           key: Callable[[str], str] = lambda s: s) -> list[str]:
    seen = {key(item) for item in first}
    result = list(first)
    for item in second:
        if key(item) not in seen:
            seen.add(key(item))
            result.append(item)
    return result


def _move_shortlist_entries(survivor: Supplier, merged: Supplier, *, actor: User) -> MergeResult:
    entries = db.session.scalars(
        sa.select(ShortlistEntry).where(ShortlistEntry.supplier_id == merged.id)
        .options(so.joinedload(ShortlistEntry.shortlist)).order_by(ShortlistEntry.id)
    ).all()
    repointed: list[int] = []
    removed: list[int] = []
    kept: list[int] = []
    for entry in entries:
        shortlist: Shortlist = entry.shortlist
        if shortlist.status != ShortlistStatus.DRAFT:
            kept.append(entry.id)
            continue
        has_survivor = db.session.scalar(
            sa.select(ShortlistEntry.id).where(ShortlistEntry.shortlist_id == shortlist.id,
                                               ShortlistEntry.supplier_id == survivor.id)
        ) is not None
        note = f"Merged into {survivor.name} ({survivor.external_id}) as a duplicate"
        if not has_survivor:
            entry.supplier_id = survivor.id
            repointed.append(entry.id)
            record_event(
                "shortlist.supplier_merged", actor=actor, organisation_id=None,
                object_type="shortlist", object_id=shortlist.id,
                details={"entry_id": entry.id, "from_supplier_id": merged.id,
                         "to_supplier_id": survivor.id, "supplier_name": survivor.name,
                         "reason": note},
            )
        elif entry.removed_at is None:
            entry.removed_at = utcnow()
            entry.reason_removed = note + ", which is already on this shortlist"
            removed.append(entry.id)
            record_event(
                "shortlist.entry_removed", actor=actor, organisation_id=None,
                object_type="shortlist", object_id=shortlist.id,
                details={"entry_id": entry.id, "supplier_id": merged.id,
                         "supplier_name": merged.name, "reason": entry.reason_removed},
            )
    db.session.flush()
    return MergeResult(tuple(repointed), tuple(removed), tuple(kept))
