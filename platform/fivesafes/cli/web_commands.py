"""`fivesafes users set-password`: the password a user logs in to the web pages with."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.runtime import console, handle_errors, transaction
from fivesafes.errors import InvalidInputError
from fivesafes.identity import passwords
from fivesafes.identity import service as identity


@handle_errors
def set_password(
    username: str,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
    generate: Annotated[
        bool, typer.Option("--generate", help="Make a random password and print it once")
    ] = False,
    clear: Annotated[
        bool, typer.Option("--clear", help="Remove the password (web log-in by token only)")
    ] = False,
) -> None:
    """Set (or clear) a user's web log-in password; only an argon2id hash is stored."""
    if sum((password_stdin, generate, clear)) > 1:
        raise InvalidInputError("use at most one of --password-stdin, --generate and --clear")
    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif generate:
        password = passwords.generate_password()
    elif not clear:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    if password is not None:
        passwords.check_strength(password)  # before the transaction: nothing half-done
    with transaction() as session:
        user = identity.get_user(session, username)
        if password is None:
            passwords.clear_password(session, AuditTrail.for_operator(), user)
            console.print(f"password cleared for {username}")
            return
        passwords.set_password(session, AuditTrail.for_operator(), user, password)
    console.print(f"password set for {username}")
    if generate:
        console.print("password (shown once):")
        console.print(password, highlight=False, markup=False)


def register(users_app: typer.Typer) -> None:
    users_app.command("set-password")(set_password)
