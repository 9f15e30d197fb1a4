"""The disclosure gate's counts, checked against counting the patients one by one.

The counter takes shortcuts for speed (value ids packed into one number, pairs sorted as one
64-bit key, drivers derived from merged classes); each is compared here with the plain
definition, on generated data, including the slower exact paths forced on purpose.
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.access.policy import ReleaseRules, SmallClassAction
from fivesafes.release import classes as classes_module
from fivesafes.release.classes import ClassCounter
from fivesafes.release.disclosure import DisclosureRefusedError, run_gate

QIS = ["age_band", "district", "year"]

row = st.tuples(
    st.sampled_from(["0-4", "5-9", "", None, "a\x1fb", "a"]),
    st.sampled_from(["WN1", "WN2", None, "M1"]),
    st.sampled_from([None, 2019, 2020]),
    st.integers(0, 15),  # the patient
)


def _batches(rows: list[tuple[Any, ...]], size: int) -> list[tuple[pa.RecordBatch, np.ndarray]]:
    out = []
    for start in range(0, len(rows), size):
        part = rows[start : start + size]
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array([r[0] for r in part], pa.string()),
                pa.array([r[1] for r in part], pa.string()),
                pa.array([r[2] for r in part], pa.int64()),
            ],
            names=QIS,
        )
        # Patient keys as the release makes them: 64 spread-out bits per patient.
        keys = np.array([(r[3] * 0x9E3779B97F4A7C15) % 2**64 for r in part], dtype=np.uint64)
        out.append((batch, keys))
    return out


def _counter(rows: list[tuple[Any, ...]], size: int, qis: list[str] = QIS) -> ClassCounter:
    counter = ClassCounter(qis)
    for batch, keys in _batches(rows, size):
        ids = counter.add(batch, keys)
        assert ids is not None
        assert len(ids) == batch.num_rows
    return counter


def _by_hand(rows: list[tuple[Any, ...]], positions: list[int]) -> dict[tuple[Any, ...], Any]:
    people: dict[tuple[Any, ...], set[int]] = defaultdict(set)
    count: dict[tuple[Any, ...], int] = defaultdict(int)
    for r in rows:
        key = tuple(r[i] for i in positions)
        people[key].add(r[3])
        count[key] += 1
    return {k: (len(people[k]), count[k]) for k in people}


def _as_dict(counter: ClassCounter, keep: list[int] | None = None) -> dict[tuple[Any, ...], Any]:
    counts = counter.counts(keep)
    return {
        v: (int(p), int(n))
        for v, p, n in zip(counts.values, counts.patients, counts.rows, strict=True)
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=120), st.integers(1, 40))
def test_class_counts_match_counting_by_hand(rows: list[tuple[Any, ...]], size: int) -> None:
    counter = _counter(rows, size)
    assert counter.rows == len(rows)
    assert counter.patients_in_scope() == len({r[3] for r in rows})
    assert _as_dict(counter) == _by_hand(rows, [0, 1, 2])
    # Classes of fewer quasi-identifiers merge exactly (the drivers' recount).
    assert _as_dict(counter, [0, 2]) == _by_hand(rows, [0, 2])
    assert _as_dict(counter, [1]) == _by_hand(rows, [1])


@settings(max_examples=30, deadline=None)
@given(st.lists(row, min_size=1, max_size=80), st.integers(1, 30))
def test_slow_exact_paths_give_the_same_counts(rows: list[tuple[Any, ...]], size: int) -> None:
    fast = _as_dict(_counter(rows, size))
    with pytest.MonkeyPatch.context() as patch:
        # Value ids too wide to pack, and classes too many to share a key with patients.
        patch.setattr(classes_module, "_PACKED_VALUE_BITS", 3)
        patch.setattr(classes_module, "_PACKED_CLASS_BITS", 0)
        assert _as_dict(_counter(rows, size)) == fast


def test_values_are_told_apart_exactly() -> None:
    # Joined as text these would all be one class; NULL is not the empty string either.
    rows = [
        ("a\x1fb", "c", None, 1),
        ("a", "b\x1fc", None, 2),
        ("", "", None, 3),
        (None, "", None, 4),
    ]
    counter = _counter(rows, 2)
    assert counter.classes == 4


def test_rows_without_a_patient_column_count_one_each() -> None:
    counter = ClassCounter(["age_band"])
    batch = pa.RecordBatch.from_arrays([pa.array(["a", "a", "b"])], names=["age_band"])
    counter.add(batch, None)
    assert counter.patients_in_scope() == 3
    assert _as_dict(counter) == {("a",): (2, 2), ("b",): (1, 1)}


def _plan(qis: list[str]) -> Any:
    return SimpleNamespace(quasi_identifiers=qis, not_counted={}, patient_column="nhs_number")


def _drivers_by_hand(rows: list[tuple[Any, ...]], k: int, suppressed: int) -> dict[str, int]:
    out = {}
    for i, qi in enumerate(QIS):
        rest = [j for j in range(3) if j != i]
        without = sum(n for p, n in _by_hand(rows, rest).values() if p < k)
        if without < suppressed:
            out[qi] = without
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=150), st.integers(2, 5))
def test_gate_suppresses_small_classes_and_names_the_drivers(
    rows: list[tuple[Any, ...]], k: int
) -> None:
    counter = _counter(rows, 25)
    rules = ReleaseRules(min_k=k, small_number_threshold=1, small_classes=SmallClassAction.SUPPRESS)
    expected = _by_hand(rows, [0, 1, 2])
    small_rows = sum(n for p, n in expected.values() if p < k)
    if small_rows == len(rows):
        with pytest.raises(DisclosureRefusedError):
            run_gate(counter, _plan(QIS), rules)
        return
    gate = run_gate(counter, _plan(QIS), rules)
    assert gate.rows_in_scope == len(rows)
    assert gate.rows_suppressed == small_rows
    assert gate.rows_released == len(rows) - small_rows
    assert gate.classes == len(expected)
    assert gate.classes_suppressed == sum(1 for p, _ in expected.values() if p < k)
    kept = [p for p, _ in expected.values() if p >= k]
    assert gate.k_achieved == (min(kept) if kept else None)
    got = {d["quasi_identifier"]: d["rows_suppressed_without_it"] for d in gate.drivers}
    assert got == (_drivers_by_hand(rows, k, small_rows) if small_rows else {})
    if small_rows:
        assert gate.suppressed_classes is not None
        counts = counter.counts()
        flagged = {counts.values[i] for i in np.flatnonzero(gate.suppressed_classes)}
        assert flagged == {v for v, (p, _) in expected.items() if p < k}


def test_refusal_names_the_driving_quasi_identifier() -> None:
    rows = [("0-4", "WN1", 2019, p) for p in range(10)] + [("0-4", "M1", 2019, 99)]
    rules = ReleaseRules(min_k=5, small_number_threshold=1, small_classes=SmallClassAction.REFUSE)
    with pytest.raises(DisclosureRefusedError, match="Driven by: district"):
        run_gate(_counter(rows, 4), _plan(QIS), rules)


def test_small_numbers_refuse_before_classes() -> None:
    rows = [("0-4", "WN1", 2019, p) for p in range(4)]
    rules = ReleaseRules(min_k=2, small_number_threshold=5, small_classes=SmallClassAction.SUPPRESS)
    with pytest.raises(DisclosureRefusedError, match="small-number threshold"):
        run_gate(_counter(rows, 4), _plan(QIS), rules)


def test_without_quasi_identifiers_rows_and_patients_are_still_counted() -> None:
    counter = ClassCounter([])
    batch = pa.RecordBatch.from_arrays([pa.array([1, 2, 3])], names=["x"]).select([])
    assert counter.add(batch, np.array([7, 7, 9], dtype=np.uint64)) is None
    assert (counter.rows, counter.patients_in_scope()) == (3, 2)


def test_patient_keys_must_match_the_rows() -> None:
    batch = pa.RecordBatch.from_arrays([pa.array(["a", "b"])], names=["age_band"])
    with pytest.raises(ValueError, match="3 patient keys for 2 rows"):
        ClassCounter(["age_band"]).add(batch, np.zeros(3, dtype=np.uint64))
