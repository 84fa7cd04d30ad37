"""A database restart cutting off a commit, as the tests make one."""

from __future__ import annotations

import pytest
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
        db.session.flush()  # a commit sends the session's changes before it is cut off
        db.session.rollback()
    raise sa.exc.OperationalError(
        "COMMIT", {}, Exception("terminating connection due to administrator command"),
        connection_invalidated=True)


def cut_first_commit(monkeypatch: pytest.MonkeyPatch, *,
                     went_through: bool | None) -> list[int]:
    """Make the first commit made through :mod:`web.db_setup`'s helpers (``commit_then``,
    ``commit_idempotent``) be cut off as :func:`cut_commit` does (``None``: not cut), and
    the later ones commit. Returns the list of commits tried, one item each."""
    from web import db_setup

    tried: list[int] = []
    commit = db_setup._commit

    def cut_the_first() -> None:
        tried.append(1)
        if len(tried) > 1 or went_through is None:
            return commit()
        cut_commit(went_through=went_through)

    monkeypatch.setattr(db_setup, "_commit", cut_the_first)
    return tried
