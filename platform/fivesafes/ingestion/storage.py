"""Per-version data tables: typed columns from the policy, filled in bulk.

Each dataset version gets its own table ``dsv_<version id>``, created in the transaction
that creates the version, so an aborted ingestion leaves no table and no version (both
SQLite and PostgreSQL have transactional DDL). Typed columns let releases select columns
and filter rows in SQL.

PostgreSQL is filled with ``COPY ... FROM STDIN`` from text the workers have already
encoded; SQLite with ``executemany``.

On PostgreSQL the tables live in their own schema, :data:`VERSION_SCHEMA`, made by
migration 0009: the application role creates (and so owns and may drop) its version
tables there, and needs no CREATE on ``public``, where the owner role's governed tables
and the audit trail live (docs/audit.md). SQLite has no schemas and no roles; a separate
attached file would split one transaction across two files for no gain in protection, so
version tables stay in the main file, told apart by their ``dsv_`` prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, inspect
from sqlalchemy.engine import Connection, Engine

from fivesafes.column_kinds import ColumnKind
from fivesafes.datasets.models import DATA_TABLE_PREFIX, ROW_ID_COLUMN
from fivesafes.datasets.version_tables import version_schema
from fivesafes.deid.plan import OutputColumn

#: The PostgreSQL schema of version tables (SQLite: none).


def qualified_name(bind: Connection | Engine, name: str) -> str:
    """A version table's name, schema-qualified and quoted, for hand-written SQL."""
    quote = bind.dialect.identifier_preparer.quote
    schema = version_schema(bind.dialect.name)
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def table_exists(bind: Connection | Engine, name: str) -> bool:
    return inspect(bind).has_table(name, schema=version_schema(bind.dialect.name))


def version_table_names(bind: Connection | Engine) -> list[str]:
    """Every ``dsv_`` table that exists, referenced by a version or not."""
    names = inspect(bind).get_table_names(schema=version_schema(bind.dialect.name))
    return [n for n in names if n.startswith(DATA_TABLE_PREFIX)]


def table_name(version_id: int) -> str:
    return f"{DATA_TABLE_PREFIX}{version_id}"


def row_id_column() -> Column[int]:
    """A stable row id in load order (see ``datasets.models.ROW_ID_COLUMN``)."""
    # INTEGER PRIMARY KEY is SQLite's rowid itself (kept by VACUUM); BIGSERIAL on PostgreSQL.
    return Column(
        ROW_ID_COLUMN,
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def data_table(
    name: str,
    columns: Sequence[OutputColumn],
    *,
    row_ids: bool = False,
    schema: str | None = None,
) -> Table:
    """The SQLAlchemy description of a version's table (names quoted as the policy has them).

    ``row_ids`` adds :data:`ROW_ID_COLUMN`, filled by the database as rows arrive;
    ``schema`` is :func:`version_schema` of the dialect the table lives on.
    """
    metadata = MetaData()
    extra = [row_id_column()] if row_ids else []
    return Table(
        name,
        metadata,
        *extra,
        *(Column(c.name, c.kind.sql_type(), nullable=True) for c in columns),
        schema=schema,
    )


def loaded_columns(table: Table) -> list[Column[Any]]:
    """The columns ingestion writes (the row id, if any, is the database's to assign)."""
    return [c for c in table.columns if c.name != ROW_ID_COLUMN]


def create_table(connection: Connection, table: Table) -> None:
    table.create(connection)


def drop_table(connection: Connection, name: str) -> None:
    """Drop a data table by name (only ``dsv_`` tables: never anything else)."""
    if not name.startswith(DATA_TABLE_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a data table")
    schema = version_schema(connection.dialect.name)
    Table(name, MetaData(), schema=schema).drop(connection, checkfirst=True)


def _sqlite_datetime(value: str) -> str:
    """SQLAlchemy's SQLite storage form (space, microseconds, UTC) so SQL comparisons work."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _sqlite_value(kind: ColumnKind, value: str | None) -> object:
    if value is None or kind in _SQLITE_AS_TEXT:
        return value
    if kind is ColumnKind.DATETIME:
        return _sqlite_datetime(value)
    if kind is ColumnKind.BOOLEAN:
        return value.lower() in {"true", "1", "t", "yes", "y"}
    return int(value)


#: Stored in SQLite as the engine's text: strings; ISO dates, as SQLAlchemy reads them;
#: decimals, in a TEXT column so that no digit or trailing zero is lost (ColumnKind).
_SQLITE_AS_TEXT = frozenset({ColumnKind.STRING, ColumnKind.DATE, ColumnKind.DECIMAL})


def insert_columns_sqlite(
    connection: Connection,
    table: Table,
    kinds: Sequence[str],
    columns: Sequence[Sequence[str | None]],
) -> int:
    """Insert one chunk given column-major; returns rows inserted."""
    if not columns or not columns[0]:
        return 0
    converted = [
        column if kind in _SQLITE_AS_TEXT else [_sqlite_value(ColumnKind(kind), v) for v in column]
        for kind, column in zip(kinds, columns, strict=True)
    ]
    placeholders = ", ".join("?" for _ in kinds)
    quote = connection.dialect.identifier_preparer.quote
    quoted = ", ".join(quote(c.name) for c in loaded_columns(table))
    sql = f"INSERT INTO {qualified_name(connection, table.name)} ({quoted}) VALUES ({placeholders})"  # noqa: S608 - names from the policy, quoted
    connection.exec_driver_sql(sql, list(zip(*converted, strict=True)))
    return len(columns[0])


def copy_statement(connection: Connection, table: Table) -> str:
    quote = connection.dialect.identifier_preparer.quote
    quoted = ", ".join(quote(c.name) for c in loaded_columns(table))
    return f"COPY {qualified_name(connection, table.name)} ({quoted}) FROM STDIN"


def copy_chunks_postgres(connection: Connection, table: Table, payloads: Iterable[bytes]) -> None:
    """Stream COPY text-format payloads (already encoded by workers) into ``table``."""
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(copy_statement(connection, table)) as copy:
        for payload in payloads:
            copy.write(payload)
