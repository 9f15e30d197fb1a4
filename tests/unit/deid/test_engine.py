"""The engine end to end with a test-double scrubber: order, keys, policy choices, errors."""

from __future__ import annotations

import csv
import io
import json
import socket
import warnings
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pytest
import pytest_socket
import yaml

from fivesafes.deid.engine import RunOptions, deidentify_file, open_run
from fivesafes.deid.nhs_number import normalise_nhs_number
from fivesafes.deid.policy import Policy, load_policy, parse_policy
from fivesafes.deid.transforms import DateShifter
from fivesafes.deid.types import PatientContext, ScrubberConfig, ScrubResult
from fivesafes.errors import InputFileError, InvalidInputError
from fivesafes.keys import InMemoryKeyStore
from fivesafes.keys.pseudonym import Pseudonymiser

ROOT = Path(__file__).parents[3]
DATA = ROOT / "tests" / "data" / "dev-extract-200.csv"
SAMPLE = ROOT / "policies" / "datasets" / "sample-extract.yaml"
KEYS = InMemoryKeyStore(
    {k: bytes([i]) * 32 for i, k in enumerate(("pseudonym", "date_shift", "kek", "audit_signing"))}
)  # type: ignore[misc]


class ContextScrubber:
    """A real test double: replaces the row's own name parts and NHS number with tags."""

    def __init__(self, config: ScrubberConfig) -> None:
        self.config = config

    def scrub_many(
        self, texts: Sequence[str | None], contexts: Sequence[PatientContext], column: str
    ) -> list[ScrubResult]:
        results = []
        for text, context in zip(texts, contexts, strict=True):
            out, found = text or "", 0
            for name in context.names:
                for part in name.split():
                    found += out.count(part)
                    out = out.replace(part, "[PERSON]")
            for number in context.nhs_numbers:
                found += out.count(number)
                out = out.replace(number, "[NHS_NUMBER]")
            results.append(ScrubResult(out, {"PERSON": found} if found else {}))
        return results


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def run(policy: Policy, source: Path, out: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("scrubber_factory", ContextScrubber)
    return deidentify_file(source, policy, out, keystore=KEYS, options=RunOptions(**kwargs))


def test_sample_policy_on_dev_rows_preserves_order_with_two_workers(tmp_path: Path) -> None:
    policy = load_policy(SAMPLE)
    one = run(policy, DATA, tmp_path / "one.csv", workers=1, chunk_rows=13)
    two = run(policy, DATA, tmp_path / "two.csv", workers=2, chunk_rows=13)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    assert one.rows_in == two.rows_in == one.rows_out == 200
    source, output = rows_of(DATA), rows_of(tmp_path / "two.csv")
    pseudonym = Pseudonymiser(KEYS.secret("pseudonym"), "nhs_number")
    assert [r["nhs_number"] for r in output] == [pseudonym(r["nhs_number"]) for r in source]
    assert list(output[0]) == [c for c in policy.columns if c != "patient_name"]
    text = (tmp_path / "two.csv").read_text()
    for row, out in zip(source, output, strict=True):
        assert row["nhs_number"] not in text
        assert row["patient_name"] not in out["clinical_note"]  # the row's own name
    assert two.entities["clinical_note"]["PERSON"] > 200


def test_structured_transforms_follow_the_policy(tmp_path: Path) -> None:
    policy = load_policy(SAMPLE)
    run(policy, DATA, tmp_path / "out.csv")
    shifter = DateShifter(KEYS.secret("date_shift"), 180)
    for before, after in zip(rows_of(DATA)[:50], rows_of(tmp_path / "out.csv"), strict=False):
        offset = shifter.offset(before["nhs_number"])
        shifted = date.fromisoformat(after["admission_date"])
        assert (shifted - date.fromisoformat(before["admission_date"])).days == offset
        assert after["postcode"] == before["postcode"].split()[0]
        if after["date_of_birth"] != "90+":
            low, high = (int(x) for x in after["date_of_birth"].split("-"))
            assert (low % 5, high - low) == (0, 4)
        assert after["sex"] == before["sex"]
        assert after["diagnosis_code"] == before["diagnosis_code"]


def test_same_patient_gets_same_pseudonym_and_offset(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    rows = rows_of(DATA)[:2]
    header = list(rows[0])
    again = dict(
        rows[0],
        admission_date="2024-01-31",
        nhs_number=" ".join(
            [rows[0]["nhs_number"][:3], rows[0]["nhs_number"][3:6], rows[0]["nhs_number"][6:]]
        ),
    )
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, header)
        writer.writeheader()
        writer.writerows([rows[0], rows[1], again])
    run(load_policy(SAMPLE), source, tmp_path / "out.csv")
    out = rows_of(tmp_path / "out.csv")
    assert out[0]["nhs_number"] == out[2]["nhs_number"] != out[1]["nhs_number"]
    gap_in = date(2024, 1, 31) - date.fromisoformat(rows[0]["admission_date"])
    gap_out = date.fromisoformat(out[2]["admission_date"]) - date.fromisoformat(
        out[0]["admission_date"]
    )
    assert gap_in == gap_out


def with_rows(
    tmp_path: Path, edit: dict[int, dict[str, str]], extra_columns: Sequence[str] = ()
) -> Path:
    rows = rows_of(DATA)[:30]
    for index, changes in edit.items():
        rows[index].update(changes)
    path = tmp_path / "in.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, [*rows[0], *extra_columns], restval="x")
        writer.writeheader()
        writer.writerows(rows)
    return path


def sample_with(**changes: Any) -> Policy:
    data = yaml.safe_load(SAMPLE.read_text())
    for column, options in changes.items():
        data["columns"][column].update(options)
    return parse_policy(data)


BAD_NHS = "1234567890"  # fails mod 11


@pytest.mark.parametrize("workers", [1, 2])
def test_invalid_nhs_number_stops_the_run_without_output(tmp_path: Path, workers: int) -> None:
    source = with_rows(tmp_path, {20: {"nhs_number": BAD_NHS}})
    out = tmp_path / "out.csv"
    with pytest.raises(InputFileError) as info:
        run(load_policy(SAMPLE), source, out, workers=workers, chunk_rows=7)
    assert (
        str(info.value)
        == f"{source}, line 22, column 'nhs_number': NHS number fails the modulus 11 check"
    )
    assert BAD_NHS not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_reject_row_drops_and_reports_without_values(tmp_path: Path) -> None:
    source = with_rows(tmp_path, {3: {"nhs_number": BAD_NHS}, 9: {"nhs_number": ""}})
    report = run(sample_with(nhs_number={"on_invalid": "reject_row"}), source, tmp_path / "out.csv")
    assert (report.rows_in, report.rows_out, report.rows_rejected) == (30, 28, 2)
    assert report.rejections == [
        {"line": 5, "column": "nhs_number", "reason": "NHS number fails the modulus 11 check"},
        {"line": 11, "column": "nhs_number", "reason": "NHS number is missing"},
    ]
    assert report.invalid_nhs_numbers == 2
    assert BAD_NHS not in report.to_json()
    assert len(rows_of(tmp_path / "out.csv")) == 28


def test_null_and_count_keeps_the_row(tmp_path: Path) -> None:
    source = with_rows(tmp_path, {3: {"nhs_number": BAD_NHS}})
    policy = sample_with(nhs_number={"on_invalid": "null_and_count"})
    report = run(policy, source, tmp_path / "out.csv")
    out = rows_of(tmp_path / "out.csv")
    assert report.rows_out == 30
    assert report.invalid_nhs_numbers == 1
    assert out[3]["nhs_number"] == ""
    assert out[3]["admission_date"] == ""  # no patient key, so no shift: never the raw date
    assert report.invalid_values_nulled == {"nhs_number": 1, "admission_date": 1}


def test_bad_date_names_line_and_column_not_value(tmp_path: Path) -> None:
    source = with_rows(tmp_path, {12: {"date_of_birth": "31/02/1980"}})
    with pytest.raises(InputFileError) as info:
        run(load_policy(SAMPLE), source, tmp_path / "out.csv")
    assert "line 14, column 'date_of_birth': not a valid calendar date" in str(info.value)
    assert "1980" not in str(info.value)


def test_undeclared_columns_are_refused_before_any_output(tmp_path: Path) -> None:
    source = with_rows(tmp_path, {}, extra_columns=["gp_name", "phone"])
    # A snake_case name is shown; a single word might be a value: position and shape only.
    with pytest.raises(
        InputFileError,
        match=r"line 1: 2 column\(s\) not declared.*'gp_name' \(field \d+\), "
        r"field \d+ \(text of 5 characters\)",
    ):
        run(load_policy(SAMPLE), source, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_malformed_csv_mid_file_with_workers(tmp_path: Path) -> None:
    good = DATA.read_text().splitlines(keepends=True)[:120]
    good.insert(90, '7789328794,"Broken Quote,2007-09-02,WN8 8YH,F,Z,2023-07-28,J44.1,note\n')
    source = tmp_path / "in.csv"
    source.write_text("".join(good))
    with pytest.raises(InputFileError) as info:
        run(load_policy(SAMPLE), source, tmp_path / "out.csv", workers=2, chunk_rows=10)
    assert info.value.line == 91
    assert info.value.column == "patient_name"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_scrubber_receives_each_rows_own_context(tmp_path: Path) -> None:
    seen: list[PatientContext] = []

    class Recording(ContextScrubber):
        def scrub_many(
            self, texts: Sequence[str | None], contexts: Sequence[PatientContext], column: str
        ) -> list[ScrubResult]:
            seen.extend(contexts)
            return super().scrub_many(texts, contexts, column)

    run(load_policy(SAMPLE), DATA, tmp_path / "out.csv", scrubber_factory=Recording)
    first = rows_of(DATA)[0]
    assert seen[0].names == (first["patient_name"],)
    assert seen[0].nhs_numbers == (normalise_nhs_number(first["nhs_number"]),)
    assert [d.isoformat() for d in seen[0].dates] == [first["date_of_birth"]]
    assert seen[0].postcodes == (first["postcode"],)
    assert seen[0].date_shift_days is None  # free_text_dates: tag
    assert len(seen) == 200


def test_generator_api_yields_column_batches(tmp_path: Path) -> None:
    options = RunOptions(scrubber_factory=ContextScrubber, chunk_rows=64)
    with open_run(DATA, load_policy(SAMPLE), keystore=KEYS, options=options) as deid:
        chunks = list(deid)
        report = deid.report
    assert [c.row_count for c in chunks] == [64, 64, 64, 8]
    first = chunks[0].as_dicts()[0]
    assert set(first) == {c.name for c in deid.outputs}
    assert "patient_name" not in first
    assert report.rows_out == 200
    assert report.input_sha256 is not None


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_other_output_formats(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"out{suffix}"
    run(load_policy(SAMPLE), DATA, out, workers=2, chunk_rows=50)
    if suffix == ".jsonl":
        records = [json.loads(line) for line in out.read_text().splitlines()]
    else:
        table = pq.read_table(out)
        assert str(table.schema.field("admission_date").type) == "date32[day]"
        records = table.to_pylist()
    assert len(records) == 200
    assert list(records[0]) == [c for c in load_policy(SAMPLE).columns if c != "patient_name"]
    csv_out = tmp_path / "out.csv"
    run(load_policy(SAMPLE), DATA, csv_out)
    assert [str(r["nhs_number"]) for r in records] == [r["nhs_number"] for r in rows_of(csv_out)]


def test_xlsx_input(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    rows = list(csv.reader(io.StringIO(DATA.read_text())))[:21]
    for row in rows:
        sheet.append(row)
    source = tmp_path / "in.xlsx"
    book.save(source)
    run(load_policy(SAMPLE), source, tmp_path / "a.csv")
    run(load_policy(SAMPLE), DATA, tmp_path / "b.csv", chunk_rows=20)
    assert rows_of(tmp_path / "a.csv") == rows_of(tmp_path / "b.csv")[:20]


def test_unsupported_output_is_refused_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"unsupported output type '\.xlsx'"):
        run(load_policy(SAMPLE), DATA, tmp_path / "out.xlsx")


def test_engine_makes_no_network_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def record(name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            attempts.append(name)
            raise OSError("network use during de-identification")

        return refuse

    monkeypatch.setattr(socket, "getaddrinfo", record("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", record("create_connection"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pytest_socket.disable_socket(allow_unix_socket=True)  # socket() itself raises
        try:
            run(load_policy(SAMPLE), DATA, tmp_path / "out.csv", workers=2, chunk_rows=40)
        finally:
            pytest_socket.enable_socket()
    assert attempts == []
    assert not [w for w in caught if "socket" in str(w.message)]
    assert len(rows_of(tmp_path / "out.csv")) == 200
