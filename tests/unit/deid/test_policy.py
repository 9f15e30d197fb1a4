"""Dataset policy validation: errors name the file, the key path and what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fivesafes.deid.policy import check_columns, load_policy, parse_policy
from fivesafes.errors import InputFileError, PolicyError

SAMPLE = Path(__file__).parents[3] / "policies" / "datasets" / "sample-extract.yaml"


def minimal(**columns: Any) -> dict[str, Any]:
    return {
        "dataset": "test",
        "version": 1,
        "columns": columns or {"nhs_number": {"type": "nhs_number", "role": "patient_id"}},
    }


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def test_sample_policy_loads() -> None:
    policy = load_policy(SAMPLE)
    assert policy.patient_id_column == "nhs_number"
    assert policy.free_text_columns == ["clinical_note"]
    assert policy.hospital_number_patterns
    assert not policy.columns["patient_name"].in_output
    assert len(policy.content_hash) == 64


def test_hash_ignores_comments_and_layout_but_not_meaning(tmp_path: Path) -> None:
    original = load_policy(SAMPLE)
    data = yaml.safe_load(SAMPLE.read_text())
    reordered = dict(reversed(list(data.items())))
    assert load_policy(write(tmp_path, reordered)).content_hash == original.content_hash
    data["date_shift"]["max_days"] = 90
    assert load_policy(write(tmp_path, data)).content_hash != original.content_hash


@pytest.mark.parametrize(
    ("column", "path", "message"),
    [
        (
            {
                "type": "string",
                "role": "quasi_identifier",
                "generalise": {"method": "age_band", "reference_date": "2025-01-01"},
            },
            "columns.c.generalise",
            "age_band applies to date columns, not string",
        ),
        ({"type": "string", "role": "identifier"}, "columns.c.action", "needs `action"),
        (
            {"type": "date", "role": "quasi_identifier"},
            "columns.c.generalise",
            "needs a generalisation",
        ),
        ({"type": "string", "role": "keep", "colour": "red"}, "columns.c.colour", "unknown key"),
        ({"role": "keep"}, "columns.c.type", "required key is missing"),
        ({"type": "text", "role": "keep"}, "columns.c.type", "Input should be"),
        ({"type": "nhs_number", "role": "keep"}, "columns.c.role", "identifies people"),
        (
            {
                "type": "date",
                "role": "quasi_identifier",
                "generalise": {"method": "age_band", "reference_date": "2025-01-01", "width": 0},
            },
            "columns.c.generalise.width",
            "greater than or equal to 1",
        ),
        ({"type": "integer", "role": "free_text"}, "columns.c.type", "must be of type string"),
        (
            {"type": "date", "role": "keep", "on_invalid": "ignore"},
            "columns.c.on_invalid",
            "Input should be",
        ),
    ],
)
def test_column_errors_name_file_and_key(
    tmp_path: Path, column: dict[str, Any], path: str, message: str
) -> None:
    data = minimal(nhs_number={"type": "nhs_number", "role": "patient_id"}, c=column)
    policy_file = write(tmp_path, data)
    with pytest.raises(PolicyError) as info:
        load_policy(policy_file)
    text = str(info.value)
    assert str(policy_file) in text
    assert f"{path}:" in text
    assert message in text


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    data = minimal(
        a={"type": "string", "role": "identifier"},
        b={"type": "date", "role": "quasi_identifier", "generalise": "date_shift"},
    )
    data["surprise"] = True
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, data))
    assert "surprise: unknown key" in str(info.value)


def test_cross_field_problems_are_listed_together(tmp_path: Path) -> None:
    data = minimal(
        a={"type": "string", "role": "identifier"},
        b={"type": "date", "role": "quasi_identifier", "generalise": "date_shift"},
    )
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, data))
    text = str(info.value)
    assert "columns.a.action" in text
    assert "columns.b.generalise: date_shift needs a patient_id column" in text


def test_two_patient_ids_are_refused() -> None:
    with pytest.raises(PolicyError, match="only one patient_id"):
        parse_policy(
            minimal(
                a={"type": "nhs_number", "role": "patient_id"},
                b={"type": "string", "role": "patient_id"},
            )
        )


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    column = "  a: {type: string, role: keep}\n"
    text = "dataset: t\nversion: 1\ncolumns:\n" + column + column
    with pytest.raises(PolicyError, match=r"line 5, column 3\): duplicate key 'a'"):
        load_policy(write(tmp_path, text))


def test_yaml_syntax_errors_give_a_position(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"not valid YAML \(line 3"):
        load_policy(write(tmp_path, "dataset: t\ncolumns: [unclosed\n"))


def test_bad_hospital_number_pattern(tmp_path: Path) -> None:
    data = minimal()
    data["hospital_number_patterns"] = ["[A-Z"]
    with pytest.raises(PolicyError, match="hospital_number_patterns: pattern 1 is not a valid"):
        load_policy(write(tmp_path, data))


@pytest.mark.parametrize("encoding", ["utf-16", "no-such-codec"])
def test_encodings_must_be_known_and_ascii_compatible(encoding: str) -> None:
    data = minimal()
    data["input"] = {"encoding": encoding}
    with pytest.raises(PolicyError, match=r"input\.encoding"):
        parse_policy(data)


def test_generalise_shorthand() -> None:
    policy = parse_policy(
        minimal(
            nhs_number={"type": "nhs_number", "role": "patient_id"},
            pc={"type": "postcode", "role": "quasi_identifier", "generalise": "sector"},
        )
    )
    gen = policy.columns["pc"].generalise
    assert gen is not None
    assert gen.method == "sector"


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")


# ------------------------------------------------------------- columns of an input


def test_undeclared_columns_are_refused_in_one_error() -> None:
    policy = load_policy(SAMPLE)
    header = [*policy.columns, "gp_name", "address", "phone"]
    with pytest.raises(InputFileError) as info:
        check_columns(policy, header, "extract.csv")
    text = str(info.value)
    assert text.startswith("extract.csv, line 1:")
    assert "3 column(s) not declared" in text
    width = len(policy.columns)
    assert f"'gp_name' (field {width + 1})" in text  # snake_case: the form of a column
    # Single words might be values (a headerless file): position and shape only.
    assert f"field {width + 2} (text of 7 characters)" in text
    assert f"field {width + 3} (text of 5 characters)" in text
    assert "'address'" not in text
    assert "'phone'" not in text


def test_missing_and_duplicate_columns_are_reported() -> None:
    policy = load_policy(SAMPLE)
    header = [c for c in policy.columns if c not in ("sex", "postcode")] + ["ethnicity"]
    with pytest.raises(InputFileError) as info:
        check_columns(policy, header, "extract.csv")
    text = str(info.value)
    assert "missing: 'postcode', 'sex'" in text
    assert f"duplicate column names: 'ethnicity' (field {len(header)})" in text


def test_matching_columns_in_any_order_pass() -> None:
    policy = load_policy(SAMPLE)
    check_columns(policy, list(reversed(policy.columns)), "extract.csv")


# ------------------------------------------------------------------- allow_empty


def test_allow_empty_defaults_to_false_and_keeps_old_hashes() -> None:
    plain = parse_policy(minimal())
    assert plain.allow_empty is False
    assert parse_policy({**minimal(), "allow_empty": False}).content_hash == plain.content_hash
    allowed = parse_policy({**minimal(), "allow_empty": True})
    assert allowed.allow_empty is True
    assert allowed.content_hash != plain.content_hash  # a change of meaning


@pytest.mark.parametrize("value", ["yes", 1, "true", None])
def test_allow_empty_must_be_a_boolean(value: object) -> None:
    with pytest.raises(PolicyError, match="allow_empty: "):
        parse_policy({**minimal(), "allow_empty": value})


# -------------------------------------------------------------- withdrawn_retention_days


def test_withdrawn_retention_defaults_to_90_days_and_keeps_old_hashes() -> None:
    plain = parse_policy(minimal())
    assert plain.withdrawn_retention_days == 90
    same = parse_policy({**minimal(), "withdrawn_retention_days": 90})
    assert same.content_hash == plain.content_hash
    none = parse_policy({**minimal(), "withdrawn_retention_days": 0})
    assert none.withdrawn_retention_days == 0
    assert none.content_hash != plain.content_hash  # a change of meaning


@pytest.mark.parametrize("value", [-1, 36501, "30", 7.5, True, None])
def test_withdrawn_retention_must_be_whole_days_in_range(value: object) -> None:
    with pytest.raises(PolicyError, match="withdrawn_retention_days: "):
        parse_policy({**minimal(), "withdrawn_retention_days": value})
