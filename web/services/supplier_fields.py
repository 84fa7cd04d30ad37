"""A supplier's values as people type them, parsed by one set of rules.

The same text can arrive as a cell of an imported spreadsheet
(:mod:`web.services.suppliers_import`) or in a box of the admin supplier form
(:mod:`web.services.admin`); both parse it here, so a value one accepts the other accepts
too, with the same message when it is refused.

Each parser takes the text as typed and returns the value (``None`` or an empty list for
blank optional text), or raises :class:`FieldError`. A message starts in lower case, so it
can follow where the value was ("row 3, column email: …", "Line 2: …"), and quotes the
text with :func:`~web.services.supplier_files.quote_cell` (briefly, unprintable characters
replaced).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from matcher import normalise_cpv
from web.services.accounts import EMAIL_PATTERN
from web.services.supplier_files import quote_cell

__all__ = [
    "CONTACT_SEPARATOR",
    "MAX_ACCREDITATION_NAME_CHARS",
    "MAX_CONTACT_NAME_CHARS",
    "MAX_CONTACT_ROLE_CHARS",
    "MAX_EMAIL_CHARS",
    "MAX_PHONE_CHARS",
    "MAX_URL_CHARS",
    "ContactValues",
    "FieldError",
    "codes_hint",
    "format_contact",
    "listed",
    "parse_accreditations",
    "parse_commitments",
    "parse_company_number",
    "parse_contact",
    "parse_cpv_codes",
    "parse_email",
    "parse_number",
    "parse_phone",
    "parse_website",
    "split_list",
]

# Lengths of the database columns, so a long value is refused with a message, not by the
# database (web/models/supplier.py; tests/web/services/test_supplier_fields.py checks them).
MAX_URL_CHARS = 300  # Supplier.website
MAX_EMAIL_CHARS = 300  # Supplier.email, Contact.email
MAX_PHONE_CHARS = 50  # Supplier.phone, Contact.phone
MAX_ACCREDITATION_NAME_CHARS = 100  # Accreditation.name
MAX_CONTACT_NAME_CHARS = 200  # Contact.name
MAX_CONTACT_ROLE_CHARS = 200  # Contact.role

MAX_LISTED_CODES = 20  # known codes listed in an "unknown code" message, at most
MAX_LISTED_VALUES = 5  # values of the text (bad codes, headings) a message lists, at most

LIST_SEPARATOR = ";"
CONTACT_SEPARATOR = "|"
_CPV_RE = re.compile(r"(\d{8})(?:-(\d))?")
_CPV_SPLIT_RE = re.compile(r"[;,\s]+")
_COMPANY_NUMBER_RE = re.compile(r"(?:[A-Z]{2}|[A-Z]\d|\d{2})\d{6}")
_COMPANY_PREFIXED_RE = re.compile(r"([A-Z]{2})(\d{1,6})")
# Values people type for "no company number": stored as blank, without a warning.
_COMPANY_NUMBER_PLACEHOLDERS = frozenset(
    {"N/A", "NA", "N.A.", "NONE", "NIL", "-", "--", "0", "TBC", "UNKNOWN", "NOT APPLICABLE"}
)
# "ISO 9001:2015" is a name, not a name and a bad date: a 4-digit tail is part of the name.
_YEAR_SUFFIX_RE = re.compile(r"\d{4}")
# A contact's phone: ASCII digits ("\d" takes any script's), spaces, brackets, hyphens and
# dots, with "+" only first. Letters ("ext 12", "ask for Jo") belong in the role.
_PHONE_RE = re.compile(r"\+?[0-9 ().-]*[0-9][0-9 ().-]*")
_PHONE_LIKE_MIN_DIGITS = 6  # a role of phone characters with this many digits is a phone
# C0 and C1 controls (tab included) and the Unicode line and paragraph separators: none
# belongs inside a one-line value.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class FieldError(ValueError):
    """A value is invalid; the message is the reason shown to the user."""


def listed(values: Sequence[str]) -> str:
    """Values of the user's text as a message lists them: quoted briefly, the first few."""
    shown = ", ".join(quote_cell(value) for value in values[:MAX_LISTED_VALUES])
    more = len(values) - MAX_LISTED_VALUES
    return shown + (f" and {more} more" if more > 0 else "")


def codes_hint(known: Iterable[str]) -> str:
    """" (known: A, B)" after an unknown code, if there are few enough to list."""
    codes = sorted(known)
    if not codes:
        return " (none are set up yet)"
    if len(codes) > MAX_LISTED_CODES:
        return ""
    return f" (known: {', '.join(codes)})"


# --- numbers, lists and codes ------------------------------------------------------------


def parse_number(text: str, *, minimum: float | None = 0.0) -> float | None:
    """A number typed by a person: "£1,250,000", "25", "" (None).

    :raise FieldError: not a (finite) number, or below ``minimum`` (None: no minimum).
    """
    cleaned = text.replace("£", "").replace(",", "").replace(" ", "").strip()
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError:
        raise FieldError(f'"{quote_cell(text.strip())}" is not a number') from None
    if not math.isfinite(value):
        raise FieldError(f'"{quote_cell(text.strip())}" is not a number')
    if minimum is not None and value < minimum:
        raise FieldError(
            f"{quote_cell(text.strip())} is negative; it must be {minimum:g} or more"
        )
    return value


def split_list(text: str) -> list[str]:
    """A ``;``-separated list: items stripped, blanks and repeats (ignoring case) dropped."""
    items: list[str] = []
    seen: set[str] = set()
    for item in text.split(LIST_SEPARATOR):
        item = item.strip()
        if item and item.casefold() not in seen:
            seen.add(item.casefold())
            items.append(item)
    return items


def parse_cpv_codes(text: str) -> list[str]:
    """CPV codes separated by spaces, commas or semicolons, as 8 ASCII digits each (a check
    digit is accepted and dropped); repeats dropped.

    :raise FieldError: listing the malformed codes.
    """
    codes: list[str] = []
    bad: list[str] = []
    for item in _CPV_SPLIT_RE.split(text.strip()):
        if not item:
            continue
        match = _CPV_RE.fullmatch(item)
        if match is None:
            bad.append(item)
            continue
        code = normalise_cpv(match[1])  # in ASCII digits, whatever script they were typed in
        if code not in codes:
            codes.append(code)
    if bad:
        raise FieldError(
            f"malformed CPV code{'s' if len(bad) > 1 else ''} {listed(bad)}: a CPV code is "
            "8 digits with an optional check digit, e.g. 45421151 or 45421151-3"
        )
    return codes


def parse_company_number(text: str) -> tuple[str | None, str | None]:
    """(normalised Companies House number or None, warning or None); never raises.

    Spreadsheets drop leading zeros (1234567 for 01234567), so numbers are padded back to
    8 characters. Text that cannot be a company number is not stored, with a warning: it
    is usually an address or trading name typed in the wrong column.
    """
    raw = text.strip()
    compact = re.sub(r"\s+", "", raw).upper()
    if not compact or compact in _COMPANY_NUMBER_PLACEHOLDERS:
        return None, None
    if compact.isdigit() and len(compact) <= 8 and int(compact) > 0:
        return compact.zfill(8), None
    if match := _COMPANY_PREFIXED_RE.fullmatch(compact):
        return match[1] + match[2].zfill(6), None
    if _COMPANY_NUMBER_RE.fullmatch(compact):
        return compact, None
    return None, (
        f'"{quote_cell(raw)}" is not a Companies House number (8 characters, such as 01234567 or '
        "SC123456), so it was not stored"
    )


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise FieldError(
            f'"{quote_cell(text.strip())}" is not a date: use YYYY-MM-DD, e.g. 2026-03-31'
        ) from None


def parse_accreditations(text: str) -> tuple[tuple[str, dt.date | None], ...]:
    """``;``-separated accreditations, each ``NAME`` or ``NAME:YYYY-MM-DD``, as (name,
    expiry or None) in the order given. A 4-digit tail ("ISO 9001:2015") is part of the
    name; a trailing ":" means no expiry (how an export writes a name with a colon).

    :raise FieldError: a bad date, a missing or too long name, a name given twice.
    """
    result: dict[str, tuple[str, dt.date | None]] = {}
    for item in split_list(text):
        name, expires = item, None
        head, colon, tail = item.rpartition(":")
        if colon and not _YEAR_SUFFIX_RE.fullmatch(tail.strip()):
            name = head.strip()
            expires = _date(tail) if tail.strip() else None
        if not name:
            raise FieldError(f'"{quote_cell(item)}" has no accreditation name before the ":"')
        if len(name) > MAX_ACCREDITATION_NAME_CHARS:
            raise FieldError(
                f'accreditation name "{quote_cell(name)}" is longer than '
                f"{MAX_ACCREDITATION_NAME_CHARS} characters"
            )
        if name.casefold() in result:
            raise FieldError(f'accreditation "{quote_cell(name)}" is listed twice')
        result[name.casefold()] = (name, expires)
    return tuple(result.values())


def parse_commitments(
    text: str, option_codes: Mapping[str, str]
) -> tuple[tuple[str, float], ...]:
    """``;``-separated social-value commitments, each ``CODE:QUANTITY`` per £1m (a code
    alone means 1), as (code as catalogued, quantity) sorted by code.

    ``option_codes`` maps each upper-cased option code to the code as catalogued, so codes
    are matched ignoring case.

    :raise FieldError: listing unknown codes; a bad quantity; a code given twice.
    """
    commitments: dict[str, float] = {}
    unknown: list[str] = []
    for item in split_list(text):
        code_text, colon, quantity_text = item.partition(":")
        code = option_codes.get(code_text.strip().upper())
        if code is None:
            unknown.append(code_text.strip())
            continue
        if code in commitments:
            raise FieldError(f'social-value option "{code}" is listed twice')
        quantity = parse_number(quantity_text) if colon else None
        commitments[code] = 1.0 if quantity is None else quantity
    if unknown:
        raise FieldError(
            f"unknown social-value option code{'s' if len(unknown) > 1 else ''} "
            f"{listed(unknown)}" + codes_hint(option_codes.values())
        )
    return tuple(sorted(commitments.items()))


# --- text, email, web address, phone -----------------------------------------------------


def _text(text: str, limit: int | None = None, *, what: str = "value") -> str:
    value = text.strip()
    if limit is not None and len(value) > limit:
        raise FieldError(f"the {what} is longer than {limit} characters")
    return value


def _optional_text(text: str, limit: int, *, what: str) -> str | None:
    return _text(text, limit, what=what) or None


def parse_email(text: str) -> str | None:
    """An email address (something@somewhere.tld, no spaces), or None for blank.

    :raise FieldError: too long, or not shaped like an email address.
    """
    value = _optional_text(text, MAX_EMAIL_CHARS, what="email address")
    if value is not None and not EMAIL_PATTERN.fullmatch(value):
        raise FieldError(f'"{quote_cell(value)}" is not an email address')
    return value


def parse_website(text: str) -> str | None:
    """A web address (no spaces), or None for blank.

    :raise FieldError: too long, or holding spaces.
    """
    value = _optional_text(text, MAX_URL_CHARS, what="web address")
    if value is not None and re.search(r"\s", value):
        raise FieldError(f'"{quote_cell(value)}" is not a web address (it contains spaces)')
    return value


def parse_phone(text: str) -> str | None:
    """A supplier's phone number as given (any characters, as the register has always
    taken), or None for blank. A contact's phone is stricter: see :func:`parse_contact`.

    :raise FieldError: too long.
    """
    return _optional_text(text, MAX_PHONE_CHARS, what="phone number")


# --- contacts ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContactValues:
    """A contact's values, parsed: ``role`` is "" and ``email``, ``phone`` None when not
    given (as the ``contacts`` table stores them)."""

    name: str
    role: str = ""
    email: str | None = None
    phone: str | None = None


_CONTACT_FORMAT = "name | role | email | phone"


def parse_contact(text: str) -> ContactValues:
    """One contact written ``name | role | email | phone``.

    Only the name is required: a part is skipped by leaving it empty
    (``Sam Patel | | sam@acme.example``) and trailing parts may be left off
    (``Jo Bloggs | Contracts manager``). "|" is only ever the separator. A line without
    one is a name alone, which then may not hold a comma or "@": that is a contact written
    with commas for separators (``Bloggs, Jo |`` is a name with a comma). The phone takes
    digits, spaces, brackets, hyphens and dots, "+" first.

    :raise FieldError: a missing or too long name or role, a bad email address or phone
        number, a part in the wrong place (an email address as the name or role), more than
        four parts, or a control character (a tab, say).
    """
    if match := _CONTROL_RE.search(text):
        if match[0] == "\t":  # columns pasted from a spreadsheet
            raise FieldError(f'the contact contains a tab; separate its parts with '
                             f'"{CONTACT_SEPARATOR}": {_CONTACT_FORMAT}')
        raise FieldError("the contact contains a control character; remove it")
    parts = [part.strip() for part in text.split(CONTACT_SEPARATOR)]
    if len(parts) > 4:
        raise FieldError(f'the contact has {len(parts)} parts separated by "{CONTACT_SEPARATOR}"'
                         f"; it has at most 4: {_CONTACT_FORMAT}")
    name, role, email, phone = parts + [""] * (4 - len(parts))
    if not name:
        raise FieldError(f"the contact has no name; the name comes first: {_CONTACT_FORMAT}")
    if len(parts) == 1 and ("," in name or "@" in name):
        # Parts written with commas: as one name it would be stored without a word.
        raise FieldError(f'separate the name, role, email and phone with "{CONTACT_SEPARATOR}"'
                         f', not commas: {_CONTACT_FORMAT} (a name with a comma in it: end '
                         f'the line with "{CONTACT_SEPARATOR}")')
    if "@" in name:
        raise FieldError(f'the name "{quote_cell(name)}" looks like an email address; the name '
                         f"comes first: {_CONTACT_FORMAT}")
    if "@" in role:
        raise FieldError(f'the role "{quote_cell(role)}" looks like an email address; the email '
                         f"comes third, after an empty role if there is none: {_CONTACT_FORMAT}")
    if (_PHONE_RE.fullmatch(role)
            and sum(ch.isdigit() for ch in role) >= _PHONE_LIKE_MIN_DIGITS):
        raise FieldError(f'the role "{quote_cell(role)}" looks like a phone number; the phone '
                         f"comes fourth: {_CONTACT_FORMAT}")
    phone_number = _optional_text(phone, MAX_PHONE_CHARS, what="phone number")
    if phone_number is not None and not _PHONE_RE.fullmatch(phone_number):
        raise FieldError(f'"{quote_cell(phone_number)}" is not a phone number: use digits, '
                         'spaces, brackets, hyphens and dots, with "+" only first')
    return ContactValues(
        name=_text(name, MAX_CONTACT_NAME_CHARS, what="name"),
        role=_text(role, MAX_CONTACT_ROLE_CHARS, what="role"),
        email=parse_email(email),
        phone=phone_number,
    )


def format_contact(contact: ContactValues) -> str:
    """The contact as :func:`parse_contact` reads it, trailing empty parts left off."""
    parts = [contact.name, contact.role or "", contact.email or "", contact.phone or ""]
    while len(parts) > 1 and not parts[-1]:
        parts.pop()
    line = parts[0]
    for part in parts[1:]:  # "Sam Patel | | sam@acme.example": an empty part is one space
        line += f" {CONTACT_SEPARATOR}" + (f" {part}" if part else "")
    return line
