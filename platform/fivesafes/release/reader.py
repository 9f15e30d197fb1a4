"""Reading a release's rows, shuffled, as Arrow record batches of the stored types.

Memory is bounded by a batch (about :data:`~fivesafes.release.query.BATCH_ROWS` rows),
never by the size of the release:

- PostgreSQL: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` on a separate read-only
  connection, parsed by pyarrow's C++ CSV reader while a thread keeps the copy flowing.
  Rows come ordered by a random bucket of about :data:`~fivesafes.release.query.BUCKET_ROWS`
  rows and each bucket is permuted in memory: a full random shuffle without PostgreSQL
  sorting on a random key per row. The copy starts as soon as the reader is opened, so the
  database sorts while the disclosure gate counts; nothing is sent until the gate passed.
- Elsewhere (SQLite): a streamed ``SELECT ... ORDER BY random()`` read in partitions.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy.engine import Connection, Engine

from fivesafes.db import READ_ONLY
from fivesafes.release.query import (
    BATCH_ROWS,
    BUCKET_COLUMN,
    BUCKET_ROWS,
    HIDDEN_PATIENT,
    ReleasePlan,
    rows_statement,
)

#: Rows per block the copy thread hands over, and blocks it may hold ahead of the reader:
#: a bounded buffer of about a quarter of a million rows (some 20 MB of CSV), enough for
#: the database to keep sending while a batch is transformed and written (and to get a
#: head start while the disclosure gate counts), whatever the size of the release.
_BLOCK_ROWS = 16_384
_BLOCKS_AHEAD = 16
_END = object()
#: A copy nobody reads for this long is abandoned (a response that never started).
IDLE_TIMEOUT_SECONDS = 120.0


class RowReader:
    """The rows of one release; :meth:`batches` once, then :meth:`close` (idempotent)."""

    def __init__(self, plan: ReleasePlan, engine: Engine, expected_rows: int, seed: int) -> None:
        self.plan = plan
        self.seed = seed
        self._connection: Connection = engine.execution_options(**{READ_ONLY: True}).connect()
        self._blocks: _CopyBlocks | None = None
        try:
            if self._connection.dialect.name == "postgresql":
                self._blocks = _start_copy(plan, self._connection, expected_rows, seed)
        except BaseException:
            self._connection.close()
            raise

    def batches(self) -> Iterator[pa.RecordBatch]:
        if self._blocks is not None:
            return _postgres_batches(self.plan, self._blocks, self.seed)
        return _generic_batches(self.plan, self._connection)

    def close(self) -> None:
        if self._blocks is not None:
            self._blocks.close()
        self._connection.close()


# ------------------------------------------------------------------------------ generic


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


# ---------------------------------------------------------------------------- PostgreSQL


class _CopyBlocks:
    """``COPY ... TO STDOUT`` read on a thread into blocks of whole CSV rows (a few MB).

    The thread keeps PostgreSQL sending while the caller parses, transforms and writes;
    the queue is bounded, so memory is too. Closing stops the thread and drains the queue.
    """

    def __init__(self, raw: Any, sql: str, params: dict[str, Any]) -> None:
        self._raw, self._sql, self._params = raw, sql, params
        self._blocks: queue.Queue[object] = queue.Queue(maxsize=_BLOCKS_AHEAD)
        self._failure: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="release-copy", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        deadline = time.monotonic() + IDLE_TIMEOUT_SECONDS
        while not self._stop.is_set():
            try:
                self._blocks.put(item, timeout=0.5)
                return True
            except queue.Full:
                if time.monotonic() > deadline:
                    self._stop.set()
        return False

    def _pump(self) -> None:
        try:
            with self._raw.cursor() as cursor, cursor.copy(self._sql, self._params) as copy:
                parts: list[bytes] = []
                append = parts.append
                for row in copy:
                    append(bytes(row))
                    if len(parts) >= _BLOCK_ROWS:
                        block = b"".join(parts)
                        parts.clear()
                        if not self._put(block):
                            return
                if parts and not self._put(b"".join(parts)):
                    return
        except BaseException as exc:  # re-raised in the consumer
            self._failure.append(exc)
        finally:
            self._put(_END)

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


def _start_copy(
    plan: ReleasePlan, connection: Connection, expected_rows: int, seed: int
) -> _CopyBlocks:
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
    return _CopyBlocks(raw, f"COPY ({compiled}) TO STDOUT (FORMAT csv)", compiled.params)


def _csv_options(
    plan: ReleasePlan,
) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    """How pyarrow reads PostgreSQL's CSV: NULL is an unquoted empty field, "" is text."""
    types: dict[str, pa.DataType] = {BUCKET_COLUMN: pa.int32()}
    for f in plan.read_schema:
        types[f.name] = pa.timestamp("us") if pa.types.is_timestamp(f.type) else f.type
    return (
        pacsv.ReadOptions(column_names=[BUCKET_COLUMN, *plan.read_columns], use_threads=True),
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
    plan: ReleasePlan, blocks: _CopyBlocks, seed: int
) -> Iterator[pa.RecordBatch]:
    read_options, parse_options, convert_options = _csv_options(plan)
    schema = plan.read_schema
    shuffler = _BucketShuffler(schema, np.random.default_rng(seed))
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


def _with_utc(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Retype timestamps as UTC; the bucket column stays first."""
    arrays = [batch.column(0)]
    for i, f in enumerate(schema, start=1):
        column = batch.column(i)
        if pa.types.is_timestamp(f.type):
            column = column.cast(f.type)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=[BUCKET_COLUMN, *schema.names])


class _BucketShuffler:
    """Rows arrive grouped by a random bucket; each bucket leaves randomly permuted."""

    def __init__(self, schema: pa.Schema, rng: np.random.Generator) -> None:
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
        table = pa.Table.from_batches(self.pending).drop_columns([BUCKET_COLUMN])
        self.pending = []
        shuffled = table.take(pa.array(self.rng.permutation(table.num_rows)))
        for batch in shuffled.combine_chunks().to_batches(max_chunksize=BATCH_ROWS):
            yield pa.RecordBatch.from_arrays(batch.columns, schema=self.schema)
