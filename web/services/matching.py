"""Matching: the per-process index over the register, and searches from plain inputs.

Each worker process keeps one :class:`matcher.Index` in memory. Every search reads the
``matching-index`` data version from the database (one indexed row) and rebuilds the index
when it changed, so imports and edits show in every gunicorn worker without a restart.

:func:`parse_search` turns the plain keys shared by the CLI, batch files and the JSON API
(``need``, ``postcode`` or ``lat``/``lon``, ``cpv_codes``, ``radius_km``, …) into a
:class:`matcher.Query`, collecting every problem with the key it concerns.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from matcher import (
    COMPONENT_NAMES,
    DEFAULT_WEIGHTS,
    Accreditation,
    Commitment,
    Index,
    MatchResult,
    Query,
    SearchResponse,
    SocialValueChoice,
    SocialValueOption,
    SupplierRecord,
    Thesaurus,
    Weights,
    normalise_cpv,
    search,
)
from web.extensions import db
from web.models import Accreditation as AccreditationRow
from web.models import Commitment as CommitmentRow
from web.models import (
    Lot,
    SocialValueCatalogue,
    Supplier,
    supplier_lots,
)
from web.models import SocialValueOption as OptionRow
from web.postcodes import PostcodeDirectory, PostcodeError
from web.services.catalogue import thesaurus_groups
from web.services.supplier_files import quote_cell
from web.services.versions import version_token

log = logging.getLogger(__name__)

SUPPLIER_ROWS_PER_FETCH = 5000  # rows streamed per round trip while the index is built
MAX_LIMIT = 500  # results per search; a page of a shortlist, not an export of the register
MAX_NEED_CHARS = 5000  # a need is a paragraph or two, not a document
MAX_RADIUS_KM = 1000.0  # Land's End to John o' Groats is about 970 km
WEIGHT_KEYS = COMPONENT_NAMES


class SearchInputError(ValueError):
    """The search inputs are invalid; ``errors`` maps each input key to its problem."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{key}: {message}" for key, message in self.errors.items()))


@dataclass(frozen=True, slots=True)
class SearchLocation:
    """Where the search is centred, as the member gave it."""

    latitude: float
    longitude: float
    postcode: str | None = None
    la_code: str | None = None
    la_name: str | None = None


# ---------------------------------------------------------------------------------------
# The per-process index


@dataclass(frozen=True, slots=True)
class _CachedIndex:
    url: str
    version: str
    index: Index


_cache: _CachedIndex | None = None
_cache_lock = threading.Lock()


def cached_index() -> Index | None:
    """The index this process holds, current or not (None before the first build)."""
    cached = _cache
    return cached.index if cached is not None else None


def get_index() -> Index:
    """The index for the current data version, rebuilt here if the data changed."""
    global _cache
    version = version_token()
    url = str(db.engine.url)
    cached = _cache
    if cached is not None and cached.version == version and cached.url == url:
        return cached.index
    with _cache_lock:
        cached = _cache
        if cached is None or cached.version != version or cached.url != url:
            started = time.perf_counter()
            index = build_index(data_version=version)
            _cache = cached = _CachedIndex(url=url, version=version, index=index)
            log.info("matching index v%s built in %.2f s", version, time.perf_counter() - started)
        return cached.index


def build_index(*, data_version: str) -> Index:
    """Build an index over every active supplier, the thesaurus and the current catalogue.

    Reads with a handful of set-wise queries (not one per supplier), so a large register
    loads in seconds.
    """
    lots_of: dict[int, set[str]] = defaultdict(set)
    for supplier_id, code in db.session.execute(
        sa.select(supplier_lots.c.supplier_id, Lot.code).join(Lot, Lot.id == supplier_lots.c.lot_id)
    ):
        lots_of[supplier_id].add(code)
    accreditations_of: dict[int, list[Accreditation]] = defaultdict(list)
    for supplier_id, name, expires_on in db.session.execute(
        sa.select(AccreditationRow.supplier_id, AccreditationRow.name, AccreditationRow.expires_on)
        .order_by(AccreditationRow.supplier_id, AccreditationRow.name)
    ):
        accreditations_of[supplier_id].append(Accreditation(name, expires_on))
    commitments_of: dict[int, list[Commitment]] = defaultdict(list)
    for supplier_id, code, quantity in db.session.execute(
        sa.select(CommitmentRow.supplier_id, CommitmentRow.option_code,
                  CommitmentRow.quantity_per_million)
        .order_by(CommitmentRow.supplier_id, CommitmentRow.option_code)
    ):
        commitments_of[supplier_id].append(Commitment(code, quantity))

    # Fair rotation: recording an outcome bumps the data version, so this stays current.
    from web.services.shortlists import recent_awards  # shortlists builds on this module

    awards = recent_awards(None)
    columns = (
        Supplier.id, Supplier.external_id, Supplier.name, Supplier.latitude, Supplier.longitude,
        Supplier.description, Supplier.capabilities, Supplier.cpv_codes, Supplier.la_code,
        Supplier.sme, Supplier.vcse, Supplier.service_radius_km, Supplier.min_contract_value,
        Supplier.max_contract_value,
    )
    # A generator over a streamed result, not a list: Index.build reads the suppliers once,
    # so at a million suppliers their rows never all sit in memory at the same time.
    records = (
        SupplierRecord(
            row.id, row.external_id, row.name,
            latitude=row.latitude, longitude=row.longitude,
            description=row.description or "",
            keywords=tuple(row.capabilities or ()),
            cpv_codes=tuple(row.cpv_codes or ()),
            la_code=row.la_code,
            lots=frozenset(lots_of.get(row.id, ())),
            sme=row.sme, vcse=row.vcse,
            service_radius_km=row.service_radius_km,
            min_contract_value=row.min_contract_value,
            max_contract_value=row.max_contract_value,
            accreditations=tuple(accreditations_of.get(row.id, ())),
            commitments=tuple(commitments_of.get(row.id, ())),
            recent_awards=awards.get(row.id, 0),
        )
        for row in db.session.execute(
            sa.select(*columns).where(Supplier.active.is_(True)).order_by(Supplier.id)
            .execution_options(yield_per=SUPPLIER_ROWS_PER_FETCH)
        )
    )
    return Index.build(
        records,
        thesaurus=Thesaurus.from_groups(thesaurus_groups()),
        social_value_options=current_options(),
        data_version=data_version,
    )


def current_options() -> list[SocialValueOption]:
    """The options of the current social-value catalogue, as the engine takes them."""
    rows = db.session.scalars(
        sa.select(OptionRow)
        .join(SocialValueCatalogue)
        .where(SocialValueCatalogue.is_current.is_(True))
        .order_by(OptionRow.code)
    )
    return [
        SocialValueOption(
            code=row.code, theme=row.theme_code, title=row.title, unit=row.unit,
            proxy_gbp_per_unit=row.proxy_gbp_per_unit,
            proxy_source=f"{row.source} ({row.source_year})" if row.source_year else row.source,
        )
        for row in rows
    ]


# ---------------------------------------------------------------------------------------
# Plain inputs -> Query


def parse_search(
    params: Mapping[str, Any],
    *,
    directory: PostcodeDirectory,
    on_date: dt.date | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> tuple[Query, SearchLocation]:
    """Validate plain search inputs and build the engine's query.

    Keys: ``need`` (text), ``postcode`` or ``lat``+``lon``, ``cpv_codes`` (list),
    ``keywords`` (list), ``radius_km``, ``local_authorities`` (GSS codes), ``lots``,
    ``contract_value``, ``required_accreditations``, ``sme_only``, ``vcse_only``,
    ``social_value`` (list of ``{"code", "weight"}`` or ``"CODE[:WEIGHT]"``), ``weights``
    (mapping or ``"capability=W,…"``), ``limit``, ``offset``. Unknown keys are ignored.
    ``defaults`` fill keys the params leave out.

    :raise SearchInputError: listing every invalid input by key.
    """
    merged = {**(defaults or {}), **{k: v for k, v in params.items() if v is not None}}
    errors: dict[str, str] = {}

    def field(key: str, parse: Any, default: Any = None) -> Any:
        if key not in merged or merged[key] in ("", None):
            return default
        try:
            return parse(merged[key])
        except (TypeError, ValueError) as error:
            errors[key] = str(error)
            return default

    need = field("need", _need, "")
    location = _location(merged, directory, errors)
    cpv_codes = field("cpv_codes", _cpv_list, ())
    query_kwargs: dict[str, Any] = {
        "cpv_codes": cpv_codes,
        "keywords": field("keywords", _str_list, ()),
        "radius_km": field("radius_km", _radius),
        "local_authorities": frozenset(field("local_authorities", _str_list, ())),
        "lots": frozenset(field("lots", _str_list, ())),
        "contract_value": field("contract_value", _money),
        "required_accreditations": field("required_accreditations", _str_list, ()),
        "sme_only": field("sme_only", _bool, False),
        "vcse_only": field("vcse_only", _bool, False),
        "social_value": field("social_value", _social_value, ()),
        "weights": field("weights", _weights, DEFAULT_WEIGHTS),
        "limit": field("limit", _limit, 20),
        "offset": field("offset", _offset, 0),
        "on_date": on_date or dt.date.today(),
    }
    if not need.strip() and not cpv_codes and "need" not in errors:
        errors["need"] = "describe the need, or give at least one CPV code"
    if errors or location is None:
        raise SearchInputError(errors)
    try:
        query = Query(need, location.latitude, location.longitude, **query_kwargs)
    except ValueError as error:
        raise SearchInputError({"query": str(error)}) from None
    return query, location


def run_search(query: Query) -> SearchResponse:
    """Rank the register for ``query`` with the current index."""
    return search(get_index(), query)


def result_to_dict(result: MatchResult) -> dict[str, Any]:
    """A result as plain JSON-ready data: the batch/API contract."""
    return {
        "rank": result.rank,
        "supplier_id": result.supplier_id,
        "external_id": result.external_id,
        "name": result.name,
        "score": round(result.score, 2),
        "distance_km": round(result.distance_km, 2),
        "breakdown": {
            "components": [
                {
                    "component": c.component,
                    "value": round(c.value, 4),
                    "weight": round(c.weight, 4),
                    "contribution": round(c.contribution, 2),
                    "reason": c.reason,
                }
                for c in result.components
            ],
            "total": round(result.score, 2),
            "matched_terms": list(result.matched_terms),
            "flags": list(result.flags),
            "social_value_gbp": (
                None if result.social_value_gbp is None else round(result.social_value_gbp, 2)
            ),
            "social_value_items": [
                {
                    "code": item.code, "title": item.title, "unit": item.unit,
                    "weight": item.weight, "quantity_per_million": item.quantity_per_million,
                    "quantity": item.quantity, "proxy_gbp_per_unit": item.proxy_gbp_per_unit,
                    "gbp": None if item.gbp is None else round(item.gbp, 2),
                }
                for item in result.social_value_items
            ],
            "tie_break": result.tie_break,
        },
        "recent_awards": result.recent_awards,
    }


def _need(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be text")
    if len(value) > MAX_NEED_CHARS:
        raise ValueError(f"is longer than {MAX_NEED_CHARS} characters")
    return value


def _location(
    merged: Mapping[str, Any], directory: PostcodeDirectory, errors: dict[str, str]
) -> SearchLocation | None:
    postcode = merged.get("postcode")
    lat, lon = merged.get("lat", merged.get("latitude")), merged.get("lon", merged.get("longitude"))
    if postcode not in (None, ""):
        if not isinstance(postcode, str):
            errors["postcode"] = "must be text"
            return None
        try:
            found = directory.lookup(postcode)
        except PostcodeError as error:
            errors["postcode"] = str(error)
            return None
        return SearchLocation(found.latitude, found.longitude, found.postcode, found.la_code,
                              found.la_name)
    if lat in (None, "") and lon in (None, ""):
        errors["postcode"] = "give a postcode, or lat and lon"
        return None
    try:
        latitude, longitude = _float(lat), _float(lon)
    except (TypeError, ValueError):
        errors["lat"] = "lat and lon must both be numbers"
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        errors["lat"] = "lat must be within ±90 and lon within ±180"
        return None
    return SearchLocation(latitude, longitude)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits (JSON allows it)
        raise ValueError("must be a finite number") from None
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = value.replace(";", ",").split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of text values")
    items = []
    for item in value:
        if not isinstance(item, str):
            raise ValueError("must be a list of text values")
        if item.strip():
            items.append(item.strip())
    return tuple(items)


def _cpv_list(value: Any) -> tuple[str, ...]:
    codes = []
    for raw in _str_list(value if not isinstance(value, str) else value.replace(" ", ",")):
        try:
            codes.append(normalise_cpv(raw))
        except ValueError:
            raise ValueError(
                f"'{quote_cell(raw)}' is not a CPV code (8 digits, optional check digit)"
            ) from None
    return tuple(codes)


def _radius(value: Any) -> float:
    radius = _float(value)
    if not 0 < radius <= MAX_RADIUS_KM:
        raise ValueError(f"must be more than 0 and at most {MAX_RADIUS_KM:g} km")
    return radius


def _money(value: Any) -> float:
    if isinstance(value, str):
        value = value.replace("£", "").replace(",", "").strip()
    amount = _float(value)
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "on"):
        return True
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError("must be true or false")


def _social_value(value: Any) -> tuple[SocialValueChoice, ...]:
    if isinstance(value, str):
        value = [part for part in value.replace(";", ",").split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of {code, weight} or CODE:WEIGHT")
    choices = []
    for item in value:
        if isinstance(item, str):
            code, _, weight = item.strip().partition(":")
            raw_weight: Any = weight or 1.0
        elif isinstance(item, Mapping) and isinstance(item.get("code"), str):
            code, raw_weight = item["code"], item.get("weight", 1.0)
        else:
            raise ValueError("each item must be {code, weight} or CODE:WEIGHT")
        weight_value = _float(raw_weight)
        if weight_value < 0:
            raise ValueError(f"weight of {code} must not be negative")
        choices.append(SocialValueChoice(code.strip(), weight_value))
    return tuple(choices)


def _weights(value: Any) -> Weights:
    if isinstance(value, str):
        return Weights.parse(value)
    if not isinstance(value, Mapping):
        raise ValueError("must be a mapping like {capability: 0.6, distance: 0.25}")
    unknown = set(value) - set(WEIGHT_KEYS)
    if unknown:
        raise ValueError(f"unknown components {', '.join(sorted(unknown))}")
    return Weights(**{key: _float(raw) for key, raw in value.items()})


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    try:
        return int(value)
    except OverflowError:  # int(float("inf")): JSON's 1e309
        raise ValueError("must be a finite whole number") from None


def _limit(value: Any) -> int:
    number = _int(value)
    if not 1 <= number <= MAX_LIMIT:
        raise ValueError(f"must be between 1 and {MAX_LIMIT}")
    return number


def _offset(value: Any) -> int:
    number = _int(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number
