"""Dataset policies: the data dictionary that says what happens to every column.

A policy is YAML reviewed like code (governance officers read it) and validated here by
pydantic. It fails closed: unknown keys are errors, a column the policy does not name is
refused, and every error names the file, the key path (``columns.date_of_birth.generalise``)
and what is wrong, so a reviewer can fix it without reading Python.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from fivesafes.deid.optout import OPTED_OUT_COLUMN
from fivesafes.deid.redact import describe_header_field
from fivesafes.deid.types import DateMode
from fivesafes.errors import InputFileError, PolicyError
from fivesafes.policy_yaml import PolicyKind, read_policy_yaml

DataType = Literal[
    "string", "integer", "decimal", "date", "datetime", "boolean", "nhs_number", "postcode"
]
Role = Literal["patient_id", "identifier", "quasi_identifier", "free_text", "keep"]
OnInvalid = Literal["reject_file", "reject_row", "null_and_count"]
ContextKind = Literal["name", "nhs_number", "date", "postcode", "address", "identifier"]
Sensitivity = Literal["standard", "sensitive"]
#: Why a pseudonym may be reversed to the patient (see docs/reidentification.md).
ReidPurpose = Literal["safety_critical_finding", "consent_to_contact"]
#: Days a withdrawn version's data is kept for the record before it may be purged.
DEFAULT_WITHDRAWN_RETENTION_DAYS = 90


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DateShiftGen(_Strict):
    """Move the date by the patient's keyed offset (intervals within a patient preserved)."""

    method: Literal["date_shift"]


class TruncateGen(_Strict):
    """Keep only the month (``YYYY-MM``) or the year."""

    method: Literal["truncate"]
    to: Literal["month", "year"]


class ToYearGen(_Strict):
    """Date of birth to year of birth."""

    method: Literal["to_year"]


class AgeBandGen(_Strict):
    """Date of birth to an age band at a fixed reference date, top-coded."""

    method: Literal["age_band"]
    reference_date: date
    width: int = Field(default=5, ge=1, le=50)
    top_code: int | None = Field(default=90, ge=1, le=150)


class DistrictGen(_Strict):
    """Postcode to its outward code (district), e.g. ``WN8``."""

    method: Literal["district"]


class SectorGen(_Strict):
    """Postcode to its sector, e.g. ``WN8 7``."""

    method: Literal["sector"]


class BandGen(_Strict):
    """A number to a band of the given width, e.g. ``[10,20)``."""

    method: Literal["band"]
    width: Decimal = Field(gt=0)


Generalisation = Annotated[
    DateShiftGen | TruncateGen | ToYearGen | AgeBandGen | DistrictGen | SectorGen | BandGen,
    Field(discriminator="method"),
]

#: Which data types each generalisation accepts.
_GEN_TYPES: dict[str, tuple[str, ...]] = {
    "date_shift": ("date", "datetime"),
    "truncate": ("date", "datetime"),
    "to_year": ("date",),
    "age_band": ("date",),
    "district": ("postcode",),
    "sector": ("postcode",),
    "band": ("integer", "decimal"),
}


class ColumnPolicy(_Strict):
    """What happens to one column: its type, its single role and that role's options."""

    type: DataType
    role: Role
    description: str | None = None
    action: Literal["drop", "pseudonymise"] | None = None
    generalise: Generalisation | None = None
    on_invalid: OnInvalid = "reject_file"
    patient_context: ContextKind | None = None
    namespace: str | None = Field(default=None, pattern=r"^[a-z0-9_.-]{1,64}$")

    @field_validator("generalise", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `generalise: district` is shorthand for `generalise: {method: district}`.
        return {"method": value} if isinstance(value, str) else value

    @property
    def in_output(self) -> bool:
        """Whether the column appears in the de-identified output."""
        return not (self.role == "identifier" and self.action == "drop")


class DateShiftOptions(_Strict):
    """Policy-wide: one offset per patient, so every date column moves together."""

    max_days: int = Field(default=180, ge=1, le=3650)


class OptOutOptions(_Strict):
    """National Data Opt-out: applied (opted-out patients' rows excluded) unless exempt.

    An exemption (e.g. section 251 support, or a mandatory collection) must name its basis;
    exempt datasets keep the rows but flag them so releases can still exclude them.
    """

    exempt: bool = False
    basis: str | None = Field(default=None, min_length=5, max_length=500)


class ReidentificationOptions(_Strict):
    """Governed re-identification: off unless the dataset's policy opts in.

    Only with ``allowed`` does ingestion keep each patient's NHS number, encrypted under
    the re-identification key; without it nothing reversible is stored, so the feature
    cannot be switched on for data already ingested.
    """

    allowed: StrictBool = False
    purposes: tuple[ReidPurpose, ...] = ()
    monthly_limit_per_project: int = Field(default=5, ge=1, le=1000)


class InputOptions(_Strict):
    """How to read the extract."""

    encoding: str = "utf-8"

    @field_validator("encoding")
    @classmethod
    def _ascii_compatible(cls, value: str) -> str:
        try:
            name = codecs.lookup(value).name
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        probe = '\n\r,"abcXYZ019'
        try:
            if probe.encode(name) != probe.encode("ascii"):
                raise ValueError(f"encoding {value!r} is not ASCII-compatible")
        except UnicodeError:
            raise ValueError(f"encoding {value!r} is not ASCII-compatible") from None
        return name


class Policy(_Strict):
    """A dataset policy (see ``policies/datasets/sample-extract.yaml``)."""

    dataset: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    version: int = Field(ge=1)
    description: str = ""
    sensitivity: Sensitivity = "standard"
    input: InputOptions = InputOptions()
    date_shift: DateShiftOptions = DateShiftOptions()
    free_text_dates: DateMode = DateMode.TAG
    hospital_number_patterns: tuple[str, ...] = ()
    free_text_allow_terms: tuple[str, ...] = ()
    # Site gazetteers: places and organisations of the trust's catchment the shipped
    # lists may lack (record their source in a comment beside them).
    free_text_places: tuple[str, ...] = ()
    free_text_organisations: tuple[str, ...] = ()
    national_data_opt_out: OptOutOptions = OptOutOptions()
    # Governance reads this many scrubbed free-text cells before a new version is released.
    review_sample: int | None = Field(default=None, ge=1, le=1000)
    # A file with a header and no rows is refused (a truncated or failed export looks just
    # like that) unless the dataset may legitimately be empty.
    allow_empty: StrictBool = False
    # A withdrawn version's data is kept (for an investigation, for the record) this many
    # days after its withdrawal; only then may `fivesafes datasets purge` drop it.
    withdrawn_retention_days: StrictInt = Field(
        default=DEFAULT_WITHDRAWN_RETENTION_DAYS, ge=0, le=36500
    )
    reidentification: ReidentificationOptions = ReidentificationOptions()
    columns: dict[str, ColumnPolicy] = Field(min_length=1)

    @field_validator("free_text_places", "free_text_organisations")
    @classmethod
    def _entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, entry in enumerate(value):
            if len(entry.strip()) < 3:
                raise ValueError(f"entry {i + 1} must have at least 3 characters")
            if not any(c.isalpha() for c in entry):
                raise ValueError(f"entry {i + 1} must contain a letter")
        return tuple(" ".join(e.split()) for e in value)

    @field_validator("hospital_number_patterns")
    @classmethod
    def _compiles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, pattern in enumerate(value):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"pattern {i + 1} is not a valid regular expression: {exc}"
                ) from None
            if re.fullmatch(pattern, ""):
                raise ValueError(f"pattern {i + 1} matches the empty string")
        return value

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the canonical (RFC 8785) JSON of the validated policy.

        Comments and formatting do not change it; any change of meaning does. Reports and
        audit events carry it so that an output can be traced to the exact rules applied.
        """
        content = self.model_dump(mode="json")
        # Absent means absent: policies written before these keys existed keep their hash.
        if content["review_sample"] is None:
            del content["review_sample"]
        if not content["allow_empty"]:
            del content["allow_empty"]
        if content["withdrawn_retention_days"] == DEFAULT_WITHDRAWN_RETENTION_DAYS:
            del content["withdrawn_retention_days"]
        for key in ("free_text_places", "free_text_organisations"):
            if not content[key]:
                del content[key]
        if self.reidentification == ReidentificationOptions():
            del content["reidentification"]
        canonical = rfc8785.dumps(content)
        return hashlib.sha256(canonical).hexdigest()

    @property
    def patient_id_column(self) -> str | None:
        """The column identifying the patient (keys date shifts), if any."""
        return next((n for n, c in self.columns.items() if c.role == "patient_id"), None)

    @property
    def free_text_columns(self) -> list[str]:
        return [n for n, c in self.columns.items() if c.role == "free_text"]


def _semantic_problems(policy: Policy) -> list[tuple[str, str]]:
    """Cross-field rules pydantic's per-field validation cannot express."""
    problems: list[tuple[str, str]] = []
    patient_ids = [n for n, c in policy.columns.items() if c.role == "patient_id"]
    if len(patient_ids) > 1:
        problems.append(("columns", f"only one patient_id column allowed, found {patient_ids}"))
    for name, col in policy.columns.items():
        at = f"columns.{name}"
        if not name or name != name.strip():
            problems.append((at, "column names must be non-empty without surrounding spaces"))
        if col.role == "identifier" and col.action is None:
            problems.append((f"{at}.action", "an identifier needs `action: drop | pseudonymise`"))
        if col.role != "identifier" and col.action is not None:
            problems.append(
                (f"{at}.action", f"only identifier columns take an action, not {col.role}")
            )
        if col.role == "quasi_identifier" and col.generalise is None:
            problems.append((f"{at}.generalise", "a quasi_identifier needs a generalisation"))
        if col.role != "quasi_identifier" and col.generalise is not None:
            problems.append(
                (
                    f"{at}.generalise",
                    f"only quasi_identifier columns are generalised, not {col.role}",
                )
            )
        if col.generalise is not None:
            allowed = _GEN_TYPES[col.generalise.method]
            if col.type not in allowed:
                problems.append(
                    (
                        f"{at}.generalise",
                        f"{col.generalise.method} applies to {' or '.join(allowed)} columns, "
                        f"not {col.type}",
                    )
                )
            if col.generalise.method == "date_shift" and not patient_ids:
                problems.append(
                    (f"{at}.generalise", "date_shift needs a patient_id column to key the offset")
                )
        if col.role == "free_text" and col.type != "string":
            problems.append((f"{at}.type", "free_text columns must be of type string"))
        if col.type in ("nhs_number", "postcode") and col.role in ("keep", "free_text"):
            problems.append(
                (f"{at}.role", f"a {col.type} column cannot be kept as is: it identifies people")
            )
        if col.namespace is not None and not (
            col.role == "patient_id" or col.action == "pseudonymise"
        ):
            problems.append((f"{at}.namespace", "namespace applies only to pseudonymised columns"))
        if col.patient_context == "date" and col.type not in ("date", "datetime"):
            problems.append(
                (f"{at}.patient_context", "date context needs a date or datetime column")
            )
    if policy.free_text_dates == DateMode.SHIFT and not patient_ids:
        problems.append(
            ("free_text_dates", "shifting dates in free text needs a patient_id column")
        )
    opt_out = policy.national_data_opt_out
    if opt_out.exempt and not opt_out.basis:
        problems.append(
            ("national_data_opt_out.basis", "an exemption must name its basis (e.g. s251 ref)")
        )
    if not opt_out.exempt and opt_out.basis:
        problems.append(("national_data_opt_out.basis", "a basis is only given with exempt: true"))
    if policy.review_sample is not None and not policy.free_text_columns:
        problems.append(
            ("review_sample", "a review reads free-text cells: this policy has no free_text column")
        )
    if OPTED_OUT_COLUMN in policy.columns:
        problems.append((f"columns.{OPTED_OUT_COLUMN}", "this column name is reserved"))
    problems.extend(_reidentification_problems(policy, patient_ids))
    return problems


def _reidentification_problems(policy: Policy, patient_ids: list[str]) -> list[tuple[str, str]]:
    """Re-identification needs a purpose and an NHS number to reverse to; off means off."""
    reid = policy.reidentification
    at = "reidentification"
    if not reid.allowed:
        if (
            reid.purposes
            or reid.monthly_limit_per_project != ReidentificationOptions().monthly_limit_per_project
        ):
            return [(f"{at}.allowed", "purposes and a limit apply only with allowed: true")]
        return []
    problems: list[tuple[str, str]] = []
    if not reid.purposes:
        problems.append((f"{at}.purposes", "name at least one purpose re-identification serves"))
    if len(set(reid.purposes)) != len(reid.purposes):
        problems.append((f"{at}.purposes", "each purpose may be listed once"))
    if not any(policy.columns[n].type == "nhs_number" for n in patient_ids):
        problems.append(
            (f"{at}.allowed", "re-identification needs a patient_id column of type nhs_number")
        )
    return problems


def _path(loc: Iterable[int | str]) -> str:
    parts = [str(p) for p in loc]
    # Discriminated unions add the tag as a path element; it is not a key the user wrote.
    cleaned = [p for i, p in enumerate(parts) if not (i > 0 and parts[i - 1] == "generalise")]
    return ".".join(cleaned) or "(top level)"


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key (not allowed here)"
    if error["type"] == "missing":
        return "required key is missing"
    return str(error["msg"]).removeprefix("Value error, ")


_DATASET_POLICY = PolicyKind(Policy, "policy", _path, _message, _semantic_problems)


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    """Validate already-loaded policy data; :class:`PolicyError` lists every problem."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy must be a mapping of keys to values")
    return _DATASET_POLICY.validate(data, source)


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file."""
    return parse_policy(read_policy_yaml(path, "policy"), str(path))


def check_columns(policy: Policy, header: Sequence[str], file: str) -> None:
    """Fail closed: refuse undeclared columns and report declared ones that are missing.

    One error lists every problem so an uploader fixes the extract in one go. A header
    name is quoted only when the policy declares it or it is a column-shaped typo of a
    declared name (:mod:`fivesafes.deid.redact`): a file without its header row makes
    the first patient's values the "column names", and those are described by position
    and shape ("field 1 (10 digits)"), never quoted.
    """
    declared = policy.columns
    seen: set[str] = set()
    repeated: list[int] = []
    for index, name in enumerate(header):
        if name in seen:
            repeated.append(index)
        seen.add(name)
    unknown = [i for i, name in enumerate(header) if name not in declared]
    missing = [name for name in declared if name not in seen]
    problems = []
    if repeated:
        named = [describe_header_field(i, header[i], declared) for i in repeated[:_LISTED]]
        problems.append(f"duplicate column names: {', '.join(named)}{_more(repeated)}")
    if unknown:
        named = [describe_header_field(i, header[i], declared) for i in unknown[:_LISTED]]
        problems.append(
            f"{len(unknown)} column(s) not declared in policy {policy.dataset!r} "
            f"(refused: every column must be described): {', '.join(named)}{_more(unknown)}"
        )
        if len(unknown) == len(header):
            problems.append(_header_hint(header))
    if missing:
        problems.append(
            f"column(s) declared in the policy but missing: {', '.join(map(repr, missing))}"
        )
    if problems:
        raise InputFileError("; ".join(problems), file=file, line=1)


#: Undeclared or repeated header fields described one by one; the rest are counted.
_LISTED = 20


def _more(items: Sequence[object]) -> str:
    return f" and {len(items) - _LISTED} more" if len(items) > _LISTED else ""


def _header_hint(header: Sequence[str]) -> str:
    """Why no header name matched: most often the file has no header row at all."""
    if header and header[0].lstrip().startswith("{"):
        return "the file looks like JSON Lines: name it .jsonl, not .csv"
    return "no column name matches the policy: does the file lack its header row?"
