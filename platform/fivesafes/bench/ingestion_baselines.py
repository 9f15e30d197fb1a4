"""The ingestion bench's baselines and its account of where the time goes (issue 21).

Two baselines, measured in the same round as the upload they are compared with:

- **COPY FROM**: PostgreSQL's own ``COPY ... FROM STDIN`` of the rows the upload has just
  committed (de-identified already), into a table made ``LIKE`` the version's table with
  every index and default, the same columns loaded as ingestion loads (the row id left to
  the database). It is what loading alone costs on this machine at this moment.
- **engine alone**: the structured engine on the same file in a fresh interpreter, with
  the server's number of workers: what de-identification alone costs.

The bar is on end-to-end / COPY FROM; the engine ratio and the phases say where the rest
of the time goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from fivesafes.bench.structured import measure_in_fresh_process
from fivesafes.datasets.models import ROW_ID_COLUMN
from fivesafes.datasets.version_tables import VERSION_SCHEMA

COPY_RATIO = 0.35
COPY_TABLE = "bench_copy_from"


@dataclass(frozen=True, slots=True)
class Phases:
    """Seconds of one upload: client side, the server's own timestamps, the baselines."""

    upload: float  # first byte sent until 202 Accepted (the body spooled, encrypted)
    processing: float  # the upload's started_at to finished_at (spool, engine, load)
    waiting: float  # the rest: queued for a runner, and the status poll's latency
    engine: float | None  # the engine alone on the same file
    copy: float | None  # COPY FROM of the same rows

    def render(self) -> str:
        parts = [
            f"upload+spool {self.upload:.2f} s",
            f"queue+poll {self.waiting:.2f} s",
            f"processing {self.processing:.2f} s",
        ]
        baselines = []
        if self.engine is not None:
            baselines.append(f"engine alone {self.engine:.2f} s")
        if self.copy is not None:
            baselines.append(f"COPY FROM {self.copy:.2f} s")
        if baselines:
            parts[-1] += f" (beside {' + '.join(baselines)})"
        return ", ".join(parts)


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def phases_of(
    state: dict[str, Any],
    upload: float,
    total: float,
    engine: float | None,
    copy: float | None,
) -> Phases | None:
    """Phases from ``GET /uploads/{id}`` (its ``started_at`` and ``finished_at``)."""
    if not state.get("started_at") or not state.get("finished_at"):
        return None
    processing = (
        _timestamp(state["finished_at"]) - _timestamp(state["started_at"])
    ).total_seconds()
    return Phases(upload, processing, max(0.0, total - upload - processing), engine, copy)


def copy_from_seconds(url: str) -> float:
    """Seconds for ``COPY ... FROM STDIN`` of the version's rows into a same-shape table.

    The rows are read out first (untimed, held in memory), so the clock covers the load
    and its commit only.
    """
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (VERSION_SCHEMA,),
        )
        tables = [row[0] for row in cursor.fetchall()]
        if len(tables) != 1:
            raise RuntimeError(f"expected one version table, found {len(tables)}")
        source = f'{VERSION_SCHEMA}."{tables[0]}"'
        cursor.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (VERSION_SCHEMA, tables[0]),
        )
        names = [row[0] for row in cursor.fetchall() if row[0] != ROW_ID_COLUMN]
        columns = ", ".join(f'"{name}"' for name in names)
        with cursor.copy(f"COPY (SELECT {columns} FROM {source}) TO STDOUT") as out:  # noqa: S608 - our own names
            chunks = [bytes(chunk) for chunk in out]
        cursor.execute(f"CREATE TABLE public.{COPY_TABLE} (LIKE {source} INCLUDING ALL)")
        connection.commit()
        start = time.perf_counter()
        with cursor.copy(f"COPY public.{COPY_TABLE} ({columns}) FROM STDIN") as into:
            for chunk in chunks:
                into.write(chunk)
        connection.commit()
        seconds = time.perf_counter() - start
        cursor.execute(f"DROP TABLE public.{COPY_TABLE}")
        connection.commit()
        return seconds


def engine_alone_seconds(extract: Path, policy: Path, workers: int) -> float:
    """Seconds the structured engine takes on ``extract`` alone, in a fresh interpreter."""
    measured = measure_in_fresh_process(extract, policy, workers, floor=False)
    return float(measured["seconds"])
