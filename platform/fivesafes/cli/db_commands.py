"""`fivesafes db ...`: the schema is made by Alembic migrations and nothing else."""

from __future__ import annotations

import typer

from fivesafes import schema
from fivesafes.cli.runtime import console, handle_errors
from fivesafes.config import get_settings
from fivesafes.db import make_engine

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@db_app.command("upgrade")
@handle_errors
def upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    schema.upgrade(get_settings().database_url, revision)
    console.print(f"database at {revision}")


@db_app.command("current")
@handle_errors
def current() -> None:
    """Show the database's revision and the newest one available."""
    url = get_settings().database_url
    engine = make_engine(url)
    try:
        at = schema.current_revision(engine)
    finally:
        engine.dispose()
    head = schema.head_revision(url)
    state = "up to date" if at == head else "behind: run `fivesafes db upgrade`"
    console.print(f"current: {at or '(empty)'}  head: {head}  ({state})")
