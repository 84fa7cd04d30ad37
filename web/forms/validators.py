"""Validators shared by the forms."""

from __future__ import annotations

import re
from typing import Any

from wtforms import Field
from wtforms.validators import ValidationError

# Control characters: none at all in a line of text; a text area may hold tab, line feed and
# carriage return. The same rules as the JSON API's (web/api/schemas.py). PostgreSQL cannot
# store NUL in text at all (a 500, were it let through), and the others garble pages,
# exports and terminals.
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class NoControlCharacters:
    """Refuses text holding control characters (``multiline``: tab and new lines allowed)."""

    def __init__(self, message: str, *, multiline: bool = False) -> None:
        self.message = message
        self.pattern = _TEXT_CONTROLS if multiline else _LINE_CONTROLS

    def __call__(self, form: Any, field: Field) -> None:
        if isinstance(field.data, str) and self.pattern.search(field.data):
            raise ValidationError(self.message)
