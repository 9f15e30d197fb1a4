"""The register of data held as CSV: one row per dataset version and live grant.

For spreadsheets and returns to a regulator: a header row of :data:`CSV_COLUMNS`, then a
row per version and live grant on it (grant cells empty for a version without one); a
dataset without versions is one row with only its name. Cells are plain text; one a
spreadsheet would run as a formula (a project title starting with ``=``) is written with a
leading apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from fivesafes.access.register import Register, RegisterGrant, RegisterVersion

CSV_COLUMNS = (
    "dataset",
    "version",
    "state",
    "received_at",
    "upload_id",
    "source_sha256",
    "uploaded_by",
    "rows",
    "policy_version",
    "policy_sha256",
    "sensitivity",
    "opt_out_applied",
    "opt_out_exempt",
    "opt_out_list_id",
    "opt_out_list_loaded_at",
    "opt_out_list_age_days",
    "opt_out_rows_excluded",
    "opt_out_rows_flagged",
    "withdrawn_at",
    "withdrawal_reason",
    "purged_at",
    "grant_id",
    "grant_on_latest",
    "grant_expires_at",
    "project_id",
    "project_title",
    "project_end_date",
)
#: A cell starting with one of these is a formula to a spreadsheet (a project title is
#: free text): such cells are written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(register: Register) -> Iterator[list[str]]:
    """The header, then one row per version and live grant (grant cells empty when the
    version has none); a dataset without versions is one row with only its name; grants
    on "the latest" with no available version are rows with empty version cells."""
    yield list(CSV_COLUMNS)
    blank_version = [""] * (CSV_COLUMNS.index("grant_id") - 1)
    for ds in register.datasets:
        for version in ds.versions:
            head = [ds.name, *_version_cells(version)]
            shown: list[RegisterGrant | None] = list(version.grants) or [None]
            for grant in shown:
                yield head + _grant_cells(grant)
        for grant in ds.latest_without_version:
            yield [ds.name, *blank_version, *_grant_cells(grant)]
        if not ds.versions and not ds.latest_without_version:
            yield [ds.name, *blank_version, *_grant_cells(None)]


def _version_cells(v: RegisterVersion) -> list[str]:
    o = v.opt_out
    values: list[object] = [
        v.number,
        v.state,
        v.received_at,
        v.upload_id,
        v.source_sha256,
        v.uploaded_by,
        v.rows,
        v.policy_version,
        v.policy_sha256,
        v.sensitivity,
        o.applied,
        o.exempt,
        o.list_id,
        o.list_loaded_at,
        o.list_age_days,
        o.rows_excluded,
        o.rows_flagged,
        v.withdrawn_at,
        v.withdrawal_reason,
        v.purged_at,
    ]
    return [_cell(x) for x in values]


def _grant_cells(g: RegisterGrant | None) -> list[str]:
    if g is None:
        return [""] * (len(CSV_COLUMNS) - CSV_COLUMNS.index("grant_id"))
    values: list[object] = [
        g.grant_id,
        g.on_latest,
        g.grant_expires_at,
        g.project_id,
        g.project_title,
        g.project_end_date,
    ]
    return [_cell(x) for x in values]


def csv_text(register: Register) -> str:
    """The whole CSV (a register is a few rows per version: it fits in memory)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(csv_rows(register))
    return buffer.getvalue()
