"""Reading a release's rows once, in storage order, as Arrow record batches of stored types.

- PostgreSQL: through ADBC (the Apache Arrow project's database driver), which runs the
  query as a binary ``COPY`` and builds Arrow batches in C++, without the interpreter. A
  thread keeps pulling batches into a short queue so the database keeps sending while the
  caller transforms and counts; the queue bounds memory to a few batches. The connection
  is the platform's database URL, read-only for every transaction it starts. COPY takes
  no bound parameters, so the grant filter's literals are quoted by psycopg on the client
  (the same quoting it applies to COPY statements), never by string formatting here.
- Elsewhere (SQLite): a streamed ``SELECT`` read in partitions of
  :data:`~fivesafes.release.query.BATCH_ROWS` rows. Decimals are text there
  (:mod:`fivesafes.column_kinds`) and come back with every digit, written as PostgreSQL
  writes a ``numeric``, so both dialects release the same text.

Reading happens before the first byte of a release is sent (the disclosure gate counts
the rows as they are read), so no database connection or snapshot outlives the request
that asked for the release, however slowly its client then downloads.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator, Sequence
from typing import Any
from urllib.parse import quote

import adbc_driver_manager
import adbc_driver_postgresql
import psycopg
import pyarrow as pa
from sqlalchemy.engine import Connection, Engine

from fivesafes.column_kinds import ColumnKind, decimal_text
from fivesafes.db import READ_ONLY
from fivesafes.release.ahead import ReadAhead
from fivesafes.release.query import (
    BATCH_ROWS,
    HIDDEN_PATIENT,
    ReleasePlan,
    decoded_pseudonyms,
    rows_statement,
)

#: Batches the reading thread may hold ahead of the caller, and their size hint: with the
#: batch being worked on, about 40 MB whatever the size of the release.
_BATCHES_AHEAD = 8
_BATCH_BYTES = 4 << 20
_READ_ONLY_OPTIONS = "-c default_transaction_read_only=on"
_DATABASES: dict[str, adbc_driver_manager.AdbcDatabase] = {}
_DATABASES_LOCK = threading.Lock()


def read_batches(
    plan: ReleasePlan, engine: Engine, renderer: Connection
) -> Generator[pa.RecordBatch, None, None]:
    """The rows of ``plan`` (granted columns, filter applied), in read_schema types (on
    PostgreSQL stored pseudonyms arrive decoded, as 16-byte binary values).

    ``renderer`` is an open connection of the same database, used on PostgreSQL to quote
    the filter's literals into the statement. Close the generator if you stop early: that
    stops the reading thread and releases the connection at once."""
    if engine.dialect.name == "postgresql":
        return _postgres_batches(plan, engine, renderer)
    return _generic_batches(plan, engine)


# ------------------------------------------------------------------------------ generic


def _generic_batches(plan: ReleasePlan, engine: Engine) -> Generator[pa.RecordBatch, None, None]:
    schema = plan.read_schema
    decimals = [i for i, f in enumerate(schema) if _is_decimal(plan, f.name)]
    with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
            rows_statement(plan, connection)
        )
        for rows in result.partitions():
            columns: list[Sequence[Any]] = [list(c) for c in zip(*rows, strict=True)]
            for i in decimals:
                columns[i] = [None if v is None else decimal_text(v) for v in columns[i]]
            yield pa.RecordBatch.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
                schema=schema,
            )


def _is_decimal(plan: ReleasePlan, name: str) -> bool:
    return name != HIDDEN_PATIENT and plan.stored_kinds[name] is ColumnKind.DECIMAL


# ---------------------------------------------------------------------------- PostgreSQL


def _adbc_uri(engine: Engine) -> str:
    """The libpq URI of the engine's database, every transaction read-only (libpq decodes
    %-escapes but not ``+``, so the options are quoted here rather than by SQLAlchemy)."""
    url = engine.url.set(drivername="postgresql")
    options = " ".join(filter(None, [str(url.query.get("options") or ""), _READ_ONLY_OPTIONS]))
    base = url.difference_update_query(["options"]).render_as_string(hide_password=False)
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(options, safe='')}"


def _render(plan: ReleasePlan, connection: Connection) -> str:
    compiled = rows_statement(plan, connection).compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    raw = connection.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return psycopg.ClientCursor(raw).mogrify(str(compiled), compiled.params)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Driver types to read_schema types (same values: e.g. a timestamp's zone label)."""
    arrays = []
    for column, target in zip(batch.columns, schema, strict=True):
        arrays.append(column if column.type == target.type else column.cast(target.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _database(uri: str) -> adbc_driver_manager.AdbcDatabase:
    """One ADBC database handle per URI for the life of the process: making one costs tens
    of milliseconds (the driver reads the server's type catalogue); connections are cheap."""
    with _DATABASES_LOCK:
        database = _DATABASES.get(uri)
        if database is None:
            database = _DATABASES[uri] = adbc_driver_postgresql.connect(uri)
        return database


def _adbc_batches(uri: str, sql: str) -> Iterator[pa.RecordBatch]:
    connection = adbc_driver_manager.AdbcConnection(_database(uri))  # autocommit
    try:
        statement = adbc_driver_manager.AdbcStatement(connection)
        try:
            statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(_BATCH_BYTES)})
            statement.set_sql_query(sql)
            stream, _ = statement.execute_query()
            with pa.RecordBatchReader.from_stream(stream) as reader:
                yield from reader
        finally:
            statement.close()
    finally:
        connection.close()


def _postgres_batches(
    plan: ReleasePlan, engine: Engine, renderer: Connection
) -> Generator[pa.RecordBatch, None, None]:
    decoded = decoded_pseudonyms(plan)
    schema = pa.schema(
        [pa.field(f.name, pa.binary()) if f.name in decoded else f for f in plan.read_schema]
    )
    source = ReadAhead(
        _adbc_batches(_adbc_uri(engine), _render(plan, renderer)), _BATCHES_AHEAD, "release-read"
    )
    try:
        for batch in source:
            yield _conform(batch, schema)
    finally:
        source.close()
