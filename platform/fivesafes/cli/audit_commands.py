"""`fivesafes audit ...`: review, verify and checkpoint the audit trail from the server."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.audit import queries
from fivesafes.audit.checkpoints import load_checkpoint, make_checkpoint
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.verify import verify_chain
from fivesafes.cli.runtime import EXIT_FAILURE, console, handle_errors, transaction
from fivesafes.config import get_settings
from fivesafes.keys.local import LocalFileKeyStore

audit_app = typer.Typer(help="Review and verify the audit trail.", no_args_is_help=True)


@audit_app.command("verify")
@handle_errors
def verify(
    checkpoint: Annotated[
        Path | None, typer.Option(help="An exported checkpoint to check the chain against")
    ] = None,
    trusted_key: Annotated[
        str | None, typer.Option(help="Base64 public key the checkpoint must be signed with")
    ] = None,
) -> None:
    """Recompute the whole chain; report events verified or the first damage found."""
    trusted = load_checkpoint(checkpoint) if checkpoint else None
    with transaction() as session:
        result = verify_chain(session, trusted, trusted_public_key=trusted_key)
        AuditTrail.for_operator().record(
            session,
            "audit.verify",
            details={"ok": result.ok, "events": result.events_verified, "damage": result.damage},
        )
    if result.ok:
        against = f" (checkpoint at {result.checkpoint_seq})" if result.checkpoint_seq else ""
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
        Path | None, typer.Option(help="Write the signed checkpoint to this file")
    ] = None,
) -> None:
    """Sign the chain head now; keep the exported file somewhere the database cannot reach."""
    keystore = LocalFileKeyStore(get_settings().keystore_path)
    with transaction() as session:
        AuditTrail.for_operator().record(session, "audit.checkpoint")
        made = make_checkpoint(session, keystore)
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
        events, _ = queries.page(session, flt, limit=limit)
        AuditTrail.for_operator().record(session, "audit.view", details={"count": len(events)})
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
