"""Matching: the per-process index over the register, and searches from plain inputs.

Each worker process keeps one :class:`matcher.Index` in memory. Every search reads the
``matching-index`` data version from the database (one indexed row); when it changed, the
index is rebuilt, so imports and edits show in every gunicorn worker without a restart.

The rebuild runs in a background thread of the worker. A request waits for it only when it
is expected to be quick (the last build took at most ``INDEX_REFRESH_WAIT_S``, a few
seconds by default, so a small register is always current); otherwise the request is
answered at once from the previous index, and the answer carries that index's data
version. So a change to a large register (an import, an award recorded: ~10 s of CPU to
reindex 100,000 suppliers) never stalls every request of every worker, nor runs a request
into gunicorn's timeout at a million suppliers. Locking a shortlist asks for the current
index (``get_index(current=True)``): it waits for the rebuild, up to
``CURRENT_INDEX_WAIT_S``, and otherwise says the register is being reindexed.

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
from flask import Flask, current_app, g
from sqlalchemy.exc import DBAPIError

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
from web.config import DEFAULT_REFRESH_WAIT_S
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
from web.services import index_files
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


@dataclass(slots=True)
class _Refresh:
    """One background rebuild of the index of the database at ``url``."""

    url: str
    started: float  # time.monotonic(), before the thread reads the data version
    done: threading.Event
    version: str | None = None  # the data version it built (set when it succeeds)
    error: BaseException | None = None
    finished: float | None = None


class IndexNotCurrent(RuntimeError):
    """The current index is still being rebuilt after a change to the register."""

    def __init__(self, started_s_ago: float) -> None:
        self.started_s_ago = started_s_ago
        super().__init__(
            "the supplier register changed and is being reindexed "
            f"(started {started_s_ago:.0f} s ago). Try again in a minute."
        )


# A register whose last build took this long is rebuilt in a process of its own: starting
# one costs about a second of CPU, worth it only when the build is much longer.
SEPARATE_BUILD_MIN_S = 5.0
# A lock waits this long for a rebuild: under gunicorn's 60 s worker timeout, with room.
CURRENT_INDEX_WAIT_S = 30.0
# A rebuild that failed (database down) is not retried sooner than this, so a broken
# database is not hammered by one rebuild per request.
REFRESH_RETRY_S = 5.0
# Attempts of one background rebuild: a second when the first met a broken connection.
REFRESH_ATTEMPTS = 2

_cache: _CachedIndex | None = None
_cache_lock = threading.Lock()
_refresh: _Refresh | None = None
_last_build_s = 0.0  # how long this process's last build took (0: none yet)


def cached_index() -> Index | None:
    """The index this process holds, current or not (None before the first build)."""
    cached = _cache
    return cached.index if cached is not None else None


def get_index(*, current: bool = False) -> Index:
    """The index for the current data version, or while it is being rebuilt, the previous one.

    Built here, in the request, when there is nothing to answer from meanwhile (a
    process's first search, or one that serves another database, as in tests) and when
    this request changed the register itself (``bump_version``; a background thread could
    not see the change before it is committed). Otherwise the rebuild runs in a background
    thread, one at a time per process, and this request waits for it if ``current``, or if
    the last build took no longer than the app's ``INDEX_REFRESH_WAIT_S``; if not, it gets
    the previous index at once. :func:`index_is_current` tells which it got.

    :raise IndexNotCurrent: ``current`` and the rebuild did not finish within
        ``CURRENT_INDEX_WAIT_S``, or failed.
    """
    global _cache
    version = version_token()
    read_at = time.monotonic()
    g.index_data_version = version
    url = str(db.engine.url)
    cached = _cache
    if cached is not None and cached.version == version and cached.url == url:
        return cached.index
    if cached is None or cached.url != url or g.get("index_version_bumped"):
        with _cache_lock:
            cached = _cache
            if cached is None or cached.version != version or cached.url != url:
                index = _timed_build(version)
                _cache = cached = _CachedIndex(url=url, version=version, index=index)
            return cached.index
    budget = float(current_app.config.get("INDEX_REFRESH_WAIT_S", DEFAULT_REFRESH_WAIT_S))
    expected_quick = _last_build_s <= budget
    wait_s = CURRENT_INDEX_WAIT_S if current else (budget if expected_quick else 0.0)
    deadline = read_at + wait_s
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    while True:
        refresh = _start_refresh(app, url)
        remaining = deadline - time.monotonic()
        if remaining > 0:
            refresh.done.wait(remaining)
        cached = _cache
        assert cached is not None  # replaced, never removed
        if cached.url == url and cached.version == version:
            return cached.index
        if (refresh.done.is_set() and refresh.error is None and refresh.started >= read_at
                and cached.url == url and cached.version == refresh.version):
            # built from a data version read after ours: at least as new
            g.index_data_version = refresh.version
            return cached.index
        if not refresh.done.is_set() or time.monotonic() >= deadline:
            break  # still running: answer from the previous index
        if refresh.error is not None:
            # failed (and logged), now or moments ago: the previous index serves until a
            # retry works (going round would only be handed the same failure again)
            break
        # it finished, but had started before this request read the version: go round
        # and start one that will see it
    if current:
        raise IndexNotCurrent(time.monotonic() - refresh.started)
    return cached.index


# (database URL, data version) -> active suppliers. Every change to the register bumps the
# data version, so a count is good until the next bump; one entry is enough.
_active_counts: dict[tuple[str, str], int] = {}


def active_supplier_count() -> int:
    """How many active suppliers the register holds.

    Counted once per data version in each process: counting means scanning the suppliers
    (about 30 ms at 100,000 on SQLite), and the home page shows the figure to everyone.
    """
    version = version_token()
    key = (str(db.engine.url), version)
    count = _active_counts.get(key)
    if count is None:
        count = db.session.scalar(
            sa.select(sa.func.count()).select_from(Supplier).where(Supplier.active.is_(True))
        ) or 0
        if version != "0":  # "0": never bumped, so a change would not show (test data)
            _active_counts.clear()
            _active_counts[key] = count
    return count


def index_is_current(data_version: str) -> bool:
    """Whether ``data_version`` (an index's, a search response's) is the version of the
    data this request read in :func:`get_index` (True if it read none)."""
    return str(g.get("index_data_version", data_version)) == data_version


def wait_for_refresh(timeout_s: float) -> bool:
    """Wait for a background rebuild to finish; whether none is running now."""
    refresh = _refresh
    return refresh is None or refresh.done.wait(timeout_s)


def _start_refresh(app: Flask, url: str) -> _Refresh:
    """The background rebuild to wait for: the one running (one at a time per process),
    one that failed moments ago, or a new one."""
    global _refresh
    with _cache_lock:
        refresh = _refresh
        if refresh is not None and not refresh.done.is_set():
            return refresh
        if (refresh is not None and refresh.error is not None and refresh.url == url
                and refresh.finished is not None
                and time.monotonic() - refresh.finished < REFRESH_RETRY_S):
            return refresh
        refresh = _Refresh(url=url, started=time.monotonic(), done=threading.Event())
        _refresh = refresh
    thread = threading.Thread(target=_run_refresh, args=(app, refresh),
                              name="index-refresh", daemon=True)
    thread.start()
    return refresh


def _run_refresh(app: Flask, refresh: _Refresh) -> None:
    """Body of the background thread: read the data version, build, swap the index in."""
    global _cache
    try:
        with app.app_context():
            for attempt in range(REFRESH_ATTEMPTS):
                try:
                    # The version first, then the data: the index may hold changes newer
                    # than its label (then the next request rebuilds again), never older.
                    version = version_token()
                    index = _timed_build(version, background=True)
                    break
                except DBAPIError as error:
                    # A pooled connection broken by a database restart fails its first
                    # query, which invalidates the pool: the next attempt connects anew.
                    if not error.connection_invalidated or attempt + 1 == REFRESH_ATTEMPTS:
                        raise
                    log.info("matching index rebuild lost its database connection; "
                             "trying again on a new one")
                finally:
                    db.session.remove()
        with _cache_lock:
            cached = _cache
            # Never put one database's index over another's (a process can serve only one).
            if cached is None or cached.url == refresh.url:
                _cache = _CachedIndex(url=refresh.url, version=version, index=index)
        refresh.version = version
    except BaseException as error:  # kept for waiters; the previous index goes on serving
        refresh.error = error
        log.warning("matching index rebuild failed (%s: %s); the previous index serves "
                    "meanwhile", type(error).__name__, error)
    finally:
        refresh.finished = time.monotonic()
        refresh.done.set()


def _timed_build(version: str, *, background: bool = False) -> Index:
    """The index for data ``version``: from its saved file if a process of this host built
    it already (:mod:`web.services.index_files`), else built and saved. ``background``
    (a rebuild while the previous index serves): a large register is built in a process
    of its own."""
    global _last_build_s

    def build() -> Index:
        started = time.perf_counter()
        index = build_index(data_version=version)
        index.build_seconds = time.perf_counter() - started
        return index

    started = time.perf_counter()
    separate = background and _last_build_s >= SEPARATE_BUILD_MIN_S
    index, how = index_files.obtain(version, build, database=str(db.engine.url),
                                    separate=separate)
    # what the next change will cost, whoever builds it: used to decide whether to wait
    _last_build_s = index.build_seconds or time.perf_counter() - started
    log.info("matching index v%s %s in %.2f s", version, how, time.perf_counter() - started)
    return index


def build_index(*, data_version: str) -> Index:
    """Build an index over every active supplier, the thesaurus and the current catalogue.

    Reads with a handful of set-wise queries (not one per supplier), so a large register
    loads in seconds. They are Core statements on the session's connection: plain rows,
    without the ORM's per-row loading, which took a fifth of a build at 100,000 suppliers
    (one row per supplier, and per accreditation and commitment).
    """
    connection = db.session.connection()
    lots_of: dict[int, set[str]] = defaultdict(set)
    for supplier_id, code in connection.execute(
        sa.select(supplier_lots.c.supplier_id, Lot.code).join(Lot, Lot.id == supplier_lots.c.lot_id)
    ):
        lots_of[supplier_id].add(code)
    accreditations_of: dict[int, list[Accreditation]] = defaultdict(list)
    for supplier_id, name, expires_on in connection.execute(
        sa.select(AccreditationRow.supplier_id, AccreditationRow.name, AccreditationRow.expires_on)
        .order_by(AccreditationRow.supplier_id, AccreditationRow.name)
    ):
        accreditations_of[supplier_id].append(Accreditation(name, expires_on))
    commitments_of: dict[int, list[Commitment]] = defaultdict(list)
    for supplier_id, code, quantity in connection.execute(
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
        for row in connection.execute(
            sa.select(*columns).where(Supplier.active.is_(True)).order_by(Supplier.id),
            execution_options={"yield_per": SUPPLIER_ROWS_PER_FETCH},
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


def run_search(query: Query, *, current: bool = False) -> SearchResponse:
    """Rank the register for ``query`` with the index :func:`get_index` gives (``current``:
    only the index of the data version as it is now)."""
    return search(get_index(current=current), query)


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
