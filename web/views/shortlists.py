"""Shortlists: list, detail, add from a search, edit, remove, lock, outcome (record and
correct), exports.

Who may see what is decided once, in :func:`get_shortlist`: a member sees its own
organisation's shortlists and gets **404** for any other (never 403, which would tell it
the shortlist exists); framework admins may read and export every shortlist but change
none (403). Each view validates its form, calls one operation of
:mod:`web.services.shortlists`, commits, flashes and redirects.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError
from wtforms.fields.choices import SelectChoice

from web.auth import login_required
from web.db_setup import commit_then_redirect, safe_to_run_again
from web.extensions import db
from web.forms.search import load_search_choices, make_search_form
from web.forms.shortlists import (
    NEW_SHORTLIST,
    AddEntryForm,
    CorrectOutcomeForm,
    DeleteForm,
    EditShortlistForm,
    LockForm,
    OutcomeForm,
    RemoveEntryForm,
    ShortlistFilterForm,
    format_money,
)
from web.models import MemberOrganisation, Shortlist, ShortlistEntry, ShortlistStatus, Supplier
from web.models import User as UserRow
from web.postcodes import get_directory
from web.services import exports
from web.services import shortlists as service
from web.services.matching import SearchInputError
from web.services.search_page import page_count, pagination

bp = Blueprint("shortlists", __name__, url_prefix="/shortlists")

#: Where "Add to shortlist" returns to: the search helper's results page.
RESULTS_ENDPOINT = "search.results"
FORM_ERROR_STATUS = 400
MAX_LIST_PAGE = 10_000  # a page number past this is read as this (no huge OFFSET)


def get_shortlist(shortlist_id: int, *, for_update: bool = False) -> Shortlist:
    """The shortlist ``shortlist_id`` if the signed-in user may see it.

    With ``for_update``, the user must also be allowed to change it, and the row is
    locked (``SELECT … FOR UPDATE`` on PostgreSQL) until the request commits, so two
    requests cannot, say, lock and add at once.

    :raise 404: no such shortlist, or one of another organisation.
    :raise 403: an admin asking to change a shortlist (admins only read).
    """
    query = db.select(Shortlist).where(Shortlist.id == shortlist_id)
    if for_update:
        query = query.with_for_update()
    shortlist = db.session.scalar(query)
    if shortlist is None or not service.can_read(g.user, shortlist):
        abort(404)
    if for_update and not service.can_edit(g.user, shortlist):
        abort(403)
    return shortlist


def get_entry(shortlist: Shortlist, entry_id: int) -> ShortlistEntry:
    """An entry of ``shortlist``.

    :raise 404: no such entry on this shortlist.
    """
    entry = db.session.get(ShortlistEntry, entry_id)
    if entry is None or entry.shortlist_id != shortlist.id:
        abort(404)
    return entry


@bp.get("")
@login_required
def index() -> ResponseReturnValue:
    """The organisation's shortlists, newest first (every one, for an admin), a page at a
    time; found by name, status and (for an admin) organisation."""
    form = ShortlistFilterForm(formdata=request.args)
    if g.user.is_admin:
        form.organisation.choices = [SelectChoice("", "All organisations")] + [
            SelectChoice(str(o.id), o.name) for o in db.session.scalars(
                db.select(MemberOrganisation).order_by(MemberOrganisation.name))]
    form.validate()  # a value not offered is ignored below, not an error page
    name = (form.q.data or "").strip() if not form.q.errors else ""
    status = form.status.data if form.status.data in service.SHORTLIST_STATUSES else None
    organisation_id = (int(form.organisation.data) if g.user.is_admin and form.organisation.data
                       and not form.organisation.errors else None)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_LIST_PAGE)
    result = service.list_shortlists(g.user, name=name, status=status,
                                     organisation_id=organisation_id, page=page)
    filters = {"q": name or None, "status": status, "organisation": organisation_id}
    pages = pagination(page, page_count(result.total, service.LIST_PAGE_SIZE),
                       lambda n: url_for(".index", page=n, **filters))
    organisations = _organisation_names({s.organisation_id for s, _, _ in result.rows})
    return render_template("shortlists/index.html", rows=result.rows, total=result.total,
                           filter_form=form, filtered=any(filters.values()), pages=pages,
                           organisations=organisations, search_url=_url_or_none("search.search"))


@bp.route("/add", methods=["GET", "POST"])
@login_required
def add_entry() -> ResponseReturnValue:
    """Add a supplier from a results page to a draft or a new shortlist, re-running the
    search server-side; GET shows the same choice as a page of its own."""
    if g.user.organisation_id is None:
        abort(403)
    form = AddEntryForm(formdata=request.form if request.method == "POST" else request.args)
    drafts = service.draft_shortlists(g.user)
    form.shortlist_id.choices = [
        *(SelectChoice(str(s.id), s.name) for s in drafts),
        SelectChoice(NEW_SHORTLIST, "A new shortlist"),
    ]
    if request.method == "GET" or not form.validate():
        return _add_page(form, drafts)

    existing_id = form.existing_shortlist_id()
    shortlist = get_shortlist(existing_id, for_update=True) if existing_id else None
    directory = get_directory(current_app)
    try:
        params, site_name = _search_params(form.search.data or "", directory)
        result = service.add_from_search(
            actor=g.user, supplier_id=form.supplier_id.data, search_params=params,
            directory=directory, shortlist=shortlist,
            new_shortlist_name=form.new_shortlist_name.data, reason=form.reason.data or "",
            query_string=form.search.data or "", site_name=site_name,
        )
    except service.ShortlistLocked as error:
        form.form_errors.append(str(error))
        return _add_page(form, drafts, status=409)
    except SearchInputError as error:
        form.form_errors.append(
            "The search could not be run again: " + "; ".join(error.errors.values())
        )
        return _add_page(form, drafts)
    except service.ShortlistError as error:
        form.form_errors.append(str(error))
        return _add_page(form, drafts)
    # The message and the way back are made before the commit: after it the objects are
    # expired, and a read cut off by a database restart would answer 503 for an entry
    # that was added.
    supplier = db.session.get(Supplier, result.entry.supplier_id)
    detail_url = url_for(".detail", shortlist_id=result.shortlist.id)
    link = Markup('<a class="govuk-notification-banner__link" href="{}">{}</a>').format(
        detail_url, result.shortlist.name
    )
    message = Markup("Added {} to shortlist {}.").format(supplier.name if supplier else "", link)
    if not result.ranked:
        message += " " + escape(
            "The search did not rank this supplier (it did not match the need or the filters), "
            "so it has no score."
        )
    back = _results_url(form.search.data) if form.search.data else None
    return commit_then_redirect(back or detail_url, message)


@bp.get("/<int:shortlist_id>")
@login_required
def detail(shortlist_id: int) -> ResponseReturnValue:
    """A shortlist: its entries, scores and breakdowns, notes, inputs and audit trail."""
    shortlist = get_shortlist(shortlist_id)
    entries = service.ordered_entries(shortlist)
    suppliers = {
        s.id: s for s in db.session.scalars(
            db.select(Supplier).where(Supplier.id.in_([e.supplier_id for e in entries]))
        )
    }
    people = _user_names(
        shortlist.created_by_id, shortlist.locked_by_id, shortlist.outcome_by_id
    )
    return render_template(
        "shortlists/detail.html",
        shortlist=shortlist,
        entries=entries,
        suppliers=suppliers,
        people=people,
        organisation=db.session.get(MemberOrganisation, shortlist.organisation_id),
        search_summary=service.describe_search(
            shortlist.search_inputs or {}, catalogue_version=shortlist.catalogue_version
        ),
        results_url=_results_url((shortlist.search_inputs or {}).get("query_string") or ""),
        trail=service.audit_trail(shortlist),
        can_edit=service.can_edit(g.user, shortlist),
        data_unchanged=service.verify_data_hash(shortlist),
        supplier_url=lambda supplier_id: _url_or_none(
            "suppliers.profile", supplier_id=supplier_id
        ),
    )


@bp.route("/<int:shortlist_id>/edit", methods=["GET", "POST"])
@login_required
def edit(shortlist_id: int) -> ResponseReturnValue:
    """Rename a draft shortlist and edit its notes."""
    shortlist = get_shortlist(shortlist_id, for_update=True)
    if shortlist.status != ShortlistStatus.DRAFT:
        return _locked(shortlist)
    form = EditShortlistForm(obj=shortlist)
    if form.validate_on_submit():
        try:
            changes = service.update_shortlist(
                shortlist, actor=g.user, name=form.name.data or "", notes=form.notes.data or ""
            )
        except service.ShortlistError as error:
            form.form_errors.append(str(error))
        else:
            return commit_then_redirect(url_for(".detail", shortlist_id=shortlist_id),
                                        "Changes saved." if changes else "Nothing changed.")
    status = FORM_ERROR_STATUS if form.errors else 200
    return render_template("shortlists/edit.html", shortlist=shortlist, form=form), status


@bp.route("/<int:shortlist_id>/entries/<int:entry_id>/remove", methods=["GET", "POST"])
@login_required
def remove_entry(shortlist_id: int, entry_id: int) -> ResponseReturnValue:
    """Remove a supplier from a draft shortlist, with a reason."""
    shortlist = get_shortlist(shortlist_id, for_update=True)
    entry = get_entry(shortlist, entry_id)
    if shortlist.status != ShortlistStatus.DRAFT:
        return _locked(shortlist)
    supplier = db.session.get(Supplier, entry.supplier_id)
    if entry.removed_at is not None:
        flash(f"{supplier.name if supplier else 'That supplier'} has already been removed.")
        return redirect(url_for(".detail", shortlist_id=shortlist.id), code=303)
    form = RemoveEntryForm()
    if form.validate_on_submit():
        try:
            service.remove_entry(entry, actor=g.user, reason=form.reason.data or "")
        except service.ShortlistError as error:
            form.form_errors.append(str(error))
        else:
            return commit_then_redirect(
                url_for(".detail", shortlist_id=shortlist_id),
                f"Removed {supplier.name if supplier else 'the supplier'} from the shortlist.",
            )
    status = FORM_ERROR_STATUS if form.errors else 200
    return render_template(
        "shortlists/remove.html", shortlist=shortlist, entry=entry, supplier=supplier, form=form
    ), status


@bp.route("/<int:shortlist_id>/delete", methods=["GET", "POST"])
@login_required
def delete(shortlist_id: int) -> ResponseReturnValue:
    """Confirm, then delete a draft shortlist (a locked one is kept for good)."""
    shortlist = get_shortlist(shortlist_id, for_update=True)
    if shortlist.status != ShortlistStatus.DRAFT:
        return _locked(shortlist)
    form = DeleteForm()
    if form.validate_on_submit():
        name = shortlist.name
        service.delete_draft(shortlist, actor=g.user)
        return commit_then_redirect(url_for(".index"), f"Draft “{name}” deleted.")
    return render_template("shortlists/delete.html", shortlist=shortlist, form=form,
                           entries=service.active_entries(shortlist))


@bp.route("/<int:shortlist_id>/lock", methods=["GET", "POST"])
@login_required
def lock(shortlist_id: int) -> ResponseReturnValue:
    """Confirm, then lock a shortlist: its snapshot is frozen for good."""
    shortlist = get_shortlist(shortlist_id, for_update=True)
    if shortlist.status != ShortlistStatus.DRAFT:
        return _locked(shortlist)
    form = LockForm()
    if form.validate_on_submit():
        try:
            service.lock_shortlist(shortlist, actor=g.user, directory=get_directory(current_app))
        except service.ShortlistError as error:
            db.session.rollback()
            flash(str(error), "error")
            return redirect(url_for(".detail", shortlist_id=shortlist_id), code=303)
        return commit_then_redirect(url_for(".detail", shortlist_id=shortlist_id),
                                    f"Shortlist “{shortlist.name}” is locked.")
    return render_template(
        "shortlists/lock.html", shortlist=shortlist, form=form,
        entries=service.active_entries(shortlist),
    )


@bp.route("/<int:shortlist_id>/outcome", methods=["GET", "POST"])
@login_required
def outcome(shortlist_id: int) -> ResponseReturnValue:
    """Record what came of a locked shortlist: a supplier awarded, or none suitable."""
    shortlist = get_shortlist(shortlist_id, for_update=True)
    if shortlist.status != ShortlistStatus.LOCKED or shortlist.outcome is not None:
        flash("Lock the shortlist before recording its outcome."
              if shortlist.status != ShortlistStatus.LOCKED
              else "The outcome of this shortlist has already been recorded.")
        return redirect(url_for(".detail", shortlist_id=shortlist.id), code=303)
    form = OutcomeForm()
    _supplier_choices(form, shortlist)
    if form.validate_on_submit():
        try:
            service.record_outcome(
                shortlist, actor=g.user, outcome=form.outcome.data or "",
                awarded_supplier_id=form.awarded_supplier_id(), awarded_value=form.money(),
                note=form.note.data or "",
            )
        except service.ShortlistError as error:
            form.form_errors.append(str(error))
        else:
            return commit_then_redirect(url_for(".detail", shortlist_id=shortlist_id),
                                        "Outcome recorded.")
    status = FORM_ERROR_STATUS if form.errors else 200
    return render_template("shortlists/outcome.html", shortlist=shortlist, form=form), status


@bp.route("/<int:shortlist_id>/outcome/correct", methods=["GET", "POST"])
@login_required
def correct_outcome(shortlist_id: int) -> ResponseReturnValue:
    """Correct the recorded outcome of a locked shortlist, with the reason."""
    shortlist = get_shortlist(shortlist_id, for_update=True)
    if shortlist.status != ShortlistStatus.LOCKED or shortlist.outcome is None:
        flash("A draft shortlist has no outcome to correct."
              if shortlist.status != ShortlistStatus.LOCKED
              else "No outcome has been recorded for this shortlist yet, so there is nothing "
                   "to correct.")
        return redirect(url_for(".detail", shortlist_id=shortlist.id), code=303)
    recorded = {
        "outcome": shortlist.outcome,
        "supplier_id": (str(shortlist.awarded_supplier_id)
                        if shortlist.awarded_supplier_id is not None else None),
        "value": format_money(shortlist.awarded_value),
        "note": shortlist.outcome_note,
    }
    # Prefilled with the recorded outcome; a posted form is read as posted (a field left
    # out is empty, not silently the recorded value).
    form = CorrectOutcomeForm(data=None if request.method == "POST" else recorded)
    _supplier_choices(form, shortlist)
    if form.validate_on_submit():
        try:
            service.correct_outcome(
                shortlist, actor=g.user, reason=form.reason.data or "",
                outcome=form.outcome.data or "", awarded_supplier_id=form.awarded_supplier_id(),
                awarded_value=form.money(), note=form.note.data or "",
            )
        except service.ShortlistError as error:
            form.form_errors.append(str(error))  # checked before anything was changed
        else:
            return commit_then_redirect(
                url_for(".detail", shortlist_id=shortlist_id),
                "Outcome corrected. The outcome as it was and your reason are in the history.",
            )
    status = FORM_ERROR_STATUS if form.errors else 200
    return render_template(
        "shortlists/correct_outcome.html", shortlist=shortlist, form=form,
        awarded=(db.session.get(Supplier, shortlist.awarded_supplier_id)
                 if shortlist.awarded_supplier_id is not None else None),
    ), status


@bp.get("/<int:shortlist_id>/export.<fmt>")
@login_required
@safe_to_run_again  # writes only its audit event
def export(shortlist_id: int, fmt: str) -> ResponseReturnValue:
    """Download the shortlist as CSV, XLSX, PDF or JSON (audited)."""
    shortlist = get_shortlist(shortlist_id)
    if fmt not in exports.FORMATS:
        abort(404)
    file = exports.export_shortlist(shortlist, fmt, actor=g.user)
    db.session.commit()
    response = current_app.response_class(file.data, mimetype=file.mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{file.filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# ---------------------------------------------------------------------------------------
# Helpers of the views above


def _add_page(form: AddEntryForm, drafts: list[Shortlist], *, status: int | None = None
              ) -> ResponseReturnValue:
    supplier_id = form.chosen_supplier_id()
    supplier = db.session.get(Supplier, supplier_id) if supplier_id else None
    if status is None:
        status = FORM_ERROR_STATUS if form.errors else 200
    return render_template(
        "shortlists/add.html", form=form, supplier=supplier, drafts=drafts,
        results_url=_results_url(form.search.data or ""),
    ), status


def _search_params(query_string: str, directory: Any) -> tuple[dict[str, Any], str | None]:
    """The ``parse_search`` params of a results page's query string, and the member's site
    it started from.

    The results page's query string uses the search form's names (``site``, ``radius``,
    ``sv-…``): it is read with that form, exactly as the results page read it. A query
    string of plain ``parse_search`` keys (no ``site``) is read as it is.

    :raise SearchInputError: the search form finds the query string invalid.
    """
    pairs = parse_qsl(query_string.lstrip("?"), keep_blank_values=True)
    if "site" not in {key for key, _ in pairs}:
        return service.search_params_from_query_string(query_string), None
    form = make_search_form(load_search_choices(g.user, directory), MultiDict(pairs))
    if not form.validate():
        raise SearchInputError({name: errors[0] for name, errors in form.errors.items()
                                if errors})
    params = form.to_params(limit=1, offset=0)
    site = form.chosen_site()
    return params, (f"{site.name}, {site.postcode}" if site is not None else None)


def _results_url(query_string: str) -> str | None:
    """The results page for ``query_string``: only for a query string the results page
    made (in its form's names), not plain ``parse_search`` keys, which it cannot read."""
    pairs = parse_qsl(query_string.lstrip("?"), keep_blank_values=True)
    if "site" not in {key for key, _ in pairs}:
        return None
    base = _url_or_none(RESULTS_ENDPOINT)
    return None if base is None else f"{base}?{urlencode(pairs)}"


def _url_or_none(endpoint: str, **values: Any) -> str | None:
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _supplier_choices(form: OutcomeForm, shortlist: Shortlist) -> None:
    """Offer the shortlisted suppliers (not the removed ones) as the awarded supplier."""
    entries = service.active_entries(shortlist)
    names = {s.id: s.name for s in db.session.scalars(
        db.select(Supplier).where(Supplier.id.in_([e.supplier_id for e in entries])))}
    form.supplier_id.choices = [
        SelectChoice(str(e.supplier_id), names.get(e.supplier_id, str(e.supplier_id)))
        for e in entries
    ]


def _locked(shortlist: Shortlist) -> ResponseReturnValue:
    """A change asked of a locked shortlist: say so on its page."""
    flash(str(service.ShortlistLocked(shortlist)), "error")
    return redirect(url_for(".detail", shortlist_id=shortlist.id), code=303)


def _organisation_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(
        db.select(MemberOrganisation.id, MemberOrganisation.name)
        .where(MemberOrganisation.id.in_(ids))
    ).all())


def _user_names(*ids: int | None) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(
        db.select(UserRow.id, UserRow.name).where(UserRow.id.in_(wanted))
    ).all())
