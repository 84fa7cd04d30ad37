"""CPV (Common Procurement Vocabulary) codes and partial credit up their hierarchy.

A CPV code is 8 digits (plus a check digit after a dash). The hierarchy is in the digits:
division (2), group (3), class (4), category (5), then finer levels; trailing zeros pad. A
supplier code *at or below* a need's code is a full match (a roofer registered under 45261000
fully matches a need for 45260000 roof works). Otherwise the credit depends on how deep the
two codes' common ancestor is: the deeper, the closer the trades.
"""

from __future__ import annotations

import re

__all__ = ["LEVEL_CREDIT", "LEVEL_NAMES", "cpv_credit", "normalise_cpv", "significant"]

# "\d" is any script's decimal digit (full-width ４５, Arabic-Indic ٤٥, …): they are read as
# the digits they are, and the code is always returned in ASCII digits.
_CPV_RE = re.compile(r"\s*(\d{2,8})(?:-\d)?\s*")
MAX_QUOTED_CHARS = 20  # characters of a bad code quoted in the error message

#: Credit for a common ancestor of the given number of significant digits. A shared division
#: (45 construction) says little; a shared category (45421 joinery) is nearly the same trade.
LEVEL_CREDIT: dict[int, float] = {2: 0.2, 3: 0.4, 4: 0.6, 5: 0.8, 6: 0.85, 7: 0.9}
LEVEL_NAMES: dict[int, str] = {
    2: "division",
    3: "group",
    4: "class",
    5: "category",
    6: "subcategory",
    7: "subcategory",
    8: "code",
}


def normalise_cpv(code: str) -> str:
    """Return the 8-digit form of a CPV code: drops the check digit, pads with zeros.

    >>> normalise_cpv("45421151-3")
    '45421151'
    >>> normalise_cpv("4532")
    '45320000'

    Digits of any script (full-width ``４５３２``, as some input methods type them) are read
    as the ASCII digits they are.

    :raise ValueError: when ``code`` is not 2–8 digits with an optional ``-d`` check digit.
    """
    text = str(code)
    match = _CPV_RE.fullmatch(text)
    if not match:
        # repr() escapes control characters; the cut keeps a pasted document out of it.
        quoted = text if len(text) <= MAX_QUOTED_CHARS else text[:MAX_QUOTED_CHARS] + "…"
        raise ValueError(f"not a CPV code: {quoted!r}")
    digits = match.group(1)
    if not digits.isascii():
        digits = "".join(str(int(digit)) for digit in digits)
    return digits.ljust(8, "0")


def significant(code: str) -> str:
    """The significant prefix of an 8-digit code: trailing zeros stripped, at least 2 digits."""
    stripped = code.rstrip("0")
    return stripped if len(stripped) >= 2 else code[:2]


def cpv_credit(need_code: str, supplier_code: str) -> tuple[float, int]:
    """Credit (0–1) of ``supplier_code`` for ``need_code`` and the common prefix length.

    Both codes are 8-digit strings. 1.0 when the supplier's code is the need's code or below
    it; ``LEVEL_CREDIT`` of the common ancestor's depth otherwise; 0 across divisions.
    """
    need, supplier = significant(need_code), significant(supplier_code)
    if supplier.startswith(need):
        return 1.0, len(need)
    common = 0
    for a, b in zip(need, supplier, strict=False):
        if a != b:
            break
        common += 1
    return LEVEL_CREDIT.get(common, 0.0), common
