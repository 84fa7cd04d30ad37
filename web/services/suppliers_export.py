"""Exporting the supplier register in the import format (CSV or XLSX).

The export is the import's inverse: every column :mod:`web.services.suppliers_import` reads,
written so that importing the file again changes nothing. Staff can export, edit in a
spreadsheet and import the result.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from web.extensions import db
from web.models import Accreditation, Commitment, Framework, Lot, Supplier, supplier_lots
from web.services.supplier_files import CSV_SUFFIXES, XLSX_SUFFIXES
from web.services.suppliers_import import COLUMNS

__all__ = ["ExportError", "export_suppliers"]

# Numeric columns, written to XLSX as numbers (everything else as text, so leading zeros of
# company numbers and CPV codes survive a spreadsheet).
_NUMERIC_COLUMNS = frozenset(
    {"latitude", "longitude", "service_radius_km", "min_contract_value", "max_contract_value"}
)


class ExportError(ValueError):
    """The export cannot be written; ``str(error)`` is a message for the user."""


def export_suppliers(path: str | Path) -> int:
    """Write every supplier to ``path`` (.csv or .xlsx) in the import format.

    CSV is UTF-8 with a byte-order mark, so Excel shows "£" and accents correctly. Returns
    the number of suppliers written.

    :raise ExportError: when the extension is neither .csv nor .xlsx.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + XLSX_SUFFIXES:
        raise ExportError(f"{path.name}: export to a .csv or .xlsx file.")
    rows = _rows()
    if suffix in XLSX_SUFFIXES:
        return _write_xlsx(path, rows)
    count = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_text(row[column]) for column in COLUMNS])
            count += 1
    return count


def _write_xlsx(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Suppliers")
    sheet.append(list(COLUMNS))
    count = 0
    for row in rows:
        cells = []
        for column in COLUMNS:
            value = row[column]
            if column in _NUMERIC_COLUMNS and value is not None:
                cells.append(value)
                continue
            text = _text(value)
            if not text.startswith("="):
                cells.append(text)
                continue
            # openpyxl would store this as a formula: never let a supplier's name run as
            # one in someone's spreadsheet.
            cell = WriteOnlyCell(sheet, value=text)
            cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
        count += 1
    workbook.save(path)
    return count


def _text(value: Any) -> str:
    """A value as the importer reads it back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _lot_labels() -> dict[int, str]:
    """Each lot as the import reads it: its code, or FRAMEWORK:LOT where codes repeat."""
    lots = db.session.execute(sa.select(Lot.id, Lot.code, Framework.code).join(Lot.framework))
    rows = list(lots)
    uses: dict[str, int] = defaultdict(int)
    for _lot_id, code, _framework in rows:
        uses[code.upper()] += 1
    return {
        lot_id: code if uses[code.upper()] == 1 else f"{framework}:{code}"
        for lot_id, code, framework in rows
    }


def _accreditation_text(name: str, expires: dt.date | None) -> str:
    if expires is not None:
        return f"{name}:{expires.isoformat()}"
    # A name with a colon would be read as NAME:DATE; a trailing ":" says "no date".
    return f"{name}:" if ":" in name else name


def _rows() -> Iterator[dict[str, Any]]:
    """Every supplier as a mapping of import column -> value, by external id."""
    labels = _lot_labels()
    lots: dict[int, list[str]] = defaultdict(list)
    for supplier_id, lot_id in db.session.execute(
        sa.select(supplier_lots.c.supplier_id, supplier_lots.c.lot_id)
    ):
        lots[supplier_id].append(labels[lot_id])
    accreditations: dict[int, list[str]] = defaultdict(list)
    for supplier_id, name, expires in db.session.execute(
        sa.select(Accreditation.supplier_id, Accreditation.name, Accreditation.expires_on)
        .order_by(Accreditation.supplier_id, Accreditation.name, Accreditation.expires_on)
    ):
        accreditations[supplier_id].append(_accreditation_text(name, expires))
    commitments: dict[int, list[str]] = defaultdict(list)
    for supplier_id, code, quantity in db.session.execute(
        sa.select(Commitment.supplier_id, Commitment.option_code, Commitment.quantity_per_million)
        .order_by(Commitment.supplier_id, Commitment.option_code)
    ):
        commitments[supplier_id].append(f"{code}:{_text(quantity)}")

    # Plain column rows, not ORM objects: the register may be large and is only read.
    columns = [
        "id", "external_id", "name", "company_number", "address", "postcode", "latitude",
        "longitude", "la_code", "description", "capabilities", "cpv_codes", "sme", "vcse",
        "service_radius_km", "min_contract_value", "max_contract_value", "website", "email",
        "phone",
    ]
    query = sa.select(*(getattr(Supplier, c) for c in columns)).order_by(Supplier.external_id)
    for values in db.session.execute(query):
        supplier = dict(zip(columns, values, strict=True))
        supplier_id = supplier.pop("id")
        supplier["local_authority_code"] = supplier.pop("la_code")
        supplier["capabilities"] = "; ".join(supplier["capabilities"] or [])
        supplier["cpv_codes"] = "; ".join(supplier["cpv_codes"] or [])
        supplier["lots"] = "; ".join(sorted(lots[supplier_id]))
        supplier["accreditations"] = "; ".join(accreditations[supplier_id])
        supplier["social_value"] = "; ".join(commitments[supplier_id])
        yield supplier
