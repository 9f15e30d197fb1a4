"""What ``/healthz`` checks beyond "the database answers": that the app's role can do
what the app does.

A server whose role lost a grant (a migration recreated a table, the documented
set-up was half applied) answers its first requests and then fails every upload or log-in;
a health check that only runs ``SELECT 1`` calls it healthy. Here every table of the
schema must exist and carry the privileges the app uses, and on PostgreSQL the schema
of version tables must allow creating them. Nothing is written: PostgreSQL's privilege
functions are asked, and SQLite is probed with a write that touches no row, in a
transaction that is rolled back.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

import fivesafes.models  # noqa: F401 - registers every table in Base.metadata
from fivesafes.datasets.version_tables import VERSION_SCHEMA
from fivesafes.db import Base
from fivesafes.identity.web_models import LoginFailure

#: The rights the app needs on every table.
FULL = ("SELECT", "INSERT", "UPDATE", "DELETE")
#: Tables the app only reads and appends to (docs/audit.md revokes UPDATE and DELETE).
APPEND_ONLY = {"audit_events": ("SELECT", "INSERT"), "audit_checkpoints": ("SELECT", "INSERT")}
#: SQLite's write probe (any table would do; this one holds no history). It touches no row.
_SQLITE_PROBE_TABLE = LoginFailure.__tablename__
_SQLITE_PROBE = text(f"DELETE FROM {_SQLITE_PROBE_TABLE} WHERE 0")  # noqa: S608 - a constant


def required_rights() -> dict[str, tuple[str, ...]]:
    """Each table of the schema and the privileges the app's role needs on it."""
    return {t.name: APPEND_ONLY.get(t.name, FULL) for t in Base.metadata.sorted_tables}


def missing_rights(connection: Connection) -> list[str]:
    """What the connection's role lacks, as "PRIVILEGE on table" lines (empty: all good)."""
    if connection.dialect.name == "postgresql":
        return _postgres_missing(connection)
    return _sqlite_missing(connection)


def _postgres_missing(connection: Connection) -> list[str]:
    needed = required_rights()
    rows = connection.execute(
        text(
            "SELECT c.relname, c.oid FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
            "AND c.relname = ANY(:names)"
        ),
        {"names": list(needed)},
    ).all()
    found: dict[str, int] = {name: oid for name, oid in rows}  # noqa: C416 - typed
    problems = [f"table {name} is missing" for name in needed if name not in found]
    for name, privileges in needed.items():
        if name not in found:
            continue
        for privilege in privileges:
            granted = connection.scalar(
                text("SELECT has_table_privilege(CAST(:oid AS oid), :privilege)"),
                {"oid": found[name], "privilege": privilege},
            )
            if not granted:
                problems.append(f"{privilege} on {name}")
    sequences = connection.scalars(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'S' "
            # CASE: the planner may test rows of other kinds, which the function refuses.
            "AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(c.oid, 'USAGE') "
            "ELSE false END"
        )
    ).all()
    problems.extend(f"USAGE on sequence {name}" for name in sequences)
    schema_exists = connection.scalar(
        text("SELECT count(*) FROM pg_namespace WHERE nspname = :schema"),
        {"schema": VERSION_SCHEMA},
    )
    if not schema_exists:
        problems.append(f"schema {VERSION_SCHEMA} is missing")
    else:
        for privilege in ("USAGE", "CREATE"):
            granted = connection.scalar(
                text("SELECT has_schema_privilege(:schema, :privilege)"),
                {"schema": VERSION_SCHEMA, "privilege": privilege},
            )
            if not granted:
                problems.append(f"{privilege} on schema {VERSION_SCHEMA}")
    return problems


def _sqlite_missing(connection: Connection) -> list[str]:
    present = set(
        connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table'")).all()
    )
    problems = [f"table {name} is missing" for name in required_rights() if name not in present]
    if _SQLITE_PROBE_TABLE in present:
        try:  # the caller's transaction is rolled back: the probe leaves nothing
            connection.execute(_SQLITE_PROBE)
        except OperationalError:  # "attempt to write a readonly database"
            problems.append("the database file is not writable")
    return problems
