"""The vectorised engine path writes exactly what the per-cell path writes, and reports alike.

Both paths run the same extracts (hypothesis draws clean and dirty cells for every column
kind) under policies that use every vectorised transform and every ``on_invalid`` choice;
the per-cell path is forced by making the vectorised reader decline every chunk.
"""

from __future__ import annotations

import copy
import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.deid import worker
from fivesafes.deid.engine import DeidRun, RunOptions, deidentify_file
from fivesafes.deid.policy import parse_policy
from fivesafes.keys.store import InMemoryKeyStore

KEYSTORE = InMemoryKeyStore.generate()

BASE: dict[str, Any] = {
    "dataset": "vector-equivalence",
    "version": 1,
    "description": "Every vectorised transform.",
    "date_shift": {"max_days": 90},
    "columns": {
        "nhs_number": {"type": "nhs_number", "role": "patient_id"},
        "patient_name": {"type": "string", "role": "identifier", "action": "drop"},
        "local_id": {"type": "string", "role": "identifier", "action": "pseudonymise"},
        "date_of_birth": {
            "type": "date",
            "role": "quasi_identifier",
            "generalise": {"method": "age_band", "width": 5, "reference_date": "2025-01-01"},
        },
        "postcode": {"type": "postcode", "role": "quasi_identifier", "generalise": "district"},
        "home_postcode": {"type": "postcode", "role": "quasi_identifier", "generalise": "sector"},
        "admitted": {"type": "date", "role": "quasi_identifier", "generalise": "date_shift"},
        "seen": {
            "type": "date",
            "role": "quasi_identifier",
            "generalise": {"method": "truncate", "to": "month"},
        },
        "born_year": {"type": "date", "role": "quasi_identifier", "generalise": "to_year"},
        "visits": {"type": "integer", "role": "keep"},
        "smoker": {"type": "boolean", "role": "keep"},
        "weight": {"type": "decimal", "role": "keep"},
        "discharged": {"type": "date", "role": "keep"},
        "code": {"type": "string", "role": "keep"},
    },
}

CLEAN: dict[str, list[str]] = {
    "nhs_number": ["9434765919", "943 476 5919", "4010232137", "401-023-2137", "4505577104"],
    "patient_name": ["Alison Taylor", "O'Brien, Sean", ""],
    "local_id": ["RX1234", " rx1234 ", "H 99", ""],
    "date_of_birth": ["1950-03-12", "2000-02-29", "1924-12-31", "2024-12-31", ""],
    "postcode": ["WN8 7YH", "wn87yh", "M1 1AE", "GIR 0AA", "EC1A 1BB", "B33", ""],
    "home_postcode": ["WN8 7YH", "sw1a2aa", "M1 1AE", ""],
    "admitted": ["2020-01-31", "2019-12-01", "2024-02-29", ""],
    "seen": ["2021-07-04", "1999-12-31", ""],
    "born_year": ["1950-03-12", "2010-10-10", ""],
    "visits": ["0", "12", "+7", "007", "-3", ""],
    "smoker": ["true", "No", "Y", "0", "t", ""],
    "weight": ["70.5", "68", ".5", "1e3", ""],
    "discharged": ["2020-02-03", "2023-11-30", ""],
    "code": ["J44.1", "E11.9", "", 'a, "quoted" code'],
}

DIRTY: dict[str, list[str]] = {
    "nhs_number": ["9434765918", "12345", "ABCDEFGHIJ", "   ", ""],
    "local_id": ["   "],
    "date_of_birth": ["1950-02-30", "12/03/1950", "2030-01-01", "0000-01-01", " "],
    "postcode": ["not a postcode", "W1A", "ZZ", "é1 1AA"],
    "home_postcode": ["B33", "XX"],
    "admitted": ["2020-13-01", "31/01/2020", "2020-01-31T00:00:00"],
    "seen": ["2021-07-04 10:00", "July"],
    "born_year": ["1950", "03/1950"],
    "visits": ["1.5", "twelve", " 3 "],
    "smoker": ["maybe", "TRUE ", "2"],
    "weight": ["heavy", "1,5"],
    "discharged": ["2020-02-30", "2/3/2020"],
}

NAMES = list(BASE["columns"])


@st.composite
def extracts(draw: st.DrawFn) -> list[list[str]]:
    rows = draw(st.integers(1, 40))
    dirty = draw(st.sampled_from([0.0, 0.05, 0.3]))
    out = []
    for _ in range(rows):
        row = []
        for name in NAMES:
            pool = DIRTY.get(name) if draw(st.floats(0, 1)) < dirty else None
            row.append(draw(st.sampled_from(pool or CLEAN[name])))
        out.append(row)
    return out


def _policy(on_invalid: str, exempt: bool) -> Any:
    data = copy.deepcopy(BASE)
    for column in data["columns"].values():
        if column["role"] != "patient_id":
            column["on_invalid"] = on_invalid
    data["columns"]["nhs_number"]["on_invalid"] = (
        "reject_row" if on_invalid == "null_and_count" else on_invalid
    )
    if exempt:
        data["national_data_opt_out"] = {"exempt": True, "basis": "tested"}
    return parse_policy(data)


def _write(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([NAMES, *rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _run(tmp: Path, policy: Any, *, vectorised: bool, out: str) -> tuple[bytes | str, Any]:
    target = tmp / f"out-{vectorised}.{out}"
    options = RunOptions(workers=1, chunk_rows=7)
    try:
        report = deidentify_file(tmp / "in.csv", policy, target, keystore=KEYSTORE, options=options)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}", None
    data = target.read_bytes()
    target.unlink()
    return data, report


def _comparable(report: Any) -> dict[str, Any]:
    found = report.to_dict()
    for volatile in ("started_at", "finished_at", "duration_seconds", "rows_per_second"):
        found.pop(volatile)
    found.pop("output_file")
    return found


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=extracts(),
    on_invalid=st.sampled_from(["reject_file", "reject_row", "null_and_count"]),
    exempt=st.booleans(),
    out=st.sampled_from(["csv", "jsonl", "parquet"]),
)
def test_both_paths_give_the_same_output_and_report(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[list[str]],
    on_invalid: str,
    exempt: bool,
    out: str,
) -> None:
    _write(tmp_path / "in.csv", rows)
    policy = _policy(on_invalid, exempt)
    fast, fast_report = _run(tmp_path, policy, vectorised=True, out=out)
    with monkeypatch.context() as patched:
        patched.setattr(worker, "parse_csv_chunk_arrow", lambda *args: None)
        slow, slow_report = _run(tmp_path, policy, vectorised=False, out=out)
    if out == "parquet" and isinstance(fast, bytes) and isinstance(slow, bytes):
        import pyarrow.parquet as pq  # noqa: PLC0415

        assert pq.read_table(io.BytesIO(fast)).equals(pq.read_table(io.BytesIO(slow)))
    else:
        assert fast == slow
    if fast_report is not None:
        assert _comparable(fast_report) == _comparable(slow_report)


def test_the_vectorised_path_is_taken_for_a_clean_extract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [[CLEAN[name][i % len(CLEAN[name])] for name in NAMES] for i in range(30)]
    _write(tmp_path / "in.csv", rows)
    policy = _policy("reject_file", False)
    taken: list[int] = []
    original = worker.WorkerState._process_arrays

    def spy(self: worker.WorkerState, chunk: Any, parsed: Any) -> Any:
        taken.append(parsed.row_count)
        return original(self, chunk, parsed)

    monkeypatch.setattr(worker.WorkerState, "_process_arrays", spy)
    options = RunOptions(workers=1, encoding="pgcopy")
    with DeidRun(tmp_path / "in.csv", policy, keystore=KEYSTORE, options=options) as run:
        payload = b"".join(r.payload or b"" for r in run.results())
    assert sum(taken) == 30
    assert payload.count(b"\n") == 30


def test_an_arrow_error_in_a_twin_falls_back_without_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An Arrow error quotes the value it failed on: the column runs per cell instead."""
    import pyarrow as pa  # noqa: PLC0415

    from fivesafes.deid import plan  # noqa: PLC0415

    rows = [[CLEAN[name][i % len(CLEAN[name])] for name in NAMES] for i in range(12)]
    _write(tmp_path / "in.csv", rows)
    policy = _policy("reject_file", False)
    expected, _ = _run(tmp_path, policy, vectorised=True, out="csv")

    def leaky(*args: Any, **kwargs: Any) -> Any:
        raise pa.ArrowInvalid("Failed to parse string: '9434765919'")

    monkeypatch.setitem(plan._NORMALISERS_VECTOR, "nhs_number", leaky)
    monkeypatch.setattr(plan.vt, "postcode_district", leaky)
    monkeypatch.setattr(plan.vt, "shift_dates", leaky)
    found, report = _run(tmp_path, policy, vectorised=True, out="csv")
    assert found == expected
    assert report is not None
