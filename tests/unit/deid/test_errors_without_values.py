"""Errors about headers and keys never quote a value: a headerless file is described.

A CSV without its header row makes the first patient's NHS number, name, date of birth,
postcode and note the "column names"; the error must name positions and shapes only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fivesafes.deid.io.sources import open_source
from fivesafes.deid.policy import Policy, check_columns, parse_policy
from fivesafes.deid.redact import describe_header_field, safe_header_name, value_shape
from fivesafes.errors import InputFileError

PATIENT = ["9434765919", "Ruth Kay", "1970-01-02", "WN8 7AB", "ruth.kay@example.org"]
POLICY = {
    "dataset": "episodes",
    "version": 1,
    "sensitivity": "standard",
    "columns": {
        "nhs_number": {"type": "nhs_number", "role": "patient_id"},
        "patient_name": {"type": "string", "role": "identifier", "action": "drop"},
        "date_of_birth": {"type": "date", "role": "quasi_identifier", "generalise": "to_year"},
        "postcode": {"type": "postcode", "role": "quasi_identifier", "generalise": "district"},
        "email": {"type": "string", "role": "identifier", "action": "drop"},
    },
}


@pytest.fixture
def policy() -> Policy:
    return parse_policy(POLICY)


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ("9434765919", "10 digits"),
        ("943 476 5919", "10 digits"),
        ("Ruth Kay", "text of 8 characters in 2 words"),
        ("1970-01-02", "looks like a date"),
        ("02/01/1970", "looks like a date"),
        ("WN8 7AB", "looks like a postcode"),
        ("ruth.kay@example.org", "looks like an email address"),
        ("K", "text of 1 character"),
        ("", "empty"),
        ('{"nhs_number": "9434765919"', "JSON-like text of 27 characters"),
    ],
)
def test_value_shape_describes_without_quoting(value: str, shape: str) -> None:
    assert value_shape(value) == shape


def test_headerless_csv_error_names_positions_and_shapes_only(
    policy: Policy, tmp_path: Path
) -> None:
    path = tmp_path / "episodes.csv"
    path.write_text(",".join(PATIENT) + "\n" + ",".join(PATIENT) + "\n")
    source = open_source(path)
    with pytest.raises(InputFileError) as info:
        check_columns(policy, source.header, source.file)
    source.close()
    message = str(info.value)
    for value in [*PATIENT, "Ruth", "Kay", "WN8", "9434"]:
        assert value not in message
    assert "field 1 (10 digits)" in message
    assert "field 3 (looks like a date)" in message
    assert "field 4 (looks like a postcode)" in message
    assert "does the file lack its header row?" in message
    assert "'nhs_number'" in message  # declared names are structure: still listed as missing


def test_jsonl_named_csv_is_described_not_quoted(policy: Policy, tmp_path: Path) -> None:
    path = tmp_path / "episodes.csv"
    record = dict(zip(POLICY["columns"], PATIENT, strict=True))  # type: ignore[call-overload]
    path.write_text(json.dumps(record) + "\n")
    source = open_source(path)
    with pytest.raises(InputFileError) as info:
        check_columns(policy, source.header, source.file)
    source.close()
    message = str(info.value)
    for value in PATIENT:
        assert value not in message
    assert "looks like JSON Lines" in message


def test_a_typo_of_a_declared_name_is_shown_with_the_suggestion(policy: Policy) -> None:
    header = ["nhs_number", "patient_name", "date_of_brith", "postcode", "email"]
    with pytest.raises(InputFileError) as info:
        check_columns(policy, header, "x.csv")
    assert "'date_of_brith' (field 3; did you mean 'date_of_birth'?)" in str(info.value)


def test_duplicates_of_an_undeclared_value_are_not_quoted(policy: Policy) -> None:
    header = [*POLICY["columns"], "Ruth Kay", "Ruth Kay"]  # type: ignore[misc]
    with pytest.raises(InputFileError) as info:
        check_columns(policy, header, "x.csv")
    message = str(info.value)
    assert "Ruth" not in message
    assert "duplicate column names: field 7 (text of 8 characters in 2 words)" in message


@pytest.mark.parametrize("value", [*PATIENT, "Smith", "SMITH", "Ruth_Kay", "kay"])
def test_identifier_shaped_headers_are_never_shown(value: str) -> None:
    assert safe_header_name(value, POLICY["columns"]) is None  # type: ignore[arg-type]
    assert value not in describe_header_field(0, value, POLICY["columns"])  # type: ignore[arg-type]


def test_a_later_jsonl_key_that_looks_like_data_is_described(tmp_path: Path) -> None:
    path = tmp_path / "episodes.jsonl"
    path.write_text('{"nhs_number": "1"}\n{"nhs_number": "2", "9434765919": "x"}\n')
    source = open_source(path)
    with pytest.raises(InputFileError) as info:
        list(source.chunks(10))
    source.close()
    assert "9434765919" not in str(info.value)
    assert info.value.column == "(a key: 10 digits)"
    assert info.value.line == 2
