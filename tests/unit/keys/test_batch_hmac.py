"""The vectorised HMAC gives exactly the per-value HMAC, pseudonym and date offset."""

from __future__ import annotations

import hmac
import multiprocessing
import pickle

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.deid.transforms import DateShifter
from fivesafes.keys.batch_hmac import (
    BatchHmacError,
    BatchHmacSha256,
    hex_prefixes,
    leading_uint64,
)
from fivesafes.keys.pseudonym import HmacSha256, Pseudonymiser

KEY = bytes(range(32))
messages = st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=60)


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=1, max_size=100), values=messages)
def test_digests_equal_the_per_value_hmac(key: bytes, values: list[str | None]) -> None:
    digests = BatchHmacSha256(key).digests(pa.array(values, pa.string())).to_pylist()
    expected = [
        None if v is None else hmac.digest(key, v.encode("utf-8"), "sha256") for v in values
    ]
    assert digests == expected
    assert [d for d in digests if d is not None] == [
        HmacSha256(key).digest(v.encode("utf-8")) for v in values if v is not None
    ]


@settings(max_examples=40, deadline=None)
@given(values=messages, start=st.integers(0, 5))
def test_pseudonyms_of_a_column_equal_each_pseudonym(values: list[str | None], start: int) -> None:
    pseudonymiser = Pseudonymiser(KEY, "nhs_number")
    column = pa.array(values, pa.string()).slice(min(start, len(values)))
    assert pseudonymiser.many_array(column).to_pylist() == [
        None if v is None else pseudonymiser(v) for v in column.to_pylist()
    ]


@settings(max_examples=40, deadline=None)
@given(values=messages, max_days=st.integers(1, 3650))
def test_offsets_of_a_column_equal_each_offset(values: list[str | None], max_days: int) -> None:
    shifter = DateShifter(KEY, max_days)
    offsets = shifter.offsets_array(pa.array(values, pa.string())).to_pylist()
    assert offsets == [None if v is None else shifter.offset(v) for v in values]
    assert all(o is None or (o != 0 and -max_days <= o <= max_days) for o in offsets)


def test_hex_and_leading_bytes_of_a_sliced_array_with_nulls() -> None:
    digests = pa.array([bytes(range(32)), None, bytes(range(1, 33))], pa.binary()).slice(1)
    assert hex_prefixes(digests, 2).to_pylist() == [None, "0102"]
    assert leading_uint64(digests).tolist() == [0, int.from_bytes(bytes(range(1, 9)), "big")]


def test_an_empty_column_and_a_pickled_copy() -> None:
    batch = BatchHmacSha256(KEY)
    assert len(batch.digests(pa.array([], pa.string()))) == 0
    copy = pickle.loads(pickle.dumps(batch))
    column = pa.array(["9434765919"])
    assert copy.digests(column).equals(batch.digests(column))


def test_a_failure_says_nothing_of_the_query_or_the_keys() -> None:
    with pytest.raises(BatchHmacError) as raised:
        BatchHmacSha256(KEY).digests(pa.array([[1, 2]], pa.list_(pa.int64())))
    text = str(raised.value)
    assert KEY.hex() not in text
    assert "SELECT" not in text.upper()
    assert raised.value.__cause__ is None


def _in_child(values: list[str]) -> list[bytes]:
    return BatchHmacSha256(KEY).digests(pa.array(values)).to_pylist()  # type: ignore[no-any-return]


def test_a_forked_worker_hashes_after_its_parent_has() -> None:
    """The engine forks its workers; DataFusion must not hang in a child (tokio and fork)."""
    values = [f"{i:010d}" for i in range(100)]
    parent = _in_child(values)  # the parent builds its session first
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        children = pool.map_async(_in_child, [values, values]).get(timeout=60)
    assert children == [parent, parent]
