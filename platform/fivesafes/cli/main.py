"""The `fivesafes` command."""

from __future__ import annotations

from typing import Annotated

import typer

from fivesafes.cli import (
    closeout_commands,
    deid_commands,
    login_commands,
    policy_commands,
    release_commands,
    web_commands,
)
from fivesafes.cli.access_commands import projects_app
from fivesafes.cli.access_commands import register as register_access
from fivesafes.cli.audit_commands import audit_app
from fivesafes.cli.bench_commands import bench_app
from fivesafes.cli.crate_commands import crate_app
from fivesafes.cli.dataset_commands import datasets_app, ingest, optouts_app, policies_app
from fivesafes.cli.db_commands import db_app
from fivesafes.cli.identity_commands import tokens_app, users_app
from fivesafes.cli.keys_commands import keys_app
from fivesafes.cli.reidentification_commands import reidentification_app
from fivesafes.cli.runtime import console, handle_errors
from fivesafes.config import get_settings
from fivesafes.provisioning import initialise

app = typer.Typer(
    name="fivesafes",
    help="Secure research data platform: de-identify, govern, release, audit.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold raw identifiers
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
web_commands.register(users_app)
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")
app.add_typer(policies_app, name="policies")
policy_commands.register(policies_app)
app.add_typer(datasets_app, name="datasets")
app.add_typer(optouts_app, name="optouts")
app.command("ingest")(handle_errors(ingest))
app.add_typer(keys_app, name="keys")
app.add_typer(bench_app, name="bench")
app.add_typer(reidentification_app, name="reidentification")
app.add_typer(crate_app, name="crate")
deid_commands.register(app)
register_access(app)
closeout_commands.register(projects_app)
release_commands.register(app)
login_commands.register(app)


@app.command()
@handle_errors
def init(
    admin: Annotated[str, typer.Option(help="Username of the first administrator")] = "admin",
) -> None:
    """Create the database schema and the first admin; print the admin token once."""
    result = initialise(get_settings(), admin)
    console.print(f"database ready; first admin: {result.admin_username}")
    console.print("admin token (shown once, store it safely):")
    console.print(result.admin_token, highlight=False, soft_wrap=True)


@app.command()
@handle_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings)")] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            "--forwarded-allow-ips",
            help="Reverse proxies (addresses or CIDR, comma-separated) whose X-Forwarded-For "
            "is believed (default: FIVESAFES_FORWARDED_ALLOW_IPS, empty: none)",
        ),
    ] = None,
) -> None:
    """Serve the API (and web pages) with uvicorn."""
    if forwarded_allow_ips is not None:
        web_commands.trust_proxies(forwarded_allow_ips)
    web_commands.run_server(get_settings(), host, port)


@app.command()
@handle_errors
def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Prepare only")] = False,
) -> None:
    """Set up the embedded demo (database, keys, users, sample data) and serve it."""
    from fivesafes.demo.running import only_demo  # noqa: PLC0415
    from fivesafes.demo.setup import prepare_demo  # noqa: PLC0415

    settings = get_settings()
    # Before anything is touched: a second demo would reset the first one's passwords.
    with only_demo(settings, serving=not no_serve):
        state = prepare_demo(settings)
        for note in state.notes:
            console.print(note)
        console.print(f"\n[bold]fivesafes demo[/] on http://{settings.host}:{settings.port}")
        console.print("Log in with one of these bearer tokens (valid for one day):")
        for username, token in state.tokens.items():
            console.print(f"  {username:<11} {token}", highlight=False)
        console.print(
            f"\nWeb pages: http://{settings.host}:{settings.port}/web/ (username, password):"
        )
        for username, password in state.passwords.items():
            console.print(f"  {username:<11} {password}", highlight=False, markup=False)
        console.print(
            f"\nTry: curl -H 'Authorization: Bearer <token>' http://{settings.host}:{settings.port}/me"
            f"\nAPI documentation: http://{settings.host}:{settings.port}/docs\n"
        )
        if not no_serve:
            serve(None, None)
