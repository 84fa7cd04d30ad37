"""The package's contract: pure, typed, small public API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matcher


def test_public_api_names() -> None:
    required = {
        "SupplierRecord", "Accreditation", "Commitment", "SocialValueOption",
        "SocialValueChoice", "Thesaurus", "Weights", "DEFAULT_WEIGHTS", "DecayCurve", "Query",
        "Index", "MatchResult", "ComponentScore", "SearchResponse", "ALGORITHM_VERSION",
        "search", "normalise_cpv",
    }
    assert required <= set(matcher.__all__)
    for name in matcher.__all__:
        assert hasattr(matcher, name), name


def test_ships_py_typed() -> None:
    assert (Path(matcher.__file__).parent / "py.typed").exists()


def test_imports_no_web_or_database_code() -> None:
    code = (
        "import sys, matcher, matcher.store; "
        "bad = [m for m in ('flask', 'sqlalchemy', 'web') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(matcher.__file__).parent.parent)
    assert out.stdout.strip() == ""


def test_dataclasses_are_frozen_with_slots() -> None:
    import dataclasses

    for name in ("SupplierRecord", "Query", "MatchResult", "ComponentScore", "SearchResponse",
                 "Weights", "DecayCurve", "Accreditation", "Commitment"):
        cls = getattr(matcher, name)
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen, name
        assert hasattr(cls, "__slots__"), name
