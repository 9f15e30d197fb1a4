"""What each released column is, in words: every treatment a policy and a release can
give a column, with the parameters that matter to a researcher (band widths, reference
dates, how far a date may have moved), planned as a release plans them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.column_kinds import ColumnKind
from fivesafes.deid.optout import OPTED_OUT_COLUMN
from fivesafes.deid.plan import output_columns
from fivesafes.deid.policy import Policy, parse_policy
from fivesafes.release.column_notes import METHODS, ColumnNote, notes_for
from fivesafes.release.query import ReleaseColumn, plan_columns

COLUMNS: dict[str, Any] = {
    "nhs_number": {"type": "nhs_number", "role": "patient_id", "patient_context": "nhs_number"},
    "name": {"type": "string", "role": "identifier", "action": "drop"},
    "mrn": {"type": "string", "role": "identifier", "action": "pseudonymise"},
    "gp_postcode": {"type": "postcode", "role": "identifier", "action": "pseudonymise"},
    "dob": {
        "type": "date",
        "role": "quasi_identifier",
        "generalise": {"method": "age_band", "width": 5, "reference_date": "2025-01-01"},
        "description": "Date of birth",
    },
    "dob_single": {
        "type": "date",
        "role": "quasi_identifier",
        "generalise": {
            "method": "age_band",
            "width": 1,
            "reference_date": "2024-04-06",
            "top_code": None,
        },
    },
    "birth_year": {"type": "date", "role": "quasi_identifier", "generalise": "to_year"},
    "seen_month": {
        "type": "date",
        "role": "quasi_identifier",
        "generalise": {"method": "truncate", "to": "month"},
    },
    "seen_year": {
        "type": "datetime",
        "role": "quasi_identifier",
        "generalise": {"method": "truncate", "to": "year"},
    },
    "admitted": {"type": "date", "role": "quasi_identifier", "generalise": "date_shift"},
    "operated_at": {"type": "datetime", "role": "quasi_identifier", "generalise": "date_shift"},
    "postcode": {"type": "postcode", "role": "quasi_identifier", "generalise": "district"},
    "postcode_sector": {"type": "postcode", "role": "quasi_identifier", "generalise": "sector"},
    "weight": {
        "type": "decimal",
        "role": "quasi_identifier",
        "generalise": {"method": "band", "width": "2.5"},
    },
    "note": {"type": "string", "role": "free_text"},
    "sex": {"type": "string", "role": "keep"},
    "stay": {"type": "integer", "role": "keep"},
    "bmi": {"type": "decimal", "role": "keep"},
    "discharged": {"type": "date", "role": "keep"},
    "discharged_at": {"type": "datetime", "role": "keep"},
    "readmitted": {"type": "boolean", "role": "keep"},
}


def _policy(**options: Any) -> Policy:
    data = {
        "dataset": "notes-test",
        "version": 1,
        "date_shift": {"max_days": 45},
        "columns": COLUMNS,
        **options,
    }
    return parse_policy(data)


def _notes(
    policy: Policy, granularity: str = "day", names: list[str] | None = None
) -> dict[str, ColumnNote]:
    granted = names or list(output_columns(policy))
    columns = plan_columns(policy, granted, granularity)
    return {n.name: n for n in notes_for(policy, columns, granularity)}


@pytest.fixture(scope="module")
def notes() -> dict[str, ColumnNote]:
    return _notes(_policy())


def test_pseudonyms_say_whose_and_that_they_are_the_projects_own(
    notes: dict[str, ColumnNote],
) -> None:
    patient = notes["nhs_number"]
    assert patient.method == "project_pseudonym"
    assert patient.note.startswith("Project pseudonym of the patient, made from their NHS number")
    assert "different in every other project" in patient.note
    assert "cannot be turned back into the NHS number" in patient.note
    assert notes["mrn"].note.startswith("Project pseudonym in place of the identifier")
    assert notes["gp_postcode"].note.startswith("Project pseudonym in place of the postcode")
    assert {notes[n].type for n in ("nhs_number", "mrn", "gp_postcode")} == {ColumnKind.STRING}
    assert "name" not in notes  # a dropped identifier is never released


def test_age_bands_name_width_reference_date_and_top_code(notes: dict[str, ColumnNote]) -> None:
    band = notes["dob"]
    assert band.method == "age_band"
    assert band.note == (
        "5-year age band (for example 40-44) on 1 January 2025, worked out from the date of "
        "birth, which is not released; ages 90 and over are shown as 90+."
    )
    assert band.description == "Date of birth"
    assert notes["dob_single"].note == (
        "Age in whole years on 6 April 2024, worked out from the date of birth, which is "
        "not released."
    )


def test_truncated_dates_say_what_is_kept(notes: dict[str, ColumnNote]) -> None:
    assert notes["birth_year"].method == "year_only"
    assert notes["birth_year"].type is ColumnKind.INTEGER
    assert notes["seen_month"].method == "month_only"
    assert notes["seen_month"].note.startswith("Date kept only to its month (YYYY-MM)")
    assert notes["seen_year"].method == "year_only"
    assert "month and day are not released" in notes["seen_year"].note


@pytest.mark.parametrize(
    ("granularity", "kind", "ending"),
    [
        ("day", ColumnKind.DATE, "Intervals between one patient's dates are exact."),
        ("month", ColumnKind.STRING, "Released as its month only (YYYY-MM)."),
        ("year", ColumnKind.INTEGER, "Released as its year only."),
    ],
)
def test_shifted_dates_say_per_patient_and_the_most_they_moved(
    granularity: str, kind: ColumnKind, ending: str
) -> None:
    notes = _notes(_policy(), granularity, ["admitted", "operated_at"])
    date = notes["admitted"]
    assert date.method == "date_shift"
    assert date.type is kind
    assert date.note.startswith("Date shifted per patient: every date of one patient moves")
    assert "each time between 1 and 45 days earlier or later" in date.note
    assert "at most 90 days from the real one" in date.note
    assert ending in date.note
    assert notes["operated_at"].note.startswith(
        "Date and time shifted per patient (the time of day is kept, in UTC)"
    )


@given(max_days=st.integers(min_value=1, max_value=3650))
def test_the_most_a_date_moved_is_twice_the_policys_shift(max_days: int) -> None:
    policy = _policy(date_shift={"max_days": max_days})
    note = _notes(policy, "day", ["admitted"])["admitted"].note
    assert f"between 1 and {max_days} days" in note
    assert f"at most {2 * max_days} days from the real one" in note


def test_postcodes_and_number_bands(notes: dict[str, ColumnNote]) -> None:
    assert notes["postcode"].method == "postcode_district"
    assert "outward code, for example WN8" in notes["postcode"].note
    assert notes["postcode_sector"].method == "postcode_sector"
    assert "for example WN8 7" in notes["postcode_sector"].note
    band = notes["weight"]
    assert band.method == "number_band"
    assert band.note.startswith("Number in bands 2.5 wide, written [2.5,5) for values from 2.5")


def test_free_text_says_what_was_scrubbed_and_how_dates_were_treated() -> None:
    tagged = _notes(_policy(), names=["note"])["note"]
    assert tagged.method == "scrubbed_text"
    assert "replaced by tags such as [PERSON]" in tagged.note
    assert "dates become [DATE]" in tagged.note
    assert "own identifiers from the same record are removed" in tagged.note  # patient_context
    assert "may miss a rare identifier" in tagged.note
    assert "sample" not in tagged.note
    shifted = _notes(_policy(free_text_dates="shift", review_sample=20), names=["note"])["note"]
    assert "do not line up with the released date columns" in shifted.note
    assert "read a sample of 20 scrubbed cells" in shifted.note
    columns = {
        name: {k: v for k, v in column.items() if k != "patient_context"}
        for name, column in COLUMNS.items()
    }
    bare = _notes(_policy(columns=columns), names=["note"])["note"]
    assert "own identifiers" not in bare.note


def test_kept_columns_say_as_recorded_by_type(notes: dict[str, ColumnNote]) -> None:
    assert {notes[n].method for n in ("sex", "stay", "bmi", "discharged", "readmitted")} == {
        "as_recorded"
    }
    assert notes["sex"].note == "Text as recorded."
    assert notes["stay"].note == "Whole number as recorded."
    assert "every digit kept" in notes["bmi"].note
    assert notes["discharged"].note == "Date as recorded (not shifted)."
    assert "UTC to the second" in notes["discharged_at"].note
    assert notes["readmitted"].note == "True or false, as recorded."
    monthly = _notes(_policy(), "month", ["discharged", "stay"])
    assert monthly["discharged"].note.endswith("Released as its month only (YYYY-MM).")
    assert monthly["stay"].note == "Whole number as recorded."


def test_the_opt_out_flag_names_the_exemption() -> None:
    basis = "Section 251 support, CAG 99/CAG/0001"
    policy = _policy(national_data_opt_out={"exempt": True, "basis": basis})
    flag = _notes(policy, names=[OPTED_OUT_COLUMN])[OPTED_OUT_COLUMN]
    assert flag.method == "opt_out_flag"
    assert basis in flag.note
    assert "flagged rows are never released" in flag.note


def test_every_method_is_declared_and_each_column_has_one(notes: dict[str, ColumnNote]) -> None:
    exempt = _policy(national_data_opt_out={"exempt": True, "basis": "Section 251 support"})
    seen = {n.method for n in _notes(exempt).values()}
    assert seen == set(METHODS)


def test_the_disclosure_gate_view_is_given_for_quasi_identifiers() -> None:
    policy = _policy()
    columns = plan_columns(policy, ["dob", "admitted", "sex"], "day")
    notes = notes_for(
        policy, columns, "day", counted=["dob"], not_counted={"admitted": "shifted by day"}
    )
    assert notes[0].disclosure is not None
    assert "counted by the disclosure gate" in notes[0].disclosure
    assert notes[1].disclosure == (
        "A quasi-identifier, not counted by the disclosure gate: shifted by day."
    )
    assert notes[2].disclosure is None


def test_a_column_the_policy_does_not_release_fails_closed() -> None:
    policy = _policy()
    with pytest.raises(ValueError, match="not an output"):
        notes_for(
            policy,
            [ReleaseColumn("name", ColumnKind.STRING, "as_stored", ColumnKind.STRING)],
            "day",
        )
