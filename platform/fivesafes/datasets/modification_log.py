"""The modification log of a dataset version (SATRE 3.1.11): what ingestion did to the input.

An assessor reads, per input column, what the policy did to it (dropped, pseudonymised,
date shifted, generalised and how, scrubbed with which labels found and how many, kept
as is) and, for the whole extract, which rows were left out (National Data Opt-out,
invalid values) — without reading YAML or Python. It is said from two stored facts only:
the policy version the version was made under (re-validated by ``parsed_policy``) and its
de-identification report (counts, never values), so it can be produced for any version,
years later, and never quotes data.

:func:`modification_log` is pure. Every treatment the policy language can express is a
:class:`~fivesafes.datasets.modification_words.Treatment` with its own words
(:mod:`fivesafes.datasets.modification_words`); a column whose treatment has none fails
loudly rather than being described vaguely. Who may read it is
:func:`may_read`: governance, and the uploader of the version (the same people who may
read the upload's report, :mod:`fivesafes.datasets.uploads`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from fivesafes.datasets import service
from fivesafes.datasets.models import DatasetVersion
from fivesafes.datasets.modification_words import (
    CONTEXT_SHORT,
    CONTEXT_WORDS,
    ON_INVALID,
    TREATMENT_SUMMARY,
    Treatment,
    scrub_settings,
    treatment_of,
    what_was_done,
)
from fivesafes.datasets.uploads import SEES_ALL
from fivesafes.deid.optout import OPTED_OUT_COLUMN
from fivesafes.deid.policy import ColumnPolicy, Policy
from fivesafes.errors import PermissionDeniedError
from fivesafes.identity.models import Role, User


@dataclass(frozen=True, slots=True)
class ColumnModification:
    """One column: its input type and role, what was done (``treatment``), that in plain
    sentences, and what the report counted for it."""

    column: str
    input_type: str
    role: str
    treatment: Treatment
    in_output: bool
    summary: str
    sentences: tuple[str, ...]
    policy_description: str | None = None
    labels_found: dict[str, int] | None = None  # free text: tag -> replacements
    values_emptied: int = 0  # on_invalid: null_and_count (and unshiftable dates)
    rows_rejected: int = 0  # rows this column's values had rejected (reject_row)


@dataclass(frozen=True, slots=True)
class RowEffects:
    """What happened to whole rows."""

    rows_in: int
    rows_out: int
    rows_rejected: int
    opted_out_excluded: int
    opted_out_flagged: int
    opt_out_list_id: int | None
    invalid_nhs_numbers: int
    rejections_by_reason: dict[str, int] = field(default_factory=dict)  # "column: reason"
    sentences: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModificationLog:
    dataset: str
    version: int | None
    policy_version: int
    policy_sha256: str
    columns: tuple[ColumnModification, ...]
    rows: RowEffects


def _validated(col: ColumnPolicy, treatment: Treatment) -> bool:
    """Whether the column's values are checked against its type (``on_invalid`` applies):
    not a dropped column (never read), free text or text kept as recorded (any text fits)."""
    if treatment in (Treatment.DROPPED, Treatment.SCRUBBED):
        return False
    return not (treatment is Treatment.KEPT and col.type in ("string", "nhs_number"))


def _column(
    policy: Policy, name: str, col: ColumnPolicy, report: dict[str, Any], contexts: list[str]
) -> ColumnModification:
    treatment = treatment_of(col)
    sentences = [what_was_done(policy, name, col, treatment)]
    labels: dict[str, int] | None = None
    if treatment is Treatment.SCRUBBED:
        sentences.extend(scrub_settings(policy))
        if contexts:
            sentences.append(
                "The patient's own " + ", ".join(contexts) + " from the row's other columns "
                "were also removed from it wherever they appeared."
            )
        found = (report.get("entities") or {}).get(name)
        labels = {str(k): int(v) for k, v in sorted(found.items())} if found else {}
        if labels:
            listed = ", ".join(f"{label} {count:,}" for label, count in labels.items())
            sentences.append(f"Labels found and replaced: {listed}.")
        else:
            sentences.append("No identifiers were found in it.")
    if col.patient_context is not None:
        sentences.append(
            f"Its value was given, in memory only, to the free-text scrubber as "
            f"{CONTEXT_WORDS[col.patient_context]}, to be removed from the same row's text."
        )
    emptied = int((report.get("invalid_values_nulled") or {}).get(name) or 0)
    prefix = f"{name}: "
    rejected = sum(
        int(n)
        for k, n in (report.get("rejections_by_reason") or {}).items()
        if k.startswith(prefix)
    )
    if _validated(col, treatment):
        sentences.append(ON_INVALID[col.on_invalid])
    if emptied:
        sentences.append(f"{emptied:,} value(s) were emptied (invalid, or no patient to key on).")
    if rejected:
        sentences.append(f"{rejected:,} row(s) were left out for an invalid value here.")
    return ColumnModification(
        column=name,
        input_type=col.type,
        role=col.role,
        treatment=treatment,
        in_output=col.in_output,
        summary=TREATMENT_SUMMARY[treatment],
        sentences=tuple(sentences),
        policy_description=col.description,
        labels_found=labels,
        values_emptied=emptied,
        rows_rejected=rejected,
    )


def _opt_out_column(policy: Policy) -> ColumnModification:
    basis = policy.national_data_opt_out.basis or "not given"
    return ColumnModification(
        column=OPTED_OUT_COLUMN,
        input_type="boolean",
        role="added",
        treatment=Treatment.OPT_OUT_FLAG,
        in_output=True,
        summary=TREATMENT_SUMMARY[Treatment.OPT_OUT_FLAG],
        sentences=(
            "Added by ingestion: the dataset is exempt from the National Data Opt-out "
            f"(basis: {basis}), so opted-out patients' rows were kept and marked true here "
            "(empty when no list was loaded); releases leave them out.",
        ),
    )


def _rows(policy: Policy, report: dict[str, Any]) -> RowEffects:
    rows_in = int(report.get("rows_in") or 0)
    rows_out = int(report.get("rows_out") or 0)
    rejected = int(report.get("rows_rejected") or 0)
    excluded = int(report.get("opted_out_excluded") or 0)
    flagged = int(report.get("opted_out_flagged") or 0)
    raw_list = report.get("opt_out_list_id")
    list_id = raw_list if isinstance(raw_list, int) else None
    invalid_nhs = int(report.get("invalid_nhs_numbers") or 0)
    reasons = {
        str(k): int(v) for k, v in sorted((report.get("rejections_by_reason") or {}).items())
    }
    said = [f"{rows_in:,} rows were read and {rows_out:,} stored."]
    exempt = policy.national_data_opt_out.exempt
    if not report.get("opt_out_list_applied"):
        said.append("No National Data Opt-out list was applied (none was loaded).")
    elif exempt:
        said.append(
            f"National Data Opt-out list {list_id}: the dataset is exempt, so {flagged:,} "
            "opted-out patients' rows were kept and flagged, not removed."
        )
    else:
        said.append(
            f"National Data Opt-out list {list_id}: {excluded:,} rows of opted-out patients "
            "were excluded."
        )
    said.append(
        f"{rejected:,} rows were rejected for invalid values."
        if rejected
        else "No row was rejected for an invalid value."
    )
    if invalid_nhs:
        said.append(f"{invalid_nhs:,} NHS number(s) failed their check digit.")
    return RowEffects(
        rows_in=rows_in,
        rows_out=rows_out,
        rows_rejected=rejected,
        opted_out_excluded=excluded,
        opted_out_flagged=flagged,
        opt_out_list_id=list_id,
        invalid_nhs_numbers=invalid_nhs,
        rejections_by_reason=reasons,
        sentences=tuple(said),
    )


def modification_log(
    policy: Policy, report: dict[str, Any], *, version: int | None = None
) -> ModificationLog:
    """The log of an extract de-identified under ``policy`` with ``report`` (pure).

    Columns are in policy order (the order of the input's description), then the column
    ingestion added, if any. The report may come from the engine, a Spark job's hand-over
    or an older release of the platform: a count it lacks is zero.
    """
    contexts = [
        CONTEXT_SHORT[c.patient_context]
        for c in policy.columns.values()
        if c.patient_context is not None
    ]
    if policy.patient_id_column and policy.columns[policy.patient_id_column].type == "nhs_number":
        contexts.append(CONTEXT_SHORT["nhs_number"])  # always used as context
    contexts = list(dict.fromkeys(contexts))
    columns = [_column(policy, n, c, report, contexts) for n, c in policy.columns.items()]
    if policy.national_data_opt_out.exempt:
        columns.append(_opt_out_column(policy))
    return ModificationLog(
        dataset=policy.dataset,
        version=version,
        policy_version=policy.version,
        policy_sha256=policy.content_hash,
        columns=tuple(columns),
        rows=_rows(policy, report),
    )


def version_modification_log(session: Session, version: DatasetVersion) -> ModificationLog:
    """The log of a stored version, from its stored policy version and report."""
    policy = service.parsed_policy(version.policy_version)
    try:
        report = json.loads(version.report or "{}")
    except ValueError:  # pragma: no cover - written by the platform as JSON
        report = {}
    log = modification_log(
        policy, report if isinstance(report, dict) else {}, version=version.number
    )
    # The hash stored with the version is the one its events and manifests carry.
    return ModificationLog(
        dataset=log.dataset,
        version=log.version,
        policy_version=log.policy_version,
        policy_sha256=version.policy_version.content_sha256,
        columns=log.columns,
        rows=log.rows,
    )


def may_read(user: User, version: DatasetVersion) -> bool:
    """Governance, or the uploader of ``version``; nobody else (deny by default)."""
    if user.role in SEES_ALL:
        return True
    return (
        user.role is Role.UPLOADER
        and version.uploaded_by is not None
        and version.uploaded_by == str(user.id)
    )


def readable_log(session: Session, user: User, name: str, number: int) -> ModificationLog:
    """The log of version ``number`` of ``name`` for ``user``; 404 for an unknown one,
    403 for a reader who is neither governance nor its uploader."""
    version = service.get_dataset_version(session, service.get_dataset(session, name), number)
    if not may_read(user, version):
        raise PermissionDeniedError(
            f"only governance and the uploader of dataset {name!r} version {number} may read "
            "its modification log",
            code="denied_not_uploader",
        )
    return version_modification_log(session, version)
