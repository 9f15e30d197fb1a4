"""Drawing a review sample of scrubbed free-text cells, and reading it back.

The sample is uniform over the version's non-empty free-text cells (every (row, column)
pair equally likely, without replacement), drawn with the operating system's generator
(:class:`random.SystemRandom`): nobody, not even someone who knows the code and the data,
can predict or steer which cells governance will read. Memory stays in proportion to the
sample, not the table: cells are counted in SQL, positions chosen among the counts, and
only row ids are streamed to find them.

Positions are ``(row id, column)`` of the version's own table (``ROW_ID_COLUMN``): the text
is read from there each time the sample is shown and copied nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, ColumnElement, MetaData, Table, Text, and_, func, select
from sqlalchemy.orm import Session

from fivesafes.datasets.models import ROW_ID_COLUMN

ID_BATCH = 10_000


@dataclass(frozen=True, slots=True, order=True)
class CellPosition:
    row_id: int
    column: str


def review_table(name: str, columns: Sequence[str], schema: str | None = None) -> Table:
    """The row id and the free-text columns of a version's table (all that a review reads).

    ``schema`` is where version tables live on the dialect (``storage.version_schema``).
    """
    return Table(
        name,
        MetaData(),
        Column(ROW_ID_COLUMN, BigInteger, primary_key=True),
        *(Column(c, Text) for c in columns),
        schema=schema,
    )


def _non_empty(column: ColumnElement[str]) -> ColumnElement[bool]:
    return and_(column.is_not(None), func.trim(column) != "")


def count_cells(session: Session, table: Table, columns: Sequence[str]) -> dict[str, int]:
    """Non-empty cells per free-text column (blank notes say nothing about the scrubber)."""
    return {
        c: session.execute(
            select(func.count()).select_from(table).where(_non_empty(table.c[c]))
        ).scalar_one()
        for c in columns
    }


def draw_sample(
    session: Session,
    table: Table,
    columns: Sequence[str],
    size: int,
    rng: random.Random | None = None,
) -> tuple[list[CellPosition], int]:
    """``min(size, cells available)`` positions chosen at random, and the cells available.

    Returned in a random order (the order they are shown in), so that a reviewer who tires
    halfway has still read a random part of the sample, not its first rows.
    """
    rng = rng or random.SystemRandom()
    counts = count_cells(session, table, columns)
    total = sum(counts.values())
    chosen = sorted(rng.sample(range(total), min(size, total)))
    positions: list[CellPosition] = []
    offset = 0
    for column in columns:
        wanted = [i - offset for i in chosen if offset <= i < offset + counts[column]]
        offset += counts[column]
        if wanted:
            positions.extend(_positions(session, table, column, wanted))
    rng.shuffle(positions)
    return positions, total


def _positions(
    session: Session, table: Table, column: str, wanted: list[int]
) -> list[CellPosition]:
    """The row ids at the ``wanted`` (sorted) indexes of a column's non-empty cells."""
    query = (
        select(table.c[ROW_ID_COLUMN])
        .where(_non_empty(table.c[column]))
        .order_by(table.c[ROW_ID_COLUMN])
        .execution_options(yield_per=ID_BATCH)
    )
    found: list[CellPosition] = []
    targets = iter(wanted)
    target = next(targets)
    result = session.scalars(query)
    try:
        for index, row_id in enumerate(result):
            if index == target:
                found.append(CellPosition(int(row_id), column))
                next_target = next(targets, None)
                if next_target is None:
                    break
                target = next_target
    finally:
        result.close()  # a server-side cursor on PostgreSQL: close it when we stop early
    return found


def read_cells(
    session: Session, table: Table, positions: Sequence[CellPosition]
) -> dict[CellPosition, str | None]:
    """The stored text of each position (None if, impossibly, the row is gone)."""
    text: dict[CellPosition, str | None] = dict.fromkeys(positions)
    by_column: dict[str, list[int]] = {}
    for p in positions:
        by_column.setdefault(p.column, []).append(p.row_id)
    for column, row_ids in by_column.items():
        for start in range(0, len(row_ids), 500):
            chunk = row_ids[start : start + 500]
            rows = session.execute(
                select(table.c[ROW_ID_COLUMN], table.c[column]).where(
                    table.c[ROW_ID_COLUMN].in_(chunk)
                )
            )
            for row_id, value in rows:
                text[CellPosition(int(row_id), column)] = value
    return text


def sample_digest(positions: Sequence[CellPosition]) -> str:
    """SHA-256 of the positions in display order: ties every view and decision to the sample."""
    canonical = json.dumps([[p.row_id, p.column] for p in positions], separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
