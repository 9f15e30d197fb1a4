"""The words of the modification log: a treatment per policy construct, and its sentences.

Kept apart from :mod:`fivesafes.datasets.modification_log` (which assembles a version's
log from the policy and the report) so the vocabulary an assessor reads is in one place:
one code per treatment (:class:`Treatment`), a short summary of each, and the sentence
that gives the policy's parameters. Every policy construct has its words here; the tests
iterate over the language (roles, actions, generalisations, types, ``on_invalid``,
``free_text_dates``, ``patient_context``) so a construct added without words fails.
Words never quote data: only the policy's parameters and made-up examples.
"""

from __future__ import annotations

from enum import StrEnum

from fivesafes.deid.policy import AgeBandGen, BandGen, ColumnPolicy, Policy, TruncateGen
from fivesafes.deid.types import DateMode


class Treatment(StrEnum):
    """What ingestion did to one column (stable codes: clients and tests key on them)."""

    DROPPED = "dropped"
    PSEUDONYMISED = "pseudonymised"
    DATE_SHIFTED = "date_shifted"
    TRUNCATED_TO_MONTH = "truncated_to_month"
    TRUNCATED_TO_YEAR = "truncated_to_year"
    YEAR_OF_BIRTH = "year_of_birth"
    AGE_BAND = "age_band"
    POSTCODE_DISTRICT = "postcode_district"
    POSTCODE_SECTOR = "postcode_sector"
    NUMBER_BAND = "number_band"
    SCRUBBED = "scrubbed"
    KEPT = "kept"
    OPT_OUT_FLAG = "opt_out_flag"  # a column ingestion added (exempt datasets)


#: One short line per treatment, for tables (the full sentence is per column).
TREATMENT_SUMMARY: dict[Treatment, str] = {
    Treatment.DROPPED: "dropped",
    Treatment.PSEUDONYMISED: "pseudonymised (keyed HMAC-SHA256)",
    Treatment.DATE_SHIFTED: "date shifted per patient",
    Treatment.TRUNCATED_TO_MONTH: "generalised to the month",
    Treatment.TRUNCATED_TO_YEAR: "generalised to the year",
    Treatment.YEAR_OF_BIRTH: "generalised to the year of birth",
    Treatment.AGE_BAND: "generalised to an age band",
    Treatment.POSTCODE_DISTRICT: "postcode generalised to its district",
    Treatment.POSTCODE_SECTOR: "postcode generalised to its sector",
    Treatment.NUMBER_BAND: "number generalised to a band",
    Treatment.SCRUBBED: "free text scrubbed of identifiers",
    Treatment.KEPT: "kept as is (normalised to its type)",
    Treatment.OPT_OUT_FLAG: "added: National Data Opt-out flag",
}

#: What a kept value becomes, by its declared type (every type of the policy language).
KEPT_AS: dict[str, str] = {
    "string": "Kept as recorded: the text is not changed.",
    "integer": "Kept as a whole number, written without a plus sign or leading zeros.",
    "decimal": "Kept as a decimal number exactly as written (every digit kept).",
    "date": "Kept as a date (not shifted), rewritten in ISO form (YYYY-MM-DD).",
    "datetime": "Kept as a date and time (not shifted), rewritten in UTC to the second.",
    "boolean": "Kept as true or false (yes/no, y/n, 1/0 and t/f are read as such).",
    # Never shown for a valid policy (keeping these is refused: they identify people);
    # listed so every type of the language has its words.
    "postcode": "Kept as a full postcode in standard form.",
    "nhs_number": "Kept as recorded.",
}

#: What happens to a value that does not fit its column's type (``on_invalid``).
ON_INVALID: dict[str, str] = {
    "reject_file": "Every value had to fit the column's type: one that did not would have "
    "refused the whole extract.",
    "reject_row": "A row with a value that did not fit the column's type was left out.",
    "null_and_count": "A value that did not fit the column's type was emptied and counted.",
}

#: What happens to dates found in free text (``free_text_dates``).
FREE_TEXT_DATES: dict[DateMode, str] = {
    DateMode.TAG: "dates found in it were replaced by [DATE]",
    DateMode.SHIFT: "dates found in it were moved by the patient's secret date shift, "
    "their format kept",
}

#: Short names of the patient's own identifiers a column may feed the scrubber.
CONTEXT_SHORT = {
    "name": "name",
    "nhs_number": "NHS number",
    "date": "dates",
    "postcode": "postcode",
    "address": "address",
    "identifier": "other identifiers",
}
CONTEXT_WORDS = {
    "name": "the patient's name",
    "nhs_number": "the patient's NHS number",
    "date": "a date of the patient",
    "postcode": "the patient's postcode",
    "address": "a line of the patient's address",
    "identifier": "an identifier of the patient",
}


def treatment_of(col: ColumnPolicy) -> Treatment:
    """The treatment ``col`` receives; a combination the engine would not run is refused."""
    if col.role == "identifier":
        if col.action == "drop":
            return Treatment.DROPPED
        if col.action == "pseudonymise":
            return Treatment.PSEUDONYMISED
        raise ValueError("an identifier column needs an action")
    if col.role == "patient_id":
        return Treatment.PSEUDONYMISED
    if col.role == "free_text":
        return Treatment.SCRUBBED
    if col.role == "keep":
        return Treatment.KEPT
    gen = col.generalise
    if gen is None:
        raise ValueError("a quasi_identifier column needs a generalisation")
    if isinstance(gen, TruncateGen):
        return Treatment.TRUNCATED_TO_MONTH if gen.to == "month" else Treatment.TRUNCATED_TO_YEAR
    by_method = {
        "date_shift": Treatment.DATE_SHIFTED,
        "to_year": Treatment.YEAR_OF_BIRTH,
        "age_band": Treatment.AGE_BAND,
        "district": Treatment.POSTCODE_DISTRICT,
        "sector": Treatment.POSTCODE_SECTOR,
        "band": Treatment.NUMBER_BAND,
    }
    return by_method[gen.method]  # a new method without a treatment: KeyError, loudly


def what_was_done(policy: Policy, name: str, col: ColumnPolicy, treatment: Treatment) -> str:
    """The main sentence: what was done to the column's values, with the parameters."""
    gen = col.generalise
    if treatment is Treatment.DROPPED:
        return "Dropped: the column is not in the stored data at all."
    if treatment is Treatment.PSEUDONYMISED:
        namespace = col.namespace or (col.type if col.type == "nhs_number" else name)
        whom = "the patient" if col.role == "patient_id" else "each distinct value"
        return (
            f"Pseudonymised: each value was normalised and replaced by a keyed HMAC-SHA256 "
            f"pseudonym (namespace {namespace!r}), the same for {whom} in every version of "
            "the dataset; it cannot be reversed without the platform's keys, and releases "
            "re-key it per project."
        )
    if treatment is Treatment.DATE_SHIFTED:
        days = policy.date_shift.max_days
        return (
            f"Date shifted: every date of one patient was moved by the same secret number of "
            f"days (between 1 and {days}, earlier or later, never zero), derived from a key "
            "and the patient's identifier, so intervals within a patient are exact."
        )
    if treatment is Treatment.TRUNCATED_TO_MONTH:
        return "Generalised to the month (YYYY-MM): the day (and any time) was removed."
    if treatment is Treatment.TRUNCATED_TO_YEAR:
        return "Generalised to the year: the month and day (and any time) were removed."
    if treatment is Treatment.YEAR_OF_BIRTH:
        return "Generalised to the year (of birth): the month and day were removed."
    if treatment is Treatment.AGE_BAND:
        assert isinstance(gen, AgeBandGen)
        on = f"{gen.reference_date.day} {gen.reference_date:%B %Y}"
        band = "the age in whole years" if gen.width == 1 else f"{gen.width}-year age bands"
        top = f", ages {gen.top_code} and over as {gen.top_code}+" if gen.top_code else ""
        return (
            f"Generalised to {band} at {on}{top}, worked out from the date, which was not stored."
        )
    if treatment is Treatment.POSTCODE_DISTRICT:
        return "Generalised to the postcode district (outward code, e.g. WN8); the rest removed."
    if treatment is Treatment.POSTCODE_SECTOR:
        return (
            "Generalised to the postcode sector (outward code and first inward digit, "
            "e.g. WN8 7); the last two letters removed."
        )
    if treatment is Treatment.NUMBER_BAND:
        assert isinstance(gen, BandGen)
        return f"Generalised to bands of width {gen.width}, written [low,high)."
    if treatment is Treatment.SCRUBBED:
        return (
            "Scrubbed: names, NHS numbers, dates, postcodes, addresses, telephone numbers, "
            "e-mail addresses, hospital numbers and other identifiers found in the text were "
            f"replaced by tags such as [PERSON]; {FREE_TEXT_DATES[policy.free_text_dates]}."
        )
    return KEPT_AS[col.type]


def scrub_settings(policy: Policy) -> list[str]:
    """What the policy told the scrubber beyond its defaults."""
    told = []
    if policy.hospital_number_patterns:
        told.append(f"{len(policy.hospital_number_patterns)} hospital number pattern(s)")
    if policy.free_text_allow_terms:
        told.append(f"{len(policy.free_text_allow_terms)} allowed term(s) never scrubbed")
    if policy.free_text_places:
        told.append(f"{len(policy.free_text_places)} local place name(s)")
    if policy.free_text_organisations:
        told.append(f"{len(policy.free_text_organisations)} local organisation name(s)")
    if not told:
        return []
    return [f"The scrubber was also given the policy's {', '.join(told)}."]
