"""Search: the form, and the ranked, explained results (both by GET, so results are links)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from werkzeug.routing import BuildError

from matcher import MatchResult, SearchResponse
from web.auth import login_required
from web.db_setup import commit_without_expiring, safe_to_run_again
from web.extensions import db
from web.forms.search import (
    PRIORITIES,
    RADIUS_CHOICES,
    SearchForm,
    load_search_choices,
    make_search_form,
)
from web.models import Accreditation, Shortlist, ShortlistStatus, Supplier, User
from web.postcodes import PostcodeDirectory, get_directory
from web.services import search_page
from web.services.audit import record_event
from web.services.cpv import cpv_list_loaded
from web.services.cpv import suggest as suggest_cpv
from web.services.matching import (
    SearchInputError,
    SearchLocation,
    index_is_current,
    parse_search,
    run_search,
)

bp = Blueprint("search", __name__)
bp.add_app_template_filter(search_page.format_quantity, "quantity")
bp.add_app_template_filter(search_page.format_gbp, "gbp")
bp.add_app_template_filter(search_page.format_amount, "amount")
bp.add_app_template_filter(search_page.format_proxy, "proxy")

PER_PAGE = 20  # results per page (GOV.UK pagination)
MAX_PAGE = 500  # deeper than anyone reads; keeps offsets sane
# Draft shortlists offered in each result's "Add to shortlist" list: the newest ones. A
# longer list is hard to use, and every one of a page's twenty results repeats it.
MAX_SHORTLIST_CHOICES = 20
CPV_SUGGESTIONS = 10  # codes returned by the autocomplete endpoint
CPV_QUERY_CHARS = 100  # characters of the autocomplete's query read; more is not typing
RESULTS_STATUS_INVALID = 400  # the form is shown again, with its errors


@bp.get("/search")
@login_required
def search() -> ResponseReturnValue:
    """The search form: empty, or filled from a results page's query ("Change search")."""
    choices = load_search_choices(g.user, get_directory(current_app))
    form = make_search_form(choices, request.args or None)
    return render_template("search/search.html", **_form_context(form))


@bp.get("/search/results")
@login_required
@safe_to_run_again  # writes only its audit event
def results() -> ResponseReturnValue:
    """Ranked suppliers for the search in the query string, or the form with its errors."""
    directory = get_directory(current_app)
    form = make_search_form(load_search_choices(g.user, directory), request.args)
    if form.validate():
        try:
            context = run_member_search(form, g.user, directory, page=_page_number())
        except SearchInputError as error:
            form.add_service_errors(error.errors)
        else:
            return render_template("search/results.html", **context)
    return render_template("search/search.html", **_form_context(form)), RESULTS_STATUS_INVALID


@bp.get("/search/cpv-codes")
@login_required
def cpv_codes() -> ResponseReturnValue:
    """CPV codes for what is typed in ``q`` (autocomplete).

    With a CPV list imported (``flask cpv import``): codes starting with ``q``'s digits, or
    whose descriptions hold ``q``'s words, each with its description and the number of
    suppliers holding it or a code below it. Without one: codes held by suppliers on the
    register that start with ``q``'s digits.
    """
    query = request.args.get("q", "")[:CPV_QUERY_CHARS]
    if cpv_list_loaded():
        return jsonify(codes=[
            {"code": s.code, "description": s.description, "suppliers": s.suppliers}
            for s in suggest_cpv(query, limit=CPV_SUGGESTIONS, count_suppliers=True)
        ])
    prefix = "".join(ch for ch in query if ch.isdigit())[:8]
    return jsonify(codes=register_cpv_codes(prefix, limit=CPV_SUGGESTIONS) if prefix else [])


# ---------------------------------------------------------------------------------------
# Helpers of the views above


def _form_context(form: SearchForm) -> dict[str, Any]:
    return {
        "form": form,
        "choices": form.choices,
        "priorities": PRIORITIES,
        "radius_choices": RADIUS_CHOICES,
        "cpv_codes_url": url_for("search.cpv_codes"),
    }


def _page_number() -> int:
    page = request.args.get("page", type=int) or 1
    return min(max(page, 1), MAX_PAGE)


def _url_or_hash(endpoint: str) -> str:
    """URL of ``endpoint``, or "#" while the blueprint providing it is not registered."""
    try:
        return url_for(endpoint)
    except BuildError:
        return "#"


def _search_pairs(form: SearchForm) -> list[tuple[str, str]]:
    """The query string's pairs of the form's fields: the search itself, without the page
    number or parameters the form does not have (which links and the audit trail would
    otherwise carry, whatever their size)."""
    return [(k, v) for k, v in request.args.items(multi=True) if k in form]


@dataclass(frozen=True, slots=True)
class AccreditationView:
    """An accreditation as the results show it."""

    name: str
    expires_on: dt.date | None
    expired: bool


@dataclass(frozen=True, slots=True)
class SupplierFacts:
    """What the results show of a supplier beyond the engine's result (plain data, so it
    outlives the session's commit)."""

    id: int
    latitude: float
    longitude: float
    la_code: str | None
    description: str
    sme: bool
    vcse: bool
    accreditations: tuple[tuple[str, dt.date | None], ...]


@dataclass(frozen=True, slots=True)
class ResultView:
    """One ranked supplier with everything the page shows about it."""

    result: MatchResult
    supplier: SupplierFacts | None
    distance: str
    la_name: str | None
    description: Markup
    waterfall: list[search_page.WaterfallRow]
    accreditations: list[AccreditationView]


def run_member_search(
    form: SearchForm, user: User, directory: PostcodeDirectory, *, page: int
) -> dict[str, Any]:
    """Run the search in ``form`` for ``user``, record it, and build the results page.

    Everything the page shows is read into plain data before the audit event is committed,
    and the commit expires nothing, so the page's header does not load the signed-in user
    again.

    :raise SearchInputError: when the engine's parser refuses an input.
    """
    params = form.to_params(limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    today = dt.date.today()
    query, location = parse_search(params, directory=directory, on_date=today)
    response = run_search(query)

    facts = supplier_facts(r.supplier_id for r in response.results)
    views = [_result_view(r, facts.get(r.supplier_id), directory, today)
             for r in response.results]
    shortlists, draft_count = _draft_shortlists(user)
    pairs = _search_pairs(form)
    _record_search(user, params, pairs, response, page)
    commit_without_expiring()
    pages = search_page.page_count(response.total, PER_PAGE)
    site = form.chosen_site()
    return {
        "form": None,  # no error summary on the results page
        "search_form": form,
        "response": response,
        "index_current": index_is_current(response.data_version),
        "results": views,
        "page": page,
        "pages": pages,
        "first": (page - 1) * PER_PAGE + 1,
        "last": (page - 1) * PER_PAGE + len(views),
        "pagination": search_page.pagination(
            page, pages,
            lambda n: url_for("search.results") + "?" + urlencode([*pairs, ("page", n)]),
        ),
        "change_url": url_for("search.search") + "?" + urlencode(pairs),
        "search_string": urlencode(pairs),
        "location": location,
        "site_label": f"{site.name}, {site.postcode}" if site else location.postcode,
        "la_names": _la_names(query.local_authorities, directory),
        "radius_km": query.radius_km,
        "cpv_codes": query.cpv_codes,
        "contract_value": query.contract_value,
        "site_map": _site_map(location, query.radius_km, views),
        "excluded": [
            (search_page.EXCLUSION_LABELS.get(reason, reason), count)
            for reason, count in response.excluded.items() if count
        ],
        "priorities": form.priority_summary(),
        "shortlists": shortlists,
        "draft_count": draft_count,
        "add_entry_url": _url_or_hash("shortlists.add_entry"),
        "catalogue_version": form.choices.catalogue_version,
    }


def _record_search(user: User, params: dict[str, Any], pairs: list[tuple[str, str]],
                   response: SearchResponse, page: int) -> None:
    details = {
        "inputs": params,
        "query_string": urlencode(pairs),
        "page": page,
        "result_count": response.total,
        "algorithm_version": response.algorithm_version,
        "data_version": response.data_version,
    }
    record_event("search.run", actor=user, organisation_id=user.organisation_id,
                 object_type="search", details=details)


_SUPPLIERS = Supplier.__table__
_ACCREDITATIONS = Accreditation.__table__
_PAGE_SUPPLIERS = sa.select(
    _SUPPLIERS.c.id, _SUPPLIERS.c.latitude, _SUPPLIERS.c.longitude, _SUPPLIERS.c.la_code,
    _SUPPLIERS.c.description, _SUPPLIERS.c.sme, _SUPPLIERS.c.vcse,
).where(_SUPPLIERS.c.id.in_(sa.bindparam("ids", expanding=True)))
_PAGE_ACCREDITATIONS = sa.select(
    _ACCREDITATIONS.c.supplier_id, _ACCREDITATIONS.c.name, _ACCREDITATIONS.c.expires_on,
).where(_ACCREDITATIONS.c.supplier_id.in_(sa.bindparam("ids", expanding=True))).order_by(
    _ACCREDITATIONS.c.supplier_id, _ACCREDITATIONS.c.name,
)


def supplier_facts(ids: Any) -> dict[int, SupplierFacts]:
    """The page's suppliers in two set-wise queries (suppliers, then their accreditations)."""
    wanted = list(ids)
    if not wanted:
        return {}
    # Core statements on the session's connection: plain rows, without the ORM's statement
    # handling (a quarter of these two queries' CPU in a direct comparison).
    connection = db.session.connection()
    accreditations: dict[int, list[tuple[str, dt.date | None]]] = {}
    for supplier_id, name, expires_on in connection.execute(_PAGE_ACCREDITATIONS,
                                                             {"ids": wanted}):
        accreditations.setdefault(supplier_id, []).append((name, expires_on))
    return {
        row.id: SupplierFacts(row.id, row.latitude, row.longitude, row.la_code,
                              row.description or "", row.sme, row.vcse,
                              tuple(accreditations.get(row.id, ())))
        for row in connection.execute(_PAGE_SUPPLIERS, {"ids": wanted})
    }


def _result_view(result: MatchResult, supplier: SupplierFacts | None,
                 directory: PostcodeDirectory, today: dt.date) -> ResultView:
    la_code = supplier.la_code if supplier else None
    return ResultView(
        result=result,
        supplier=supplier,
        distance=search_page.format_distance(result.distance_km),
        la_name=(directory.la_name(la_code) or la_code) if la_code else None,
        description=search_page.highlight(supplier.description if supplier else "",
                                          result.matched_terms),
        waterfall=search_page.waterfall(result.components),
        accreditations=[
            AccreditationView(name, expires_on, expires_on is not None and expires_on < today)
            for name, expires_on in (supplier.accreditations if supplier else ())
        ],
    )


def _la_names(codes: frozenset[str], directory: PostcodeDirectory) -> list[str]:
    return sorted(directory.la_name(code) or code for code in codes)


def _site_map(location: SearchLocation, radius_km: float | None,
              views: list[ResultView]) -> search_page.SiteMap:
    return search_page.site_map(
        (location.latitude, location.longitude),
        [(v.supplier.latitude, v.supplier.longitude, v.result.name, v.result.rank)
         for v in views if v.supplier is not None],
        radius_km=radius_km,
    )


def _draft_shortlists(user: User) -> tuple[list[tuple[int, str]], int]:
    """The organisation's newest draft shortlists (at most ``MAX_SHORTLIST_CHOICES``) and
    how many drafts it has in all."""
    if user.organisation_id is None:
        return [], 0
    drafts = (Shortlist.organisation_id == user.organisation_id,
              Shortlist.status == ShortlistStatus.DRAFT)
    newest = [
        (row.id, row.name)
        for row in db.session.execute(
            sa.select(Shortlist.id, Shortlist.name).where(*drafts)
            .order_by(Shortlist.created_at.desc(), Shortlist.id.desc())
            .limit(MAX_SHORTLIST_CHOICES)
        )
    ]
    if len(newest) < MAX_SHORTLIST_CHOICES:
        return newest, len(newest)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Shortlist).where(*drafts))
    return newest, total or 0


def register_cpv_codes(prefix: str, *, limit: int) -> list[dict[str, Any]]:
    """CPV codes on active suppliers' profiles starting with ``prefix``, most used first.

    The codes are read from the matching index's source rows (a JSON list per supplier),
    so this scans the register: fine for an autocomplete over a few thousand suppliers.
    """
    counts: dict[str, int] = {}
    for codes in db.session.scalars(sa.select(Supplier.cpv_codes).where(Supplier.active.is_(True))):
        for code in codes or ():
            text = str(code)[:8]
            if text.startswith(prefix):
                counts[text] = counts.get(text, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [{"code": code, "suppliers": count} for code, count in ranked]
