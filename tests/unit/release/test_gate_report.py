"""The gate's report (``assess``) and a preview's suggestion, on generated data.

``assess`` must be the release's gate exactly: it refuses where ``run_gate`` raises, with
the same message, and its counts are the ones the release has when it goes ahead.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fivesafes.access.policy import ReleaseRules, SmallClassAction
from fivesafes.release import preview as preview_module
from fivesafes.release.classes import ClassCounter
from fivesafes.release.disclosure import (
    DisclosureRefusedError,
    GateResult,
    Refusal,
    assess,
    run_gate,
)
from fivesafes.release.preview import Alternative, Preview

QIS = ["age_band", "district"]
row = st.tuples(
    st.sampled_from(["0-19", "20-39", None]),
    st.sampled_from(["WN1", "WN2", "ZE1"]),
    st.integers(0, 30),  # the patient
)
rules_strategy = st.builds(
    ReleaseRules,
    min_k=st.integers(2, 6),
    small_number_threshold=st.integers(1, 20),
    small_classes=st.sampled_from(list(SmallClassAction)),
)


def _counter(rows: list[tuple[Any, ...]]) -> ClassCounter:
    counter = ClassCounter(QIS)
    batch = pa.RecordBatch.from_arrays(
        [pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows], pa.string())],
        names=QIS,
    )
    keys = np.array([(r[2] * 0x9E3779B97F4A7C15) % 2**64 for r in rows], dtype=np.uint64)
    counter.add(batch, keys)
    return counter


def _plan() -> Any:
    return SimpleNamespace(quasi_identifiers=QIS, not_counted={}, patient_column="nhs_number")


@settings(max_examples=80, deadline=None)
@given(st.lists(row, min_size=1, max_size=120), rules_strategy)
def test_assess_refuses_exactly_where_the_release_gate_raises(
    rows: list[tuple[Any, ...]], rules: ReleaseRules
) -> None:
    report = assess(_counter(rows), _plan(), rules)
    patients = len({r[2] for r in rows})
    assert report.rows_in_scope == len(rows)
    assert report.patients_in_scope == patients
    if report.refusal is None:
        gate = run_gate(_counter(rows), _plan(), rules)
        assert (gate.rows_suppressed, gate.k_achieved, gate.drivers) == (
            report.rows_suppressed,
            report.k_achieved,
            report.drivers,
        )
        return
    with pytest.raises(DisclosureRefusedError) as raised:
        run_gate(_counter(rows), _plan(), rules)
    assert raised.value.message == report.refusal_message
    if patients < rules.small_number_threshold:
        assert report.refusal is Refusal.FEW_PATIENTS
    elif rules.small_classes is SmallClassAction.REFUSE:
        assert report.refusal is Refusal.SMALL_CLASSES
        assert report.rows_suppressed > 0
    else:
        assert report.refusal is Refusal.FEW_ROWS_LEFT
        assert report.rows_released < rules.small_number_threshold


def test_a_refused_report_still_counts_what_would_be_suppressed() -> None:
    rows = [("0-19", "WN1", p) for p in range(3)] + [("0-19", "ZE1", 9)]
    rules = ReleaseRules(
        min_k=5, small_number_threshold=10, small_classes=SmallClassAction.SUPPRESS
    )
    report = assess(_counter(rows), _plan(), rules)
    assert report.refusal is Refusal.FEW_PATIENTS
    assert (report.rows_suppressed, report.classes_suppressed) == (4, 2)


def _gate(rows_in_scope: int, suppressed: int, refusal: Refusal | None = None) -> GateResult:
    gate = GateResult(5, "suppress", 10, ["age_band", "district"], {}, "distinct patients")
    gate.rows_in_scope, gate.rows_suppressed, gate.refusal = rows_in_scope, suppressed, refusal
    return gate


def _preview(gate: GateResult, granularity: str = "day") -> Preview:
    terms = SimpleNamespace(granularity=granularity)
    return Preview(terms, 1, None, 1, gate)  # type: ignore[arg-type]


def test_the_suggestion_names_the_change_that_keeps_most_rows() -> None:
    gate = _gate(100, 90)
    found = [
        Alternative("day", "district", 4, 96, False, 1),
        Alternative("year", None, 30, 70, False, 1),
        Alternative("year", "district", 4, 96, False, 2),  # adds to "without district" alone
        Alternative("day", "age_band", 0, 100, True, 1),  # refused: never suggested
    ]
    said = preview_module._suggestion(_preview(gate), found)
    assert said.startswith("90 of 100 rows would be suppressed. Suggested: without district: 4")
    assert "dates by year instead of by day: 30 row(s) suppressed, 70 released" in said
    assert "and without district" not in said
    assert "age_band" not in said


def test_without_a_better_change_the_suggestion_says_so() -> None:
    said = preview_module._suggestion(
        _preview(_gate(100, 90, Refusal.FEW_ROWS_LEFT)),
        [Alternative("year", None, 95, 5, True, 1)],
    )
    assert said.startswith("Neither coarser dates nor leaving out one quasi-identifier")


def test_too_few_patients_suggest_a_wider_filter_only() -> None:
    preview = _preview(_gate(8, 8, Refusal.FEW_PATIENTS))
    assert preview.counts_hidden
    assert not preview.most_rows_suppressed  # says nothing of the counts either
    assert "fewer patients than the small-number threshold of 10" in (preview.refusal or "")
    assert "8" not in (preview.refusal or "")
    assert "widen the row filter" in preview_module._suggestion(preview, [])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.integers(0, 200), rules_strategy)
def test_leaving_a_driver_out_is_refused_as_the_gate_would_refuse_it(
    in_scope: int, without: int, rules: ReleaseRules
) -> None:
    without = min(without, in_scope)
    gate = _gate(in_scope, in_scope)
    gate.drivers = [{"quasi_identifier": "district", "rows_suppressed_without_it": without}]
    (alternative,) = preview_module._without(gate, rules, "day")
    assert alternative.rows_released == in_scope - without
    expected = (rules.small_classes is SmallClassAction.REFUSE and without > 0) or (
        in_scope - without < rules.small_number_threshold
    )
    assert alternative.refused is expected
