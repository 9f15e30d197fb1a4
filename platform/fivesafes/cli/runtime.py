"""What every command needs: settings, a transaction, and errors turned into exit codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from fivesafes.config import get_settings
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.errors import FivesafesError, InvalidInputError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
err_console = Console(stderr=True)

EXIT_INVALID_INPUT = 2
EXIT_FAILURE = 1


@contextmanager
def transaction() -> Iterator[Session]:
    """One committed-or-rolled-back transaction against the configured database."""
    engine = make_engine(get_settings().database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a domain error's message (never a traceback) and exit non-zero."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except FivesafesError as exc:
            err_console.print(f"error ({exc.code}): ", style="bold red", end="")
            # The message is plain text: brackets in it are not Rich markup.
            err_console.print(exc.message, markup=False, highlight=False)
            code = EXIT_INVALID_INPUT if isinstance(exc, InvalidInputError) else EXIT_FAILURE
            raise typer.Exit(code) from None

    return wrapper
