"""Tampering as an attacker with database access would do it: raw SQL, triggers disabled."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine


@contextmanager
def triggers_disabled(
    engine: Engine, tables: Sequence[str] = ("audit_events",)
) -> Iterator[Connection]:
    """A connection on which the audit triggers do not fire (owner-level access)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            for table in tables:
                connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            yield connection
            for table in tables:
                connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
        else:
            rows = connection.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type='trigger' "
                    "AND tbl_name IN (SELECT value FROM json_each(:tables))"
                ),
                {"tables": json.dumps(list(tables))},
            ).all()
            for name, _ in rows:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            yield connection
            for _, sql in rows:
                connection.execute(text(sql))
