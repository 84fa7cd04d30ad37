"""Forms of the shortlist pages: add a supplier, edit, remove an entry, lock, record and
correct the outcome."""

from __future__ import annotations

import math
import re
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from web.forms.validators import NoControlCharacters
from web.models.base import MAX_ID
from web.services.shortlists import MAX_NAME_CHARS, MAX_TEXT_CHARS, Outcome

NEW_SHORTLIST = "new"
# A results page's query string, URL-encoded: its longest part is the need, 5,000
# characters of up to 9 each ("’" is %E2%80%99), with room for the other fields.
MAX_SEARCH_CHARS = 60_000
_ID_RE = re.compile(r"[0-9]{1,10}")  # ASCII digits: str.isdigit() also takes "²"


def _too_long(what: str, limit: int) -> Length:
    # "5000", not "5,000": the wording the shortlist pages have always used.
    return Length(max=limit, message=f"{what} must be {limit} characters or fewer")


def _no_controls(what: str, *, multiline: bool = False) -> NoControlCharacters:
    return NoControlCharacters(f"{what} must not contain control characters",
                               multiline=multiline)


class AddEntryForm(FlaskForm):
    """Add a supplier from a results page to a draft shortlist or to a new one.

    ``shortlist_id`` is a draft's id or ``"new"`` (the default when it is left out), and
    ``search`` the results page's query string: the search is re-run from it.
    """

    supplier_id = IntegerField(
        widget=HiddenInput(),
        validators=[InputRequired("Choose a supplier to add"),
                    NumberRange(min=1, max=MAX_ID, message="Choose a supplier to add")],
    )
    search = HiddenField(validators=[Length(
        max=MAX_SEARCH_CHARS,
        message="The search is too long to keep with a shortlist: shorten the description "
                "of the work and search again",
    )])
    shortlist_id = RadioField(
        "Which shortlist do you want to add it to?", widget=GovRadioInput(), choices=[],
        description="Your organisation’s draft shortlists, or a new one.",
        default=NEW_SHORTLIST, validate_choice=False,
    )
    new_shortlist_name = StringField(
        "Name of the new shortlist", widget=GovTextInput(),
        description="For example, “Fire doors, Kirkby estate, 2027”",
        validators=[Optional(), _too_long("Name of the new shortlist", MAX_NAME_CHARS),
                    _no_controls("Name of the new shortlist")],
    )
    reason = TextAreaField(
        "Why are you adding this supplier? (optional)", widget=GovTextArea(),
        validators=[Optional(), _too_long("Reason", MAX_TEXT_CHARS),
                    _no_controls("Reason", multiline=True)],
    )
    submit = SubmitField("Add to shortlist", widget=GovSubmitInput())

    def existing_shortlist_id(self) -> int | None:
        """The chosen draft's id, or None for a new shortlist (once validated)."""
        value = (self.shortlist_id.data or NEW_SHORTLIST).strip()
        return None if value == NEW_SHORTLIST else int(value)

    def chosen_supplier_id(self) -> int | None:
        """The supplier's id if it is one an id can be, else None (even before validating)."""
        value = self.supplier_id.data
        return value if isinstance(value, int) and 1 <= value <= MAX_ID else None

    def validate_shortlist_id(self, field: RadioField) -> None:
        value = (field.data or NEW_SHORTLIST).strip()
        if value != NEW_SHORTLIST and not (_ID_RE.fullmatch(value) and int(value) <= MAX_ID):
            raise ValidationError("Choose one of your draft shortlists, or a new shortlist")

    def validate_new_shortlist_name(self, field: StringField) -> None:
        if (self.shortlist_id.data or NEW_SHORTLIST) == NEW_SHORTLIST and not (
            field.data or ""
        ).strip():
            raise ValidationError("Enter a name for the new shortlist")


class EditShortlistForm(FlaskForm):
    """Rename a draft and keep its notes."""

    name = StringField(
        "Name", widget=GovTextInput(),
        validators=[DataRequired("Enter a name for the shortlist"),
                    _too_long("Name", MAX_NAME_CHARS), _no_controls("Name")],
    )
    notes = TextAreaField(
        "Notes", widget=GovTextArea(),
        description="For your organisation: what the shortlist is for, decisions, next steps.",
        validators=[Optional(), _too_long("Notes", MAX_TEXT_CHARS),
                    _no_controls("Notes", multiline=True)],
    )
    submit = SubmitField("Save changes", widget=GovSubmitInput())


class RemoveEntryForm(FlaskForm):
    """Take a supplier off a draft, with the reason (kept in the audit trail)."""

    reason = TextAreaField(
        "Why are you removing this supplier?", widget=GovTextArea(),
        description="For example, “No capacity until next spring” or “Gas Safe registration "
                    "expired”.",
        validators=[DataRequired("Enter why you are removing this supplier"),
                    _too_long("Reason", MAX_TEXT_CHARS), _no_controls("Reason", multiline=True)],
    )
    submit = SubmitField("Remove supplier", widget=GovSubmitInput())


class ShortlistFilterForm(FlaskForm):
    """Find shortlists by name, status and (for admins) organisation (a GET form: no CSRF
    token). The organisation's choices are set by the view."""

    class Meta:
        csrf = False

    q = StringField("Name contains", widget=GovTextInput(),
                    validators=[Optional(), Length(max=MAX_NAME_CHARS)])
    status = SelectField(
        "Status", widget=GovSelect(), default="",
        choices=[SelectChoice("", "Drafts and locked"), SelectChoice("draft", "Drafts"),
                 SelectChoice("locked", "Locked")],
    )
    organisation = SelectField("Organisation", widget=GovSelect(), default="", choices=[],
                               validate_choice=True)
    submit = SubmitField("Find shortlists", widget=GovSubmitInput())


class LockForm(FlaskForm):
    """Confirm locking (the form is for its CSRF token)."""

    submit = SubmitField("Lock shortlist", widget=GovSubmitInput())


class DeleteForm(FlaskForm):
    """Confirm deleting a draft (the form is for its CSRF token)."""

    submit = SubmitField("Delete draft", widget=GovSubmitInput())


class OutcomeForm(FlaskForm):
    """What came of a locked shortlist."""

    outcome = RadioField(
        "What was the outcome?", widget=GovRadioInput(),
        description="Whether the call-off was awarded to a supplier on this shortlist.",
        choices=[
            SelectChoice(Outcome.AWARDED.value,
                         "A supplier on the shortlist was awarded the contract"),
            SelectChoice(Outcome.NONE_SUITABLE.value, "None of the suppliers was suitable"),
        ],
        validators=[InputRequired("Select what the outcome was")],
        validate_choice=True,
    )
    supplier_id = RadioField(
        "Which supplier was awarded the contract?", widget=GovRadioInput(), choices=[],
        validate_choice=False,  # checked by validate_supplier_id, only for an award
    )
    value = StringField(
        "Contract value, in pounds", widget=GovTextInput(),
        description="The value of the contract awarded, for example £250,000",
        validators=[_too_long("Contract value", 30)],
    )
    note = TextAreaField(
        "Note", widget=GovTextArea(),
        description="Required when none was suitable: say why.",
        validators=[_too_long("Note", MAX_TEXT_CHARS), _no_controls("Note", multiline=True)],
    )
    submit = SubmitField("Record outcome", widget=GovSubmitInput())

    def awarded(self) -> bool:
        return self.outcome.data == Outcome.AWARDED.value

    def awarded_supplier_id(self) -> int | None:
        return int(self.supplier_id.data) if self.awarded() and self.supplier_id.data else None

    def money(self) -> float | None:
        return parse_money(self.value.data) if self.awarded() else None

    def validate_supplier_id(self, field: RadioField) -> None:
        if not self.awarded():
            return
        allowed = {str(choice.value) for choice in (field.choices or [])}  # type: ignore[union-attr]
        if not field.data or str(field.data) not in allowed:
            raise ValidationError("Select the supplier awarded the contract")

    def validate_value(self, field: StringField) -> None:
        if not self.awarded():
            return
        if not (field.data or "").strip():
            raise ValidationError("Enter the contract value")
        if parse_money(field.data) is None:
            raise ValidationError("Enter the contract value as an amount in pounds, like 250000")

    def validate_note(self, field: TextAreaField) -> None:
        if self.outcome.data == Outcome.NONE_SUITABLE.value and not (field.data or "").strip():
            raise ValidationError("Enter why none of the suppliers was suitable")


class CorrectOutcomeForm(OutcomeForm):
    """Correct a recorded outcome: the same questions, prefilled, and the reason."""

    reason = TextAreaField(
        "Why are you correcting the outcome?", widget=GovTextArea(),
        description="For example, “The wrong supplier was chosen in the list” or “The "
                    "contract value was mistyped”. It is kept in the shortlist’s history.",
        validators=[DataRequired("Enter why you are correcting the outcome"),
                    _too_long("Reason", MAX_TEXT_CHARS), _no_controls("Reason", multiline=True)],
    )
    submit = SubmitField("Save the correction", widget=GovSubmitInput())


def format_money(value: float | None) -> str:
    """250000.0 → ``"250,000"``, 99.5 → ``"99.50"``: an amount as the outcome form shows it
    (and :func:`parse_money` reads it back)."""
    if value is None:
        return ""
    return f"{value:,.2f}".removesuffix(".00")


def parse_money(text: Any) -> float | None:
    """``"£1,250,000.50"`` → 1250000.5; None when it is not an amount of £0 or more."""
    cleaned = str(text or "").replace("£", "").replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
