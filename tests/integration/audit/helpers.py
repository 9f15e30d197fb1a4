"""Tampering as an attacker with database access would do it: raw SQL, triggers disabled."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection, Engine

from fivesafes.audit.models import AuditEvent


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


def insert_at(
    engine: Engine, moments: Sequence[tuple[datetime, str]], actor_id: str | None = None
) -> None:
    """``test.event`` events at chosen times and outcomes after the head, inserted as the
    owner could (the recorder stamps the clock's time; these do not chain)."""
    with triggers_disabled(engine) as connection:
        head = connection.execute(text("SELECT COALESCE(MAX(seq), 0) FROM audit_events")).scalar()
        for seq, (moment, outcome) in enumerate(moments, start=int(head or 0) + 1):
            connection.execute(
                insert(AuditEvent),
                {
                    "seq": seq,
                    "occurred_at": moment,
                    "actor_id": actor_id,
                    "actor_role": None,
                    "action": "test.event",
                    "target_type": None,
                    "target_id": None,
                    "outcome": outcome,
                    "request_id": None,
                    "client_addr": None,
                    "details": "{}",
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                },
            )
