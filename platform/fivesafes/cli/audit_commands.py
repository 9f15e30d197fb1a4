"""`fivesafes audit ...`: review, verify and checkpoint the audit trail from the server."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.audit import integrity, queries, review
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.trust import parse_public_key, trusted_public_key
from fivesafes.audit.verification import VerifyScope
from fivesafes.cli.runtime import EXIT_FAILURE, console, handle_errors, transaction
from fivesafes.config import get_settings
from fivesafes.keys.local import LocalFileKeyStore

audit_app = typer.Typer(help="Review and verify the audit trail.", no_args_is_help=True)


@audit_app.command("verify")
@handle_errors
def verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="A checkpoint file kept elsewhere to check the chain against"),
    ] = None,
    export: Annotated[
        list[Path] | None,
        typer.Option(help="An audit CSV export kept elsewhere: every event must still be there"),
    ] = None,
    trusted_key: Annotated[
        str | None,
        typer.Option(
            help="Base64 public key checkpoints must be signed with "
            "(default: FIVESAFES_AUDIT_PUBLIC_KEY, else the key store's)"
        ),
    ] = None,
    database_only: Annotated[
        bool,
        typer.Option(help="Ignore the published checkpoint folder (database checkpoints only)"),
    ] = False,
) -> None:
    """Recompute the whole chain; report events verified or the first damage found."""
    settings = get_settings()
    if trusted_key is not None:
        key = parse_public_key(trusted_key, "--trusted-key")
    else:
        key = trusted_public_key(settings, LocalFileKeyStore(settings.keystore_path))
    scope = VerifyScope(
        key,
        settings.audit_checkpoint_dir,
        against="database" if database_only else "published",
        files=checkpoint or (),
        exports=export or (),
    )
    with transaction() as session:
        result = integrity.verify(session, AuditTrail.for_operator(), scope)
    if result.ok:
        against = (
            f" against {result.checkpoints_checked} checkpoints and copies "
            f"(up to seq {result.checkpoint_seq})"
            if result.checkpoint_seq
            else " (no checkpoint to check against)"
        )
        console.print(f"[green]OK[/]: {result.events_verified} events verified{against}")
        return
    console.print(
        f"[bold red]DAMAGED[/]: {result.damage} at seq {result.first_bad_seq}: {result.message} "
        f"({result.events_verified} events verified before it)"
    )
    raise typer.Exit(EXIT_FAILURE)


@audit_app.command("checkpoint")
@handle_errors
def checkpoint(
    out: Annotated[
        Path | None, typer.Option(help="Also write the signed checkpoint to this file")
    ] = None,
) -> None:
    """Verify since the last checkpoint, sign the head, publish it to the checkpoint folder."""
    settings = get_settings()
    keystore = LocalFileKeyStore(settings.keystore_path)
    publisher = CheckpointPublisher.from_settings(settings)
    with transaction() as session:
        made = integrity.checkpoint(session, AuditTrail.for_operator(), keystore, publisher)
    if out is not None:
        out.write_text(made.to_json(), encoding="utf-8")
        console.print(f"checkpoint at seq {made.seq} written to {out}")
    else:
        sys.stdout.write(made.to_json())


@audit_app.command("show")
@handle_errors
def show(
    actor: Annotated[str | None, typer.Option(help="Actor id")] = None,
    action: Annotated[str | None, typer.Option(help="Action, or a prefix ending in '.'")] = None,
    target_type: Annotated[str | None, typer.Option()] = None,
    target_id: Annotated[str | None, typer.Option()] = None,
    outcome: Annotated[str | None, typer.Option(help="success, denied or failed")] = None,
    since: Annotated[datetime | None, typer.Option(help="From this UTC time")] = None,
    until: Annotated[datetime | None, typer.Option(help="Before this UTC time")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many events")] = 100,
    csv_out: Annotated[bool, typer.Option("--csv", help="CSV on standard output")] = False,
) -> None:
    """List events matching the filters, oldest first."""
    flt = queries.EventFilter(
        actor,
        action,
        target_type,
        target_id,
        outcome,
        since.replace(tzinfo=UTC) if since and since.tzinfo is None else since,
        until.replace(tzinfo=UTC) if until and until.tzinfo is None else until,
    )
    with transaction() as session:
        events, _ = review.view_page(session, AuditTrail.for_operator(), flt, after=0, limit=limit)
        if csv_out:
            for chunk in queries.csv_lines(iter(events)):
                sys.stdout.write(chunk)
            return
        table = Table("seq", "time (UTC)", "actor", "role", "action", "target", "outcome")
        for event in events:
            table.add_row(
                str(event.seq),
                event.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                event.actor_id or "-",
                event.actor_role or "-",
                event.action,
                f"{event.target_type or ''}:{event.target_id or ''}".strip(":"),
                event.outcome,
            )
        console.print(table)
