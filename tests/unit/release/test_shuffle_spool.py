"""The shuffling spool: every row out exactly once, in a random order, never in clear on disk."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.release import shuffle
from fivesafes.release.ahead import ReadAhead
from fivesafes.release.shuffle import ShuffleSpool


def _batches(n: int, size: int) -> list[pa.RecordBatch]:
    return [
        pa.RecordBatch.from_arrays(
            [
                pa.array(range(start, min(n, start + size)), pa.int64()),
                pa.array([f"secret-{i:06d}" for i in range(start, min(n, start + size))]),
            ],
            names=["n", "text"],
        )
        for start in range(0, n, size)
    ]


def _out(spool: ShuffleSpool, size: int = 7, keep: shuffle.RowFilter | None = None) -> list[int]:
    out: list[int] = []
    for batch in spool.batches(size, keep):
        assert batch.num_rows <= size
        assert batch.column(1).to_pylist() == [
            f"secret-{i:06d}" for i in batch.column(0).to_pylist()
        ]
        out.extend(batch.column(0).to_pylist())
    return out


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(0, 400),
    size=st.integers(1, 90),
    bucket_rows=st.integers(1, 150),
    memory=st.sampled_from([1, 2_000, 1 << 30]),
)
def test_every_row_comes_out_once(
    tmp_path_factory: pytest.TempPathFactory, rows: int, size: int, bucket_rows: int, memory: int
) -> None:
    folder = tmp_path_factory.mktemp("spool")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shuffle, "BUCKET_ROWS", bucket_rows)
        spool = ShuffleSpool(folder, rows, np.random.default_rng(rows), memory_bytes=memory)
        for batch in _batches(rows, size):
            spool.add(batch)
        assert spool.rows == rows
        try:
            assert sorted(_out(spool)) == list(range(rows))
        finally:
            spool.close()


def test_order_is_random_and_differs_between_releases(tmp_path: Path) -> None:
    orders = []
    for seed in (1, 2):
        spool = ShuffleSpool(tmp_path, 5_000, np.random.default_rng(seed), memory_bytes=1 << 30)
        for batch in _batches(5_000, 500):
            spool.add(batch)
        orders.append(_out(spool, 1_000))
        spool.close()
    for order in orders:
        # Far from the order read: a random permutation has about one fixed point, and
        # its positions are uncorrelated with the values.
        assert sum(1 for i, v in enumerate(order) if i == v) < 20
        assert abs(np.corrcoef(order, range(len(order)))[0, 1]) < 0.1
    assert orders[0] != orders[1]


def test_rows_the_filter_refuses_are_left_out(tmp_path: Path) -> None:
    spool = ShuffleSpool(tmp_path, 1_000, np.random.default_rng(3))
    for batch in _batches(1_000, 64):
        spool.add(batch)

    def even(table: pa.Table) -> np.ndarray:
        result: np.ndarray = table.column("n").to_numpy() % 2 == 0
        return result

    assert sorted(_out(spool, 50, even)) == list(range(0, 1_000, 2))
    spool.close()


def test_spilled_rows_are_sealed_and_the_file_has_no_name(tmp_path: Path) -> None:
    spool = ShuffleSpool(tmp_path, 2_000, np.random.default_rng(4), memory_bytes=10_000)
    for batch in _batches(2_000, 100):
        spool.add(batch)
    assert spool._file is not None
    assert list(tmp_path.iterdir()) == []  # anonymous: nothing to leave behind
    spool._file.seek(0)
    on_disk = spool._file.read()
    assert len(on_disk) > 20_000
    assert b"secret-" not in on_disk
    assert sorted(_out(spool)) == list(range(2_000))
    spool.close()


def test_a_tampered_spool_is_refused(tmp_path: Path) -> None:
    spool = ShuffleSpool(tmp_path, 500, np.random.default_rng(5), memory_bytes=1)
    for batch in _batches(500, 100):
        spool.add(batch)
    assert spool._file is not None
    os.pwrite(spool._file.fileno(), b"\x00", 40)
    with pytest.raises(InvalidTag):
        _out(spool)
    spool.close()


def test_read_ahead_passes_items_and_failures_on() -> None:
    def items() -> object:
        yield 1
        yield 2
        raise ValueError("boom")

    ahead = ReadAhead(iter(items()), 1, "test")  # type: ignore[call-overload]
    got: list[object] = []
    with pytest.raises(ValueError, match="boom"):
        got.extend(ahead)
    ahead.close()
    assert got == [1, 2]


def test_read_ahead_close_stops_the_producer_and_cleans_up() -> None:
    closed = []

    def endless() -> object:
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.append(True)

    ahead = ReadAhead(iter(endless()), 2, "test")  # type: ignore[call-overload]
    assert next(iter(ahead)) == 1
    ahead.close()
    assert closed == [True]


def test_read_ahead_ends_even_when_the_clean_up_fails() -> None:
    def items() -> object:
        try:
            yield 1
        finally:
            raise RuntimeError("clean-up failed")

    ahead = ReadAhead(iter(items()), 1, "test")  # type: ignore[call-overload]
    with pytest.raises(RuntimeError, match="clean-up failed"):
        list(ahead)
    ahead.close()
