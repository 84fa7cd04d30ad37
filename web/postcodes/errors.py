"""Exceptions raised by the postcode directory."""

from __future__ import annotations

from web.services.supplier_files import quote_cell

VALID_FORMAT_HINT = (
    "A valid UK postcode is an outward code of 2 to 4 letters and digits, a space, "
    "then a digit and two letters, e.g. SW1A 1AA, L34 1AB or M1 1AE; "
    "an outward code alone (L34) or a sector (L34 1) also works."
)


# Longest user text echoed back in a message; longer input is cut short.
MAX_ECHO_CHARS = 24


def _echo(text: str) -> str:
    """The start of ``text`` as a message quotes it (printable, cut short)."""
    return quote_cell(text, MAX_ECHO_CHARS)


class PostcodeError(Exception):
    """Base class for problems with a postcode a user gave us."""


class PostcodeFormatError(PostcodeError, ValueError):
    """The text is not shaped like a UK postcode, outcode or sector."""

    def __init__(self, query: str, reason: str | None = None) -> None:
        self.query = query
        detail = f" ({reason})" if reason else ""
        super().__init__(f'"{_echo(query)}" is not a valid postcode{detail}. {VALID_FORMAT_HINT}')


class PostcodeNotFound(PostcodeError, LookupError):
    """A well-formed postcode that the directory does not hold.

    ``suggestions`` lists up to five nearby valid postcodes (or outcodes/sectors),
    best first; it may be empty.
    """

    def __init__(
        self,
        query: str,
        postcode: str,
        suggestions: list[str] | None = None,
        reason: str | None = None,
    ) -> None:
        self.query = query
        self.postcode = postcode
        self.suggestions: list[str] = list(suggestions or [])
        self.reason = reason
        message = f'Postcode "{postcode}" was not found.'
        if reason:
            message = f"{message} {reason}"
        if self.suggestions:
            message = f"{message} Did you mean {', '.join(self.suggestions)}?"
        super().__init__(message)


class DirectoryUnavailable(RuntimeError):
    """The directory file is missing, corrupt or from an older format.

    Deliberately not a :class:`PostcodeError`: it is an operator problem (run
    ``flask postcodes build``), not something wrong with the user's input.
    """
