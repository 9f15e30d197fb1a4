"""A value of every column kind survives ingest -> release unchanged, in every release
format, on both databases (the decisions are in ``fivesafes/column_kinds.py``).

"Unchanged" means: the same text for strings and decimals (every digit and the scale),
the same number, calendar day or truth value, and the same instant for date-times, which
are written in UTC (an offset in the extract is converted, no offset means UTC).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from typing import Any

import pyarrow.parquet as pq
import pytest

from fivesafes.column_kinds import ColumnKind
from fivesafes.datasets.service import load_policy_file
from fivesafes.db import session_scope
from fivesafes.deid.policy import DataType
from tests.factories.extracts import nhs_numbers
from tests.integration.access.helpers import TRAIL
from tests.integration.release.test_release_api import _download

DATASET = "kinds"
#: A kept column of each kind; ``label`` (a string) names the row.
POLICY = f"""\
dataset: {DATASET}
version: 1
columns:
  nhs_number: {{type: nhs_number, role: patient_id}}
  label: {{type: string, role: keep}}
  text: {{type: string, role: keep}}
  count: {{type: integer, role: keep}}
  amount: {{type: decimal, role: keep}}
  day: {{type: date, role: keep}}
  moment: {{type: datetime, role: keep}}
  flag: {{type: boolean, role: keep}}
"""
COLUMNS = ["nhs_number", "label", "text", "count", "amount", "day", "moment", "flag"]
KEPT = COLUMNS[1:]
KINDS = {
    "label": ColumnKind.STRING,
    "text": ColumnKind.STRING,
    "count": ColumnKind.INTEGER,
    "amount": ColumnKind.DECIMAL,
    "day": ColumnKind.DATE,
    "moment": ColumnKind.DATETIME,
    "flag": ColumnKind.BOOLEAN,
}
#: (text, count, amount, day, moment as uploaded, moment as released, flag); None: an
#: empty cell, which is null for every kind but text (an empty text stays empty).
VALUES: list[tuple[str | None, ...]] = [
    ("Zoë, \"quoted\" — ünïcode", "0", "72.50", "2024-02-29", "2024-03-01T10:30:00Z",
     "2024-03-01T10:30:00Z", "true"),
    ("two\nlines", "-42", "-3", "1900-01-01", "2024-07-01T09:30:00+01:00",
     "2024-07-01T08:30:00Z", "false"),
    ("plain", "9223372036854775807", "12345678901234567.89", "2099-12-31",
     "2024-01-15T23:59:59", "2024-01-15T23:59:59Z", "true"),
    ("tab\there", "-9223372036854775808", "0.000001", "2000-01-01",
     "1999-12-31T23:00:00-05:00", "2000-01-01T04:00:00Z", "false"),
    ("ascii only", "7", "0.10", "1970-01-01", "1970-01-01T00:00:00Z",
     "1970-01-01T00:00:00Z", "true"),
    ("0.1 is text", "123456789", "100000000000000000000.000000000000000001", "2024-12-31",
     "2024-10-27T01:30:00+01:00", "2024-10-27T00:30:00Z", "false"),
    ("", None, None, None, None, None, None),  # an empty text is a value; others: null
    ("last", "1", "0", "2024-06-30", "2024-06-30T12:00:00+00:00", "2024-06-30T12:00:00Z",
     "true"),
]  # fmt: skip
#: More patients, for the small-number threshold (a release selects at least 10).
VALUES += [
    (f"more {n}", str(n), f"{n}.{n}0", f"2024-01-0{n}", f"2024-01-0{n}T0{n}:00:00Z",
     f"2024-01-0{n}T0{n}:00:00Z", "true")
    for n in range(1, 5)
]  # fmt: skip


def _rows() -> tuple[list[dict[str, str]], dict[str, dict[str, str | None]]]:
    """The extract (one patient per row) and, by label, what a release must hold as text."""
    patients = nhs_numbers(len(VALUES))
    extract, expected = [], {}
    for index, (nhs, values) in enumerate(zip(patients, VALUES, strict=True)):
        text, count, amount, day, moment_in, moment_out, flag = values
        label = f"row-{index}"
        uploaded = [label, text, count, amount, day, moment_in, flag]
        extract.append(
            {"nhs_number": nhs} | {c: v or "" for c, v in zip(KEPT, uploaded, strict=True)}
        )
        released = [label, text, count, amount, day, moment_out, flag]
        expected[label] = dict(zip(KEPT, released, strict=True))
    return extract, expected


def _typed(kind: ColumnKind, text: str | None, fmt: str) -> Any:
    """The value a release of ``fmt`` holds for a cell whose released text is ``text``."""
    if text is None:
        return "" if fmt == "csv" else None
    if fmt == "csv":
        return text
    if kind is ColumnKind.INTEGER:
        return int(text)
    if kind is ColumnKind.BOOLEAN:
        return text == "true"
    if fmt == "parquet" and kind is ColumnKind.DATE:
        return date.fromisoformat(text)
    if fmt == "parquet" and kind is ColumnKind.DATETIME:
        return datetime.fromisoformat(text).astimezone(UTC)
    return text  # JSON and Parquet: strings, decimals (exact text), JSON dates and times


def _released(body: bytes, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))
    if fmt == "jsonl":
        return [json.loads(line) for line in body.decode("utf-8").splitlines()]
    return pq.read_table(io.BytesIO(body)).to_pylist()  # type: ignore[no-any-return]


def test_every_output_kind_is_a_policy_type() -> None:
    """The policy language's types, less the two that never leave as they are, are the
    kinds: a new policy type needs its mappings before it can be released."""
    assert set(DataType.__args__) - {"nhs_number", "postcode"} == set(ColumnKind)  # type: ignore[attr-defined]
    assert set(KINDS.values()) == set(ColumnKind)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_value_of_every_kind_survives_ingest_and_release(world: Any, fmt: str) -> None:
    policy = world.tmp / f"{DATASET}.yaml"
    policy.write_text(POLICY)
    with session_scope(world.factory) as session:
        load_policy_file(session, TRAIL, policy)
    extract, expected = _rows()
    view = world.extracts.ingest(DATASET, extract, columns=COLUMNS)
    assert view.state == "succeeded", view.errors
    grant = world.grant("a", dataset=DATASET, columns=KEPT)
    response = _download(world, grant, fmt=fmt)
    assert response.status_code == 200, response.text
    released = _released(response.content, fmt)
    assert len(released) == len(VALUES)
    by_label = {row["label"]: row for row in released}
    for label, texts in expected.items():
        row = by_label[label]
        assert list(row) == KEPT
        for column, text in texts.items():
            assert row[column] == _typed(KINDS[column], text, fmt), (label, column)
