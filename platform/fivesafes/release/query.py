"""What a grant releases, as SQL, and the rows themselves as Arrow record batches.

:func:`build_plan` turns a grant into a :class:`ReleasePlan`: the dataset version it
reads, the granted columns and what happens to each, and one WHERE clause (the grant's
row filter compiled by :mod:`fivesafes.access.filters`, with every literal a bound
parameter, and opted-out rows excluded where the dataset flags them). Nothing a user
typed ever becomes SQL text.

The rows are read in shuffled order, in batches of about :data:`BATCH_ROWS`, into
Arrow record batches of the stored types; memory is bounded by the batch, not the data:

- PostgreSQL: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` on a separate read-only
  connection, parsed by pyarrow's C++ CSV reader while a thread keeps the copy flowing.
  Rows are ordered by a random bucket of about :data:`BUCKET_ROWS` rows and each bucket is
  permuted in memory, which is a full random shuffle without sorting whole rows.
- Elsewhere (SQLite): a streamed ``SELECT ... ORDER BY random()`` read in partitions.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import queue
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from fivesafes.access.filters import check_filter, compile_filter, policy_columns
from fivesafes.access.models import Grant
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import DatasetVersion
from fivesafes.deid.optout import OPTED_OUT_COLUMN
from fivesafes.deid.plan import OutputColumn
from fivesafes.deid.policy import Policy
from fivesafes.errors import ConflictError
from fivesafes.ingestion.storage import data_table

BATCH_ROWS = 50_000
BUCKET_ROWS = 25_000
#: Name of the stored patient pseudonym when the grant does not release it (never output).
HIDDEN_PATIENT = "__fivesafes_patient"
_BUCKET = "__fivesafes_bucket"

#: Arrow types rows are read as (decimals stay exact text until a writer decides).
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.string(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "boolean": pa.bool_(),
}


@dataclass(frozen=True, slots=True)
class ReleaseColumn:
    """A released column: its stored type, what the release does to it, its output type."""

    name: str
    kind: str  # stored: string integer decimal date datetime boolean
    treatment: str  # project_pseudonym | project_date_shift | date | as_stored
    out_kind: str  # released type (a date at month granularity is the text YYYY-MM ...)


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    grant: Grant
    version: DatasetVersion
    policy: Policy
    columns: list[ReleaseColumn]
    granularity: str  # day | month | year
    patient_column: str | None  # stored patient pseudonym column (released or not)
    quasi_identifiers: list[str]  # counted by the disclosure gate
    not_counted: dict[str, str]  # granted quasi-identifiers the gate does not count, and why
    opt_out_flagged: bool  # the dataset keeps opted-out rows flagged: they are excluded
    stored_kinds: dict[str, str] = field(default_factory=dict)
    data_table: Table | None = None  # the version's table, described once

    @property
    def table_name(self) -> str:
        return self.version.table_name

    @property
    def read_columns(self) -> list[str]:
        """Columns read from the table: the released ones, then the hidden patient column."""
        names = [c.name for c in self.columns]
        if self.patient_column is not None and self.patient_column not in names:
            names.append(HIDDEN_PATIENT)
        return names

    @property
    def read_schema(self) -> pa.Schema:
        kinds = {c.name: c.kind for c in self.columns}
        kinds[HIDDEN_PATIENT] = "string"
        return pa.schema([(n, ARROW_TYPES[kinds[n]]) for n in self.read_columns])

    def table(self) -> Table:
        assert self.data_table is not None
        return self.data_table

    def where(self) -> ColumnElement[bool]:
        """The grant's row filter and the opt-out exclusion, over this version's table."""
        table = self.table()
        clauses: list[ColumnElement[bool]] = [true()]
        if self.grant.row_filter:
            expr = check_filter(self.grant.row_filter, self.stored_kinds)
            clauses.append(compile_filter(expr, {c.name: c for c in table.c}))
        if self.opt_out_flagged:
            clauses.append(table.c[OPTED_OUT_COLUMN].is_not(True))
        return and_(*clauses)

    def source_column(self, name: str) -> Any:
        table = self.table()
        if name == HIDDEN_PATIENT:
            assert self.patient_column is not None
            return table.c[self.patient_column]
        return table.c[name]


def _treatment(policy: Policy, name: str, kind: str) -> str:
    col = policy.columns.get(name)
    if col is not None and (col.role == "patient_id" or col.action == "pseudonymise"):
        return "project_pseudonym"
    if col is not None and col.generalise is not None and col.generalise.method == "date_shift":
        return "project_date_shift"
    if kind in ("date", "datetime"):
        return "date"
    return "as_stored"


def _out_kind(kind: str, treatment: str, granularity: str) -> str:
    if treatment in ("project_date_shift", "date") and granularity != "day":
        return "string" if granularity == "month" else "integer"
    return kind


def build_plan(session: Session, grant: Grant) -> ReleasePlan:
    """The plan of a release under ``grant`` (409 if the version no longer fits the grant)."""
    version = datasets.get_dataset_version(session, grant.dataset, grant.dataset_version)
    policy = datasets.parsed_policy(version.policy_version)
    available = policy_columns(policy)
    granted: list[str] = json.loads(grant.columns)
    missing = [c for c in granted if c not in available]
    if missing:
        raise ConflictError(
            f"dataset {grant.dataset.name!r} version {version.number} has no column(s) "
            f"{', '.join(map(repr, missing))} granted to grant {grant.id}; ask governance for "
            "a grant on a fixed version",
            code="release_columns_missing",
        )
    granularity = grant.date_granularity
    columns = []
    for name in granted:
        treatment = _treatment(policy, name, available[name])
        columns.append(
            ReleaseColumn(
                name, available[name], treatment, _out_kind(available[name], treatment, granularity)
            )
        )
    counted, not_counted = [], {}
    for name in granted:
        col = policy.columns.get(name)
        if col is None or col.role != "quasi_identifier":
            continue
        if col.generalise is not None and col.generalise.method == "date_shift":
            not_counted[name] = (
                "date shifted per patient and per project: released values are not shared "
                "classes, so they are protected by the shift rather than counted"
            )
        else:
            counted.append(name)
    return ReleasePlan(
        grant=grant,
        version=version,
        policy=policy,
        columns=columns,
        granularity=granularity,
        patient_column=policy.patient_id_column,
        quasi_identifiers=counted,
        not_counted=not_counted,
        opt_out_flagged=policy.national_data_opt_out.exempt,
        stored_kinds=available,
        data_table=data_table(
            version.table_name, [OutputColumn(n, k) for n, k in available.items()]
        ),
    )


# ------------------------------------------------------------------------------ reading


def _select_columns(plan: ReleasePlan, connection: Connection) -> list[Any]:
    """The read columns; on PostgreSQL timestamps as UTC text pyarrow parses exactly."""
    out = []
    for name in plan.read_columns:
        column = plan.source_column(name)
        kind = "string" if name == HIDDEN_PATIENT else plan.stored_kinds[name]
        if connection.dialect.name == "postgresql" and kind == "datetime":
            column = func.timezone("UTC", column)
        out.append(column.label(name))
    return out


def rows_statement(plan: ReleasePlan, connection: Connection, buckets: int = 1) -> Select[Any]:
    """The release query: granted columns, filter, opt-outs; shuffled (see module doc)."""
    table = plan.table()
    columns = _select_columns(plan, connection)
    if connection.dialect.name == "postgresql":
        bucket = cast(func.floor(func.random() * buckets), Integer).label(_BUCKET)
        return select(bucket, *columns).select_from(table).where(plan.where()).order_by(bucket)
    return select(*columns).select_from(table).where(plan.where()).order_by(func.random())


def read_batches(
    plan: ReleasePlan, connection: Connection, expected_rows: int, seed: int
) -> Iterator[pa.RecordBatch]:
    """The shuffled rows as record batches of the stored types (``read_schema``)."""
    if connection.dialect.name == "postgresql":
        yield from _postgres_batches(plan, connection, expected_rows, seed)
    else:
        yield from _generic_batches(plan, connection)


def _generic_batches(plan: ReleasePlan, connection: Connection) -> Iterator[pa.RecordBatch]:
    schema = plan.read_schema
    decimals = [i for i, f in enumerate(schema) if _is_decimal(plan, f.name)]
    result = connection.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
        rows_statement(plan, connection)
    )
    for rows in result.partitions():
        columns: list[Sequence[Any]] = [list(c) for c in zip(*rows, strict=True)]
        for i in decimals:
            columns[i] = [None if v is None else str(v) for v in columns[i]]
        yield pa.RecordBatch.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
            schema=schema,
        )


def _is_decimal(plan: ReleasePlan, name: str) -> bool:
    return name != HIDDEN_PATIENT and plan.stored_kinds[name] == "decimal"


_BLOCK_BYTES = 4 << 20
_END = object()


class _CopyBlocks:
    """``COPY ... TO STDOUT`` read on a thread into blocks of whole CSV rows (a few MB).

    The thread keeps PostgreSQL sending while the caller parses, transforms and writes;
    the queue is bounded, so memory is too. Closing stops the thread and drains the queue.
    """

    def __init__(self, raw: Any, sql: str, params: dict[str, Any]) -> None:
        self._raw, self._sql, self._params = raw, sql, params
        self._blocks: queue.Queue[object] = queue.Queue(maxsize=4)
        self._failure: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="release-copy", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            with self._raw.cursor() as cursor, cursor.copy(self._sql, self._params) as copy:
                parts: list[bytes] = []
                size = 0
                for row in copy:
                    parts.append(bytes(row))
                    size += len(row)
                    if size >= _BLOCK_BYTES:
                        self._blocks.put(b"".join(parts))
                        parts, size = [], 0
                        if self._stop.is_set():
                            return
                if parts:
                    self._blocks.put(b"".join(parts))
        except BaseException as exc:  # re-raised in the consumer
            self._failure.append(exc)
        finally:
            self._blocks.put(_END)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            block = self._blocks.get()
            if block is _END:
                break
            assert isinstance(block, bytes)
            yield block
        if self._failure:
            raise self._failure[0]

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._blocks.get(timeout=0.1)
        self._thread.join()


def _csv_options(
    plan: ReleasePlan,
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """How pyarrow reads PostgreSQL's CSV: NULL is an unquoted empty field, "" is text."""
    types: dict[str, pa.DataType] = {_BUCKET: pa.int32()}
    for f in plan.read_schema:
        types[f.name] = pa.timestamp("us") if pa.types.is_timestamp(f.type) else f.type
    return (
        pacsv.ReadOptions(column_names=[_BUCKET, *plan.read_columns], use_threads=False),
        pacsv.ParseOptions(newlines_in_values=True),
        pacsv.ConvertOptions(
            column_types=types,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
            true_values=["t"],
            false_values=["f"],
        ),
    )


def _postgres_batches(
    plan: ReleasePlan, connection: Connection, expected_rows: int, seed: int
) -> Iterator[pa.RecordBatch]:
    buckets = max(1, -(-expected_rows // BUCKET_ROWS))
    statement = rows_statement(plan, connection, buckets)
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        cursor.execute("SELECT setseed(%s)", (((seed % 2_000_000) / 1_000_000) - 1,))
    # Literals stay parameters: psycopg adapts them (COPY takes no server-side binds).
    blocks = _CopyBlocks(raw, f"COPY ({compiled}) TO STDOUT (FORMAT csv)", compiled.params)
    read_options, parse_options, convert_options = _csv_options(plan)
    schema = plan.read_schema
    shuffler = _BucketShuffler(schema, random.Random(seed))  # noqa: S311 - order, not secrecy
    try:
        for block in blocks:
            table = pacsv.read_csv(
                pa.BufferReader(block),
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
            for batch in table.to_batches():
                yield from shuffler.push(_with_utc(batch, schema))
        yield from shuffler.flush()
    finally:
        blocks.close()


def _with_utc(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Drop nothing, retype timestamps as UTC; the bucket column stays first."""
    arrays = [batch.column(0)]
    for i, f in enumerate(schema, start=1):
        column = batch.column(i)
        if pa.types.is_timestamp(f.type):
            column = column.cast(f.type)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=[_BUCKET, *schema.names])


class _BucketShuffler:
    """Rows arrive grouped by a random bucket; each bucket leaves randomly permuted."""

    def __init__(self, schema: pa.Schema, rng: random.Random) -> None:
        self.schema = schema
        self.rng = rng
        self.current: int | None = None
        self.pending: list[pa.RecordBatch] = []

    def push(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        buckets = batch.column(0).to_numpy(zero_copy_only=False)
        edges = [0, *(np.flatnonzero(buckets[1:] != buckets[:-1]) + 1).tolist(), len(buckets)]
        for start, end in itertools.pairwise(edges):
            if end == start:
                continue
            if int(buckets[start]) != self.current:
                yield from self.flush()
                self.current = int(buckets[start])
            self.pending.append(batch.slice(start, end - start))

    def flush(self) -> Iterator[pa.RecordBatch]:
        if not self.pending:
            return
        table = pa.Table.from_batches(self.pending).drop_columns([_BUCKET])
        self.pending = []
        order = list(range(table.num_rows))
        self.rng.shuffle(order)
        shuffled = table.take(pa.array(order, type=pa.int64()))
        for batch in shuffled.combine_chunks().to_batches(max_chunksize=BATCH_ROWS):
            yield pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)
