"""`fivesafes reidentification report`: every reversal, for the annual IG audit.

The report names subjects by their pseudonym hash only (``reidentification.report``):
no NHS number and no justification text is printed or written. Running it is itself
recorded on the audit trail, with the period asked for and the number of rows.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.runtime import console, handle_errors, transaction
from fivesafes.errors import InvalidInputError
from fivesafes.reidentification import report

reidentification_app = typer.Typer(
    help="Governed re-identification: the reversal report.", no_args_is_help=True
)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(f"{option} {value!r}: give a date as YYYY-MM-DD") from None


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


@reidentification_app.command("report")
@handle_errors
def report_command(
    since: Annotated[
        str | None, typer.Option(help="Reversals executed on or after this UTC date")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Reversals executed on or before this UTC date")
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Also write the report as CSV to this file")
    ] = None,
) -> None:
    """List every executed re-identification (who asked, approved, executed; the action)."""
    start, end = _day(since, "--since"), _day(until, "--until")
    if start is not None and end is not None and end < start:
        raise InvalidInputError("--until is before --since: no reversal could match")
    with transaction() as session:
        rows = report.reversal_rows(session, start, end)
        AuditTrail.for_operator().record(
            session,
            "reidentification.report",
            outcome="success",
            target_type="reidentification_report",
            target_id=None,
            details={
                "since": None if start is None else start.isoformat(),
                "until": None if end is None else end.isoformat(),
                "rows": len(rows),
                "csv": csv_path is not None,
            },
        )
    if csv_path is not None:
        with csv_path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(report.csv_rows(rows))
    table = Table(
        "request",
        "project",
        "dataset",
        "purpose",
        "subjects",
        "requested by",
        "approved by",
        "CG",
        "executed by",
        "executed (UTC)",
        "action recorded",
        title="Re-identifications",
        caption=f"{len(rows)} reversals",
    )
    for row in rows:
        table.add_row(
            str(row.request_id),
            str(row.project_id),
            row.dataset,
            row.purpose,
            str(row.subjects),
            row.requested_by,
            ", ".join(row.approved_by),
            "yes" if row.caldicott_guardian_approved else "no",
            row.executed_by,
            _when(row.executed_at),
            _when(row.action_recorded_at),
        )
    console.print(table)
