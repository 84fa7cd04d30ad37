"""A database restart cutting off a commit, as the tests make one."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g

from web.extensions import db


def cut_commit(*, went_through: bool) -> None:
    """Commit as a database restart lets it: the commit goes through and its answer is lost
    (``went_through``), or it is cut off before the server has it; then raise what the
    driver raises for a connection the server closed."""
    if went_through:
        db.session.commit()
    else:
        g.db_commit_started = True  # as the session's before_commit hook marks it
        db.session.rollback()
    raise sa.exc.OperationalError(
        "COMMIT", {}, Exception("terminating connection due to administrator command"),
        connection_invalidated=True)
