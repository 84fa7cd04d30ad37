"""Admin screens: the supplier register (search, view, edit, deactivate, import, duplicates),
lots, the social-value catalogue, member organisations and their sites, users, and the
audit trail.

Every view is for framework admins only (:func:`web.auth.admin_required`: 403 for members).
Each validates its form, calls one operation of :mod:`web.services.admin` (or
:mod:`web.services.dedupe`), commits, flashes and redirects; a refused operation shows the
form again with the reason, status 400.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from wtforms.fields.choices import SelectChoice

from web.auth import admin_required
from web.db_setup import commit_then, commit_then_redirect
from web.extensions import db
from web.forms.admin import (
    AuditFilterForm,
    CatalogueForm,
    ConfirmForm,
    EditUserForm,
    ImportConfirmForm,
    ImportUploadForm,
    LotForm,
    MergeForm,
    NotDuplicateForm,
    OrganisationForm,
    ReasonForm,
    SetPasswordForm,
    SiteForm,
    SupplierForm,
    SupplierSearchForm,
    UserForm,
    UserSearchForm,
    add_error,
)
from web.models import (
    Framework,
    Lot,
    MemberOrganisation,
    Site,
    Supplier,
    User,
)
from web.models.base import utcnow
from web.postcodes import get_directory
from web.services import admin as service
from web.services import dedupe
from web.services import reports as reports_service
from web.services.search_page import page_count, pagination
from web.services.suppliers_import import ImportFileError, ImportReport, import_suppliers

bp = Blueprint("admin", __name__, url_prefix="/admin")

PER_PAGE = 25  # rows per page of the supplier, user and audit lists
PAIRS_PER_PAGE = 50  # suggested duplicate pairs per page
MAX_PAGE = 10_000
FORM_ERROR_STATUS = 400
MIN_REPORT_YEAR, MAX_REPORT_YEAR = 2000, 2999  # financial years a report may be asked for
UPLOAD_FOLDER = "admin-imports"  # under the instance folder


def _page() -> int:
    return min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)


def _pages(page: int, total: int, per_page: int, endpoint: str,
           **args: Any) -> dict[str, Any] | None:
    args = {k: v for k, v in args.items() if v not in (None, "")}
    return pagination(page, page_count(total, per_page),
                      lambda n: url_for(endpoint, page=n, **args))


def _form_page(template: str, form: Any, **context: Any) -> ResponseReturnValue:
    status = FORM_ERROR_STATUS if form.errors else 200
    return render_template(template, form=form, **context), status


# ---------------------------------------------------------------------------------------
# Home


@bp.get("/")
@admin_required
def index() -> ResponseReturnValue:
    """Links to the admin screens and the size of the register."""
    return render_template("admin/index.html", stats=service.register_stats())


# ---------------------------------------------------------------------------------------
# Suppliers


def get_supplier(supplier_id: int) -> Supplier:
    """Any supplier, active or not, with its lists loaded.

    :raise 404: no such supplier.
    """
    supplier = db.session.scalar(
        sa.select(Supplier).where(Supplier.id == supplier_id).options(
            so.selectinload(Supplier.lots).joinedload(Lot.framework),
            so.selectinload(Supplier.accreditations),
            so.selectinload(Supplier.commitments),
            so.selectinload(Supplier.contacts),
        )
    )
    if supplier is None:
        abort(404)
    return supplier


@bp.get("/suppliers")
@admin_required
def suppliers() -> ResponseReturnValue:
    """Search the register by name, external id, company number or postcode."""
    form = SupplierSearchForm(formdata=request.args)
    form.validate()
    query = (form.q.data or "").strip()
    status = form.status.data if form.status.data in service.SUPPLIER_STATUSES else "active"
    page = _page()
    result = db.paginate(service.supplier_search(query, status=status), page=page,
                         per_page=PER_PAGE, error_out=False)
    return render_template(
        "admin/suppliers.html", search_form=form, result=result, query=query,
        pages=_pages(page, result.total or 0, PER_PAGE, ".suppliers", q=query, status=status),
    )


@bp.get("/suppliers/<int:supplier_id>")
@admin_required
def supplier(supplier_id: int) -> ResponseReturnValue:
    """Everything the register holds on one supplier, with its audit trail."""
    supplier = get_supplier(supplier_id)
    events = db.session.scalars(
        service.audit_query(object_type="supplier", object_id=str(supplier.id)).limit(50)
    ).all()
    merged_into = db.session.get(Supplier, supplier.merged_into_id) if supplier.merged_into_id \
        else None
    merged_from = db.session.scalars(
        sa.select(Supplier).where(Supplier.merged_into_id == supplier.id).order_by(Supplier.id)
    ).all()
    return render_template(
        "admin/supplier.html", supplier=supplier, events=events, merged_into=merged_into,
        merged_from=merged_from, people=service.names_of_users(e.actor_id for e in events),
    )


@bp.route("/suppliers/<int:supplier_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_supplier(supplier_id: int) -> ResponseReturnValue:
    """Edit a supplier's fields, contacts, lots, accreditations and commitments."""
    supplier = get_supplier(supplier_id)
    form = SupplierForm()
    form.set_lot_choices(db.session.scalars(
        sa.select(Lot).join(Lot.framework).order_by(Framework.code, Lot.code)).all())
    if request.method == "GET":
        form.fill(supplier)
    elif form.validate_on_submit():
        edit = form.parse(supplier, get_directory(current_app))
        if edit is not None:
            try:
                changes = service.update_supplier(supplier, edit, actor=g.user)
            except service.AdminError as error:
                form.form_errors.append(str(error))
            else:
                return commit_then_redirect(url_for(".supplier", supplier_id=supplier_id),
                                            "Changes saved." if changes else "Nothing changed.")
    return _form_page("admin/supplier_edit.html", form, supplier=supplier)


@bp.route("/suppliers/<int:supplier_id>/deactivate", methods=["GET", "POST"])
@admin_required
def deactivate_supplier(supplier_id: int) -> ResponseReturnValue:
    """Take a supplier off the register, with the reason."""
    return _activation(supplier_id, service.deactivate_supplier, "deactivated")


@bp.route("/suppliers/<int:supplier_id>/reactivate", methods=["GET", "POST"])
@admin_required
def reactivate_supplier(supplier_id: int) -> ResponseReturnValue:
    """Put a deactivated supplier back on the register, with the reason."""
    return _activation(supplier_id, service.reactivate_supplier, "reactivated")


def _activation(supplier_id: int, operation: Callable[..., None],
                done: str) -> ResponseReturnValue:
    supplier = get_supplier(supplier_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            operation(supplier, actor=g.user, reason=form.reason.data or "")
        except service.AdminError as error:
            form.form_errors.append(str(error))
        else:
            return commit_then_redirect(url_for(".supplier", supplier_id=supplier_id),
                                        f"{supplier.name} has been {done}.")
    return _form_page("admin/supplier_activation.html", form, supplier=supplier,
                      deactivating=done == "deactivated")


# ---------------------------------------------------------------------------------------
# Import upload: check (dry run), then import


def _upload_folder() -> Path:
    return Path(current_app.instance_path) / UPLOAD_FOLDER


@bp.route("/suppliers/import", methods=["GET", "POST"])
@admin_required
def import_upload() -> ResponseReturnValue:
    """Upload a supplier file; it is checked (a dry run) before anything is imported."""
    form = ImportUploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            token = service.store_upload(_upload_folder(), upload.stream, upload.filename or "")
        except service.AdminError as error:
            add_error(form.file, str(error))
        else:
            return _check(token, skip_invalid=bool(form.skip_invalid.data))
    return _form_page("admin/import.html", form)


@bp.post("/suppliers/import/check")
@admin_required
def import_check() -> ResponseReturnValue:
    """Check a stored upload again, e.g. choosing to skip its invalid rows."""
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    return _check(form.token.data or "", skip_invalid=form.skipping())


def _check(token: str, *, skip_invalid: bool) -> ResponseReturnValue:
    folder = _upload_folder()
    found = service.find_upload(folder, token)
    if found is None:
        return _upload_gone()
    path, filename = found
    try:
        report = import_suppliers(path, filename=filename, directory=get_directory(current_app),
                                  dry_run=True, skip_invalid=skip_invalid)
    except ImportFileError as error:
        service.discard_upload(folder, token)
        form = ImportUploadForm(formdata=None)
        add_error(form.file, str(error))
        return _form_page("admin/import.html", form)
    finally:
        db.session.rollback()
    _write_rejects(report, folder, token)
    return render_template(
        "admin/import_report.html", report=report, filename=filename, token=token,
        skip_invalid=skip_invalid, form=ImportConfirmForm(formdata=None),
    )


@bp.post("/suppliers/import/confirm")
@admin_required
def import_confirm() -> ResponseReturnValue:
    """Import a checked upload, then delete it."""
    form = ImportConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    folder = _upload_folder()
    token = form.token.data or ""
    found = service.find_upload(folder, token)
    if found is None:
        return _upload_gone()
    path, filename = found
    skip_invalid = form.skipping()
    try:
        report = import_suppliers(path, filename=filename, directory=get_directory(current_app),
                                  skip_invalid=skip_invalid)
    except ImportFileError as error:
        db.session.rollback()
        service.discard_upload(folder, token)
        flash(str(error))
        return redirect(url_for(".import_upload"), code=303)
    if report.aborted:
        # The register changed since the check and a row is now rejected: nothing written.
        db.session.rollback()
        _write_rejects(report, folder, token)
        return render_template(
            "admin/import_report.html", report=report, filename=filename, token=token,
            skip_invalid=skip_invalid, form=ImportConfirmForm(formdata=None), changed=True,
        ), 409
    page = render_template("admin/import_result.html", report=report, filename=filename,
                           token=token)

    def done() -> str:
        service.discard_upload(folder, token)
        _write_rejects(report, folder, token)
        return page

    if not report.written:
        db.session.rollback()
        return done()
    service.record_import(g.user, filename=filename, report=report, skip_invalid=skip_invalid)
    # The page is made before the commit, and the upload kept until after it: cut off in
    # the commit, the import runs again from the same upload if nothing was kept
    return commit_then(done)


def _write_rejects(report: ImportReport, folder: Path, token: str) -> None:
    target = service.rejects_path(folder, token)
    if target is not None and report.rejected:
        report.write_rejects(target)


def _upload_gone() -> ResponseReturnValue:
    flash("That upload is no longer available (it was imported, or is more than a day old). "
          "Upload the file again.")
    return redirect(url_for(".import_upload"), code=303)


@bp.get("/suppliers/import/<token>/rejects.csv")
@admin_required
def import_rejects(token: str) -> ResponseReturnValue:
    """The rejected rows of an upload, with their reasons, as CSV."""
    path = service.rejects_path(_upload_folder(), token)
    if path is None or not path.is_file():
        abort(404)
    # Read whole (at most the upload's size), so no file handle outlives the request.
    return send_file(io.BytesIO(path.read_bytes()), mimetype="text/csv", as_attachment=True,
                     download_name="rejected-rows.csv", max_age=0)


# ---------------------------------------------------------------------------------------
# Duplicates


@bp.get("/duplicates")
@admin_required
def duplicates() -> ResponseReturnValue:
    """Likely duplicate pairs, best first."""
    found = dedupe.suggest_duplicates()
    page = _page()
    start = (page - 1) * PAIRS_PER_PAGE
    return render_template(
        "admin/duplicates.html", found=found,
        pairs=found.pairs[start:start + PAIRS_PER_PAGE], threshold=dedupe.SUGGEST_THRESHOLD,
        pages=_pages(page, len(found.pairs), PAIRS_PER_PAGE, ".duplicates"),
    )


def _pair(first_id: int, second_id: int) -> tuple[Supplier, Supplier]:
    if first_id == second_id:
        abort(404)
    return get_supplier(first_id), get_supplier(second_id)


@bp.get("/duplicates/<int:first_id>/<int:second_id>")
@admin_required
def duplicate_pair(first_id: int, second_id: int) -> ResponseReturnValue:
    """Review a pair side by side: merge it, or mark it as not a duplicate."""
    first, second = _pair(first_id, second_id)
    return _pair_page(first, second, _merge_form(first, second), NotDuplicateForm(prefix="nd"))


def _merge_form(first: Supplier, second: Supplier) -> MergeForm:
    form = MergeForm()
    form.survivor_id.choices = [
        SelectChoice(s.id, f"Keep {s.name} ({s.external_id})") for s in (first, second)
    ]
    return form


def _pair_page(first: Supplier, second: Supplier, merge_form: MergeForm,
               not_duplicate_form: NotDuplicateForm) -> ResponseReturnValue:
    status = FORM_ERROR_STATUS if merge_form.errors or not_duplicate_form.errors else 200
    return render_template(
        "admin/duplicate_pair.html", first=first, second=second,
        pair=dedupe.compare_suppliers(first, second), form=merge_form,
        not_duplicate_form=not_duplicate_form,
        ruled_out=dedupe.is_ruled_out(first.id, second.id),
    ), status


@bp.post("/duplicates/<int:first_id>/<int:second_id>/merge")
@admin_required
def merge(first_id: int, second_id: int) -> ResponseReturnValue:
    """Merge the pair into the chosen survivor."""
    first, second = _pair(first_id, second_id)
    form = _merge_form(first, second)
    if form.validate_on_submit():
        survivor, merged = (first, second) if form.survivor_id.data == first.id \
            else (second, first)
        try:
            result = dedupe.merge_suppliers(survivor, merged, actor=g.user,
                                            reason=form.reason.data or "")
        except service.AdminError as error:
            form.form_errors.append(str(error))
        else:
            moved = len(result.repointed_entries) + len(result.removed_entries)
            return commit_then_redirect(
                url_for(".supplier", supplier_id=survivor.id),
                f"Merged {merged.name} into {survivor.name}."
                + (f" {moved} shortlist entr{'ies' if moved != 1 else 'y'} updated." if moved
                   else ""),
            )
    return _pair_page(first, second, form, NotDuplicateForm(prefix="nd", formdata=None))


@bp.post("/duplicates/<int:first_id>/<int:second_id>/not-duplicate")
@admin_required
def not_duplicate(first_id: int, second_id: int) -> ResponseReturnValue:
    """Remember that the pair are different suppliers."""
    first, second = _pair(first_id, second_id)
    form = NotDuplicateForm(prefix="nd")
    if form.validate_on_submit():
        try:
            dedupe.mark_not_duplicate(first, second, actor=g.user, reason=form.reason.data or "")
        except service.AdminError as error:
            form.form_errors.append(str(error))
        else:
            return commit_then_redirect(
                url_for(".duplicates"),
                f"{first.name} and {second.name} will not be suggested as duplicates again.")
    merge_form = _merge_form(first, second)
    merge_form.process(formdata=None)
    return _pair_page(first, second, merge_form, form)


# ---------------------------------------------------------------------------------------
# Lots


def _framework_choices(form: LotForm) -> None:
    form.framework_id.choices = [
        SelectChoice(f.id, f"{f.code}: {f.name}") for f in service.frameworks()
    ]


@bp.get("/lots")
@admin_required
def lots() -> ResponseReturnValue:
    """Every lot of every framework, with its number of active suppliers."""
    return render_template("admin/lots.html", rows=service.lots_with_counts(),
                           has_frameworks=bool(service.frameworks()))


@bp.route("/lots/new", methods=["GET", "POST"])
@admin_required
def new_lot() -> ResponseReturnValue:
    """Add a lot to a framework."""
    form = LotForm()
    _framework_choices(form)
    if form.validate_on_submit():
        framework = db.session.get(Framework, form.framework_id.data)
        try:
            if framework is None:
                raise service.AdminError("Choose a framework")
            lot = service.create_lot(framework=framework, code=form.code.data or "",
                                     name=form.name.data or "",
                                     description=form.description.data or "", actor=g.user)
        except service.AdminError as error:
            form.form_errors.append(str(error))
        else:
            return commit_then_redirect(url_for(".lots"), f"Added lot {lot.code}: {lot.name}.")
    return _form_page("admin/lot_form.html", form, lot=None)


@bp.route("/lots/<int:lot_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_lot(lot_id: int) -> ResponseReturnValue:
    """Rename a lot or change its description."""
    lot = db.get_or_404(Lot, lot_id)
    form = LotForm(obj=lot)
    _framework_choices(form)
    form.framework_id.data = lot.framework_id
    form.code.data = lot.code  # fixed: shown, not editable
    if form.validate_on_submit():
        try:
            changes = service.update_lot(lot, name=form.name.data or "",
                                         description=form.description.data or "", actor=g.user)
        except service.AdminError as error:
            form.form_errors.append(str(error))
        else:
            return commit_then_redirect(url_for(".lots"),
                                        "Lot saved." if changes else "Nothing changed.")
    return _form_page("admin/lot_form.html", form, lot=lot)


# ---------------------------------------------------------------------------------------
# The social-value catalogue


@bp.get("/catalogue")
@admin_required
def catalogue() -> ResponseReturnValue:
    """Every catalogue version, with how many shortlists used it."""
    return render_template("admin/catalogue.html", versions=service.catalogue_versions())


@bp.route("/catalogue/new", methods=["GET", "POST"])
@admin_required
def new_catalogue_version() -> ResponseReturnValue:
    """A new version, started as a copy of the current one; published as a new version."""
    form = CatalogueForm()
    if request.method == "GET":
        form.catalogue_json.data = service.catalogue_draft()
    elif form.validate_on_submit():
        try:
            published = service.publish_catalogue(form.catalogue_json.data or "", actor=g.user)
        except service.AdminError as error:
            add_error(form.catalogue_json, str(error))
        else:
            return commit_then_redirect(
                url_for(".catalogue"),
                f"Published catalogue version {published.version}; new searches use it.")
    return _form_page("admin/catalogue_new.html", form)


# ---------------------------------------------------------------------------------------
# Member organisations and sites


@bp.get("/organisations")
@admin_required
def organisations() -> ResponseReturnValue:
    """Member organisations, with their sites and users counted."""
    rows = db.session.execute(
        sa.select(MemberOrganisation,
                  sa.select(sa.func.count(Site.id)).where(
                      Site.organisation_id == MemberOrganisation.id).scalar_subquery(),
                  sa.select(sa.func.count(User.id)).where(
                      User.organisation_id == MemberOrganisation.id).scalar_subquery())
        .order_by(MemberOrganisation.name)
    ).all()
    return render_template("admin/organisations.html", rows=rows)


@bp.route("/organisations/new", methods=["GET", "POST"])
@admin_required
def new_organisation() -> ResponseReturnValue:
    """Add a member organisation."""
    form = OrganisationForm()
    if form.validate_on_submit():
        try:
            organisation = service.create_organisation(
                name=form.name.data or "", kind=form.type.data or "", actor=g.user)
        except service.AdminError as error:
            add_error(form.name, str(error))
        else:
            return commit_then_redirect(
                url_for(".organisation", organisation_id=organisation.id),
                f"Added {organisation.name}.")
    return _form_page("admin/organisation_form.html", form, organisation=None)


@bp.get("/organisations/<int:organisation_id>")
@admin_required
def organisation(organisation_id: int) -> ResponseReturnValue:
    """An organisation: its details, sites and users."""
    organisation = db.get_or_404(MemberOrganisation, organisation_id)
    return render_template("admin/organisation.html", organisation=organisation,
                           directory=get_directory(current_app))


@bp.route("/organisations/<int:organisation_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_organisation(organisation_id: int) -> ResponseReturnValue:
    """Rename an organisation or change its type."""
    organisation = db.get_or_404(MemberOrganisation, organisation_id)
    form = OrganisationForm(obj=organisation)
    if request.method == "GET":
        form.type.data = organisation.type.value
    if form.validate_on_submit():
        try:
            changes = service.update_organisation(
                organisation, name=form.name.data or "", kind=form.type.data or "",
                actor=g.user)
        except service.AdminError as error:
            add_error(form.name, str(error))
        else:
            return commit_then_redirect(
                url_for(".organisation", organisation_id=organisation_id),
                "Organisation saved." if changes else "Nothing changed.")
    return _form_page("admin/organisation_form.html", form, organisation=organisation)


@bp.route("/organisations/<int:organisation_id>/sites/new", methods=["GET", "POST"])
@admin_required
def new_site(organisation_id: int) -> ResponseReturnValue:
    """Add a site, placed by looking up its postcode."""
    organisation = db.get_or_404(MemberOrganisation, organisation_id)
    form = SiteForm()
    if form.validate_on_submit():
        try:
            location = service.locate(form.postcode.data or "", get_directory(current_app))
        except service.AdminError as error:
            add_error(form.postcode, str(error))
        else:
            try:
                site = service.add_site(organisation, name=form.name.data or "",
                                        location=location, actor=g.user)
            except service.AdminError as error:
                add_error(form.name, str(error))
            else:
                return commit_then_redirect(
                    url_for(".organisation", organisation_id=organisation_id),
                    f"Added the site {site.name} ({site.postcode}).")
    return _form_page("admin/site_form.html", form, organisation=organisation)


@bp.route("/organisations/<int:organisation_id>/sites/<int:site_id>/remove",
          methods=["GET", "POST"])
@admin_required
def remove_site(organisation_id: int, site_id: int) -> ResponseReturnValue:
    """Remove a site, after confirming."""
    organisation = db.get_or_404(MemberOrganisation, organisation_id)
    site = db.session.get(Site, site_id)
    if site is None or site.organisation_id != organisation.id:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = site.name
        service.remove_site(site, actor=g.user)
        return commit_then_redirect(url_for(".organisation", organisation_id=organisation_id),
                                    f"Removed the site {name}.")
    return render_template("admin/site_remove.html", form=form, organisation=organisation,
                           site=site)


# ---------------------------------------------------------------------------------------
# Users


@bp.get("/users")
@admin_required
def users() -> ResponseReturnValue:
    """Every user, by name; or those whose name or email address holds ``q``."""
    search_form = UserSearchForm(formdata=request.args)
    search_form.validate()
    query = (search_form.q.data or "").strip() if not search_form.q.errors else ""
    page = _page()
    result = db.paginate(service.user_search(query), page=page, per_page=PER_PAGE,
                         error_out=False)
    return render_template("admin/users.html", result=result, form=ConfirmForm(),
                           search_form=search_form, query=query,
                           pages=_pages(page, result.total or 0, PER_PAGE, ".users", q=query))


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def new_user() -> ResponseReturnValue:
    """Add a member user or a framework admin."""
    form = UserForm()
    _organisation_choices(form)
    if form.validate_on_submit():
        try:
            user = service.add_user(
                email=form.email.data or "", name=form.name.data or "",
                role=form.role.data or "", organisation=_chosen_organisation(form),
                password=form.password.data or "", actor=g.user,
            )
        except service.AdminError as error:
            form.form_errors.append(str(error))
        else:
            return commit_then_redirect(url_for(".users"), f"Added {user.name} ({user.email}).")
    return _form_page("admin/user_form.html", form)


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int) -> ResponseReturnValue:
    """Change a user's name, email address, role or organisation."""
    user = db.get_or_404(User, user_id)
    form = EditUserForm(obj=user)
    _organisation_choices(form)
    if request.method == "GET":
        form.role.data = user.role.value
        form.organisation_id.data = str(user.organisation_id or "")
    if form.validate_on_submit():
        try:
            changes = service.update_user(
                user, email=form.email.data or "", name=form.name.data or "",
                role=form.role.data or "", organisation=_chosen_organisation(form),
                actor=g.user,
            )
        except service.AdminError as error:
            form.form_errors.append(str(error))
        else:
            return commit_then_redirect(
                url_for(".users"), f"Saved {user.name} ({user.email})." if changes
                else "Nothing changed.")
    return _form_page("admin/user_form.html", form, user=user)


def _organisation_choices(form: EditUserForm) -> None:
    form.organisation_id.choices = [SelectChoice("", "None (framework staff)")] + [
        SelectChoice(str(o.id), o.name) for o in service.organisations()
    ]


def _chosen_organisation(form: EditUserForm) -> MemberOrganisation | None:
    return (db.session.get(MemberOrganisation, int(form.organisation_id.data))
            if form.organisation_id.data else None)


@bp.post("/users/<int:user_id>/deactivate")
@admin_required
def deactivate_user(user_id: int) -> ResponseReturnValue:
    """Stop a user signing in."""
    return _user_active(user_id, active=False)


@bp.post("/users/<int:user_id>/reactivate")
@admin_required
def reactivate_user(user_id: int) -> ResponseReturnValue:
    """Let a deactivated user sign in again."""
    return _user_active(user_id, active=True)


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@admin_required
def set_user_password(user_id: int) -> ResponseReturnValue:
    """Give a user who has forgotten their password a new one (your own is changed on your
    account page, which asks for the current one)."""
    user = db.get_or_404(User, user_id)
    if user.id == g.user.id:
        return redirect(url_for("account.password"))
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            service.set_user_password(user, form.new_password.data or "", actor=g.user)
        except service.AdminError as error:
            form.new_password.errors = [str(error)]
        else:
            return commit_then_redirect(
                url_for(".users"),
                f"New password set for {user.name}. Give it to them securely: they are "
                "signed out wherever they were signed in.")
    return _form_page("admin/user_password.html", form, user=user)


def _user_active(user_id: int, *, active: bool) -> ResponseReturnValue:
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        changed = service.set_user_active(user, active, actor=g.user)
    except service.AdminError as error:
        flash(str(error))
    else:
        return commit_then_redirect(
            url_for(".users"),
            f"{user.name} has been {'reactivated' if active else 'deactivated'}." if changed
            else None)
    return redirect(url_for(".users"), code=303)


# ---------------------------------------------------------------------------------------
# The audit trail


@bp.get("/audit")
@admin_required
def audit() -> ResponseReturnValue:
    """Every recorded change, newest first, filterable by action and object."""
    form = AuditFilterForm(formdata=request.args)
    actions, types = service.audit_choices()
    form.action.choices = [SelectChoice("", "Any action")] + [SelectChoice(a, a) for a in actions]
    form.object_type.choices = [SelectChoice("", "Any object")] + [
        SelectChoice(t, t) for t in types]
    form.validate()
    action = form.action.data if form.action.data in actions else ""
    object_type = form.object_type.data if form.object_type.data in types else ""
    object_id = (form.object_id.data or "").strip()[:100]
    page = _page()
    result = db.paginate(
        service.audit_query(action=action, object_type=object_type, object_id=object_id),
        page=page, per_page=PER_PAGE, error_out=False,
    )
    events = list(result.items)
    return render_template(
        "admin/audit.html", filter_form=form, events=events, total=result.total or 0,
        people=service.names_of_users(e.actor_id for e in events),
        pages=_pages(page, result.total or 0, PER_PAGE, ".audit", action=action,
                     object_type=object_type, object_id=object_id),
    )


@bp.app_template_filter("admin_value")
def admin_value(value: Any) -> str:
    """An audit value as short text: lists joined, None as a dash."""
    if value is None or value == "":
        return "–"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value) or "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)



# ---------------------------------------------------------------------------------------
# Reports


@bp.get("/reports")
@admin_required
def reports() -> ResponseReturnValue:
    """The outcomes report of a financial year (the current one unless ``year`` is given)."""
    years = reports_service.years_with_outcomes(utcnow().date())
    year = request.args.get("year", type=int)
    year = year if year in years else years[0]
    rows = reports_service.outcome_rows(year)
    summaries, total = reports_service.summarise(rows)
    return render_template("admin/reports.html", year=year, years=years, rows=rows,
                           summaries=summaries, total=total)


@bp.get("/reports/outcomes-<int:year>.csv")
@admin_required
def reports_csv(year: int) -> ResponseReturnValue:
    """Every outcome of financial year ``year``, one a line, for a spreadsheet."""
    if not MIN_REPORT_YEAR <= year <= MAX_REPORT_YEAR:
        abort(404)
    response = current_app.response_class(
        reports_service.outcomes_csv(reports_service.outcome_rows(year)),
        mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="framework-outcomes-{year}-{(year + 1) % 100:02d}.csv"')
    return response
