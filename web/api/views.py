"""The API's endpoints. Each parses (done by :func:`~web.api.routing.operation`), calls the
service, commits when it changed something, and answers with a response schema.

Access: a token acts as its user. Members see active suppliers and their own
organisation's shortlists; another organisation's shortlist is a 404, never a 403, so its
existence is not revealed. Framework admins' tokens read everything (inactive suppliers and
every organisation's shortlists) but change no shortlist (403).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Response, current_app, jsonify
from pydantic import BaseModel

from web.api import schemas as s
from web.api.blueprint import bp
from web.api.openapi import build_document
from web.api.problems import ApiProblem
from web.api.routing import json_reply, operation
from web.db_setup import commit_then, safe_to_run_again
from web.extensions import db
from web.models import Lot, Shortlist, ShortlistEntry, Supplier, User
from web.postcodes import get_directory
from web.services import exports
from web.services import shortlists as shortlist_service
from web.services.audit import record_event
from web.services.catalogue import current_catalogue
from web.services.matching import (
    SearchInputError,
    index_is_current,
    parse_search,
    result_to_dict,
    run_search,
)
from web.services.queries import contains

SHORTLIST_ID = {"shortlist_id": "The shortlist's id."}

# ---------------------------------------------------------------------------------------
# Search


@operation(bp, "POST", "/search", tag="Search", body=s.SearchRequest, response=s.SearchResponse)
@safe_to_run_again  # writes only its audit event (and the token's last use)
def search(*, user: User, body: s.SearchRequest) -> Response:
    """Rank suppliers for a need

    Every result carries its score breakdown (component → value → weight → contribution).
    The search is recorded in the audit trail as `search.run`.
    """
    params = body.to_params()
    query, location = _parse_search(params)
    response = run_search(query)
    record_event(
        "search.run", actor=user, organisation_id=user.organisation_id, object_type="search",
        details={"via": "api", "inputs": params, "result_count": response.total,
                 "algorithm_version": response.algorithm_version,
                 "data_version": response.data_version},
    )
    db.session.commit()
    # Built as plain data in the documented shape (SearchResponse; a test holds the two
    # together) rather than validated again field by field: the results come from our own
    # engine, and re-validating them cost more CPU than the ranking of a local search.
    return jsonify({
        "results": [result_to_dict(r) for r in response.results],
        "total": response.total, "limit": query.limit, "offset": query.offset,
        "algorithm_version": response.algorithm_version,
        "data_version": response.data_version,
        "index_current": index_is_current(response.data_version),
        "location": {
            "latitude": location.latitude, "longitude": location.longitude,
            "postcode": location.postcode, "la_code": location.la_code,
            "la_name": location.la_name,
        },
        "excluded": dict(response.excluded), "interpretation": list(response.interpretation),
    })


# ---------------------------------------------------------------------------------------
# Suppliers


@operation(bp, "GET", "/suppliers", tag="Suppliers", query=s.SupplierListParams,
           response=s.SupplierPage)
def list_suppliers(*, user: User, query: s.SupplierListParams) -> s.SupplierPage:
    """List suppliers, ordered by id

    Pages are stable: ordering is by id, so a supplier added meanwhile lands on the last
    page. Members see active suppliers; admins see all.
    """
    stmt = sa.select(Supplier).options(so.selectinload(Supplier.lots)).order_by(Supplier.id)
    if not user.is_admin:
        stmt = stmt.where(Supplier.active.is_(True))
    if query.q:
        stmt = stmt.where(contains(Supplier.name, query.q))
    if query.lot:
        stmt = stmt.where(Supplier.lots.any(Lot.code == query.lot))
    page = db.paginate(stmt, page=query.page, per_page=query.per_page, error_out=False)
    return s.SupplierPage(
        items=[
            s.SupplierSummary.model_validate({
                **_columns(supplier, s.SupplierSummary, exclude={"lots"}),
                "lots": [lot.code for lot in supplier.lots],
            })
            for supplier in page.items
        ],
        page=query.page, per_page=query.per_page, total=page.total or 0, pages=page.pages,
    )


@operation(bp, "GET", "/suppliers/<id:supplier_id>", tag="Suppliers", response=s.SupplierDetail,
           path_params={"supplier_id": "The supplier's id."}, errors=(404,))
def get_supplier(*, user: User, supplier_id: int) -> s.SupplierDetail:
    """A supplier's full profile

    With lots, accreditations (with expiry), social-value commitments and contacts.
    """
    supplier = db.session.get(Supplier, supplier_id)
    if supplier is None or not (supplier.active or user.is_admin):
        raise ApiProblem(404, "There is no supplier with that id.")
    today = dt.date.today()
    return s.SupplierDetail.model_validate({
        **_columns(supplier, s.SupplierDetail,
                   exclude={"lots", "accreditations", "commitments", "contacts"}),
        "lots": supplier.lots,
        "accreditations": [
            {"name": a.name, "expires_on": a.expires_on, "valid": a.is_valid_on(today)}
            for a in supplier.accreditations
        ],
        "commitments": supplier.commitments,
        "contacts": supplier.contacts,
    })


# ---------------------------------------------------------------------------------------
# Social value


@operation(bp, "GET", "/social-value-options", tag="Social value", response=s.CatalogueOut,
           errors=(404,))
def social_value_options(*, user: User) -> s.CatalogueOut:
    """The current social-value catalogue, with its version

    Use the option codes in a search's `social_value`.
    """
    catalogue = current_catalogue()
    if catalogue is None:
        raise ApiProblem(404, "No social-value catalogue has been published yet.")
    return s.CatalogueOut.model_validate(catalogue)


# ---------------------------------------------------------------------------------------
# Shortlists


@operation(bp, "GET", "/shortlists", tag="Shortlists", query=s.ShortlistListParams,
           response=s.ShortlistList)
def list_shortlists(*, user: User, query: s.ShortlistListParams) -> s.ShortlistList:
    """Your organisation's shortlists, newest first, a page at a time

    An admin's token lists every organisation's (or `organisation_id`'s). Filter by name
    (`q`) and `status`; `total` counts every match.
    """
    result = shortlist_service.list_shortlists(
        user, name=query.q or "", status=query.status, organisation_id=query.organisation_id,
        page=query.page, per_page=query.per_page)
    return s.ShortlistList(
        items=[
            s.ShortlistSummary(
                id=shortlist.id, name=shortlist.name, status=shortlist.status.value,
                organisation_id=shortlist.organisation_id, created_at=shortlist.created_at,
                locked_at=shortlist.locked_at, entry_count=active, removed_count=removed,
            )
            for shortlist, active, removed in result.rows
        ],
        page=query.page, per_page=query.per_page, total=result.total,
        pages=-(-result.total // query.per_page),  # as the supplier list: 0 when empty
    )


@operation(bp, "POST", "/shortlists", tag="Shortlists", status=201, body=s.ShortlistCreate,
           response=s.ShortlistDetail, errors=(403,))
def create_shortlist(*, user: User, body: s.ShortlistCreate) -> s.ShortlistDetail:
    """Start a draft shortlist from a search

    The search is run now; its inputs (with the resolved location) are kept, and suppliers
    added later are scored by re-running it.
    """
    if user.organisation_id is None:
        raise ApiProblem(403, "Only members of an organisation can keep shortlists.")
    params = body.search.to_params()
    query, location = _parse_search(params, prefix="search")
    response = run_search(query)
    shortlist = _shortlist_call(
        shortlist_service.create_shortlist, name=body.name, actor=user,
        search_inputs=shortlist_service.search_inputs(params, query, location),
        search_total=response.total,
    )
    return _commit_then(_shortlist_detail(shortlist), status=201)


@operation(bp, "GET", "/shortlists/<id:shortlist_id>", tag="Shortlists",
           response=s.ShortlistDetail, path_params=SHORTLIST_ID, errors=(404,))
def get_shortlist(*, user: User, shortlist_id: int) -> s.ShortlistDetail:
    """A shortlist with its entries

    Removed entries are included, with their reasons.
    """
    return _shortlist_detail(_readable_shortlist(shortlist_id, user))


@operation(bp, "POST", "/shortlists/<id:shortlist_id>/entries", tag="Shortlists", status=201,
           body=s.EntryCreate, response=s.EntryOut, path_params=SHORTLIST_ID,
           errors=(403, 404, 409))
def add_entry(*, user: User, shortlist_id: int, body: s.EntryCreate) -> s.EntryOut:
    """Add a supplier to a draft shortlist

    The shortlist's search is re-run on the server and the supplier's rank, score and
    breakdown stored from it (a supplier the search does not rank is added unscored).
    Scores are never taken from the request.
    """
    shortlist = _readable_shortlist(shortlist_id, user, for_update=True)
    result = _shortlist_call(
        shortlist_service.add_from_search,
        actor=user, supplier_id=body.supplier_id, shortlist=shortlist, reason=body.reason,
        search_params=(shortlist.search_inputs or {}).get("params") or {},
        directory=get_directory(current_app),
    )
    return _commit_then(_entry_out(result.entry), status=201)


@operation(bp, "DELETE", "/shortlists/<id:shortlist_id>/entries/<id:entry_id>",
           tag="Shortlists", body=s.EntryRemoveBody, body_required=False,
           query=s.EntryRemoveParams, response=s.EntryOut,
           path_params={**SHORTLIST_ID, "entry_id": "The entry's id."}, errors=(403, 404, 409))
def remove_entry(
    *, user: User, shortlist_id: int, entry_id: int, body: s.EntryRemoveBody | None,
    query: s.EntryRemoveParams,
) -> s.EntryOut:
    """Take a supplier off a draft shortlist

    A reason is required, in the JSON body or the `reason` query parameter. The entry is
    kept, marked removed with the reason.
    """
    reason = body.reason if body is not None else query.reason
    if not (reason or "").strip():
        raise ApiProblem(422, "Say why the supplier is removed.",
                         errors=[{"field": "reason", "message": "is required"}])
    shortlist = _readable_shortlist(shortlist_id, user, for_update=True)
    entry = db.session.get(ShortlistEntry, entry_id)
    if entry is None or entry.shortlist_id != shortlist.id:
        raise ApiProblem(404, "There is no such entry on this shortlist.")
    _shortlist_call(shortlist_service.remove_entry, entry, actor=user, reason=reason or "")
    return _commit_then(_entry_out(entry), status=200)


@operation(bp, "POST", "/shortlists/<id:shortlist_id>/lock", tag="Shortlists",
           response=s.ShortlistDetail, path_params=SHORTLIST_ID,
           errors=(403, 404, 409, 422, 503))
def lock_shortlist(*, user: User, shortlist_id: int) -> s.ShortlistDetail:
    """Lock a shortlist for good

    Re-scores the entries with the shortlist's own search on today's data, then freezes a
    snapshot with the algorithm, catalogue and data versions and a data hash. A shortlist
    with no supplier on it is refused (422). Right after a change to a large register,
    while the register is reindexed, the answer can be 503 with `Retry-After`: try again
    then.
    """
    shortlist = _readable_shortlist(shortlist_id, user, for_update=True)
    _shortlist_call(shortlist_service.lock_shortlist, shortlist, actor=user,
                    directory=get_directory(current_app))
    return _commit_then(_shortlist_detail(shortlist), status=200)


@operation(bp, "DELETE", "/shortlists/<id:shortlist_id>", tag="Shortlists", status=204,
           path_params=SHORTLIST_ID, errors=(403, 404, 409))
def delete_shortlist(*, user: User, shortlist_id: int) -> Response:
    """Delete a draft shortlist

    The draft and its entries are deleted. The audit trail keeps a `shortlist.deleted`
    event with its name, creator and entries. A locked shortlist is a record of a
    decision and is never deleted (409).
    """
    shortlist = _readable_shortlist(shortlist_id, user, for_update=True)
    _shortlist_call(shortlist_service.delete_draft, shortlist, actor=user)
    reply = current_app.response_class(status=204)
    return commit_then(lambda: reply)


@operation(
    bp, "GET", "/shortlists/<id:shortlist_id>/export", tag="Shortlists", query=s.ExportParams,
    path_params=SHORTLIST_ID, errors=(404,),
    media_types={
        "application/json": {"type": "object"},
        "text/csv": {"type": "string"},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
        "application/pdf": {},
    },
)
@safe_to_run_again  # writes only its audit event
def export_shortlist(*, user: User, shortlist_id: int, query: s.ExportParams) -> Response:
    """Download a shortlist as CSV, XLSX, PDF or JSON

    Each carries the reproducibility pack (inputs, weights, versions, data hash). The
    export is recorded in the audit trail.
    """
    shortlist = _readable_shortlist(shortlist_id, user)
    file = exports.export_shortlist(shortlist, query.format, actor=user)
    db.session.commit()
    response = current_app.response_class(file.data, mimetype=file.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{file.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------------------
# The document


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of this API (no token needed)."""
    return jsonify(build_document())


# ---------------------------------------------------------------------------------------
# Helpers


def _parse_search(params: dict[str, Any], *, prefix: str = "") -> Any:
    """``parse_search`` on ``params``; its refusals become a 422 naming body fields."""
    try:
        return parse_search(params, directory=get_directory(current_app))
    except SearchInputError as error:
        errors = []
        for key, message in error.errors.items():
            path = s.SEARCH_FIELD_PATHS.get(key, key)
            errors.append({"field": ".".join(p for p in (prefix, path) if p), "message": message})
        raise ApiProblem(422, "The search inputs are invalid: see errors.",
                         errors=errors) from None


def _readable_shortlist(shortlist_id: int, user: User, *, for_update: bool = False) -> Shortlist:
    """The shortlist if ``user`` may read it (and change it, ``for_update``; the row is then
    locked until commit, as the web views do).

    :raise ApiProblem: 404 unknown or another organisation's; 403 an admin changing one.
    """
    stmt = sa.select(Shortlist).where(Shortlist.id == shortlist_id)
    if for_update:
        stmt = stmt.with_for_update()
    shortlist = db.session.scalar(stmt)
    if shortlist is None or not shortlist_service.can_read(user, shortlist):
        raise ApiProblem(404, "There is no shortlist with that id.")
    if for_update and not shortlist_service.can_edit(user, shortlist):
        raise ApiProblem(403, "Only members of the shortlist's organisation can change it.")
    return shortlist


def _shortlist_call(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a shortlist operation; its refusals become problems (409 locked, 503 while the
    register is reindexed, 422 else)."""
    try:
        return function(*args, **kwargs)
    except shortlist_service.ShortlistLocked as error:
        raise ApiProblem(409, str(error)) from None
    except shortlist_service.ShortlistBusy as error:
        raise ApiProblem(503, str(error), headers={
            "Retry-After": str(shortlist_service.ShortlistBusy.retry_after_s)}) from None
    except shortlist_service.ShortlistError as error:
        raise ApiProblem(422, str(error)) from None
    except SearchInputError as error:
        raise ApiProblem(422, f"The shortlist's search can no longer run: {error}") from None


def _shortlist_detail(shortlist: Shortlist) -> s.ShortlistDetail:
    return s.ShortlistDetail(
        id=shortlist.id, name=shortlist.name, notes=shortlist.notes,
        status=shortlist.status.value, organisation_id=shortlist.organisation_id,
        created_at=shortlist.created_at, locked_at=shortlist.locked_at,
        search_inputs=shortlist.search_inputs or {},
        algorithm_version=shortlist.algorithm_version,
        catalogue_version=shortlist.catalogue_version, data_hash=shortlist.data_hash,
        outcome=shortlist.outcome,
        entries=[_entry_out(e) for e in shortlist_service.ordered_entries(shortlist)],
    )


def _commit_then(answer: BaseModel, *, status: int) -> Response:
    """Commit, and answer with ``answer`` (built before the commit) as JSON.

    Through :func:`web.db_setup.commit_then`: a write reads nothing after its commit, and
    one whose commit a database restart cuts off answers with this response if its first
    audit event shows the commit went through, or runs again if not.
    """
    reply = json_reply(answer, status)
    return commit_then(lambda: reply)


def _entry_out(entry: ShortlistEntry) -> s.EntryOut:
    return s.EntryOut.model_validate({**shortlist_service.entry_record(entry), "id": entry.id})


def _columns(obj: Any, model: type[BaseModel], *, exclude: set[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in model.model_fields if name not in exclude}


