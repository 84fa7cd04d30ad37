"""The parsers of a supplier's values shared by the importer and the admin form: good values
and what each parser says of bad ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from web.models import Accreditation, Contact, Supplier
from web.services import supplier_fields as fields
from web.services.supplier_fields import ContactValues, FieldError

OPTION_CODES = {"SV-APP": "SV-APP", "SV-SPEND": "SV-SPEND"}


def commitments(text: str) -> Any:
    return fields.parse_commitments(text, OPTION_CODES)


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (fields.parse_number, "£1,250,000", 1_250_000.0),
        (fields.parse_number, " 25 ", 25.0),
        (fields.parse_number, "", None),
        (fields.parse_number, "0", 0.0),
        (fields.split_list, "EWI; loft insulation ;ewi;; ", ["EWI", "loft insulation"]),
        (fields.split_list, "", []),
        (fields.parse_cpv_codes, "45321000, 45421151-3;45321000", ["45321000", "45421151"]),
        (fields.parse_cpv_codes, "٤٥٣٢١٠٠٠", ["45321000"]),  # Arabic-Indic digits
        (fields.parse_cpv_codes, " ", []),
        (fields.parse_company_number, "1234567", ("01234567", None)),
        (fields.parse_company_number, "sc 123456", ("SC123456", None)),
        (fields.parse_company_number, "SC1234", ("SC001234", None)),
        (fields.parse_company_number, "n/a", (None, None)),
        (fields.parse_accreditations, "CHAS:2027-03-31; ISO 9001:2015; TrustMark:",
         (("CHAS", dt.date(2027, 3, 31)), ("ISO 9001:2015", None), ("TrustMark", None))),
        (fields.parse_accreditations, "", ()),
        (commitments, "sv-spend:5,000; SV-APP", (("SV-APP", 1.0), ("SV-SPEND", 5000.0))),
        (commitments, "", ()),
        (fields.parse_email, " bids@acme.example ", "bids@acme.example"),
        (fields.parse_email, "", None),
        (fields.parse_website, "https://acme.example/", "https://acme.example/"),
        (fields.parse_website, " ", None),
        (fields.parse_phone, "0151 496 0000", "0151 496 0000"),
        (fields.parse_phone, "ask for Jo", "ask for Jo"),  # a supplier's phone: as given
        (fields.parse_phone, "", None),
    ],
)
def test_good_values(parse: Callable[[str], Any], text: str, expected: Any) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (fields.parse_number, "lots", '"lots" is not a number'),
        (fields.parse_number, "nan", '"nan" is not a number'),
        (fields.parse_number, "-5", "-5 is negative; it must be 0 or more"),
        (fields.parse_cpv_codes, "4532 45321000 x",
         "malformed CPV codes 4532, x: a CPV code is 8 digits with an optional check digit, "
         "e.g. 45421151 or 45421151-3"),
        (fields.parse_accreditations, "CHAS:31/03/2027",
         '"31/03/2027" is not a date: use YYYY-MM-DD, e.g. 2026-03-31'),
        (fields.parse_accreditations, ":2027-01-01",
         '":2027-01-01" has no accreditation name before the ":"'),
        (fields.parse_accreditations, "A" * 101,
         f'accreditation name "{"A" * 40}…" is longer than 100 characters'),
        (fields.parse_accreditations, "CHAS; chas:2027-01-01",
         'accreditation "chas" is listed twice'),
        (commitments, "NOPE:3; SV-APP",
         "unknown social-value option code NOPE (known: SV-APP, SV-SPEND)"),
        (commitments, "SV-APP:1; sv-app:2", 'social-value option "SV-APP" is listed twice'),
        (commitments, "SV-APP:lots", '"lots" is not a number'),
        (fields.parse_email, "nobody", '"nobody" is not an email address'),
        (fields.parse_email, "a@" + "b" * 300 + ".example",
         "the email address is longer than 300 characters"),
        (fields.parse_website, "my site", '"my site" is not a web address (it contains spaces)'),
        (fields.parse_phone, "0" * 51, "the phone number is longer than 50 characters"),
    ],
)
def test_bad_values(parse: Callable[[str], Any], text: str, message: str) -> None:
    with pytest.raises(FieldError) as raised:
        parse(text)
    assert str(raised.value) == message


def test_a_company_number_that_is_not_one_is_a_warning_not_an_error() -> None:
    assert fields.parse_company_number("Acme House") == (None, (
        '"Acme House" is not a Companies House number (8 characters, such as 01234567 or '
        "SC123456), so it was not stored"
    ))


def test_unknown_codes_are_listed_briefly() -> None:
    with pytest.raises(FieldError) as raised:
        fields.parse_commitments("; ".join(f"X{n}" for n in range(8)), {})
    assert str(raised.value) == ("unknown social-value option codes X0, X1, X2, X3, X4 and "
                                 "3 more (none are set up yet)")


# --- contacts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jo Bloggs | Contracts manager | jo@acme.example | 0151 496 0000",
         ContactValues("Jo Bloggs", "Contracts manager", "jo@acme.example", "0151 496 0000")),
        ("Jo Bloggs", ContactValues("Jo Bloggs")),
        ("  Jo Bloggs  |  Director, Estates  ", ContactValues("Jo Bloggs", "Director, Estates")),
        ("Sam Patel | | sam@acme.example", ContactValues("Sam Patel", "", "sam@acme.example")),
        ("Sam Patel|||+44 (0)151 496-0000",
         ContactValues("Sam Patel", "", None, "+44 (0)151 496-0000")),
        ("Bloggs, Jo |", ContactValues("Bloggs, Jo")),
        ("Jo | Level 3 assessor", ContactValues("Jo", "Level 3 assessor")),
        ("Zoë Ñúñez | Directrice | zoe@acme.example", ContactValues("Zoë Ñúñez", "Directrice",
                                                                   "zoe@acme.example")),
        ("<b>Jo</b> | <i>Boss</i>", ContactValues("<b>Jo</b>", "<i>Boss</i>")),
        ("N" * 200 + " | " + "R" * 200 + " | " + "e" * 287 + "@acme.example | " + "1" * 50,
         ContactValues("N" * 200, "R" * 200, "e" * 287 + "@acme.example", "1" * 50)),
    ],
)
def test_parse_contact(text: str, expected: ContactValues) -> None:
    assert fields.parse_contact(text) == expected


FORMAT = "name | role | email | phone"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("| Contracts manager", f"the contact has no name; the name comes first: {FORMAT}"),
        ("Jo | a | b | c | d",
         f'the contact has 5 parts separated by "|"; it has at most 4: {FORMAT}'),
        ("Jo Bloggs, Contracts manager, jo@acme.example",
         f'separate the name, role, email and phone with "|", not commas: {FORMAT} (a name '
         'with a comma in it: end the line with "|")'),
        ("jo@acme.example | Jo",
         f'the name "jo@acme.example" looks like an email address; the name comes first: '
         f"{FORMAT}"),
        ("Jo | jo@acme.example",
         'the role "jo@acme.example" looks like an email address; the email comes third, '
         f"after an empty role if there is none: {FORMAT}"),
        ("Jo | 0151 496 0000",
         f'the role "0151 496 0000" looks like a phone number; the phone comes fourth: {FORMAT}'),
        ("Jo | Manager | jo@acme", '"jo@acme" is not an email address'),
        ("Jo | Manager | jo at acme.example", '"jo at acme.example" is not an email address'),
        ("Jo | Manager | | 0151 496 OOOO",
         '"0151 496 OOOO" is not a phone number: use digits, spaces, brackets, hyphens and '
         'dots, with "+" only first'),
        ("Jo | | | 0151 ext 12", '"0151 ext 12" is not a phone number: use digits, spaces, '
         'brackets, hyphens and dots, with "+" only first'),
        ("Jo | | | 44+151", '"44+151" is not a phone number: use digits, spaces, brackets, '
         'hyphens and dots, with "+" only first'),
        ("Jo | | | +", '"+" is not a phone number: use digits, spaces, brackets, hyphens and '
         'dots, with "+" only first'),
        ("N" * 201, "the name is longer than 200 characters"),
        ("Jo | " + "R" * 201, "the role is longer than 200 characters"),
        ("Jo | | " + "e" * 289 + "@acme.example",
         "the email address is longer than 300 characters"),
        ("Jo | | | " + "1" * 51, "the phone number is longer than 50 characters"),
        ("Jo\tBloggs\tManager",
         f'the contact contains a tab; separate its parts with "|": {FORMAT}'),
        ("Jo\x00 | Manager",
         "the contact contains a control character; remove it"),
        ("Jo | Manager\x1b[31m",
         "the contact contains a control character; remove it"),
        ("Jo | \x85Manager",
         "the contact contains a control character; remove it"),
        ("Jo\u2028Bloggs",
         "the contact contains a control character; remove it"),
    ],
)
def test_parse_contact_errors(text: str, message: str) -> None:
    with pytest.raises(FieldError) as raised:
        fields.parse_contact(text)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("contact", "line"),
    [
        (ContactValues("Jo Bloggs", "Contracts manager", "jo@acme.example", "0151 496 0000"),
         "Jo Bloggs | Contracts manager | jo@acme.example | 0151 496 0000"),
        (ContactValues("Jo Bloggs"), "Jo Bloggs"),
        (ContactValues("Jo Bloggs", "Director, Estates"), "Jo Bloggs | Director, Estates"),
        (ContactValues("Sam Patel", phone="0151 496 0000"), "Sam Patel | | | 0151 496 0000"),
        (ContactValues("Sam Patel", email="sam@acme.example"), "Sam Patel | | sam@acme.example"),
    ],
)
def test_format_contact_is_read_back_as_it_was(contact: ContactValues, line: str) -> None:
    assert fields.format_contact(contact) == line
    assert fields.parse_contact(line) == contact


@pytest.mark.parametrize(
    ("limit", "column"),
    [
        (fields.MAX_CONTACT_NAME_CHARS, Contact.name),
        (fields.MAX_CONTACT_ROLE_CHARS, Contact.role),
        (fields.MAX_EMAIL_CHARS, Contact.email),
        (fields.MAX_PHONE_CHARS, Contact.phone),
        (fields.MAX_EMAIL_CHARS, Supplier.email),
        (fields.MAX_PHONE_CHARS, Supplier.phone),
        (fields.MAX_URL_CHARS, Supplier.website),
        (fields.MAX_ACCREDITATION_NAME_CHARS, Accreditation.name),
    ],
)
def test_limits_are_the_database_columns(limit: int, column: Any) -> None:
    assert limit == column.type.length
