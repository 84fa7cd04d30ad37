"""Request and response schemas of the JSON API (pydantic v2).

The same classes validate requests and generate the OpenAPI document
(:mod:`web.api.openapi`), so the document cannot drift from what the API accepts.

**Request bodies are strict and closed**: types are not coerced (``"5"`` is not a number,
``1`` is not ``true``) and an unknown field is a 422 (``extra="forbid"``), so a misspelt
key such as ``radius`` is reported instead of silently ignored. Query strings are text by
nature, so query parameters are coerced from text, and unknown query parameters are
ignored (caches and proxies add their own).

Every text field has a length limit and refuses control characters (the pattern below),
and every number has bounds: no input reaches the database or the engine that they would
refuse with an error of their own.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from web.services.matching import MAX_LIMIT, MAX_NEED_CHARS, MAX_RADIUS_KM

# A line of text: no control characters at all. Text: tab, line feed and carriage return
# are allowed (a need or a reason may be a paragraph).
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
MAX_ID = 2**31 - 1  # ids are 32-bit integers in PostgreSQL
MAX_OFFSET = 100_000  # deeper than anyone pages; bounds the engine's work
MAX_MONEY = 1e12  # £1 trillion: more than any contract, less than float trouble
MAX_WEIGHT = 1000.0  # only ratios matter
MAX_LIST = 50  # CPV codes, lots, options, accreditations in one request
MAX_LOCAL_AUTHORITIES = 400  # there are about 360 in Great Britain
MAX_SHORT_TEXT = 5000  # reasons: a paragraph or two (as the shortlist service allows)


def _line(max_length: int, *, min_length: int = 0) -> Any:
    return Annotated[
        str, StringConstraints(min_length=min_length, max_length=max_length, pattern=LINE_PATTERN)
    ]


def _text(max_length: int) -> Any:
    return Annotated[str, StringConstraints(max_length=max_length, pattern=TEXT_PATTERN)]


Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _as_utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their zone; they are stored in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_as_utc)]


class RequestBody(BaseModel):
    """Base of request bodies: strict types, unknown fields refused, no NaN or infinity."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class QueryParams(BaseModel):
    """Base of query parameters: coerced from text, unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class ResponseBody(BaseModel):
    """Base of response bodies."""

    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------------------------------
# Errors


class FieldError(BaseModel):
    """One invalid input."""

    field: str = Field(description="Dotted path of the input, e.g. `social_value.0.weight`.")
    message: str


class Problem(BaseModel):
    """Problem details (RFC 9457)."""

    type: str = Field(description="`about:blank`: the status code says it all.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(None, description="The request path.")
    errors: list[FieldError] | None = Field(
        None, description="For invalid input (422): each problem with the input it concerns."
    )


# ---------------------------------------------------------------------------------------
# Search


class SocialValueChoiceIn(RequestBody):
    """A social-value option the buyer wants, and how much it matters."""

    code: _line(40, min_length=1) = Field(description="Option code from /social-value-options.")
    weight: float = Field(1.0, ge=0, le=MAX_WEIGHT)


class SearchFilters(RequestBody):
    """Hard filters: suppliers failing them are excluded, not just scored lower."""

    sme_only: bool = False
    vcse_only: bool = False
    required_accreditations: list[_line(100, min_length=1)] = Field(
        default_factory=list, max_length=MAX_LIST,
        description="Accreditation names a supplier must hold, unexpired.",
    )


class SearchWeights(RequestBody):
    """Relative importance of each score component; only ratios matter. Components not
    given keep their default weight."""

    capability: float | None = Field(None, ge=0, le=MAX_WEIGHT)
    distance: float | None = Field(None, ge=0, le=MAX_WEIGHT)
    social_value: float | None = Field(None, ge=0, le=MAX_WEIGHT)
    rotation: float | None = Field(
        None, ge=0, le=MAX_WEIGHT,
        description="Fair rotation: favour suppliers with fewer awards through the service "
                    "in the last 12 months. Default 0 (off).",
    )


class SearchInputs(RequestBody):
    """A search: the need, where, and the rules. Give `postcode`, or `lat` and `lon`; and a
    `need`, or at least one CPV code."""

    need: _text(MAX_NEED_CHARS) = Field("", description="The need, in words.")
    postcode: _line(16) | None = Field(None, description="Where the work is (GB postcode).")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude (WGS84), with `lon`.")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude (WGS84), with `lat`.")
    cpv_codes: list[_line(12, min_length=1)] = Field(
        default_factory=list, max_length=MAX_LIST,
        description="CPV codes, 8 digits with optional check digit (`45321000-3`).",
    )
    radius_km: float | None = Field(
        None, gt=0, le=MAX_RADIUS_KM, description="Only suppliers within this distance."
    )
    local_authorities: list[_line(9, min_length=1)] = Field(
        default_factory=list, max_length=MAX_LOCAL_AUTHORITIES,
        description="Only suppliers based in these local authorities (GSS codes).",
    )
    lots: list[_line(40, min_length=1)] = Field(
        default_factory=list, max_length=MAX_LIST, description="Only suppliers on these lots."
    )
    contract_value: float | None = Field(
        None, ge=0, le=MAX_MONEY, description="Estimated contract value, £."
    )
    social_value: list[SocialValueChoiceIn] = Field(default_factory=list, max_length=MAX_LIST)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    weights: SearchWeights = Field(default_factory=SearchWeights)

    def to_params(self) -> dict[str, Any]:
        """The plain keys :func:`web.services.matching.parse_search` takes (empty ones left out)."""
        params: dict[str, Any] = {
            "need": self.need,
            "postcode": self.postcode,
            "lat": self.lat,
            "lon": self.lon,
            "cpv_codes": list(self.cpv_codes),
            "radius_km": self.radius_km,
            "local_authorities": list(self.local_authorities),
            "lots": list(self.lots),
            "contract_value": self.contract_value,
            "social_value": [c.model_dump() for c in self.social_value],
            "sme_only": self.filters.sme_only or None,
            "vcse_only": self.filters.vcse_only or None,
            "required_accreditations": list(self.filters.required_accreditations),
            "weights": self.weights.model_dump(exclude_none=True),
        }
        return {key: value for key, value in params.items() if value not in (None, "", [], {})}


class SearchRequest(SearchInputs):
    """A search and the page of results wanted."""

    limit: int = Field(20, ge=1, le=MAX_LIMIT, description="Results per page.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Results to skip.")

    def to_params(self) -> dict[str, Any]:
        """As :meth:`SearchInputs.to_params`, with the page."""
        return {**super().to_params(), "limit": self.limit, "offset": self.offset}


#: Where a ``parse_search`` key sits in the request body.
SEARCH_FIELD_PATHS = {
    "sme_only": "filters.sme_only",
    "vcse_only": "filters.vcse_only",
    "required_accreditations": "filters.required_accreditations",
    "query": "",
}


class ScoreComponent(BaseModel):
    """One line of the score's waterfall: value (0–1) × weight → contribution (points)."""

    component: str
    value: float
    weight: float
    contribution: float
    reason: str


class SocialValueItem(BaseModel):
    """What one chosen option adds for this supplier at this contract value."""

    code: str
    title: str
    unit: str
    weight: float
    quantity_per_million: float
    quantity: float | None
    proxy_gbp_per_unit: float
    gbp: float | None


class Breakdown(BaseModel):
    """How the score was reached."""

    components: list[ScoreComponent]
    total: float
    matched_terms: list[str]
    flags: list[str]
    social_value_gbp: float | None
    social_value_items: list[SocialValueItem]
    tie_break: str


class SearchResult(BaseModel):
    """One ranked supplier with its score explained."""

    rank: int
    supplier_id: int
    external_id: str
    name: str
    score: float = Field(description="0–100.")
    distance_km: float
    breakdown: Breakdown
    recent_awards: int = Field(
        description="Contracts awarded through the service in the last 12 months."
    )


class SearchLocationOut(BaseModel):
    """Where the search was centred."""

    latitude: float
    longitude: float
    postcode: str | None = None
    la_code: str | None = None
    la_name: str | None = None


class SearchResponse(BaseModel):
    """A page of ranked results."""

    results: list[SearchResult]
    total: int = Field(description="Suppliers ranked (all pages).")
    limit: int
    offset: int
    algorithm_version: str
    data_version: str = Field(description="The version of the register data ranked.")
    index_current: bool = Field(
        description="False while the register is reindexed after a change (seconds, at "
                    "most a minute or two for a large register): the results are then "
                    "those of data_version, the register as it was just before.",
    )
    location: SearchLocationOut
    excluded: dict[str, int] = Field(
        description="Suppliers left out, counted by the first reason that excluded them."
    )
    interpretation: list[str] = Field(description="How the need was read, in words.")


# ---------------------------------------------------------------------------------------
# Suppliers


class PageParams(QueryParams):
    """Page through a list."""

    page: int = Field(1, ge=1, le=MAX_OFFSET, description="Page number, from 1.")
    per_page: int = Field(20, ge=1, le=100, description="Items per page (at most 100).")


class SupplierListParams(PageParams):
    """Filter the supplier list."""

    q: _line(200) | None = Field(None, description="Name contains (case-insensitive).")
    lot: _line(40) | None = Field(None, description="On the lot with this code.")


class LotOut(ResponseBody):
    """A lot of the framework."""

    code: str
    name: str


class AccreditationOut(ResponseBody):
    """A certification or scheme membership."""

    name: str
    expires_on: dt.date | None
    valid: bool = Field(description="Unexpired today.")


class CommitmentOut(ResponseBody):
    """A social-value commitment: a quantity of an option's measure per £1m of contract."""

    option_code: str
    quantity_per_million: float


class ContactOut(ResponseBody):
    """A named contact."""

    name: str
    role: str
    email: str | None
    phone: str | None


class SupplierSummary(ResponseBody):
    """A supplier in a list."""

    id: int
    external_id: str
    name: str
    postcode: str | None
    la_code: str | None
    latitude: float
    longitude: float
    sme: bool
    vcse: bool
    active: bool
    lots: list[str] = Field(description="Lot codes.")


class SupplierDetail(ResponseBody):
    """A supplier's full profile."""

    id: int
    external_id: str
    name: str
    company_number: str | None
    address: str
    postcode: str | None
    la_code: str | None
    latitude: float
    longitude: float
    description: str
    capabilities: list[str]
    cpv_codes: list[str]
    sme: bool
    vcse: bool
    service_radius_km: float | None
    min_contract_value: float | None
    max_contract_value: float | None
    website: str | None
    email: str | None
    phone: str | None
    active: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime
    lots: list[LotOut]
    accreditations: list[AccreditationOut]
    commitments: list[CommitmentOut]
    contacts: list[ContactOut]


class SupplierPage(BaseModel):
    """A page of suppliers, ordered by id."""

    items: list[SupplierSummary]
    page: int
    per_page: int
    total: int
    pages: int


# ---------------------------------------------------------------------------------------
# Social value


class ThemeOut(ResponseBody):
    """A theme of the catalogue."""

    code: str
    name: str
    description: str


class OptionOut(ResponseBody):
    """An option buyers can choose, with its proxy £ value per unit."""

    code: str
    theme: str = Field(validation_alias="theme_code")
    title: str
    description: str
    measure: str
    unit: str
    proxy_gbp_per_unit: float
    source: str
    source_year: int | None
    indicative: bool = Field(description="The proxy value is indicative only.")


class CatalogueOut(ResponseBody):
    """The current social-value catalogue."""

    version: str
    published_on: dt.date
    themes: list[ThemeOut]
    options: list[OptionOut]


# ---------------------------------------------------------------------------------------
# Shortlists


class ShortlistCreate(RequestBody):
    """A new draft shortlist for a search."""

    name: _line(200, min_length=1)
    search: SearchInputs


class EntryCreate(RequestBody):
    """Add a supplier; its score comes from re-running the shortlist's search."""

    supplier_id: Id
    reason: _text(MAX_SHORT_TEXT) = ""


class EntryRemoveBody(RequestBody):
    """Why the supplier is removed (or give `reason` in the query string)."""

    reason: _text(MAX_SHORT_TEXT)


class EntryRemoveParams(QueryParams):
    """Why the supplier is removed (or give it in a JSON body)."""

    reason: _text(MAX_SHORT_TEXT) | None = Field(None, description="Why it is removed.")


class ExportParams(QueryParams):
    """Which file format."""

    format: Literal["csv", "xlsx", "pdf", "json"] = "json"


class EntryOut(BaseModel):
    """A supplier on a shortlist, with the score and breakdown it had when added."""

    id: int
    supplier_id: int
    external_id: str | None
    name: str | None
    status: Literal["shortlisted", "removed"]
    rank: int | None
    score: float | None
    breakdown: dict[str, Any] | None
    reason_added: str
    added_at: UtcDatetime | None
    removed_at: UtcDatetime | None
    reason_removed: str | None


class ShortlistSummary(BaseModel):
    """A shortlist in a list."""

    id: int
    name: str
    status: Literal["draft", "locked"]
    organisation_id: int
    created_at: UtcDatetime
    locked_at: UtcDatetime | None
    entry_count: int = Field(description="Suppliers on it now.")
    removed_count: int = Field(description="Suppliers taken off it.")


class ShortlistDetail(BaseModel):
    """A shortlist with its entries (removed ones too, with their reasons)."""

    id: int
    name: str
    notes: str
    status: Literal["draft", "locked"]
    organisation_id: int
    created_at: UtcDatetime
    locked_at: UtcDatetime | None
    search_inputs: dict[str, Any] = Field(description="The search the shortlist was made from.")
    algorithm_version: str | None
    catalogue_version: str | None
    data_hash: str | None = Field(description="sha256 of the ranked data, set when locked.")
    outcome: str | None
    entries: list[EntryOut]


class ShortlistListParams(PageParams):
    """Filter the shortlist list."""

    q: _line(200) | None = Field(None, description="Name contains (case-insensitive).")
    status: Literal["draft", "locked"] | None = Field(None, description="Only drafts, or only "
                                                      "locked shortlists.")
    organisation_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="An admin's token: only this organisation's "
        "shortlists (a member's token always lists its own organisation's).")


class ShortlistList(BaseModel):
    """A page of shortlists, newest first."""

    items: list[ShortlistSummary]
    page: int
    per_page: int
    total: int
    pages: int
