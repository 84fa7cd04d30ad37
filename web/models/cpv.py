"""The CPV 2008 list (Common Procurement Vocabulary, Regulation (EC) 213/2008).

Not shipped with the product: each installation imports the EU's own file with
``flask cpv import``. Used for autocomplete and to show what a code means.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlalchemy.orm as so

from web.models.base import Base


class CpvCode(Base):
    """One code of the CPV list, e.g. 45421151 "Installation of fitted kitchens"."""

    __tablename__ = "cpv_codes"

    code8: so.Mapped[str] = so.mapped_column(sa.String(8), primary_key=True)
    # As published, with its check digit (e.g. "45421151-7"); None when the file had none.
    code_with_check: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    description: so.Mapped[str] = so.mapped_column(sa.Text)
    # 1 division (45000000), 2 group (45400000), 3 class (45420000), 4 category (45421000),
    # 5-7 the finer subdivisions (45421100, 45421150, 45421151).
    level: so.Mapped[int]
    # The nearest broader code in the list; None for a division.
    parent: so.Mapped[str | None] = so.mapped_column(sa.String(8))
