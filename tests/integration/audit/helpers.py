"""Tampering as an attacker with database access would do it: raw SQL, triggers disabled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine


@contextmanager
def triggers_disabled(engine: Engine) -> Iterator[Connection]:
    """A connection on which the append-only triggers do not fire (owner-level access)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            yield connection
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            rows = connection.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type='trigger' "
                    "AND tbl_name='audit_events'"
                )
            ).all()
            for name, _ in rows:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            yield connection
            for _, sql in rows:
                connection.execute(text(sql))
