"""A starter dataset policy drafted from a sample of an extract, for people to review.

Writing a policy for a new extract means deciding, column by column, what identifies a
patient. This module reads a bounded sample with the engine's own readers, profiles each
column with the engine's own checks (the NHS number check digit, the postcode, date and
number parsers) and its own free-text recognisers (the scrubber: Presidio, the UK
recognisers and spaCy), and proposes a type and a role for each. It errs towards the
safer role: a column it cannot place is dropped or scrubbed, never kept.

Nothing it proposes is trusted: the YAML it writes marks every proposal ``REVIEW:`` with
the evidence behind it. The evidence is counts and detected types only: a sampled value
never leaves memory (never into the draft, never into a message), and a header that
looks like data (a file without its header row) is refused without being quoted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fivesafes.deid.column_profile import (
    DEFAULT_SAMPLE_ROWS,
    IDENTIFYING,
    ColumnProfile,
    Sample,
    profile_column,
    read_sample,
)
from fivesafes.deid.nhs_number import is_valid_nhs_number
from fivesafes.deid.optout import OPTED_OUT_COLUMN
from fivesafes.deid.plan import Scrubber
from fivesafes.deid.policy import InputOptions, Policy, parse_policy
from fivesafes.deid.redact import describe_header_field, value_shape
from fivesafes.deid.types import PatientContext, ScrubberConfig
from fivesafes.errors import InputFileError, InvalidInputError

#: Share of a column's values that must pass a check for the column to take that type.
MOSTLY = 0.9
#: With a header that says so, a weaker majority is enough.
CUED = 0.5
#: Share of a column's values in which identifiers were found that makes it scrubbed text.
SOME = 0.1
#: Mean words per value from which a column reads as free text.
TEXT_WORDS = 5.0
#: Distinct values from which an all-distinct column looks like a record or person id.
UNIQUE_FROM = 20

_DATASET = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: How :func:`value_shape` describes a value that is data, never a column name.
_DATA_SHAPE = re.compile(r"looks like an? (email address|date|postcode)|\d+ digits?")
#: Entities that, found in a column name itself, say the "header" is a row of data.
_DATA_IN_HEADER = IDENTIFYING - {"LOCATION", "ORGANISATION"}


def _cue(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# Header cues, matched against the name in snake_case ("Date of Birth" -> date_of_birth).
NHS_CUE = _cue(r"nhs")
PATIENT_ID_CUE = _cue(
    r"(^|_)(mrn|pid|crn|patient_?(id|no|num|number)|hosp(ital)?_?(no|num|number|id)|unit_?no)"
    r"($|_)"
)
NAME_CUE = _cue(r"(^|_)(name|forenames?|surname|first_?name|last_?name|given_?names?)($|_)")
STAFF_CUE = _cue(r"(^|_)(gp|doctor|dr|consultant|clinician|staff|nurse|ward|practice|drug)($|_)")
BIRTH_CUE = _cue(r"(dob|birth)")
POSTCODE_CUE = _cue(r"(post_?code|postal|zip)")
ADDRESS_CUE = _cue(r"(address|(^|_)(addr|street|town|city|county)($|_|\d))")
PHONE_CUE = _cue(r"(phone|mobile|(^|_)tel($|_)|telephone)")
EMAIL_CUE = _cue(r"e_?mail")
TEXT_CUE = _cue(r"(note|comment|text|narrative|letter|summary|remark|history|free)")
AGE_CUE = _cue(r"(^|_)age($|_)")
ID_CUE = _cue(r"(^|_)(id|number|no|num|ref|reference)$")


def snake(name: str) -> str:
    """A header name as the cues read it: lower case, runs of other characters as ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


# --- proposing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Proposal:
    """One column's proposed policy entry and why (counts, types and cues only)."""

    name: str
    column: dict[str, Any]
    why: tuple[str, ...]

    @property
    def summary(self) -> str:
        role = self.column["role"]
        extra = self.column.get("action") or _method(self.column.get("generalise"))
        return f"{role} ({extra})" if extra else role


def _method(generalise: Any) -> str | None:
    if isinstance(generalise, dict):
        return str(generalise["method"])
    return None if generalise is None else str(generalise)


def _of(profile: ColumnProfile, kind: str, what: str) -> str:
    return f"{profile.valid.get(kind, 0)} of {profile.values} sampled values are {what}"


class _Proposer:
    """The rules, in order; the first that fits a column decides its proposal."""

    def __init__(self, profiles: Sequence[ColumnProfile], today: date) -> None:
        self.today = today
        self.patient_id = _choose_patient_id(profiles)

    def propose(self, p: ColumnProfile) -> Proposal:
        cue = snake(p.name)
        if p.values == 0:
            return Proposal(
                p.name,
                {"type": "string", "role": "identifier", "action": "drop"},
                (
                    f"every one of the {p.empty} sampled cells is empty: nothing to judge by, "
                    "so dropped until a reviewer says what the column holds",
                ),
            )
        for rule in (
            self._nhs_number,
            self._postcode,
            self._date,
            self._datetime,
            self._number,
            self._boolean,
        ):
            proposal = rule(p, cue)
            if proposal is not None:
                return proposal
        return self._text(p, cue)

    def _nhs_number(self, p: ColumnProfile, cue: str) -> Proposal | None:
        share = p.share("nhs_number")
        if not (share >= MOSTLY or (NHS_CUE.search(cue) and share >= CUED)):
            return None
        why = [_of(p, "nhs_number", "valid NHS numbers (modulus 11 check)")]
        invalid = p.values - p.valid["nhs_number"]
        on_invalid = "reject_file" if invalid == 0 else "reject_row"
        if invalid:
            why.append(
                f"{invalid} sampled values fail the check: on_invalid reject_row leaves "
                "those rows out (reject_file would stop the run)"
            )
        if p.name == self.patient_id:
            why.append("the patient's key: replaced by a keyed pseudonym, linkable across versions")
            column = {
                "type": "nhs_number",
                "role": "patient_id",
                "on_invalid": on_invalid,
                "patient_context": "nhs_number",
            }
        else:
            why.append("another NHS number than the patient's: pseudonymised")
            column = {
                "type": "nhs_number",
                "role": "identifier",
                "action": "pseudonymise",
                "on_invalid": on_invalid,
            }
        return Proposal(p.name, column, tuple(why))

    def _postcode(self, p: ColumnProfile, cue: str) -> Proposal | None:
        share = p.share("postcode")
        if not (share >= MOSTLY or (POSTCODE_CUE.search(cue) and share >= CUED)):
            return None
        why = [
            _of(p, "postcode", "full UK postcodes"),
            "generalised to the district (outward code); `sector` keeps more, "
            "and is more identifying",
        ]
        column: dict[str, Any] = {
            "type": "postcode",
            "role": "quasi_identifier",
            "generalise": "district",
            "patient_context": "postcode",
        }
        invalid = p.values - p.valid["postcode"]
        if invalid:
            column["on_invalid"] = "null_and_count"
            why.append(f"{invalid} sampled values are not postcodes: null_and_count blanks them")
        return Proposal(p.name, column, tuple(why))

    def _dated(self, p: ColumnProfile, cue: str, kind: str) -> Proposal:
        why = [_of(p, kind, f"{'dates' if kind == 'date' else 'dates and times'}")]
        column: dict[str, Any] = {"type": kind, "role": "quasi_identifier"}
        if kind == "date" and BIRTH_CUE.search(cue):
            column["generalise"] = {
                "method": "age_band",
                "width": 5,
                "reference_date": self.today,
                "top_code": 90,
            }
            column["patient_context"] = "date"
            why.append(
                "the header names a date of birth: 5-year age bands at the reference date "
                "(set it to the extract's date), 90 and over top-coded"
            )
        elif self.patient_id is not None:
            column["generalise"] = "date_shift"
            why.append(
                "shifted by the patient's secret offset: intervals within a patient are kept"
            )
        else:
            column["generalise"] = {"method": "truncate", "to": "month"}
            why.append("no patient_id column to key a date shift: truncated to the month")
        invalid = p.values - p.valid[kind]
        if invalid:
            column["on_invalid"] = "null_and_count"
            why.append(f"{invalid} sampled values are not {kind}s: null_and_count blanks them")
        return Proposal(p.name, column, tuple(why))

    def _date(self, p: ColumnProfile, cue: str) -> Proposal | None:
        return self._dated(p, cue, "date") if p.share("date") >= MOSTLY else None

    def _datetime(self, p: ColumnProfile, cue: str) -> Proposal | None:
        return self._dated(p, cue, "datetime") if p.share("datetime") >= MOSTLY else None

    def _number(self, p: ColumnProfile, cue: str) -> Proposal | None:
        integers, decimals = p.share("integer"), p.share("decimal")
        if integers < MOSTLY and decimals < MOSTLY:
            return None
        if integers >= MOSTLY and p.distinct <= 2 and p.share("boolean") == 1.0:
            return None  # 0/1 flags: a boolean
        if p.leading_zeros or PHONE_CUE.search(cue) or p.entity_share("PHONE") >= CUED:
            return None  # digits written as text (telephones, codes): not a number
        kind = "integer" if integers >= MOSTLY else "decimal"
        if ID_CUE.search(cue) or PATIENT_ID_CUE.search(cue):
            return self._identifier(p, ("the header names a number that identifies",))
        why = [_of(p, kind, f"{kind}s")]
        column: dict[str, Any] = {"type": kind, "role": "keep"}
        if kind == "integer" and AGE_CUE.search(cue):
            column = {
                "type": kind,
                "role": "quasi_identifier",
                "generalise": {"method": "band", "width": 5},
            }
            why.append("the header names an age: 5-year bands")
        else:
            why.append(f"{p.distinct} distinct values; a number passes through unchanged")
        invalid = p.values - p.valid[kind]
        if invalid:
            column["on_invalid"] = "null_and_count"
            why.append(f"{invalid} sampled values are not {kind}s: null_and_count blanks them")
        return Proposal(p.name, column, tuple(why))

    def _boolean(self, p: ColumnProfile, cue: str) -> Proposal | None:
        if p.share("boolean") < 1.0:
            return None
        why = (_of(p, "boolean", "yes/no values"), "passes through unchanged")
        return Proposal(p.name, {"type": "boolean", "role": "keep"}, why)

    def _identifier(self, p: ColumnProfile, why: tuple[str, ...]) -> Proposal:
        if p.name == self.patient_id:
            return Proposal(
                p.name,
                {
                    "type": "string",
                    "role": "patient_id",
                    "on_invalid": "reject_row",
                    "patient_context": "identifier",
                },
                (*why, "no NHS number column: this column keys the patient's pseudonym"),
            )
        column = {
            "type": "string",
            "role": "identifier",
            "action": "pseudonymise",
            "patient_context": "identifier",
        }
        return Proposal(p.name, column, (*why, "pseudonymised; its values scrubbed from notes"))

    def _text(self, p: ColumnProfile, cue: str) -> Proposal:
        found = p.found()
        shape = f"{p.distinct} distinct of {p.values} values, {p.mean_words:.1f} words on average"
        if p.mean_words >= TEXT_WORDS or (TEXT_CUE.search(cue) and p.mean_words >= 2):
            return Proposal(
                p.name,
                {"type": "string", "role": "free_text"},
                (shape, found, "free text: scrubbed of names, numbers, dates and addresses"),
            )
        if p.name == self.patient_id or PATIENT_ID_CUE.search(cue):
            return self._identifier(p, (shape, found, "the header names a patient identifier"))
        dropped = self._dropped(p, cue)
        if dropped is not None:
            context, reason = dropped
            column: dict[str, Any] = {"type": "string", "role": "identifier", "action": "drop"}
            if context is not None:
                column["patient_context"] = context
            why = [shape, found, reason]
            if context is not None:
                why.append(f"patient_context {context}: removed from this patient's notes too")
            return Proposal(p.name, column, tuple(why))
        if (
            ID_CUE.search(cue)
            or p.entity_share("HOSPITAL_NUMBER") >= CUED
            or p.entity_share("ID") >= CUED
            or p.entity_share("NI_NUMBER") >= CUED
            or (p.distinct == p.values and p.values >= UNIQUE_FROM)
        ):
            return self._identifier(
                p, (shape, found, "identifier-like (header, recognisers or all values distinct)")
            )
        if p.identified_share >= SOME:
            return Proposal(
                p.name,
                {"type": "string", "role": "free_text"},
                (shape, found, "identifiers found in some values: scrubbed like free text"),
            )
        return Proposal(
            p.name,
            {"type": "string", "role": "keep"},
            (shape, found, "short codes: passes through unchanged; confirm none identifies"),
        )

    def _dropped(self, p: ColumnProfile, cue: str) -> tuple[str | None, str] | None:
        """(patient_context, reason) for a column of direct identifiers, or None."""
        if EMAIL_CUE.search(cue) or p.entity_share("EMAIL") >= CUED:
            return "identifier", "e-mail addresses (header or recognisers): dropped"
        if PHONE_CUE.search(cue) or p.entity_share("PHONE") >= CUED:
            return "identifier", "telephone numbers (header or recognisers): dropped"
        if ADDRESS_CUE.search(cue) or p.entity_share("ADDRESS") >= CUED:
            return "address", "addresses (header or recognisers): dropped"
        if NAME_CUE.search(cue) or p.entity_share("PERSON") >= CUED:
            if STAFF_CUE.search(cue):
                return None, "names of staff or places (header): dropped"
            return "name", "names (header or recognisers): dropped"
        return None


def _choose_patient_id(profiles: Sequence[ColumnProfile]) -> str | None:
    """The column that keys the patient: the first NHS number column, else the first whose
    header names a patient identifier."""
    for p in profiles:
        share = p.share("nhs_number")
        if p.values and (share >= MOSTLY or (NHS_CUE.search(snake(p.name)) and share >= CUED)):
            return p.name
    for p in profiles:
        if p.values and PATIENT_ID_CUE.search(snake(p.name)):
            return p.name
    return None


# --- the draft ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """A proposed policy, its evidence, and the sample it came from (counts only)."""

    dataset: str
    format: str
    rows_sampled: int
    proposals: tuple[Proposal, ...]
    encoding: str = "utf-8"

    def policy_data(self) -> dict[str, Any]:
        """The policy as data, exactly as :meth:`to_yaml` writes it (without comments)."""
        data: dict[str, Any] = {
            "dataset": self.dataset,
            "version": 1,
            "description": "REVIEW: what the extract holds and where it comes from.",
            "sensitivity": "standard",
        }
        if self.encoding != "utf-8":
            data["input"] = {"encoding": self.encoding}
        if any(_method(p.column.get("generalise")) == "date_shift" for p in self.proposals):
            data["date_shift"] = {"max_days": 180}
        if self.free_text:
            data["free_text_dates"] = "tag"
            data["review_sample"] = 20
        data["columns"] = {p.name: p.column for p in self.proposals}
        return data

    @property
    def free_text(self) -> bool:
        return any(p.column["role"] == "free_text" for p in self.proposals)

    def to_yaml(self) -> str:
        data = self.policy_data()
        out = [
            "# Starter policy drafted by `fivesafes policies draft` from a sample of "
            f"{self.rows_sampled:,} rows",
            f"# of a {self.format.upper()} extract. NOTHING HERE HAS BEEN REVIEWED: every "
            "proposal is marked",
            "# REVIEW: with the evidence behind it (counts and detected types only; no value from",
            "# the extract is written here). Check each against the data dictionary, then delete",
            "# the REVIEW: lines. Load it with `fivesafes policies load FILE --as ADMIN`.",
            "# See docs/policies.md for every key.",
            "",
            _dump({"dataset": data["dataset"], "version": 1}),
            "# REVIEW: describe the extract for the people who approve requests.",
            _dump({"description": data["description"]}),
            "# REVIEW: `sensitive` needs two governance approvers per request "
            "(policies/access.yaml).",
            _dump({"sensitivity": data["sensitivity"]}),
        ]
        if "input" in data:
            out += ["# The sample was read in this encoding.", _dump({"input": data["input"]})]
        if "date_shift" in data:
            out += [
                "# REVIEW: every date of one patient moves by the same secret offset, "
                "at most this many days.",
                _dump({"date_shift": data["date_shift"]}),
            ]
        if self.free_text:
            out += [
                "# REVIEW: dates in free text become [DATE]; `shift` moves them with the "
                "patient's offset.",
                _dump({"free_text_dates": data["free_text_dates"]}),
                "# REVIEW: governance reads this many scrubbed free-text cells before a new "
                "version is",
                "# released; remove the key to release versions at once.",
                _dump({"review_sample": data["review_sample"]}),
                "# REVIEW: the trust's hospital (MRN) number format, if notes quote it, e.g.",
                "# hospital_number_patterns: ['\\b[A-Z]\\d{7}\\b']",
            ]
        out += [
            "# REVIEW: the National Data Opt-out applies (opted-out patients' rows excluded) "
            "unless",
            "# exempt: national_data_opt_out: {exempt: true, basis: <s251 or other reference>}",
            "",
            "columns:",
        ]
        for proposal in self.proposals:
            out.append(f"  # REVIEW: proposed {proposal.summary}.")
            out += [f"  #   {reason}." for reason in proposal.why]
            block = _dump({proposal.name: proposal.column})
            out += ["  " + line for line in block.splitlines()]
            out.append("")
        return "\n".join(out).rstrip("\n") + "\n"


def _dump(data: dict[str, Any]) -> str:
    """YAML of ``data`` in the order given; keys and strings quoted whenever needed."""
    text: str = yaml.safe_dump(
        data, sort_keys=False, default_flow_style=False, allow_unicode=False, width=1000
    )
    return text.rstrip("\n")


def draft_policy(
    path: Path,
    scrubber: Scrubber,
    *,
    dataset: str | None = None,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    encoding: str = "utf-8",
    today: date | None = None,
) -> Draft:
    """Read a sample of ``path`` and propose a policy for it (validated before returned)."""
    name = dataset if dataset is not None else dataset_name_for(path)
    if not _DATASET.fullmatch(name):
        raise InvalidInputError(
            f"dataset name {name!r} must be 1-63 lower-case letters, digits, '_' or '-', "
            "starting with a letter or digit",
            code="invalid_dataset_name",
        )
    encoding = _encoding(encoding)
    sample = read_sample(path, sample_rows, encoding=encoding)
    check_header(sample, scrubber)
    profiles = [
        profile_column(column, cells, scrubber)
        for column, cells in zip(sample.header, sample.columns, strict=True)
    ]
    proposer = _Proposer(profiles, today or date.today())
    proposals = tuple(proposer.propose(p) for p in profiles)
    draft = Draft(name, sample.format, sample.rows, proposals, encoding)
    validate_draft(draft)
    return draft


def _encoding(name: str) -> str:
    """The encoding's canonical name, checked as a policy's ``input.encoding`` is."""
    try:
        return InputOptions(encoding=name).encoding
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidInputError(f"--encoding: {reason}", code="invalid_encoding") from None


def validate_draft(draft: Draft) -> Policy:
    """The draft as the policy loader reads it: the YAML written, parsed and validated."""
    return parse_policy(yaml.safe_load(draft.to_yaml()), "drafted policy")


def dataset_name_for(path: Path) -> str:
    """A dataset name from the file's name (``Episodes 2024.csv`` -> ``episodes-2024``)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-_")[:63]
    if not name:
        raise InvalidInputError(
            f"{path.name}: no dataset name can be made from the file name: give --dataset",
            code="invalid_dataset_name",
        )
    return name


def check_header(sample: Sample, scrubber: Scrubber) -> None:
    """Refuse a header a policy cannot describe, or one that looks like a row of data.

    A file without its header row makes the first patient's values the column names; a
    draft would then write them into the policy. Such fields are described by position
    and shape, never quoted.
    """
    header = sample.header
    problems: list[str] = []
    seen: set[str] = set()
    for index, column in enumerate(header):
        if column in seen:
            problems.append(f"{_field(index, column)} repeats an earlier column name")
        seen.add(column)
        if column != column.strip() or not column:
            problems.append(f"{_field(index, column)} has spaces around it or is empty")
        if column == OPTED_OUT_COLUMN:
            problems.append(f"{_field(index, column)} is a name the platform reserves")
    looks = _looks_like_data(header, scrubber)
    if looks:
        listed = ", ".join(_field(i, header[i]) for i in looks[:10])
        problems.append(
            f"{len(looks)} header field(s) look like data, not column names ({listed}): "
            "does the file lack its header row?"
        )
    if problems:
        raise InputFileError("; ".join(problems), file=sample.file, line=1)


def _field(index: int, column: str) -> str:
    return describe_header_field(index, column, ())


def _looks_like_data(header: Sequence[str], scrubber: Scrubber) -> list[int]:
    shaped = [
        i
        for i, column in enumerate(header)
        if _DATA_SHAPE.fullmatch(value_shape(column)) or is_valid_nhs_number(column)
    ]
    found = scrubber.scrub_many(list(header), [PatientContext()] * len(header), column="")
    recognised = [i for i, r in enumerate(found) if _DATA_IN_HEADER.intersection(r.entities)]
    return sorted(set(shaped) | set(recognised))


def summary_rows(draft: Draft) -> Iterable[tuple[str, str, str]]:
    """(column, type, proposal) for each column, as the CLI prints them."""
    for proposal in draft.proposals:
        yield proposal.name, str(proposal.column["type"]), proposal.summary


def engine_scrubber(spacy_model: str) -> Scrubber:
    """The engine's own free-text scrubber, whose recognisers read the sampled values."""
    from fivesafes.deid.scrubber import FreeTextScrubber  # noqa: PLC0415 - spaCy loads here

    return FreeTextScrubber(ScrubberConfig(spacy_model=spacy_model))
