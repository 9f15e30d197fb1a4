"""`fivesafes policies draft`: a starter policy for a new extract, for people to review.

It reads a sample of the extract and writes YAML; it never opens the database, so it
can be run on an extract before anything about its dataset exists.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.cli.runtime import console, err_console, handle_errors
from fivesafes.config import get_settings
from fivesafes.deid.column_profile import DEFAULT_SAMPLE_ROWS, MAX_SAMPLE_ROWS
from fivesafes.deid.policy_draft import draft_policy, engine_scrubber, summary_rows
from fivesafes.errors import InvalidInputError


def register(policies: typer.Typer) -> None:
    policies.command("draft")(handle_errors(draft))


def draft(
    extract: Annotated[Path, typer.Argument(help="Extract: .csv, .xlsx, .parquet or .jsonl")],
    out: Annotated[
        Path | None, typer.Option(help="Write the draft here (default: standard output)")
    ] = None,
    sample_rows: Annotated[
        int,
        typer.Option(min=1, max=MAX_SAMPLE_ROWS, help="Rows read from the start of the extract"),
    ] = DEFAULT_SAMPLE_ROWS,
    dataset: Annotated[
        str | None, typer.Option(help="Dataset name (default: from the file name)")
    ] = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of a CSV or JSONL")] = "utf-8",
    force: Annotated[bool, typer.Option(help="Overwrite --out if it exists")] = False,
) -> None:
    """Propose a policy for EXTRACT from a sample: each column's type and role, with the
    evidence (counts and detected types, never values), every proposal marked REVIEW:."""
    if out is not None and out.exists() and not force:
        raise InvalidInputError(
            f"{out}: already exists (use --force to overwrite it)", code="draft_exists"
        )
    proposed = draft_policy(
        extract,
        engine_scrubber(get_settings().spacy_model),
        dataset=dataset,
        sample_rows=sample_rows,
        encoding=encoding,
    )
    text = proposed.to_yaml()
    report = console if out is not None else err_console
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _write(out, text, force=force)
    table = Table("column", "type", f"proposed (REVIEW every one; {proposed.rows_sampled} rows)")
    for row in summary_rows(proposed):
        table.add_row(*row)
    report.print(table)
    if out is not None:
        report.print(f"draft for dataset {proposed.dataset!r} written to {out}: review it, then")
        report.print(f"  fivesafes policies load {out} --as ADMIN")


def _write(out: Path, text: str, *, force: bool) -> None:
    """Write the whole draft or nothing: a temporary file beside it, then renamed over."""
    partial = out.with_name(f".{out.name}.draft-{os.getpid()}")
    try:
        with partial.open("x", encoding="utf-8") as handle:
            handle.write(text)
        if force:
            partial.replace(out)
        else:
            try:
                os.link(partial, out)  # fails if the file appeared meanwhile
            except FileExistsError:
                raise InvalidInputError(
                    f"{out}: already exists (use --force to overwrite it)", code="draft_exists"
                ) from None
    except OSError as exc:
        raise InvalidInputError(f"{out}: cannot write the draft: {exc.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
