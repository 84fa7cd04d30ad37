"""The framework's outcomes report: what came of the locked shortlists in a financial year.

Framework staff report to members and their board what was bought through the framework:
how many contracts, their value, how many went to SMEs and VCSEs, how far the winners were
from the site, and the social value the winners committed to.

Everything is read from the locked snapshot (the supplier's data and score breakdown when
the shortlist was locked) and the recorded outcome, so the report says what the decision
was based on, not what the register holds today. The estimated social value of an award
is the winner's commitments to the options the member chose (quantity per £1m, from the
snapshot) × the awarded value × the catalogue's proxy £ per unit, as the search estimates
it for the contract value it was given.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from web.extensions import db
from web.models import MemberOrganisation, Shortlist, ShortlistStatus
from web.services.exports import neutralise
from web.services.shortlists import Outcome

#: The UK public sector's financial year starts on 1 April.
FINANCIAL_YEAR_START_MONTH = 4
CSV_COLUMNS = (
    "organisation", "shortlist_id", "shortlist", "locked_at", "outcome", "outcome_at",
    "supplier", "external_id", "awarded_value_gbp", "sme", "vcse", "distance_km",
    "estimated_social_value_gbp",
)


@dataclasses.dataclass(frozen=True, slots=True)
class OutcomeRow:
    """One recorded outcome. Supplier values are None when none was awarded; the social
    value is None when it cannot be estimated (no options chosen, or no value)."""

    organisation: str
    shortlist_id: int
    shortlist: str
    locked_at: dt.datetime | None
    outcome: str
    outcome_at: dt.datetime | None
    supplier: str | None
    external_id: str | None
    awarded_value_gbp: float | None
    sme: bool | None
    vcse: bool | None
    distance_km: float | None
    estimated_social_value_gbp: float | None


@dataclasses.dataclass(frozen=True, slots=True)
class Summary:
    """The outcomes of one organisation (or all of them) added up."""

    organisation: str
    outcomes: int
    awarded: int
    awarded_value_gbp: float
    to_sme: int
    to_vcse: int
    #: Mean distance of the awarded suppliers from the search's site, of those known.
    mean_distance_km: float | None
    estimated_social_value_gbp: float


def financial_year(day: dt.date) -> int:
    """The financial year ``day`` falls in, named by the year it starts (2026: 1 April 2026
    to 31 March 2027)."""
    return day.year if day.month >= FINANCIAL_YEAR_START_MONTH else day.year - 1


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    """The first instant of financial year ``year`` and of the next one, in UTC."""
    start = dt.datetime(year, FINANCIAL_YEAR_START_MONTH, 1, tzinfo=dt.UTC)
    return start, start.replace(year=year + 1)


def years_with_outcomes(today: dt.date) -> list[int]:
    """The financial years from the first recorded outcome's to ``today``'s, newest first
    (just ``today``'s when none is recorded yet)."""
    first = db.session.scalar(sa.select(sa.func.min(Shortlist.outcome_at)))
    current = financial_year(today)
    earliest = min(financial_year(first.date()), current) if first is not None else current
    return list(range(current, earliest - 1, -1))


def outcome_rows(year: int) -> list[OutcomeRow]:
    """Every outcome recorded in financial year ``year``, by organisation then when."""
    start, end = year_bounds(year)
    rows = db.session.execute(
        sa.select(Shortlist, MemberOrganisation.name)
        .join(MemberOrganisation, MemberOrganisation.id == Shortlist.organisation_id)
        .where(Shortlist.status == ShortlistStatus.LOCKED, Shortlist.outcome.is_not(None),
               Shortlist.outcome_at >= start, Shortlist.outcome_at < end)
        .order_by(MemberOrganisation.name, Shortlist.outcome_at, Shortlist.id)
    ).all()
    return [_outcome_row(shortlist, organisation) for shortlist, organisation in rows]


def _outcome_row(shortlist: Shortlist, organisation: str) -> OutcomeRow:
    awarded = shortlist.outcome == Outcome.AWARDED and shortlist.awarded_supplier_id is not None
    snapshot = shortlist.snapshot or {}
    supplier = _by_id(snapshot.get("suppliers"), shortlist.awarded_supplier_id) if awarded else {}
    entry = _by_id(snapshot.get("entries"), shortlist.awarded_supplier_id, key="supplier_id"
                   ) if awarded else {}
    breakdown = entry.get("breakdown") or {}
    value = shortlist.awarded_value if awarded else None
    return OutcomeRow(
        organisation=organisation,
        shortlist_id=shortlist.id,
        shortlist=shortlist.name,
        locked_at=shortlist.locked_at,
        outcome=shortlist.outcome or "",
        outcome_at=shortlist.outcome_at,
        supplier=(supplier.get("name") or entry.get("name")) if awarded else None,
        external_id=(supplier.get("external_id") or entry.get("external_id")) if awarded
        else None,
        awarded_value_gbp=value,
        sme=_flag(supplier.get("sme")) if awarded else None,
        vcse=_flag(supplier.get("vcse")) if awarded else None,
        distance_km=_number(breakdown.get("distance_km")),
        estimated_social_value_gbp=estimated_social_value(
            breakdown.get("social_value_items") or (), value),
    )


def estimated_social_value(items: Iterable[Mapping[str, Any]], value: float | None
                           ) -> float | None:
    """Σ quantity per £1m × ``value`` / £1m × proxy £ per unit over the chosen options'
    ``items`` (a score breakdown's ``social_value_items``); None with no value or no
    options."""
    items = list(items)
    if value is None or not items:
        return None
    total = 0.0
    for item in items:
        quantity = _number(item.get("quantity_per_million")) or 0.0
        proxy = _number(item.get("proxy_gbp_per_unit")) or 0.0
        total += quantity * value / 1_000_000 * proxy
    return round(total, 2)


def summarise(rows: Sequence[OutcomeRow]) -> tuple[list[Summary], Summary]:
    """One summary per organisation (in the rows' order) and one of every row."""
    by_organisation: dict[str, list[OutcomeRow]] = {}
    for row in rows:
        by_organisation.setdefault(row.organisation, []).append(row)
    return ([_summary(name, group) for name, group in by_organisation.items()],
            _summary("All organisations", rows))


def _summary(name: str, rows: Sequence[OutcomeRow]) -> Summary:
    awarded = [r for r in rows if r.outcome == Outcome.AWARDED]
    distances = [r.distance_km for r in awarded if r.distance_km is not None]
    return Summary(
        organisation=name,
        outcomes=len(rows),
        awarded=len(awarded),
        awarded_value_gbp=sum(r.awarded_value_gbp or 0.0 for r in awarded),
        to_sme=sum(1 for r in awarded if r.sme),
        to_vcse=sum(1 for r in awarded if r.vcse),
        mean_distance_km=round(sum(distances) / len(distances), 1) if distances else None,
        estimated_social_value_gbp=round(
            sum(r.estimated_social_value_gbp or 0.0 for r in awarded), 2),
    )


def outcomes_csv(rows: Sequence[OutcomeRow]) -> bytes:
    """The rows as CSV (UTF-8 with a byte order mark, for Excel), one outcome a line;
    text a spreadsheet would run as a formula is neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = dataclasses.astuple(row)
        writer.writerow([_csv_value(v) for v in values])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return neutralise(value)


def _by_id(items: Any, wanted: int | None, *, key: str = "id") -> dict[str, Any]:
    for item in items or ():
        if isinstance(item, Mapping) and item.get(key) == wanted:
            return dict(item)
    return {}


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
