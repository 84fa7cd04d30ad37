"""Value objects the engine takes and returns.

Every type here is a small frozen dataclass: the web app builds them from its database rows,
the engine never mutates them, and results can be cached, compared and serialised safely.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import date

__all__ = [
    "COMPONENT_NAMES",
    "Accreditation",
    "Commitment",
    "ComponentScore",
    "DecayCurve",
    "DEFAULT_DECAY",
    "DEFAULT_SCALE_KM",
    "DEFAULT_WEIGHTS",
    "MatchResult",
    "Query",
    "SearchResponse",
    "SocialValueChoice",
    "SocialValueItem",
    "SocialValueOption",
    "SupplierRecord",
    "Weights",
]

#: The components of a total, in breakdown order.
COMPONENT_NAMES = ("capability", "distance", "social_value", "rotation")

#: Distance at which the default decay curve has fallen to ``decay`` when the query gives no
#: radius. 50 km: the upper end of the 20–50 km travel radius typical for repairs (DOMAIN.md).
DEFAULT_SCALE_KM = 50.0


@dataclass(frozen=True, slots=True)
class Accreditation:
    """A named accreditation (CHAS, Gas Safe, PAS 2030, ...) and its expiry date, if any."""

    name: str
    expires_on: date | None = None

    def valid_on(self, day: date) -> bool:
        """True when the accreditation has not expired on ``day`` (valid through its expiry)."""
        return self.expires_on is None or self.expires_on >= day


@dataclass(frozen=True, slots=True)
class Commitment:
    """A supplier's pledge: ``quantity_per_million`` units of an option per £1m of contract."""

    option_code: str
    quantity_per_million: float


@dataclass(frozen=True, slots=True)
class SocialValueOption:
    """One measure of the framework's social-value catalogue, with its £ proxy per unit."""

    code: str
    theme: str
    title: str
    unit: str
    proxy_gbp_per_unit: float
    proxy_source: str = ""


@dataclass(frozen=True, slots=True)
class SocialValueChoice:
    """A member's chosen social-value option and how much it matters (any non-negative weight)."""

    code: str
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class SupplierRecord:
    """What the engine knows about one supplier. Missing optional data never excludes it."""

    id: int
    external_id: str
    name: str
    _: KW_ONLY
    latitude: float
    longitude: float
    description: str = ""
    keywords: tuple[str, ...] = ()
    cpv_codes: tuple[str, ...] = ()
    la_code: str | None = None
    lots: frozenset[str] = frozenset()
    sme: bool = False
    vcse: bool = False
    service_radius_km: float | None = None
    min_contract_value: float | None = None
    max_contract_value: float | None = None
    accreditations: tuple[Accreditation, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    #: Contracts awarded to the supplier through the service in the last 12 months (fair
    #: rotation); 0 when none or unknown.
    recent_awards: int = 0


@dataclass(frozen=True, slots=True)
class Weights:
    """Relative importance of each component; only ratios matter, zero is allowed.

    The total is ``Σ weight_i · value_i / Σ weight_i · 100`` over the components that apply:
    social value applies only when the query chooses at least one option, so its weight then
    drops out instead of pulling every score down.
    """

    capability: float = 0.6
    distance: float = 0.25
    social_value: float = 0.15
    #: Fair rotation: favour suppliers with fewer recent awards. Off (0) unless the member
    #: chooses it; when on it is a component of the breakdown like the others.
    rotation: float = 0.0

    def __post_init__(self) -> None:
        for name in COMPONENT_NAMES:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"weight {name} must be a finite number >= 0, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> Weights:
        """Parse ``"capability=0.7,distance=0.3"``; components not named keep their default."""
        values: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, raw = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in COMPONENT_NAMES:
                raise ValueError(
                    f"expected capability=W, distance=W, social_value=W or rotation=W: {part!r}"
                )
            values[key] = float(raw)
        return cls(**values)


#: Defaults: capability first (what the firm does decides most awards; in the benchmark the
#: median buyer→winner distance is 87 km), distance next, social value as a tie-shaper.
DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class DecayCurve:
    """How the distance score falls with distance, as Elasticsearch's decay functions.

    ``score(d) = 1`` for ``d <= offset_km``; at ``d = offset_km + scale_km`` it equals
    ``decay``. ``kind`` is ``"gauss"`` (smooth shoulder, then a fast fall), ``"exp"``
    (steepest near the origin) or ``"linear"`` (reaches 0 at ``offset + scale / (1 - decay)``).
    ``scale_km=None`` means: the query's radius when it has one (the edge of the area the
    member chose scores ``decay``), else ``DEFAULT_SCALE_KM``.
    """

    kind: str = "gauss"
    scale_km: float | None = None
    offset_km: float = 0.0
    decay: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("gauss", "exp", "linear"):
            raise ValueError(f"decay kind must be gauss, exp or linear, got {self.kind!r}")
        if self.scale_km is not None and not self.scale_km > 0:
            raise ValueError("scale_km must be > 0")
        if not 0 < self.decay < 1:
            raise ValueError("decay must be strictly between 0 and 1")
        if not self.offset_km >= 0:
            raise ValueError("offset_km must be >= 0")


DEFAULT_DECAY = DecayCurve()


@dataclass(frozen=True, slots=True)
class Query:
    """A member's need, where, and the rules the shortlist must follow."""

    need: str
    latitude: float
    longitude: float
    _: KW_ONLY
    cpv_codes: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    radius_km: float | None = None
    local_authorities: frozenset[str] = frozenset()
    lots: frozenset[str] = frozenset()
    contract_value: float | None = None
    required_accreditations: tuple[str, ...] = ()
    sme_only: bool = False
    vcse_only: bool = False
    social_value: tuple[SocialValueChoice, ...] = ()
    weights: Weights = DEFAULT_WEIGHTS
    on_date: date | None = None
    decay: DecayCurve = DEFAULT_DECAY
    #: Exclude suppliers outside their own service radius instead of only flagging them.
    strict_service_radius: bool = False
    #: When the need has text or CPV codes, drop suppliers that match none of it.
    require_capability: bool = True
    limit: int = 20
    offset: int = 0

    def __post_init__(self) -> None:
        if not (-90 <= self.latitude <= 90 and -180 <= self.longitude <= 180):
            raise ValueError("latitude/longitude out of range")
        if self.radius_km is not None and not self.radius_km >= 0:
            raise ValueError("radius_km must be >= 0")
        if self.limit < 0 or self.offset < 0:
            raise ValueError("limit and offset must be >= 0")


@dataclass(frozen=True, slots=True)
class ComponentScore:
    """One line of the waterfall: value (0–1) × weight → contribution (points of 0–100)."""

    component: str
    value: float
    weight: float
    contribution: float
    reason: str


@dataclass(frozen=True, slots=True)
class SocialValueItem:
    """What one chosen option adds for this supplier at this contract value."""

    code: str
    title: str
    unit: str
    weight: float
    quantity_per_million: float
    quantity: float | None
    proxy_gbp_per_unit: float
    gbp: float | None


@dataclass(frozen=True, slots=True)
class MatchResult:
    """One ranked supplier with its score explained."""

    supplier_id: int
    external_id: str
    name: str
    rank: int
    score: float
    distance_km: float
    components: tuple[ComponentScore, ...]
    matched_terms: tuple[str, ...]
    flags: tuple[str, ...]
    social_value_gbp: float | None
    social_value_items: tuple[SocialValueItem, ...]
    tie_break: str
    #: Awards through the service in the last 12 months (shown whether or not rotation is on).
    recent_awards: int = 0


@dataclass(frozen=True, slots=True)
class SearchResponse:
    """A page of results plus what it took to get there.

    ``total`` counts every supplier that passed the hard filters and the location filter
    (and, when the need has text or CPV codes and ``require_capability`` is set, matched some
    of it); all of them are ranked, ``results`` is the requested page. ``excluded`` counts the
    suppliers dropped, by the first reason that dropped them.
    """

    results: tuple[MatchResult, ...]
    total: int
    algorithm_version: str
    data_version: str
    excluded: Mapping[str, int] = field(default_factory=dict)
    interpretation: tuple[str, ...] = ()
