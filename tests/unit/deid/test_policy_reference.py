"""docs/policies.md is the complete reference of the policy model: every key, type, role,
action, generalisation method and parameter, and every allowed value the model accepts
appears there (in backticks), and its worked example is a valid policy."""

from __future__ import annotations

import csv
import enum
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from fivesafes.deid.plan import output_columns
from fivesafes.deid.policy import Policy, parse_policy

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "policies.md"
EXTRACT = ROOT / "tests" / "data" / "policy-draft-extract.csv"


def vocabulary(annotation: Any, seen: set[type] | None = None) -> Iterator[str]:
    """Every key (field name) and every allowed string value reachable from ``annotation``."""
    seen = set() if seen is None else seen
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for name, field in annotation.model_fields.items():
            yield field.alias or name
            yield from vocabulary(field.annotation, seen)
        return
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        yield from (str(member.value) for member in annotation)
        return
    if get_origin(annotation) is Literal:
        yield from (v for v in get_args(annotation) if isinstance(v, str))
        return
    origin = get_origin(annotation)
    if origin is not None or isinstance(annotation, types.UnionType) or annotation is Union:
        for arg in get_args(annotation):
            yield from vocabulary(arg, seen)


def documented() -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", DOC.read_text(encoding="utf-8")))


def test_the_vocabulary_is_read_from_the_model() -> None:
    words = set(vocabulary(Policy))
    # A sample from each level, so a broken walk cannot pass the coverage test vacuously.
    assert {"dataset", "columns", "national_data_opt_out", "basis", "encoding"} <= words
    assert {"patient_id", "quasi_identifier", "nhs_number", "pseudonymise"} <= words
    assert {"age_band", "reference_date", "top_code", "truncate", "to", "month"} <= words
    assert {"null_and_count", "sensitive", "shift", "tag", "patient_context"} <= words


def test_every_key_and_value_the_model_accepts_is_documented() -> None:
    missing = sorted(set(vocabulary(Policy)) - documented())
    assert missing == [], f"add these to docs/policies.md: {missing}"


def _worked_example() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8").split("## Worked example", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block
    data = yaml.safe_load(block.group(1))
    assert isinstance(data, dict)
    return data


def test_the_worked_example_is_a_valid_policy_for_its_extract() -> None:
    policy = parse_policy(_worked_example(), "docs/policies.md worked example")
    header = next(csv.reader(EXTRACT.open(encoding="utf-8")))
    assert list(policy.columns) == header
    dropped = [n for n, c in policy.columns.items() if c.action == "drop"]
    assert dropped == ["hospital_number", "patient_name", "address_line_1", "town", "phone"]
    assert list(output_columns(policy)) == [n for n in header if n not in dropped]


def test_the_worked_example_explains_every_column() -> None:
    text = DOC.read_text(encoding="utf-8").split("Column by column:", 1)[1]
    explained = set(re.findall(r"\*\*`([a-z_0-9]+)`\*\*", text))
    assert explained == set(_worked_example()["columns"])
