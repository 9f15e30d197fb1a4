"""`policies draft`: proposals on a realistic synthetic extract, raw values never written,
and a valid policy for any header and values (loads spaCy once per module: marked slow)."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.deid.column_profile import read_sample
from fivesafes.deid.plan import output_columns
from fivesafes.deid.policy import load_policy
from fivesafes.deid.policy_draft import Draft, draft_policy, validate_draft
from fivesafes.deid.scrubber import FreeTextScrubber
from fivesafes.deid.types import ScrubberConfig
from fivesafes.errors import InputFileError, InvalidInputError

pytestmark = pytest.mark.slow

EXTRACT = Path(__file__).resolve().parents[2] / "data" / "policy-draft-extract.csv"
TODAY = date(2026, 1, 1)


@pytest.fixture(scope="module")
def scrubber() -> FreeTextScrubber:
    return FreeTextScrubber(ScrubberConfig())


@pytest.fixture(scope="module")
def drafted(scrubber: FreeTextScrubber) -> Draft:
    return draft_policy(EXTRACT, scrubber, today=TODAY)


def columns(draft: Draft) -> dict[str, dict[str, Any]]:
    return {p.name: p.column for p in draft.proposals}


def test_each_column_of_a_realistic_extract_gets_the_expected_role(drafted: Draft) -> None:
    got = {name: (c["type"], c["role"], c.get("action")) for name, c in columns(drafted).items()}
    assert got == {
        "nhs_number": ("nhs_number", "patient_id", None),
        "hospital_number": ("string", "identifier", "pseudonymise"),
        "patient_name": ("string", "identifier", "drop"),
        "date_of_birth": ("date", "quasi_identifier", None),
        "address_line_1": ("string", "identifier", "drop"),
        "town": ("string", "identifier", "drop"),
        "postcode": ("postcode", "quasi_identifier", None),
        "phone": ("string", "identifier", "drop"),
        "sex": ("string", "keep", None),
        "ethnicity": ("string", "keep", None),
        "age_at_admission": ("integer", "quasi_identifier", None),
        "admission_date": ("date", "quasi_identifier", None),
        "discharge_time": ("datetime", "quasi_identifier", None),
        "length_of_stay": ("integer", "keep", None),
        "weight_kg": ("decimal", "keep", None),
        "smoker": ("boolean", "keep", None),
        "diagnosis_code": ("string", "keep", None),
        "gp_practice": ("string", "free_text", None),
        "mother_nhs_number": ("nhs_number", "identifier", "pseudonymise"),
        "clinical_note": ("string", "free_text", None),
    }


def test_generalisations_and_patient_context_follow_the_content(drafted: Draft) -> None:
    got = columns(drafted)
    assert got["date_of_birth"]["generalise"] == {
        "method": "age_band",
        "width": 5,
        "reference_date": TODAY,
        "top_code": 90,
    }
    assert got["postcode"]["generalise"] == "district"
    assert got["admission_date"]["generalise"] == "date_shift"
    assert got["discharge_time"]["generalise"] == "date_shift"
    assert got["age_at_admission"]["generalise"] == {"method": "band", "width": 5}
    context = {n: c.get("patient_context") for n, c in got.items() if c.get("patient_context")}
    assert context == {
        "nhs_number": "nhs_number",
        "hospital_number": "identifier",
        "patient_name": "name",
        "date_of_birth": "date",
        "address_line_1": "address",
        "town": "address",
        "postcode": "postcode",
        "phone": "identifier",
    }


def test_the_draft_is_a_policy_the_loader_accepts(drafted: Draft, tmp_path: Path) -> None:
    path = tmp_path / "draft.yaml"
    path.write_text(drafted.to_yaml())
    policy = load_policy(path)
    assert policy.dataset == "policy-draft-extract"
    assert list(policy.columns) == next(csv.reader(EXTRACT.open()))
    assert policy.patient_id_column == "nhs_number"
    assert policy.review_sample == 20  # notes are read by governance before release
    assert "patient_name" not in output_columns(policy)


def test_every_column_is_marked_for_review_with_its_evidence(drafted: Draft) -> None:
    text = drafted.to_yaml()
    lines = text.splitlines()
    for name in columns(drafted):
        at = lines.index(f"  {name}:")
        above = lines[:at]
        marker = max(i for i, line in enumerate(above) if line.startswith("  # REVIEW: proposed"))
        assert at - marker >= 2, name  # the proposal, then at least one reason
        assert all(line.startswith("  #") for line in lines[marker:at])
    assert "40 of 40 sampled values are valid NHS numbers" in text
    assert "PERSON in 40" in text


def test_no_sampled_value_reaches_the_draft(drafted: Draft) -> None:
    text = drafted.to_yaml()
    with EXTRACT.open() as handle:
        rows = list(csv.DictReader(handle))
    # Values short enough to appear by chance (codes like "F", numbers like "8") are skipped.
    leaked = {v for row in rows for v in row.values() if len(v) >= 6 and v in text}
    assert leaked == set()


def test_a_sample_is_bounded(tmp_path: Path) -> None:
    sample = read_sample(EXTRACT, 7)
    assert sample.rows == 7
    assert [len(c) for c in sample.columns] == [7] * len(sample.header)


def test_other_formats_read_through_the_same_readers(
    scrubber: FreeTextScrubber, tmp_path: Path
) -> None:
    with EXTRACT.open() as handle:
        rows = list(csv.DictReader(handle))
    jsonl = tmp_path / "episodes.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    draft = draft_policy(jsonl, scrubber, today=TODAY)
    assert draft.format == "jsonl"
    assert draft.dataset == "episodes"
    assert columns(draft)["nhs_number"]["role"] == "patient_id"


def test_a_file_without_its_header_row_is_refused_without_quoting_it(
    scrubber: FreeTextScrubber, tmp_path: Path
) -> None:
    lines = EXTRACT.read_text().splitlines(keepends=True)
    headless = tmp_path / "headless.csv"
    headless.write_text("".join(lines[1:6]))
    with pytest.raises(InputFileError) as caught:
        draft_policy(headless, scrubber)
    message = caught.value.message
    assert "lack its header row" in message
    first = next(csv.reader([lines[1]]))
    assert not any(value in message for value in first if len(value) >= 4)


def test_repeated_and_reserved_header_names_are_refused(
    scrubber: FreeTextScrubber, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("sex,sex,nddo_opted_out\nF,F,x\n")
    with pytest.raises(InputFileError, match="repeats an earlier column name") as caught:
        draft_policy(path, scrubber)
    assert "reserves" in caught.value.message


def test_bad_names_and_sizes_are_refused(scrubber: FreeTextScrubber, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="dataset name"):
        draft_policy(EXTRACT, scrubber, dataset="Not A Name")
    with pytest.raises(InvalidInputError, match="sample rows"):
        draft_policy(EXTRACT, scrubber, sample_rows=0)
    with pytest.raises(InputFileError, match="unsupported input type"):
        draft_policy(tmp_path / "extract.txt", scrubber)


def test_an_empty_column_is_dropped_not_kept(scrubber: FreeTextScrubber, tmp_path: Path) -> None:
    path = tmp_path / "sparse.csv"
    path.write_text("sex,referrer\nF,\nM,\n")
    draft = draft_policy(path, scrubber)
    assert columns(draft)["referrer"] == {"type": "string", "role": "identifier", "action": "drop"}
    # No patient_id column: dates could not be shifted, and none was proposed.
    assert validate_draft(draft).patient_id_column is None


def test_the_encoding_read_is_the_encoding_declared(
    scrubber: FreeTextScrubber, tmp_path: Path
) -> None:
    path = tmp_path / "windows.csv"
    path.write_bytes("nhs_number,ward\n9434765919,Caf\u00e9 ward\n".encode("cp1252"))
    draft = draft_policy(path, scrubber, encoding="windows-1252")
    assert validate_draft(draft).input.encoding == "cp1252"
    with pytest.raises(InvalidInputError, match="--encoding: unknown encoding"):
        draft_policy(path, scrubber, encoding="klingon")
    with pytest.raises(InvalidInputError, match="not ASCII-compatible"):
        draft_policy(path, scrubber, encoding="utf-16")


def _draft_or_refusal(path: Path, scrubber: FreeTextScrubber) -> Draft | InvalidInputError:
    try:
        return draft_policy(path, scrubber, dataset="fuzz")
    except InvalidInputError as refused:
        return refused


SENTINEL = "Qzv"
# Characters a reader accepts (so examples reach the proposals); headers sometimes any
# (the readers' own refusals are fuzzed in test_reader_fuzz).
printable = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
header_names = st.one_of(
    *[st.text(printable, min_size=1, max_size=20)] * 3, st.text(min_size=1, max_size=20)
).filter(lambda s: s == s.strip() and SENTINEL.lower() not in s.lower())
cells = st.one_of(
    st.text(printable, max_size=30).map(lambda s: SENTINEL + s),
    st.sampled_from(["", "F", "2023-01-02", "9434765919", "CO4 5JL", "12", "1.5", "yes"]),
)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    header=st.lists(header_names, min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_any_header_and_values_give_a_valid_draft_or_a_clear_refusal(
    scrubber: FreeTextScrubber, tmp_path: Path, header: list[str], data: st.DataObject
) -> None:
    rows = data.draw(st.lists(st.lists(cells, min_size=len(header), max_size=len(header))))
    path = tmp_path / "fuzz.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    outcome = _draft_or_refusal(path, scrubber)
    if isinstance(outcome, InvalidInputError):
        assert SENTINEL not in outcome.message
        return
    draft = outcome
    text = draft.to_yaml()
    assert SENTINEL not in text
    policy = validate_draft(draft)
    assert list(policy.columns) == header
    assert yaml.safe_load(text)["columns"].keys() == set(header)
    assert all(p.why for p in draft.proposals)
    assert text.count("  # REVIEW: proposed ") == len(header)
