"""`fivesafes users set-password` (the password a user logs in to the web pages with),
`fivesafes users unlock` (forget their failed log-ins), and how `fivesafes serve` runs the
HTTP server."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.runtime import console, handle_errors, transaction
from fivesafes.config import ENV_PREFIX, Settings, load_settings, reset_settings_cache
from fivesafes.errors import InvalidInputError
from fivesafes.identity import login, passwords
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


@handle_errors
def unlock(username: str) -> None:
    """Forget a user's failed web log-ins, so their next correct password works at once.

    Audited (user.unlock). Use it once you know the real user is the one kept waiting:
    failed log-ins are in the audit trail (web.login, denied).
    """
    with transaction() as session:
        forgotten = login.unlock(session, AuditTrail.for_operator(), username)
    console.print(f"unlocked {username} ({forgotten} failed log-in(s) forgotten)")


def register(users_app: typer.Typer) -> None:
    users_app.command("set-password")(set_password)
    users_app.command("unlock")(unlock)


def server_options(settings: Settings, host: str | None, port: int | None) -> dict[str, Any]:
    """uvicorn's options for `fivesafes serve`.

    Headers must arrive within ``header_read_timeout_seconds`` (slowloris). uvicorn's own
    proxy handling is off: X-Forwarded-For is read by the app, from the proxies in
    ``forwarded_allow_ips`` only (``fivesafes.app``), whatever server runs it.
    """
    from fivesafes.httpkit.http_protocol import with_header_timeout  # noqa: PLC0415

    return {
        "factory": True,
        "host": host or settings.host,
        "port": port or settings.port,
        "http": with_header_timeout(settings.header_read_timeout_seconds),
        "proxy_headers": False,
        "server_header": False,
        "timeout_keep_alive": 5,
    }


def trust_proxies(addresses: str) -> None:
    """`serve --forwarded-allow-ips`: the app is built by uvicorn from the environment, so
    the option is passed on as FIVESAFES_FORWARDED_ALLOW_IPS (validated here first)."""
    load_settings(forwarded_allow_ips=addresses)  # refuses what is no address or range
    os.environ[f"{ENV_PREFIX}FORWARDED_ALLOW_IPS"] = addresses
    reset_settings_cache()


def run_server(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the API and the web pages until interrupted."""
    import uvicorn  # noqa: PLC0415 - only this command needs the server

    uvicorn.run("fivesafes.app:create_app", **server_options(settings, host, port))
