"""`fivesafes projects close|closeout-sweep`: project close-out from the shell.

``close`` acts as a named user (``--as``), through the same service and ``decide`` as
``POST /projects/{id}/close``. ``closeout-sweep`` is what each API server runs every
``closeout_sweep_interval_seconds``, for sites that prefer cron (or run no server): it
is idempotent, so running it beside the servers records nothing twice.
"""

from __future__ import annotations

import typer

from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.access_commands import As, Reason, acting
from fivesafes.cli.runtime import console, handle_errors, transaction
from fivesafes.closeout import service
from fivesafes.closeout.sweep import sweep
from fivesafes.config import get_settings
from fivesafes.db import utcnow


def register(projects_app: typer.Typer) -> None:
    projects_app.command("close")(close_project)
    projects_app.command("closeout-sweep")(closeout_sweep)


@handle_errors
def close_project(
    as_user: As,
    reason: Reason,
    project_id: int = typer.Argument(metavar="PROJECT_ID", help="The project's id"),
) -> None:
    """Close a project before its end date (its lead or governance): grants stop now."""
    with acting(as_user) as a:
        project = service.request_close(
            a,
            project_id=project_id,
            reason=reason,
            copies_folder=get_settings().release_copies_path,
        )
        console.print(f"project {project.id} is {project.state}")


@handle_errors
def closeout_sweep() -> None:
    """Move projects past their end date to closing; record overdue attestations."""
    settings = get_settings()
    with transaction() as session:
        result = sweep(
            session,
            AuditTrail.for_operator(),
            utcnow(),
            days=settings.closeout_attestation_days,
            copies_folder=settings.release_copies_path,
        )
    console.print(
        f"{len(result.closing)} projects began closing; "
        f"{len(result.overdue_recorded)} overdue projects recorded"
    )
