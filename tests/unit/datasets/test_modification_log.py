"""The modification log (SATRE 3.1.11): every treatment the policy language can express is
described, in words an assessor reads, from the policy and the report alone."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.datasets.modification_log import modification_log
from fivesafes.datasets.modification_words import (
    CONTEXT_SHORT,
    CONTEXT_WORDS,
    FREE_TEXT_DATES,
    KEPT_AS,
    ON_INVALID,
    TREATMENT_SUMMARY,
    Treatment,
    treatment_of,
)
from fivesafes.deid.optout import OPTED_OUT_COLUMN
from fivesafes.deid.policy import (
    ColumnPolicy,
    ContextKind,
    DataType,
    Generalisation,
    OnInvalid,
    Policy,
    Role,
    load_policy,
    parse_policy,
)
from fivesafes.deid.types import DateMode
from fivesafes.errors import PolicyError

POLICIES = Path(__file__).parents[3] / "policies" / "datasets"
#: Sample values for the parameters a generalisation may require (a new method with a
#: parameter not listed here parses for no type, and the coverage test below fails).
GEN_PARAMS: dict[str, list[Any]] = {
    "to": ["month", "year"],
    "reference_date": ["2025-01-01"],
    "width": [5],
}
PATIENT = {"type": "nhs_number", "role": "patient_id"}


def _policy(columns: dict[str, Any], **extra: Any) -> Policy:
    return parse_policy({"dataset": "d", "version": 1, "columns": columns, **extra})


def _generalisations() -> list[tuple[str, dict[str, Any]]]:
    """Every generalisation class of the language with every value of its parameters."""
    union = get_args(Generalisation)[0]
    found = []
    for cls in get_args(union):
        (method,) = get_args(cls.model_fields["method"].annotation)
        names = [n for n, f in cls.model_fields.items() if n != "method" and f.is_required()]
        for values in itertools.product(*(GEN_PARAMS[n] for n in names)):
            found.append((method, {"method": method, **dict(zip(names, values, strict=True))}))
    return found


def _around(column: dict[str, Any]) -> dict[str, Any]:
    """The columns of a policy holding ``column`` as ``c`` (beside a patient id, if not one)."""
    return {"c": column} if column["role"] == "patient_id" else {"p": PATIENT, "c": column}


def _every_column() -> list[tuple[str, dict[str, Any]]]:
    """(label, column) for every valid combination of type, role, action and generalisation."""
    options: list[dict[str, Any]] = []
    actions = [a for a in get_args(ColumnPolicy.model_fields["action"].annotation) if a]
    for role in get_args(Role):
        if role == "identifier":
            for action in get_args(actions[0]):
                options.append({"role": role, "action": action})
        elif role == "quasi_identifier":
            options.extend({"role": role, "generalise": g} for _, g in _generalisations())
        else:
            options.append({"role": role})
    valid = []
    for option, data_type in itertools.product(options, get_args(DataType)):
        column = {"type": data_type, **option}
        try:
            _policy(_around(column))
        except PolicyError:
            continue
        valid.append((f"{data_type}/{option}", column))
    return valid


EVERY_COLUMN = _every_column()


def test_every_treatment_has_a_summary() -> None:
    assert set(TREATMENT_SUMMARY) == set(Treatment)
    assert all(TREATMENT_SUMMARY[t].strip() for t in Treatment)


def test_every_generalisation_is_valid_for_some_type() -> None:
    """A method added to the language with parameters this test cannot fill fails here."""
    reached = {str(c["generalise"]["method"]) for _, c in EVERY_COLUMN if "generalise" in c}
    assert reached == {method for method, _ in _generalisations()}


@pytest.mark.parametrize(("label", "column"), EVERY_COLUMN, ids=[x for x, _ in EVERY_COLUMN])
def test_every_valid_column_is_described(label: str, column: dict[str, Any]) -> None:
    policy = _policy(_around(column))
    [described] = [c for c in modification_log(policy, {}).columns if c.column == "c"]
    assert described.treatment is treatment_of(policy.columns["c"])
    assert described.summary == TREATMENT_SUMMARY[described.treatment]
    assert described.sentences
    assert all(s.strip().endswith(".") for s in described.sentences)
    assert described.in_output is (described.treatment is not Treatment.DROPPED)


def test_every_treatment_is_reached_by_the_language() -> None:
    """A Treatment nothing in the language produces is dead; one added to the language but
    not to :class:`Treatment` fails ``treatment_of`` (parametrised test above)."""
    reached = {treatment_of(_policy(_around(c)).columns["c"]) for _, c in EVERY_COLUMN}
    exempt = _policy(
        {"p": PATIENT}, national_data_opt_out={"exempt": True, "basis": "s251 CAG 1/2"}
    )
    reached |= {c.treatment for c in modification_log(exempt, {}).columns}
    assert reached == set(Treatment)


def test_every_type_on_invalid_and_date_mode_has_words() -> None:
    assert set(KEPT_AS) == set(get_args(DataType))
    assert set(ON_INVALID) == set(get_args(OnInvalid))
    assert set(FREE_TEXT_DATES) == set(DateMode)
    assert set(CONTEXT_WORDS) == set(CONTEXT_SHORT) == set(get_args(ContextKind))


def _by_name(policy: Policy, report: dict[str, Any]) -> dict[str, Any]:
    return {c.column: c for c in modification_log(policy, report).columns}


def test_sentences_give_the_policy_parameters() -> None:
    policy = _policy(
        {
            "nhs": {"type": "nhs_number", "role": "patient_id", "on_invalid": "reject_row"},
            "name": {"type": "string", "role": "identifier", "action": "drop"},
            "mrn": {"type": "string", "role": "identifier", "action": "pseudonymise"},
            "dob": {
                "type": "date",
                "role": "quasi_identifier",
                "generalise": {"method": "age_band", "reference_date": "2024-04-01", "width": 10},
            },
            "seen": {"type": "date", "role": "quasi_identifier", "generalise": "date_shift"},
            "pc": {"type": "postcode", "role": "quasi_identifier", "generalise": "sector"},
            "los": {
                "type": "integer",
                "role": "quasi_identifier",
                "generalise": {"method": "band", "width": 7},
                "on_invalid": "null_and_count",
            },
        },
        date_shift={"max_days": 45},
    )
    cols = _by_name(policy, {})
    assert "10-year age bands at 1 April 2024" in cols["dob"].sentences[0]
    assert "90 and over as 90+" in cols["dob"].sentences[0]
    assert "between 1 and 45" in cols["seen"].sentences[0]
    assert "HMAC-SHA256" in cols["mrn"].sentences[0]
    assert "'mrn'" in cols["mrn"].sentences[0]
    assert "'nhs_number'" in cols["nhs"].sentences[0]  # an NHS number's default namespace
    assert cols["name"].treatment is Treatment.DROPPED
    assert not cols["name"].in_output
    assert cols["pc"].treatment is Treatment.POSTCODE_SECTOR
    assert "width 7" in cols["los"].sentences[0]
    assert ON_INVALID["reject_row"] in cols["nhs"].sentences
    assert ON_INVALID["null_and_count"] in cols["los"].sentences
    assert not any(s in ON_INVALID.values() for s in cols["name"].sentences)  # never read


def test_free_text_lists_labels_found_and_what_fed_the_scrubber() -> None:
    policy = _policy(
        {
            "nhs": PATIENT,
            "name": {
                "type": "string",
                "role": "identifier",
                "action": "drop",
                "patient_context": "name",
            },
            "note": {"type": "string", "role": "free_text"},
        },
        free_text_dates="shift",
        free_text_allow_terms=["Mr Men"],
    )
    report = {"entities": {"note": {"PERSON": 1234, "DATE": 7}}}
    cols = _by_name(policy, report)
    note = cols["note"]
    assert note.labels_found == {"DATE": 7, "PERSON": 1234}
    text = " ".join(note.sentences)
    assert "DATE 7, PERSON 1,234" in text
    assert "The patient's own name, NHS number from the row's other columns" in text
    assert FREE_TEXT_DATES[DateMode.SHIFT] in text
    assert "1 allowed term(s)" in text
    assert "given, in memory only" in " ".join(cols["name"].sentences)
    nothing = _by_name(policy, {})["note"]
    assert nothing.labels_found == {}
    assert "No identifiers were found in it." in nothing.sentences


def test_row_effects_opt_out_and_rejections() -> None:
    policy = _policy({"nhs": {**PATIENT, "on_invalid": "reject_row"}})
    report = {
        "rows_in": 1000,
        "rows_out": 950,
        "rows_rejected": 20,
        "opted_out_excluded": 30,
        "opt_out_list_applied": True,
        "opt_out_list_id": 4,
        "rejections_by_reason": {"nhs: check digit": 20},
        "invalid_nhs_numbers": 20,
    }
    log = modification_log(policy, report, version=3)
    assert log.version == 3
    assert log.policy_sha256 == policy.content_hash
    said = " ".join(log.rows.sentences)
    assert "1,000 rows were read and 950 stored." in said
    assert "National Data Opt-out list 4: 30 rows of opted-out patients were excluded." in said
    assert "20 rows were rejected" in said
    assert log.columns[0].rows_rejected == 20
    assert "No National Data Opt-out list was applied" in " ".join(
        modification_log(policy, {}).rows.sentences
    )


def test_exempt_dataset_gains_the_flag_column() -> None:
    basis = "Section 251 support, CAG 99/CAG/0001"
    policy = _policy({"nhs": PATIENT}, national_data_opt_out={"exempt": True, "basis": basis})
    log = modification_log(
        policy, {"opt_out_list_applied": True, "opt_out_list_id": 2, "opted_out_flagged": 5}
    )
    assert log.columns[-1].column == OPTED_OUT_COLUMN
    assert basis in log.columns[-1].sentences[0]
    assert "5 opted-out patients' rows were kept and flagged" in " ".join(log.rows.sentences)


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_policies_are_described(path: Path) -> None:
    policy = load_policy(path)
    log = modification_log(policy, {})
    assert [c.column for c in log.columns][: len(policy.columns)] == list(policy.columns)


counts = st.integers(min_value=0, max_value=10**9)


@given(
    rows_in=counts,
    nulled=counts,
    rejected=counts,
    entities=st.dictionaries(st.sampled_from(["PERSON", "DATE", "NHS_NUMBER"]), counts),
)
def test_any_report_is_described_with_its_counts(
    rows_in: int, nulled: int, rejected: int, entities: dict[str, int]
) -> None:
    policy = _policy(
        {
            "nhs": PATIENT,
            "stay": {"type": "integer", "role": "keep", "on_invalid": "null_and_count"},
            "note": {"type": "string", "role": "free_text"},
        }
    )
    report = {
        "rows_in": rows_in,
        "invalid_values_nulled": {"stay": nulled},
        "rejections_by_reason": {"stay: not an integer": rejected},
        "entities": {"note": entities},
    }
    cols = _by_name(policy, report)
    assert cols["stay"].values_emptied == nulled
    assert cols["stay"].rows_rejected == rejected
    assert (f"{nulled:,} value(s) were emptied" in " ".join(cols["stay"].sentences)) is bool(nulled)
    assert cols["note"].labels_found == dict(sorted(entities.items()))
    for label, count in entities.items():
        assert f"{label} {count:,}" in " ".join(cols["note"].sentences)
    assert f"{rows_in:,} rows were read" in modification_log(policy, report).rows.sentences[0]
