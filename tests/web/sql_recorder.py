"""What SQL a request runs after its last commit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa


class AfterCommit:
    """Statements run after the last commit seen (not the pool's own rollback when the
    connection goes back: that is no statement). ``committed`` tells whether one was seen."""

    def __init__(self) -> None:
        self.after: list[str] = []
        self.committed = False

    def _commit(self, _connection: object) -> None:
        self.committed, self.after = True, []

    def _statement(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if self.committed:
            self.after.append(statement.split("\n")[0][:80])


@contextmanager
def statements_after_commit(engine: sa.Engine) -> Iterator[AfterCommit]:
    """Record, on ``engine``, the statements run after each commit inside the block."""
    recorder = AfterCommit()
    sa.event.listen(engine, "commit", recorder._commit)
    sa.event.listen(engine, "before_cursor_execute", recorder._statement)
    try:
        yield recorder
    finally:
        sa.event.remove(engine, "commit", recorder._commit)
        sa.event.remove(engine, "before_cursor_execute", recorder._statement)
