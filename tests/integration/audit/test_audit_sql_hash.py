"""The database's hash (PostgreSQL computes it in SQL) is the Python canonical one.

The recorder recomputes every hash PostgreSQL returns and raises on a difference, so a
value SQL would serialise differently from RFC 8785 fails here; the verifier must then
also agree from the stored rows.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.context import Actor, AuditContext
from fivesafes.audit.entry import AuditEntry
from fivesafes.audit.recorder import record
from fivesafes.audit.verify import verify_chain

AWKWARD = [
    'quote " and backslash \\ and slash /',
    "controls \t\n\r\b\f \x01 \x1f and DEL \x7f",
    "unicode é ß 漢字 \u2028 \u2029 emoji 🩺",
    "",
]


def test_awkward_values_hash_the_same_in_sql_and_python(
    session_factory: sessionmaker[Session],
) -> None:
    with session_factory() as session:
        for value in AWKWARD:
            context = AuditContext(Actor(value[:64], "admin"), request_id=value[:64])
            entry = AuditEntry(
                "test.awkward",
                target_type=value[:64] or None,
                target_id=value[:128],
                details={
                    "text": value,
                    value or "empty": [1, -2, 0, True, False, None, {"z": 1, "a": [value]}],
                    "big": 2**60,  # beyond I-JSON: kept as text
                    "n": 9007199254740991,
                    "é": {"ß": "漢"},
                    "float": 1.0,
                },
            )
            record(session, context, entry)
        session.commit()
    with session_factory() as session:
        result = verify_chain(session)
    assert (result.ok, result.events_verified) == (True, len(AWKWARD))


def test_postgres_refuses_details_that_are_not_canonical(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not canonicalise in SQL")
    with pytest.raises(DBAPIError, match="canonical"), engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_events (seq, occurred_at, action, outcome, details, "
                "prev_hash, hash) VALUES (0, now(), 'x', 'success', :details, '', '')"
            ),
            {"details": '{"b": 1, "a": 2}'},
        )
