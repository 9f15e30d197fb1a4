"""The shortcuts taken for speed give the same answers as the slow ways."""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from fivesafes.release import disclosure
from fivesafes.release.writers import FORMULA_START, neutralise_formulas

Classes = list[tuple[tuple[Any, ...], int, int]]
NO_DB: Any = None  # the cases tested need no database


def _by_regex(values: pa.Array) -> list[Any]:
    risky = pc.match_substring_regex(values, FORMULA_START)
    out: list[Any] = pc.if_else(
        risky, pc.binary_join_element_wise("'", values, ""), values
    ).to_pylist()
    return out


@pytest.mark.parametrize("seed", range(5))
def test_first_byte_check_matches_the_regular_expression(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = ["=", "+", "-", "@", "\t", "\r", "a", "é", "1", " ", "'", "€"]
    cells = [
        None if rng.random() < 0.1 else "".join(rng.choices(alphabet, k=rng.randrange(4)))
        for _ in range(500)
    ]
    values = pa.array(cells, pa.string())
    assert neutralise_formulas(values).to_pylist() == _by_regex(values)
    part = values.slice(37, 300)
    assert neutralise_formulas(part).to_pylist() == _by_regex(part)
    assert neutralise_formulas(pa.chunked_array([values])).to_pylist() == _by_regex(values)


def test_a_column_without_formulas_is_left_as_it_is() -> None:
    values = pa.array(["a", None, "b-", ""])
    assert neutralise_formulas(values) is values


def _expected(
    classes: Classes, qis: list[str], k: int, patients_of: dict[Any, set[Any]]
) -> dict[str, int]:
    """Rows suppressed without each quasi-identifier, from the patients themselves."""
    out = {}
    for i, qi in enumerate(qis):
        merged: dict[tuple[Any, ...], list[Any]] = {}
        for values, _, rows in classes:
            key = values[:i] + values[i + 1 :]
            entry = merged.setdefault(key, [set(), 0])
            entry[0] |= patients_of[values]
            entry[1] += rows
        out[qi] = sum(rows for people, rows in merged.values() if len(people) < k)
    return out


def test_drivers_without_another_scan_when_every_patient_has_one_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    patients_of = {
        ("a", "x"): {1, 2, 3, 4, 5},
        ("a", "y"): {6},
        ("b", "y"): {7, 8},
        ("b", "z"): {9, 10, 11},
    }
    classes = [(v, len(p), len(p) * 2) for v, p in patients_of.items()]

    def no_scan(*args: Any) -> Classes:
        raise AssertionError("no scan expected")

    monkeypatch.setattr(disclosure, "_class_counts", no_scan)
    drivers = disclosure._drivers(
        NO_DB, NO_DB, ["q1", "q2"], 5, 12, classes=classes, one_class_each=True
    )
    expected = _expected(classes, ["q1", "q2"], 5, patients_of)
    assert {d["quasi_identifier"]: d["rows_suppressed_without_it"] for d in drivers} == {
        q: n for q, n in expected.items() if n < 12
    }


def test_drivers_count_again_when_a_coarser_class_is_in_doubt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Patient 1 is in both classes of "a": 3 + 3 patient-classes, but 5 patients in all.
    patients_of = {("a", "x"): {1, 2, 3}, ("a", "y"): {1, 4, 5}, ("b", "x"): {6, 7, 8, 9, 10, 11}}
    classes = [(v, len(p), len(p)) for v, p in patients_of.items()]
    expected = _expected(classes, ["q1", "q2"], 6, patients_of)
    calls: list[list[str]] = []

    def exact(connection: Any, plan: Any, rest: list[str]) -> Classes:
        calls.append(rest)
        i = 0 if rest == ["q1"] else 1  # the position kept
        merged: dict[tuple[Any, ...], list[Any]] = {}
        for values, _, rows in classes:
            entry = merged.setdefault((values[i],), [set(), 0])
            entry[0] |= patients_of[values]
            entry[1] += rows
        return [(key, len(p), rows) for key, (p, rows) in merged.items()]

    monkeypatch.setattr(disclosure, "_class_counts", exact)
    drivers = disclosure._drivers(
        NO_DB, NO_DB, ["q1", "q2"], 6, 6, classes=classes, one_class_each=False
    )
    assert calls == [["q1"]]  # dropping q2 leaves class "a" in doubt; dropping q1 does not
    got = {d["quasi_identifier"]: d["rows_suppressed_without_it"] for d in drivers}
    assert got == {q: n for q, n in expected.items() if n < 6}
