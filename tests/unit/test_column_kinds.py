"""ColumnKind's mappings: exact decimals, UTC date-times, typed JSON, and the engine's
output file holding the same values in CSV, JSON Lines and Parquet."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.column_kinds import (
    ColumnKind,
    datetime_text,
    decimal_text,
    utc_moment,
    utc_text,
)
from fivesafes.deid.engine import deidentify_file
from fivesafes.deid.policy import parse_policy
from fivesafes.keys import InMemoryKeyStore

decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None).map(
    lambda d: Decimal(decimal_text(d))  # positional, as an extract and PostgreSQL write it
)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(
    min_value=datetime(1800, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets
).map(lambda m: m.replace(microsecond=0))


def test_every_kind_has_every_mapping() -> None:
    for kind in ColumnKind:
        assert kind.sql_type() is not None
        assert isinstance(kind.arrow_type(), pa.DataType)
    # The two types that were decided: no float anywhere, date-times UTC-aware.
    assert ColumnKind.DECIMAL.arrow_type() == pa.string()
    assert ColumnKind.DATETIME.arrow_type() == pa.timestamp("us", tz="UTC")


@given(decimals)
def test_a_decimal_keeps_every_digit_as_arrow_and_json(value: Decimal) -> None:
    text = decimal_text(value)
    assert ColumnKind.DECIMAL.arrow_array([text, None]).to_pylist() == [text, None]
    assert ColumnKind.DECIMAL.json_value(text) == text
    assert Decimal(text) == value


@given(moments)
def test_a_date_time_is_the_same_instant_in_utc(moment: datetime) -> None:
    iso = moment.isoformat()
    text = utc_text(iso)
    assert text.endswith("Z")
    assert datetime.fromisoformat(text) == moment
    assert utc_moment(iso) == moment
    assert datetime_text(moment) == text
    arrow = ColumnKind.DATETIME.arrow_array([iso, None]).to_pylist()
    assert arrow == [moment, None]


@given(st.datetimes(min_value=datetime(1800, 1, 1)).map(lambda m: m.replace(microsecond=0)))
def test_a_date_time_without_an_offset_is_taken_as_utc(moment: datetime) -> None:
    iso = moment.isoformat()
    assert utc_text(iso) == iso + "Z"
    assert utc_moment(iso) == moment.replace(tzinfo=UTC)


@given(st.integers(-(2**63), 2**63 - 1))
def test_integers_are_json_numbers_and_int64(value: int) -> None:
    assert ColumnKind.INTEGER.json_value(str(value)) == value
    assert ColumnKind.INTEGER.arrow_array([str(value)]).to_pylist() == [value]


@pytest.mark.parametrize(("text", "typed"), [("true", True), ("false", False), (None, None)])
def test_booleans_and_nulls(text: str | None, typed: bool | None) -> None:
    assert ColumnKind.BOOLEAN.json_value(text) is typed
    assert ColumnKind.BOOLEAN.arrow_array([text]).to_pylist() == [typed]
    assert ColumnKind.STRING.json_value(text) == text


POLICY = """\
dataset: kinds
version: 1
columns:
  label: {type: string, role: keep}
  count: {type: integer, role: keep}
  amount: {type: decimal, role: keep}
  day: {type: date, role: keep}
  moment: {type: datetime, role: keep}
  flag: {type: boolean, role: keep}
"""
EXTRACT = (
    "label,count,amount,day,moment,flag\n"
    "a,-42,72.50,2024-02-29,2024-07-01T09:30:00+01:00,yes\n"
    "b,9223372036854775807,12345678901234567.89,1900-01-01,2024-01-15 23:59:59,0\n"
    "c,,,,,\n"
)
#: What the de-identified file holds, as text (CSV) and as JSON (JSON Lines, Parquet).
TEXT = [
    ["a", "-42", "72.50", "2024-02-29", "2024-07-01T08:30:00Z", "true"],
    ["b", "9223372036854775807", "12345678901234567.89", "1900-01-01", "2024-01-15T23:59:59Z",
     "false"],
    ["c", "", "", "", "", ""],
]  # fmt: skip
JSON = [
    {"label": "a", "count": -42, "amount": "72.50", "day": "2024-02-29",
     "moment": "2024-07-01T08:30:00Z", "flag": True},
    {"label": "b", "count": 2**63 - 1, "amount": "12345678901234567.89", "day": "1900-01-01",
     "moment": "2024-01-15T23:59:59Z", "flag": False},
    {"label": "c", "count": None, "amount": None, "day": None, "moment": None, "flag": None},
]  # fmt: skip


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_the_deidentified_file_holds_the_same_values_in_every_format(
    tmp_path: Path, suffix: str
) -> None:
    source = tmp_path / "kinds.csv"
    source.write_text(EXTRACT, encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    deidentify_file(
        source, parse_policy(yaml.safe_load(POLICY)), out, keystore=InMemoryKeyStore.generate()
    )
    if suffix == ".csv":
        rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
        assert rows == [list(JSON[0]), *TEXT]
    elif suffix == ".jsonl":
        assert [json.loads(line) for line in out.read_text().splitlines()] == JSON
    else:
        table = pq.read_table(out)
        assert table.schema.field("amount").type == pa.string()
        assert table.schema.field("moment").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("day").type == pa.date32()
        moments = [datetime.fromisoformat(r["moment"]) if r["moment"] else None for r in JSON]
        days = [date.fromisoformat(r["day"]) if r["day"] else None for r in JSON]
        expected = [
            r | {"moment": m, "day": d} for r, m, d in zip(JSON, moments, days, strict=True)
        ]
        assert table.to_pylist() == expected
