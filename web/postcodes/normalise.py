"""Parsing and normalising UK postcodes, sectors and outcodes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .errors import PostcodeFormatError

PostcodeKind = Literal["unit", "sector", "outcode"]

# Outward code shapes A9, A99, A9A, AA9, AA99, AA9A. We do not enforce Royal Mail's
# per-position letter restrictions: the directory lookup is the real validity check,
# and a too-strict pattern would give a format error where "not found + suggestions"
# is more helpful.
OUTCODE_PATTERN = r"[A-Z]{1,2}[0-9][A-Z0-9]?"
_OUTCODE_RE = re.compile(rf"{OUTCODE_PATTERN}")
_UNIT_RE = re.compile(rf"(?P<out>{OUTCODE_PATTERN})(?P<in>[0-9][A-Z]{{2}})")
_SECTOR_RE = re.compile(rf"(?P<out>{OUTCODE_PATTERN})(?P<digit>[0-9])")
_SPACES_RE = re.compile(r"\s+")

# The Girobank postcode predates the standard format; accept it for completeness.
GIROBANK = "GIR 0AA"

# Width of the outward code in the ONS 7-character form ("L1  0AA", "SW1A1AA").
OUTCODE_WIDTH = 4


@dataclass(frozen=True, slots=True)
class ParsedPostcode:
    """A normalised postcode split into its parts."""

    kind: PostcodeKind
    outcode: str
    sector_digit: str | None = None
    unit_letters: str | None = None

    @property
    def text(self) -> str:
        """The display form: "L34 1AB", "L34 1" or "L34"."""
        if self.kind == "outcode":
            return self.outcode
        if self.kind == "sector":
            return f"{self.outcode} {self.sector_digit}"
        return f"{self.outcode} {self.sector_digit}{self.unit_letters}"

    @property
    def sector(self) -> str | None:
        """The sector ("L34 1") for units and sectors, else None."""
        if self.sector_digit is None:
            return None
        return f"{self.outcode} {self.sector_digit}"

    @property
    def key(self) -> bytes:
        """The ONS 7-character form (outcode padded to 4) or its prefix, as bytes."""
        padded = self.outcode.ljust(OUTCODE_WIDTH)
        if self.kind == "outcode":
            return padded.encode("ascii")
        if self.kind == "sector":
            return f"{padded}{self.sector_digit}".encode("ascii")
        return f"{padded}{self.sector_digit}{self.unit_letters}".encode("ascii")


def parse_postcode(query: str) -> ParsedPostcode:
    """Parse a full postcode, a sector or an outcode, forgiving case and spacing.

    Without spaces, text that ends in a digit and two letters is a unit postcode,
    a valid outward code is an outcode ("SW11"), and an outward code plus one digit
    is a sector ("L341" -> "L34 1"). With a space, "L34 1" is a sector.
    """
    if not isinstance(query, str):
        raise PostcodeFormatError(repr(query), "expected text")
    text = _SPACES_RE.sub(" ", query.strip().upper())
    if not text:
        raise PostcodeFormatError(query, "it is empty")
    compact = text.replace(" ", "")
    if compact == GIROBANK.replace(" ", ""):
        return ParsedPostcode("unit", "GIR", "0", "AA")
    if match := _UNIT_RE.fullmatch(compact):
        inward = match["in"]
        return ParsedPostcode("unit", match["out"], inward[0], inward[1:])
    if " " in text:
        parts = text.split(" ")
        if len(parts) == 2 and _OUTCODE_RE.fullmatch(parts[0]) and re.fullmatch("[0-9]", parts[1]):
            return ParsedPostcode("sector", parts[0], parts[1])
        raise PostcodeFormatError(query)
    if _OUTCODE_RE.fullmatch(compact):
        return ParsedPostcode("outcode", compact)
    if match := _SECTOR_RE.fullmatch(compact):
        return ParsedPostcode("sector", match["out"], match["digit"])
    raise PostcodeFormatError(query)


def normalise_postcode(query: str) -> str:
    """Return the canonical form of a postcode ("L34 1AB"), sector ("L34 1") or outcode ("L34").

    Raises :class:`PostcodeFormatError` when the text is not shaped like any of them.
    """
    return parse_postcode(query).text
