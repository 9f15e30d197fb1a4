"""`fivesafes audit ...`: review, verify and checkpoint the audit trail from the server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from fivesafes.audit import integrity, queries, review
from fivesafes.audit.actors import OPERATOR_PREFIX
from fivesafes.audit.entry import OUTCOMES
from fivesafes.audit.moments import parse_moment
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.trust import parse_public_key, trusted_keys
from fivesafes.audit.verification import VerifyScope
from fivesafes.cli.runtime import EXIT_FAILURE, console, handle_errors, transaction
from fivesafes.config import get_settings
from fivesafes.db import utcnow
from fivesafes.errors import InvalidInputError
from fivesafes.identity.directory import usernames
from fivesafes.identity.passwords import find_user
from fivesafes.keys.open import open_keystore

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
    retired_keys: Annotated[
        Path | None,
        typer.Option(
            help="Retired audit-signing keys (written by `keys export-public`) for checkpoints "
            "signed before a rotation (default: FIVESAFES_AUDIT_RETIRED_KEYS_FILE, else the "
            "key store's); trusted only if attested up to the trusted key"
        ),
    ] = None,
) -> None:
    """Recompute the whole chain; report events verified or the first damage found."""
    settings = get_settings()
    current = None if trusted_key is None else parse_public_key(trusted_key, "--trusted-key")
    # Given the key and the retired keys' file, no key store is needed (an auditor has none).
    retired_given = retired_keys is not None or settings.audit_retired_keys_file is not None
    keystore = None if current is not None and retired_given else open_keystore(settings)
    trusted = trusted_keys(settings, keystore, current=current, retired_file=retired_keys)
    scope = VerifyScope(
        trusted,
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
    keystore = open_keystore(settings)
    publisher = CheckpointPublisher.from_settings(settings)
    with transaction() as session:
        made = integrity.checkpoint(session, AuditTrail.for_operator(), keystore, publisher)
    if out is not None:
        out.write_text(made.to_json(), encoding="utf-8")
        console.print(f"checkpoint at seq {made.seq} written to {out}")
    else:
        sys.stdout.write(made.to_json())


#: How many events ``audit show`` lists unless told: a screenful or two, newest first.
SHOW_LIMIT = 50


@audit_app.command("show")
@handle_errors
def show(
    actor: Annotated[str | None, typer.Option(help="Actor: a username or an actor id")] = None,
    action: Annotated[str | None, typer.Option(help="Action, or a prefix ending in '.'")] = None,
    target_type: Annotated[str | None, typer.Option()] = None,
    target_id: Annotated[str | None, typer.Option()] = None,
    outcome: Annotated[str | None, typer.Option(help="success, denied or failed")] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="From this moment: a span back from now (30m, 24h, 7d, 2w) or a UTC "
            "date or date/time (2026-11-03, 2026-11-03T09:30)"
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Before this moment (same forms as --since)")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=100_000, help="At most this many events, the newest")
    ] = SHOW_LIMIT,
    csv_out: Annotated[
        bool, typer.Option("--csv", help="The same events as CSV (oldest first) on standard output")
    ] = False,
) -> None:
    """List the newest events matching the filters, newest first, actors by username."""
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInputError(f"--outcome {outcome!r}: give success, denied or failed")
    now = utcnow()
    start = parse_moment(since, now, option="--since") if since else None
    end = parse_moment(until, now, option="--until") if until else None
    if start is not None and end is not None and end <= start:
        raise InvalidInputError("--until is not after --since: no event could match")
    with transaction() as session:
        flt = queries.EventFilter(
            _actor_id(session, actor), action, target_type, target_id, outcome, start, end
        )
        request = review.PageRequest(limit, newest_first=True)
        page = review.view_page(session, AuditTrail.for_operator(), flt, usernames, request)
        if csv_out:
            oldest_first = sorted(page.events, key=lambda e: e.seq)
            for chunk in queries.csv_lines([(oldest_first, page.names)]):
                sys.stdout.write(chunk)
            return
        console.print(_events_table(page, flt))


def _actor_id(session: Session, actor: str | None) -> str | None:
    """``--actor`` as stored: a username is looked up (an unknown one matches nothing)."""
    if not actor or actor.startswith(OPERATOR_PREFIX):
        return actor or None
    found = find_user(session, actor)
    return str(found.id) if found is not None else actor


def _events_table(page: review.EventsPage, flt: queries.EventFilter) -> Table:
    shown = f"{len(page.events)} events, newest first"
    if page.next_cursor is not None:
        shown += " (older ones match too: raise --limit or narrow --since)"
    if flt.since is not None:
        shown += f", since {flt.since:%Y-%m-%d %H:%M} UTC"
    table = Table(
        "seq",
        "time (UTC)",
        "actor",
        "role",
        "action",
        "target",
        "outcome",
        title="Audit trail",
        caption=shown,
    )
    for event in page.events:
        table.add_row(
            str(event.seq),
            event.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
            page.names.label(event.actor_id),
            event.actor_role or "-",
            event.action,
            f"{event.target_type or ''}:{event.target_id or ''}".strip(":"),
            event.outcome,
            style=None if event.outcome == "success" else "red",
        )
    return table
