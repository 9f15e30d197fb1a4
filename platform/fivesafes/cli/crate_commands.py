"""``fivesafes crate verify FILE.zip --public-key KEY.pem``: check a crate, offline.

The key is the audit verification key ``fivesafes keys export-public --out KEY.pem``
writes (the server signs crates with it). Nothing here opens a socket, a database or a
key store: an assessor runs it on any machine with the zip and the PEM file. Exit 0 and
a table of the checks when the crate is valid; exit 1 naming each failed check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.cli.runtime import console, err_console, handle_errors
from fivesafes.crate.signing import raw_public_key
from fivesafes.crate.verify import Verification, verify_crate
from fivesafes.keys.retired import RetiredKey, attested_chain, read_retired_file

crate_app = typer.Typer(
    help="Five Safes RO-Crates of releases and projects (docs/crates.md).",
    no_args_is_help=True,
)


def checks_table(result: Verification, title: str) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in result.checks:
        shown = "[green]passed[/green]" if check.passed else "[bold red]FAILED[/bold red]"
        table.add_row(check.name, shown, check.detail)
    return table


@crate_app.command("verify")
@handle_errors
def verify(
    file: Annotated[
        Path, typer.Argument(help="The crate zip", exists=True, dir_okay=False, readable=True)
    ],
    public_key: Annotated[
        Path,
        typer.Option(
            "--public-key",
            help="PEM from `fivesafes keys export-public --out KEY.pem`",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    retired_keys: Annotated[
        Path | None,
        typer.Option(
            "--retired-keys",
            help="Retired audit-signing keys (KEY.retired.json, written beside KEY.pem by "
            "`keys export-public` after a rotation) for crates signed before it; trusted "
            "only if attested up to --public-key",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
) -> None:
    """Verify a crate's signature, hashes, members and Five Safes profile properties."""
    key = raw_public_key(public_key.read_bytes())
    retired: tuple[RetiredKey, ...] = ()
    if retired_keys is not None:
        retired = attested_chain(read_retired_file(retired_keys), key, str(retired_keys))
    result = verify_crate(file, key, retired)
    table = checks_table(result, f"{file.name}")
    if result.valid:
        console.print(table)
        signed = result.signed
        subject = signed.get("release_id") or f"project {signed.get('project_id')}"
        console.print(f"{file}: valid {signed.get('kind')} crate ({subject})", highlight=False)
        return
    err_console.print(table)
    for check in result.failed:
        err_console.print(f"FAILED {check.name}: {check.detail}", markup=False, highlight=False)
    raise typer.Exit(1)
