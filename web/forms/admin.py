"""Forms of the admin screens: suppliers, the import upload, lots, the catalogue,
organisations, sites, users, the audit filter and duplicate review.

Shape checks (required, length) are WTForms validators; the supplier form's cells are
parsed by :meth:`SupplierForm.parse` with the service's parsers (the importer's rules), so
the form and a spreadsheet row accept the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovFileInput,
    GovPasswordInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from web.forms.auth import new_password_fields
from web.forms.validators import NoControlCharacters
from web.models import Lot, OrganisationType, Role, Supplier
from web.postcodes import PostcodeDirectory
from web.services import admin as service
from web.services.accounts import MIN_PASSWORD_LENGTH

REASON_CHARS = service.MAX_REASON_CHARS
ORGANISATION_TYPES = [
    SelectChoice(OrganisationType.HOUSING.value, "Housing association or other housing provider"),
    SelectChoice(OrganisationType.COUNCIL.value, "Council"),
    SelectChoice(OrganisationType.EDUCATION.value, "School, academy trust or college"),
    SelectChoice(OrganisationType.HEALTH.value, "NHS trust or other health body"),
    SelectChoice(OrganisationType.BLUE_LIGHT.value, "Fire, police or ambulance service"),
]


def _errors(field: Any) -> list[str]:
    """The field's error list, made a list (WTForms leaves a tuple before validation)."""
    if not isinstance(field.errors, list):
        field.errors = list(field.errors)
    return field.errors  # type: ignore[no-any-return]


def add_error(field: Any, message: str) -> None:
    """Show ``message`` on ``field`` (after a service refused the form's values)."""
    _errors(field).append(message)


class AdminForm(FlaskForm):
    """A form whose every text field refuses control characters (a text area allows tab
    and new lines): PostgreSQL cannot store NUL, and the others garble pages and exports."""

    def validate(self, extra_validators: Any = None) -> bool:
        extra: dict[str, list[Any]] = {k: list(v) for k, v in (extra_validators or {}).items()}
        for name, field in self._fields.items():
            if isinstance(field, StringField) and not isinstance(field, FileField):
                label = field.label.text.removesuffix(" (optional)")
                extra.setdefault(name, []).append(NoControlCharacters(
                    f"{label} must not contain control characters",
                    multiline=isinstance(field, TextAreaField),
                ))
        return bool(super().validate(extra_validators=extra))


class SupplierSearchForm(AdminForm):
    """Find suppliers on the register (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField(
        "Search suppliers", widget=GovTextInput(),
        description="Part of the name, or the external id, company number or postcode",
        validators=[Optional(), Length(max=300)],
    )
    status = SelectField(
        "Status", widget=GovSelect(), default="active",
        choices=[SelectChoice("active", "Active"), SelectChoice("inactive", "Inactive"),
                 SelectChoice("all", "All")],
    )
    submit = SubmitField("Search", widget=GovSubmitInput())


class SupplierForm(AdminForm):
    """The supplier's main fields, contacts, lots, accreditations and commitments."""

    name = StringField("Name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the supplier’s name"),
                                   Length(max=service.MAX_NAME_CHARS)])
    company_number = StringField("Companies House number (optional)", widget=GovTextInput(),
                                 validators=[Length(max=20)])
    address = TextAreaField("Address", widget=GovTextArea(), validators=[Length(max=2000)])
    postcode = StringField(
        "Postcode", widget=GovTextInput(),
        description="Changing it moves the supplier to that postcode.",
        validators=[Length(max=10)],
    )
    description = TextAreaField("Description", widget=GovTextArea(),
                                validators=[Length(max=10_000)])
    capabilities = TextAreaField(
        "Capabilities", widget=GovTextArea(),
        description="Keywords members search for, one a line (or separated by ;)",
        validators=[Length(max=10_000)],
    )
    cpv_codes = TextAreaField(
        "CPV codes", widget=GovTextArea(),
        description="8 digits each, check digit optional, e.g. 45321000 or 45421151-3",
        validators=[Length(max=10_000)],
    )
    sme = BooleanField("SME (small or medium-sized enterprise)", widget=GovCheckboxInput())
    vcse = BooleanField("VCSE (voluntary, community or social enterprise)",
                        widget=GovCheckboxInput())
    service_radius_km = StringField("Service radius in km (optional)", widget=GovTextInput(),
                                    validators=[Length(max=30)])
    min_contract_value = StringField("Minimum contract value in pounds (optional)",
                                     widget=GovTextInput(), validators=[Length(max=30)])
    max_contract_value = StringField("Maximum contract value in pounds (optional)",
                                     widget=GovTextInput(), validators=[Length(max=30)])
    website = StringField("Website (optional)", widget=GovTextInput(),
                          validators=[Length(max=300)])
    email = StringField("Email (optional)", widget=GovTextInput(), validators=[Length(max=300)])
    phone = StringField("Phone (optional)", widget=GovTextInput(), validators=[Length(max=50)])
    contacts = TextAreaField(
        "Contacts (optional)", widget=GovTextArea(),
        description="One person a line: name | role | email | phone. Only the name is "
                    "required; leave a part empty to skip it. For example, "
                    "Jo Bloggs | Contracts manager | jo@acme.example | 0151 496 0000, or "
                    "Sam Patel | | sam@acme.example",
        validators=[Length(max=10_000)],
    )
    lots = SelectMultipleField("Lots", widget=GovCheckboxesInput(), coerce=int, choices=[],
                               validate_choice=True)
    accreditations = TextAreaField(
        "Accreditations", widget=GovTextArea(),
        description="One a line: the name, then a colon and the expiry date if it has one, "
                    "e.g. CHAS:2027-03-31",
        validators=[Length(max=10_000)],
    )
    commitments = TextAreaField(
        "Social value commitments", widget=GovTextArea(),
        description="One a line: the option code, a colon and the quantity per £1 million, "
                    "e.g. SV-SE-04:6",
        validators=[Length(max=10_000)],
    )
    submit = SubmitField("Save changes", widget=GovSubmitInput())

    def set_lot_choices(self, lots: Sequence[Lot]) -> None:
        self.lots.choices = [
            SelectChoice(lot.id, f"{lot.framework.code} {lot.code}: {lot.name}") for lot in lots
        ]

    def fill(self, supplier: Supplier) -> None:
        """Show ``supplier``'s values (on GET)."""
        for name in ("name", "company_number", "address", "postcode", "description", "website",
                     "email", "phone"):
            getattr(self, name).data = getattr(supplier, name) or ""
        self.capabilities.data = "\n".join(supplier.capabilities or [])
        self.cpv_codes.data = " ".join(supplier.cpv_codes or [])
        self.sme.data = supplier.sme
        self.vcse.data = supplier.vcse
        for name in ("service_radius_km", "min_contract_value", "max_contract_value"):
            value = getattr(supplier, name)
            getattr(self, name).data = "" if value is None else service.plain_number(value)
        self.lots.data = [lot.id for lot in supplier.lots]
        self.accreditations.data = service.format_accreditations(supplier.accreditations)
        self.commitments.data = service.format_commitments(supplier.commitments)
        self.contacts.data = service.format_contacts(supplier.contacts)

    def parse(
        self, supplier: Supplier, directory: PostcodeDirectory
    ) -> service.SupplierEdit | None:
        """The parsed values, or None after adding each field's problem to the field."""
        ok = True

        def take(field: Any, parse: Callable[[str], Any]) -> Any:
            nonlocal ok
            try:
                return parse(field.data or "")
            except service.AdminError as error:
                add_error(field, str(error))
                ok = False
                return None

        location = None
        postcode = (self.postcode.data or "").strip()
        if not postcode:
            if supplier.postcode:
                add_error(self.postcode, "Enter the supplier’s postcode")
                ok = False
        elif postcode.replace(" ", "").upper() != (supplier.postcode or "").replace(" ", ""):
            location = take(self.postcode, lambda text: service.locate(text, directory))
        edit = service.SupplierEdit(
            name=(self.name.data or "").strip(),
            company_number=take(self.company_number, service.parse_company_number),
            address=(self.address.data or "").strip(),
            location=location,
            description=(self.description.data or "").strip(),
            capabilities=service.parse_list(self.capabilities.data or ""),
            cpv_codes=take(self.cpv_codes, service.parse_cpv_codes) or [],
            sme=bool(self.sme.data),
            vcse=bool(self.vcse.data),
            service_radius_km=take(self.service_radius_km, service.parse_number),
            min_contract_value=take(self.min_contract_value, service.parse_number),
            max_contract_value=take(self.max_contract_value, service.parse_number),
            website=take(self.website, service.parse_website),
            email=take(self.email, service.parse_email),
            phone=take(self.phone, service.parse_phone),
            lot_ids=list(self.lots.data or []),
            accreditations=take(self.accreditations, service.parse_accreditation_lines) or [],
            commitments=take(self.commitments, service.parse_commitment_lines) or [],
            # Not posted at all (a page loaded before the form had contacts): left as they
            # are, rather than read as "no contacts" and deleted.
            contacts=take(self.contacts, service.parse_contact_lines)
            if self.contacts.raw_data else None,
        )
        return edit if ok else None


class ReasonForm(AdminForm):
    """Deactivate or reactivate a supplier, saying why."""

    reason = TextAreaField(
        "Why?", widget=GovTextArea(),
        validators=[DataRequired("Enter the reason"), Length(max=REASON_CHARS)],
    )
    submit = SubmitField("Confirm", widget=GovSubmitInput())


class ImportUploadForm(AdminForm):
    """Choose a supplier file to check."""

    file = FileField("Upload a file", widget=GovFileInput(),
                     description="A .csv or .xlsx file in the import format",
                     validators=[FileRequired("Select a CSV or Excel file")])
    skip_invalid = BooleanField(
        "Import the valid rows even if some rows are rejected", widget=GovCheckboxInput(),
        description="Rejected rows are set aside in a file you can download, correct and "
                    "upload again. Otherwise one rejected row means nothing is imported.",
    )
    submit = SubmitField("Check the file", widget=GovSubmitInput())


class ImportConfirmForm(AdminForm):
    """Import a checked upload (or check it again with other options)."""

    token = HiddenField(validators=[DataRequired(), Length(max=80)])
    skip_invalid = HiddenField(default="")
    submit = SubmitField("Import", widget=GovSubmitInput())

    def skipping(self) -> bool:
        return self.skip_invalid.data == "1"


class LotForm(AdminForm):
    """Add a lot, or rename one (the code and framework are then fixed)."""

    framework_id = SelectField("Framework", widget=GovSelect(), coerce=int, choices=[],
                               validate_choice=True)
    code = StringField(
        "Lot code", widget=GovTextInput(),
        description="What import files use, e.g. L7. It cannot be changed later.",
        validators=[DataRequired("Enter the lot code"), Length(max=service.MAX_LOT_CODE_CHARS)],
    )
    name = StringField("Name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the lot’s name"), Length(max=200)])
    description = TextAreaField("Description (optional)", widget=GovTextArea(),
                                validators=[Length(max=5000)])
    submit = SubmitField("Save lot", widget=GovSubmitInput())


class CatalogueForm(AdminForm):
    """A new catalogue version as JSON, started from the current version."""

    catalogue_json = TextAreaField(
        "Catalogue version (JSON)", widget=GovTextArea(),
        description="Change the version number, the publication date, themes and options. "
                    "Publishing makes it the version new searches use; earlier versions stay "
                    "as they are for the shortlists that used them.",
        validators=[DataRequired("Enter the catalogue"), Length(max=500_000)],
    )
    submit = SubmitField("Publish this version", widget=GovSubmitInput())


class OrganisationForm(AdminForm):
    """A member organisation's name and type."""

    name = StringField("Name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the organisation’s name"),
                                   Length(max=service.MAX_ORG_NAME_CHARS)])
    type = RadioField("Type of organisation", widget=GovRadioInput(),
                      choices=ORGANISATION_TYPES,
                      validators=[InputRequired("Choose the type of organisation")])
    submit = SubmitField("Save organisation", widget=GovSubmitInput())


class SiteForm(AdminForm):
    """A site of a member organisation, placed by its postcode."""

    name = StringField("Site name", widget=GovTextInput(),
                       description="For example, “Head office” or “Kirkby depot”",
                       validators=[DataRequired("Enter the site’s name"),
                                   Length(max=service.MAX_SITE_NAME_CHARS)])
    postcode = StringField("Postcode", widget=GovTextInput(),
                           validators=[DataRequired("Enter the site’s postcode"),
                                       Length(max=20)])
    submit = SubmitField("Add site", widget=GovSubmitInput())


class ConfirmForm(AdminForm):
    """A confirmation (the form is for its CSRF token)."""

    submit = SubmitField("Confirm", widget=GovSubmitInput())


class UserSearchForm(AdminForm):
    """Find users (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField("Search users", widget=GovTextInput(),
                    description="Part of the name or email address",
                    validators=[Optional(), Length(max=300)])
    submit = SubmitField("Search", widget=GovSubmitInput())


class EditUserForm(AdminForm):
    """A user's name, email address, role and organisation."""

    name = StringField("Full name", widget=GovTextInput(),
                       validators=[DataRequired("Enter the user’s name"), Length(max=200)])
    email = StringField("Email address", widget=GovTextInput(),
                        validators=[DataRequired("Enter the user’s email address"),
                                    Length(max=300)])
    role = RadioField(
        "Role", widget=GovRadioInput(), default=Role.MEMBER.value,
        choices=[SelectChoice(Role.MEMBER.value, "Member: searches and keeps shortlists"),
                 SelectChoice(Role.ADMIN.value, "Framework administrator: keeps the register")],
        validators=[InputRequired("Choose the user’s role")],
    )
    organisation_id = SelectField("Member organisation", widget=GovSelect(), choices=[],
                                  description="Required for members", validate_choice=True)
    submit = SubmitField("Save changes", widget=GovSubmitInput())


class UserForm(EditUserForm):
    """A new user: as :class:`EditUserForm`, with an initial password."""

    password = PasswordField(
        "Initial password", widget=GovPasswordInput(),
        description=f"At least {MIN_PASSWORD_LENGTH} characters. Give it to the user securely.",
        validators=[DataRequired("Enter an initial password"), Length(max=200)],
    )
    submit = SubmitField("Add user", widget=GovSubmitInput())


class SetPasswordForm(AdminForm):
    """A new password for a user who has forgotten theirs, twice."""

    new_password, confirm_password = new_password_fields("New password")
    submit = SubmitField("Set password", widget=GovSubmitInput())


class AuditFilterForm(AdminForm):
    """Filter the audit trail (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    action = SelectField("Action", widget=GovSelect(), choices=[], validate_choice=False)
    object_type = SelectField("Object", widget=GovSelect(), choices=[], validate_choice=False)
    object_id = StringField("Object id", widget=GovTextInput(), validators=[Length(max=100)])
    submit = SubmitField("Filter", widget=GovSubmitInput())


class MergeForm(AdminForm):
    """Merge a pair: which supplier survives."""

    survivor_id = RadioField("Which supplier should remain on the register?",
                             widget=GovRadioInput(), choices=[], coerce=int,
                             validators=[InputRequired("Choose the supplier to keep")])
    reason = TextAreaField("Note (optional)", widget=GovTextArea(),
                           validators=[Length(max=REASON_CHARS)])
    submit = SubmitField("Merge suppliers", widget=GovSubmitInput())


class NotDuplicateForm(AdminForm):
    """Rule a pair out."""

    reason = TextAreaField("Why are they different suppliers? (optional)",
                           widget=GovTextArea(), validators=[Length(max=REASON_CHARS)])
    submit = SubmitField("Not a duplicate", widget=GovSubmitInput())
