"""The search form: what a member fills in, checked, then mapped to ``parse_search`` keys.

The form is submitted by GET, so a results page is a bookmarkable URL and works without
JavaScript. Its choices depend on who is searching and on the register (the member's sites,
the lots, the accreditations held, the current social-value catalogue), so the form class
is completed per request by :func:`make_search_form` from :class:`SearchChoices`.

Query-string names (short, stable: they are in bookmarks and saved shortlists)::

    need, cpv, site (a site id or "postcode"), postcode, local ("radius" or "la"),
    radius (km or "any"), la (GSS codes), lot, value (£), sv-<option code> (0–3),
    only (sme, vcse), accreditation, weight_capability, weight_distance,
    weight_social_value, weight_rotation; page is read by the view
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovCheckboxesInput,
    GovRadioInput,
    GovSelect,
    GovTextInput,
)
from wtforms import Field, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, ValidationError

from matcher import DEFAULT_WEIGHTS, normalise_cpv
from web.extensions import db
from web.models import (
    Accreditation,
    Lot,
    Site,
    SocialValueCatalogue,
    SocialValueOption,
    Supplier,
    User,
)
from web.postcodes import PostcodeDirectory
from web.services.matching import MAX_NEED_CHARS
from web.services.supplier_files import quote_cell
from web.services.versions import version_token

#: A member's priority for a social-value option → the weight the engine gets. "Not
#: needed" leaves the option out of the search altogether.
PRIORITIES: tuple[tuple[str, str, int], ...] = (
    ("0", "Not needed", 0),
    ("1", "Nice to have", 1),
    ("2", "Important", 2),
    ("3", "Essential", 3),
)
PRIORITY_WEIGHTS: Mapping[str, int] = {value: weight for value, _, weight in PRIORITIES}

RADIUS_CHOICES: tuple[tuple[str, str], ...] = (
    ("10", "10 km (6 miles)"),
    ("25", "25 km (16 miles)"),
    ("50", "50 km (31 miles)"),
    ("100", "100 km (62 miles)"),
    ("any", "Any distance"),
)
DEFAULT_RADIUS = "50"

#: Component weights as the form shows them: whole numbers out of 100.
WEIGHT_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("capability", "Capability"),
    ("distance", "Distance"),
    ("social_value", "Social value"),
    ("rotation", "Fair rotation"),
)
DEFAULT_WEIGHT_VALUES: Mapping[str, str] = {
    name: f"{getattr(DEFAULT_WEIGHTS, name) * 100:g}" for name, _ in WEIGHT_COMPONENTS
}
MAX_WEIGHT = 100.0
MAX_WEIGHT_CHARS = 10  # "100", "12.5": longer is not a weight of 0 to 100
MAX_CONTRACT_VALUE = 1e11  # £100bn: anything above is a typo
MAX_QUOTED_CHARS = 20  # characters of a bad CPV code quoted in its message
SV_PREFIX = "sv-"
OTHER_POSTCODE = "postcode"

# parse_search's keys → the field its problem is shown against.
_SERVICE_KEY_FIELDS: Mapping[str, str] = {
    "need": "need",
    "keywords": "need",
    "cpv_codes": "cpv",
    "postcode": "postcode",
    "lat": "site",
    "radius_km": "radius",
    "local_authorities": "la",
    "lots": "lot",
    "contract_value": "value",
    "required_accreditations": "accreditation",
    "sme_only": "only",
    "vcse_only": "only",
    "weights": "weight_capability",
}


# ---------------------------------------------------------------------------------------
# What the form offers


@dataclass(frozen=True, slots=True)
class SiteChoice:
    """One of the member's sites."""

    id: int
    name: str
    postcode: str
    latitude: float
    longitude: float
    la_code: str | None
    la_name: str | None


@dataclass(frozen=True, slots=True)
class OptionChoice:
    """A social-value option as the picker shows it."""

    code: str
    field_name: str
    title: str
    description: str
    measure: str
    unit: str
    proxy_gbp_per_unit: float
    source: str
    source_year: int | None
    indicative: bool


@dataclass(frozen=True, slots=True)
class ThemeChoice:
    """A catalogue theme and its options."""

    code: str
    name: str
    description: str
    options: tuple[OptionChoice, ...]


@dataclass(frozen=True, slots=True)
class SearchChoices:
    """Everything the form offers this user."""

    sites: tuple[SiteChoice, ...]
    local_authorities: tuple[tuple[str, str], ...]  # (GSS code, name)
    lots: tuple[tuple[str, str], ...]  # (code, name)
    accreditations: tuple[str, ...]
    themes: tuple[ThemeChoice, ...]
    catalogue_version: str | None
    catalogue_published_on: dt.date | None

    @property
    def options(self) -> tuple[OptionChoice, ...]:
        """Every option, theme by theme."""
        return tuple(option for theme in self.themes for option in theme.options)

    def site(self, site_id: str) -> SiteChoice | None:
        """The site whose id is ``site_id`` (as submitted), if it is one of the user's."""
        return next((s for s in self.sites if str(s.id) == site_id), None)


def sv_field_name(code: str) -> str:
    """The form field (and query-string name) of a social-value option's priority."""
    return SV_PREFIX + re.sub(r"[^A-Za-z0-9_-]", "_", code)


def load_search_choices(user: User, directory: PostcodeDirectory) -> SearchChoices:
    """The choices the search form offers ``user``: a handful of set-wise queries."""
    sites: list[SiteChoice] = []
    if user.organisation_id is not None:
        for site in db.session.scalars(
            sa.select(Site).where(Site.organisation_id == user.organisation_id)
            .order_by(Site.name, Site.id)
        ):
            sites.append(SiteChoice(
                site.id, site.name, site.postcode, site.latitude, site.longitude, site.la_code,
                directory.la_name(site.la_code) if site.la_code else None,
            ))
    local_authorities = tuple(sorted(
        {(s.la_code, s.la_name or s.la_code) for s in sites if s.la_code},
        key=lambda item: item[1],
    ))
    lots = tuple(
        (code, name)
        for code, name in db.session.execute(sa.select(Lot.code, Lot.name).order_by(Lot.code))
    )
    register = _register_choices()
    return SearchChoices(
        sites=tuple(sites),
        local_authorities=local_authorities,
        lots=lots,
        accreditations=register.accreditations,
        themes=register.themes,
        catalogue_version=register.catalogue_version,
        catalogue_published_on=register.catalogue_published_on,
    )


@dataclass(frozen=True, slots=True)
class _RegisterChoices:
    """Choices read from the register and the catalogue: the same for every member."""

    accreditations: tuple[str, ...]
    themes: tuple[ThemeChoice, ...]
    catalogue_version: str | None
    catalogue_published_on: dt.date | None


# (database URL, data version) -> choices. Imports, edits and new catalogue versions bump
# the matching index's data version, so this follows them as the index does, per process.
_register_cache: dict[tuple[str, str], _RegisterChoices] = {}


def _register_choices() -> _RegisterChoices:
    key = (str(db.engine.url), version_token())
    cached = _register_cache.get(key)
    if cached is not None:
        return cached
    accreditations = tuple(db.session.scalars(
        sa.select(Accreditation.name)
        .join(Supplier, Supplier.id == Accreditation.supplier_id)
        .where(Supplier.active.is_(True))
        .group_by(Accreditation.name)
        .order_by(Accreditation.name)
    ))
    catalogue = db.session.scalar(
        sa.select(SocialValueCatalogue)
        .where(SocialValueCatalogue.is_current.is_(True))
        .options(so.selectinload(SocialValueCatalogue.themes),
                 so.selectinload(SocialValueCatalogue.options))
    )
    themes: list[ThemeChoice] = []
    if catalogue is not None:
        by_theme: dict[str, list[SocialValueOption]] = {}
        for option in catalogue.options:
            by_theme.setdefault(option.theme_code, []).append(option)
        themes = [
            ThemeChoice(theme.code, theme.name, theme.description, tuple(
                OptionChoice(o.code, sv_field_name(o.code), o.title, o.description, o.measure,
                             o.unit, o.proxy_gbp_per_unit, o.source, o.source_year,
                             o.indicative)
                for o in by_theme.get(theme.code, ())
            ))
            for theme in catalogue.themes
            if by_theme.get(theme.code)
        ]
    choices = _RegisterChoices(
        accreditations=accreditations,
        themes=tuple(themes),
        catalogue_version=catalogue.version if catalogue else None,
        catalogue_published_on=catalogue.published_on if catalogue else None,
    )
    _register_cache.clear()  # only the current version is worth keeping
    _register_cache[key] = choices
    return choices


# ---------------------------------------------------------------------------------------
# Fields


class _ChoiceMessage:
    """Replaces WTForms' "Not a valid choice" with a message that says what to do."""

    invalid_message = "Select an option from the list"

    def pre_validate(self, form: Any) -> None:
        try:
            super().pre_validate(form)  # type: ignore[misc]
        except ValidationError:
            raise ValidationError(self.invalid_message) from None


class ChoiceSelectField(_ChoiceMessage, SelectField):
    """A select with a helpful message for a value that is not offered."""

    def __init__(self, *args: Any, invalid_message: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if invalid_message:
            self.invalid_message = invalid_message


class ChoiceRadioField(_ChoiceMessage, RadioField):
    """Radios with a helpful message for a value that is not offered."""

    def __init__(self, *args: Any, invalid_message: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if invalid_message:
            self.invalid_message = invalid_message


class ChoiceCheckboxesField(_ChoiceMessage, SelectMultipleField):
    """Checkboxes with a helpful message for a value that is not offered."""

    widget = GovCheckboxesInput()

    def __init__(self, *args: Any, invalid_message: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if invalid_message:
            self.invalid_message = invalid_message


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def parse_money(text: str | None) -> float | None:
    """An amount typed as "£250,000", "250000" or "250 000.50"; None when blank.

    :raise ValueError: when it is not a number.
    """
    cleaned = re.sub(r"[£,\s]", "", text or "")
    if not cleaned:
        return None
    return _number(cleaned)


def _validate_money(form: Any, field: Field) -> None:
    try:
        amount = parse_money(field.data)
    except ValueError:
        raise ValidationError(
            "Estimated contract value must be an amount in pounds, like 250000"
        ) from None
    if amount is not None and amount < 0:
        raise ValidationError("Estimated contract value must be £0 or more")
    if amount is not None and amount > MAX_CONTRACT_VALUE:
        raise ValidationError("Estimated contract value must be £100 billion or less")


def _validate_weight(form: Any, field: Field) -> None:
    text = (field.data or "").strip()
    if not text:
        return
    if len(text) > MAX_WEIGHT_CHARS:
        raise ValidationError(
            f"{field.label.text} weight must be a number between 0 and 100, like 25"
        )
    try:
        weight = float(text)
    except ValueError:
        raise ValidationError(f"{field.label.text} weight must be a number, like 25") from None
    if math.isnan(weight):
        raise ValidationError(f"{field.label.text} weight must be a number, like 25")
    if not 0 <= weight <= MAX_WEIGHT:  # infinity ("1e309") included
        raise ValidationError(f"{field.label.text} weight must be between 0 and 100")


def _validate_cpv(form: Any, field: Field) -> None:
    for raw in split_cpv(field.data):
        try:
            normalise_cpv(raw)
        except ValueError:
            raise ValidationError(
                f"“{quote_cell(raw, MAX_QUOTED_CHARS)}” is not a CPV code. Enter CPV codes as 8 digits, like 45321000"
            ) from None


def split_cpv(text: str | None) -> list[str]:
    """CPV codes typed with commas, semicolons, spaces or new lines between them."""
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


# ---------------------------------------------------------------------------------------
# The form


class SearchForm(FlaskForm):
    """The member's search. Complete it with :func:`make_search_form`."""

    class Meta:
        csrf = False  # submitted by GET: it changes nothing, and results must be linkable

    need = StringField(
        "Describe the work you need",
        widget=GovCharacterCount(),
        description="For example: external wall insulation to 40 semi-detached homes, "
                    "PAS 2035 compliant",
        validators=[Length(max=MAX_NEED_CHARS,
                           message=f"Description must be {MAX_NEED_CHARS:,} characters or fewer")],
    )
    cpv = StringField(
        "CPV codes (optional)",
        widget=GovTextInput(),
        description="Common Procurement Vocabulary codes, separated by commas or spaces, "
                    "like 45321000, 45331000",
        validators=[Length(max=500, message="CPV codes must be 500 characters or fewer"),
                    _validate_cpv],
    )
    site = ChoiceRadioField(
        "Where is the work?", widget=GovRadioInput(),
        invalid_message="Select one of your sites, or another postcode",
    )
    postcode = StringField(
        "Postcode", widget=GovTextInput(),
        validators=[Length(max=20, message="Postcode must be 20 characters or fewer")],
    )
    local = ChoiceRadioField(
        "What counts as local?", widget=GovRadioInput(), default="radius",
        invalid_message="Select how to decide what counts as local",
    )
    radius = ChoiceSelectField(
        "Distance from the site", widget=GovSelect(), choices=lambda: _choices(RADIUS_CHOICES),
        default=DEFAULT_RADIUS, invalid_message="Select a distance from the list",
    )
    la = ChoiceCheckboxesField(
        "Local authorities", invalid_message="Select local authorities from the list",
    )
    lot = ChoiceSelectField(
        "Lot", widget=GovSelect(), default="", invalid_message="Select a lot from the list",
    )
    value = StringField(
        "Estimated contract value", widget=GovTextInput(),
        description="In pounds, including VAT. Used for the suppliers' contract value ranges "
                    "and to estimate social value.",
        validators=[Length(max=30, message="Estimated contract value is too long"),
                    _validate_money],
    )
    only = ChoiceCheckboxesField(
        "Only show",
        choices=lambda: _choices([
            ("sme", "Small and medium-sized enterprises (SMEs)"),
            ("vcse", "Voluntary, community and social enterprises (VCSEs)"),
        ]),
        invalid_message="Select SME or VCSE",
    )
    accreditation = ChoiceCheckboxesField(
        "Required accreditations",
        description="Only suppliers holding every accreditation you select, in date.",
        invalid_message="Select accreditations from the list",
    )
    weight_capability = StringField("Capability", widget=GovTextInput(),
                                    default=DEFAULT_WEIGHT_VALUES["capability"],
                                    validators=[_validate_weight])
    weight_distance = StringField("Distance", widget=GovTextInput(),
                                  default=DEFAULT_WEIGHT_VALUES["distance"],
                                  validators=[_validate_weight])
    weight_social_value = StringField("Social value", widget=GovTextInput(),
                                      default=DEFAULT_WEIGHT_VALUES["social_value"],
                                      validators=[_validate_weight])
    # Off (0) by default: a member chooses to favour suppliers with fewer recent awards.
    weight_rotation = StringField(
        "Fair rotation", widget=GovTextInput(), default=DEFAULT_WEIGHT_VALUES["rotation"],
        description="Favour suppliers with fewer contracts awarded through the service in "
                    "the last 12 months. 0 turns it off.",
        validators=[_validate_weight],
    )

    choices: SearchChoices

    def validate(self, extra_validators: Any = None) -> bool:
        """Each field, then the rules across fields."""
        valid = super().validate(extra_validators)
        if not (self.need.data or "").strip() and not split_cpv(self.cpv.data):
            self.add_error("need", "Describe the work you need, or enter at least one CPV code")
        if self.site.data == OTHER_POSTCODE and not (self.postcode.data or "").strip():
            self.add_error("postcode", "Enter a postcode")
        if self.local.data == "la" and not self.la.data and not self.la.errors:
            self.add_error("la", "Select at least one local authority")
        if not any(f.errors for f in self.weight_fields()) and all(
            _weight_value(f.data, 1.0) == 0 for f in self.weight_fields()
        ):
            self.add_error("weight_capability", "At least one weight must be more than 0")
        return valid and not self.errors

    # -- helpers for views and templates ------------------------------------------------

    def add_error(self, name: str, message: str) -> None:
        """Show ``message`` against field ``name`` (in the error summary and inline)."""
        field = self[name]
        field.errors = [*field.errors, message]

    def add_service_errors(self, errors: Mapping[str, str]) -> None:
        """Show ``parse_search``'s problems against the fields they concern."""
        for key, message in errors.items():
            name = _SERVICE_KEY_FIELDS.get(key)
            if key == "postcode" and self.site.data != OTHER_POSTCODE:
                name = "site"
            if key == "social_value" and self.choices.options:
                name = self.choices.options[0].field_name
            if name is None:
                self.form_errors.append(_sentence(None, message))
                continue
            self.add_error(name, _sentence(self[name].label.text, message))

    def weight_fields(self) -> list[Field]:
        """The advanced component weights."""
        return [self[f"weight_{name}"] for name, _ in WEIGHT_COMPONENTS]

    def sv_fields(self) -> list[Field]:
        """Every social-value priority field, in catalogue order."""
        return [self[option.field_name] for option in self.choices.options]

    def chosen_site(self) -> SiteChoice | None:
        """The member's site the search starts from, if one was chosen."""
        return self.choices.site(self.site.data or "")

    def to_params(self, *, limit: int, offset: int) -> dict[str, Any]:
        """The validated form as ``parse_search`` keys."""
        params: dict[str, Any] = {
            "need": (self.need.data or "").strip(),
            "cpv_codes": split_cpv(self.cpv.data),
            "lots": [self.lot.data] if self.lot.data else [],
            "contract_value": parse_money(self.value.data),
            "sme_only": "sme" in (self.only.data or ()),
            "vcse_only": "vcse" in (self.only.data or ()),
            "required_accreditations": list(self.accreditation.data or ()),
            "social_value": [
                {"code": option.code, "weight": PRIORITY_WEIGHTS[self[option.field_name].data]}
                for option in self.choices.options
                if PRIORITY_WEIGHTS.get(self[option.field_name].data, 0) > 0
            ],
            "weights": {
                name: _weight_value(self[f"weight_{name}"].data,
                                    float(DEFAULT_WEIGHT_VALUES[name]))
                for name, _ in WEIGHT_COMPONENTS
            },
            "limit": limit,
            "offset": offset,
        }
        site = self.chosen_site()
        if site is not None:
            params.update(lat=site.latitude, lon=site.longitude)
        else:
            params["postcode"] = (self.postcode.data or "").strip()
        if self.local.data == "la":
            params["local_authorities"] = list(self.la.data or ())
        elif self.radius.data != "any":
            params["radius_km"] = float(self.radius.data)
        return params

    def lot_label(self) -> str | None:
        """The chosen lot as "L1: Decarbonisation and retrofit", if one was chosen."""
        return next((c.label for c in self.lot.choices if c.value == self.lot.data and c.value),
                    None)

    def priority_summary(self) -> list[tuple[OptionChoice, str]]:
        """The options the member gave a priority, with the priority's label."""
        labels = {value: label for value, label, _ in PRIORITIES}
        return [
            (option, labels[self[option.field_name].data])
            for option in self.choices.options
            if PRIORITY_WEIGHTS.get(self[option.field_name].data, 0) > 0
        ]


def make_search_form(choices: SearchChoices, formdata: Any = None) -> SearchForm:
    """A search form offering ``choices``, filled from ``formdata`` (``request.args``) if
    given, else showing the defaults."""
    form = _form_class(tuple((o.field_name, o.title) for o in choices.options))(
        formdata=formdata
    )
    form.choices = choices
    form.site.choices = _choices([
        *((str(s.id), f"{s.name}, {s.postcode}") for s in choices.sites),
        (OTHER_POSTCODE, "Another postcode"),
    ])
    if not form.site.data:
        form.site.data = str(choices.sites[0].id) if choices.sites else OTHER_POSTCODE
    form.local.choices = _choices([
        ("radius", "Within a distance of the site"),
        *([("la", "In local authorities I choose")] if choices.local_authorities else []),
    ])
    form.la.choices = _choices(choices.local_authorities)
    form.lot.choices = _choices(
        [("", "Any lot"), *((code, f"{code}: {name}") for code, name in choices.lots)]
    )
    form.accreditation.choices = _choices((name, name) for name in choices.accreditations)
    return form


@lru_cache(maxsize=8)
def _form_class(options: tuple[tuple[str, str], ...]) -> type[SearchForm]:
    """The form class with a priority field per option (field name, title); made once per
    catalogue version rather than on every request."""
    fields = {
        name: ChoiceRadioField(
            title, widget=GovRadioInput(), default=PRIORITIES[0][0],
            choices=_choices((value, label) for value, label, _ in PRIORITIES),
            invalid_message=f"Select a priority for {title}",
        )
        for name, title in options
    }
    return type("SearchFormWithOptions", (SearchForm,), fields)


def _choices(pairs: Iterable[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _weight_value(text: str | None, default: float) -> float:
    text = (text or "").strip()
    if not text:
        return default
    try:
        return _number(text)
    except ValueError:
        return default


def _sentence(label: str | None, message: str) -> str:
    """A service message as a sentence: "Distance from the site must be …" or as given."""
    message = message.strip().rstrip(".")
    if message[:1].isupper() or message[:1] in "\"“'":
        return message
    return f"{label} {message}" if label else message[:1].upper() + message[1:]


__all__: Sequence[str] = [
    "OTHER_POSTCODE",
    "PRIORITIES",
    "PRIORITY_WEIGHTS",
    "RADIUS_CHOICES",
    "WEIGHT_COMPONENTS",
    "SearchChoices",
    "SearchForm",
    "load_search_choices",
    "make_search_form",
    "parse_money",
    "split_cpv",
    "sv_field_name",
]
