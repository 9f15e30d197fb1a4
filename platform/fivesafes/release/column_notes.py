"""What each released column is, in plain words: what a researcher received.

A released value is the product of two steps, and a researcher needs both to read it:
what ingestion did to the column (the dataset policy: its role, action, generalisation
and that generalisation's parameters) and what the release does on top (the plan's
treatment: project pseudonyms, the project's date shift, the grant's date granularity).
The notes are said here once, from those two facts, and shown unchanged by the grant
page, ``GET /grants/{id}/columns`` and every release manifest's ``columns``.

Notes never quote data: only the policy's parameters and made-up examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from fivesafes.column_kinds import ColumnKind
from fivesafes.deid.optout import OPTED_OUT_COLUMN
from fivesafes.deid.policy import (
    AgeBandGen,
    BandGen,
    ColumnPolicy,
    Policy,
    TruncateGen,
)
from fivesafes.deid.types import DateMode
from fivesafes.release.query import ReleaseColumn, ReleasePlan

#: The stable codes of :attr:`ColumnNote.method` (clients key on them; the words may change).
METHODS = (
    "project_pseudonym",
    "date_shift",
    "age_band",
    "year_only",
    "month_only",
    "postcode_district",
    "postcode_sector",
    "number_band",
    "scrubbed_text",
    "as_recorded",
    "opt_out_flag",
)

_IDENTIFIER_NAMES = {"nhs_number": "NHS number", "postcode": "postcode"}
_KEPT = {
    ColumnKind.STRING: "Text as recorded.",
    ColumnKind.INTEGER: "Whole number as recorded.",
    ColumnKind.DECIMAL: "Decimal number as recorded, every digit kept (as text in CSV, "
    "JSON and Parquet, so no reader turns it into an inexact float).",
    ColumnKind.BOOLEAN: "True or false, as recorded.",
    ColumnKind.DATE: "Date as recorded (not shifted).",
    ColumnKind.DATETIME: "Date and time as recorded (not shifted), in UTC to the second.",
}
_GRANULARITY = {
    "month": " Released as its month only (YYYY-MM).",
    "year": " Released as its year only.",
}


@dataclass(frozen=True, slots=True)
class ColumnNote:
    """One released column: its name, its type as released, how it was made (``method``,
    one of :data:`METHODS`), that in plain words, and the disclosure gate's view of it."""

    name: str
    type: ColumnKind
    method: str
    note: str
    description: str | None = None  # the policy's own description of the column
    disclosure: str | None = None  # how the disclosure gate treats it (quasi-identifiers)


def column_notes(plan: ReleasePlan) -> list[ColumnNote]:
    """The notes of every column a release of ``plan`` holds, in release order."""
    return notes_for(
        plan.policy,
        plan.columns,
        plan.granularity,
        counted=plan.quasi_identifiers,
        not_counted=plan.not_counted,
    )


def notes_for(
    policy: Policy,
    columns: Sequence[ReleaseColumn],
    granularity: str,
    *,
    counted: Sequence[str] = (),
    not_counted: dict[str, str] | None = None,
) -> list[ColumnNote]:
    """The notes of ``columns`` (planned from ``policy``) released at ``granularity``."""
    skipped = not_counted or {}
    notes = []
    for column in columns:
        method, note = _describe(policy, column, granularity)
        col = policy.columns.get(column.name)
        disclosure = None
        if column.name in counted:
            disclosure = (
                "A quasi-identifier, counted by the disclosure gate as released: rows whose "
                "combination of quasi-identifiers fewer than k patients share are left out."
            )
        elif column.name in skipped:
            why = skipped[column.name]
            disclosure = f"A quasi-identifier, not counted by the disclosure gate: {why}."
        notes.append(
            ColumnNote(
                name=column.name,
                type=column.out_kind,
                method=method,
                note=note,
                description=col.description if col is not None else None,
                disclosure=disclosure,
            )
        )
    return notes


def _describe(policy: Policy, column: ReleaseColumn, granularity: str) -> tuple[str, str]:
    """(method, plain words) for one column; fails closed on a column the policy lacks."""
    if column.name == OPTED_OUT_COLUMN:
        return "opt_out_flag", _opt_out(policy)
    col = policy.columns.get(column.name)
    if col is None or not col.in_output:
        raise ValueError(f"column {column.name!r} is not an output of policy {policy.dataset!r}")
    if column.treatment == "project_pseudonym":
        return "project_pseudonym", _pseudonym(col)
    if col.role == "free_text":
        return "scrubbed_text", _scrubbed(policy)
    gen = col.generalise
    if gen is None or column.treatment == "date":
        return "as_recorded", _KEPT[column.kind] + _coarsened(column, granularity)
    if column.treatment == "project_date_shift":
        return "date_shift", _shifted(policy, column, granularity)
    if isinstance(gen, AgeBandGen):
        return "age_band", _age_band(gen)
    if isinstance(gen, TruncateGen):
        if gen.to == "month":
            return "month_only", "Date kept only to its month (YYYY-MM); the day is not released."
        return "year_only", "Date kept only to its year; the month and day are not released."
    if gen.method == "to_year":
        return "year_only", "Year only (for example 1957); the month and day are not released."
    if gen.method == "district":
        return "postcode_district", (
            "Postcode district only: the outward code, for example WN8; the rest of the "
            "postcode is not released."
        )
    if gen.method == "sector":
        return "postcode_sector", (
            "Postcode sector only: the outward code and the first digit of the inward code, "
            "for example WN8 7; the last two letters are not released."
        )
    assert isinstance(gen, BandGen)
    return "number_band", _band(gen.width)


def _coarsened(column: ReleaseColumn, granularity: str) -> str:
    if column.kind in (ColumnKind.DATE, ColumnKind.DATETIME):
        return _GRANULARITY.get(granularity, "")
    return ""


def _pseudonym(col: ColumnPolicy) -> str:
    what = _IDENTIFIER_NAMES.get(col.type, "identifier")
    if col.role == "patient_id":
        head, same = f"Project pseudonym of the patient, made from their {what}", "patient"
    else:
        head, same = f"Project pseudonym in place of the {what}", "value"
    return (
        f"{head}: 32 hexadecimal characters, the same for one {same} in every download of "
        "this project and every version of the dataset, different in every other project. "
        f"It cannot be turned back into the {what} without the platform's keys."
    )


def _shifted(policy: Policy, column: ReleaseColumn, granularity: str) -> str:
    days = policy.date_shift.max_days
    what = "Date and time" if column.kind is ColumnKind.DATETIME else "Date"
    kept = " (the time of day is kept, in UTC)" if column.kind is ColumnKind.DATETIME else ""
    text = (
        f"{what} shifted per patient{kept}: every date of one patient moves by the same "
        f"secret number of days, once when the data was stored and again for this project "
        f"(each time between 1 and {days} days earlier or later), so a released date is at "
        f"most {2 * days} days from the real one."
    )
    if granularity in _GRANULARITY:
        return text + _GRANULARITY[granularity] + " Intervals between dates are approximate."
    return text + " Intervals between one patient's dates are exact."


def _age_band(gen: AgeBandGen) -> str:
    on = f"{gen.reference_date.day} {gen.reference_date:%B %Y}"
    if gen.width == 1:
        text = f"Age in whole years on {on}"
    else:
        text = f"{gen.width}-year age band (for example 40-{40 + gen.width - 1}) on {on}"
    text += ", worked out from the date of birth, which is not released"
    if gen.top_code is not None:
        text += f"; ages {gen.top_code} and over are shown as {gen.top_code}+"
    return text + "."


def _band(width: Decimal) -> str:
    low, high = _plain(width), _plain(2 * width)
    return (
        f"Number in bands {_plain(width)} wide, written [{low},{high}) for values from {low} "
        f"up to but not including {high}; the exact value is not released."
    )


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _scrubbed(policy: Policy) -> str:
    text = (
        "Free text scrubbed when the data was stored: names, NHS numbers, hospital and other "
        "reference numbers, addresses, postcodes, telephone numbers, e-mail and web addresses "
        "are replaced by tags such as [PERSON] or [NHS_NUMBER]"
    )
    if policy.free_text_dates == DateMode.SHIFT:
        text += (
            "; dates are moved by the patient's stored shift (not by this project's own "
            "shift, so they do not line up with the released date columns)"
        )
    else:
        text += "; dates become [DATE]"
    text += "."
    if any(c.patient_context is not None for c in policy.columns.values()):
        text += (
            " The patient's own identifiers from the same record are removed even where "
            "the language model misses them."
        )
    if policy.review_sample is not None:
        text += (
            f" A governance officer read a sample of {policy.review_sample} scrubbed cells "
            "before the version was released."
        )
    return text + (
        " Scrubbing is automatic and may miss a rare identifier: do not use one you find, "
        "and tell the governance team."
    )


def _opt_out(policy: Policy) -> str:
    basis = policy.national_data_opt_out.basis
    return (
        f"National Data Opt-out flag. This dataset is exempt from the opt-out ({basis}), so "
        "opted-out patients' rows are stored, flagged; flagged rows are never released, so "
        "this column is false, or empty where no opt-out list was checked."
    )
