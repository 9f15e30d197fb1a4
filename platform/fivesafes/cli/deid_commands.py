"""`fivesafes deidentify`: one extract through its dataset policy into a de-identified file.

Bad input (malformed CSV, undecodable bytes, undeclared columns, an invalid NHS number
under ``on_invalid: reject_file``) prints the file, line and column on stderr and exits
with status 2; no output file is left behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from fivesafes.cli.runtime import console, err_console, handle_errors
from fivesafes.config import get_settings
from fivesafes.deid.engine import ProgressUpdate, RunOptions, deidentify_file
from fivesafes.deid.optout import OptOutFilter
from fivesafes.deid.policy import Policy, load_policy
from fivesafes.deid.report import DeidReport
from fivesafes.errors import InvalidInputError
from fivesafes.ingestion.optouts import filter_in_force
from fivesafes.keys.open import open_keystore
from fivesafes.keys.store import KeyStore


class Engine(StrEnum):
    """Where the de-identification runs."""

    LOCAL = "local"
    SPARK = "spark"


class SparkFormat(StrEnum):
    """The Spark engine's output formats (part files in the --out directory)."""

    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"


def register(app: typer.Typer) -> None:
    """Add the ``deidentify`` command to the main CLI."""
    app.command("deidentify")(deidentify)


class _Bar:
    """A Rich progress bar fed by the engine's callback.

    Refreshed by the callback rather than by Rich's background thread, so no thread is
    running when the engine forks its worker processes.
    """

    def __init__(self, label: str) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[rows]:>12,} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            auto_refresh=False,
            transient=True,
        )
        self.task: TaskID = self.progress.add_task(label, total=None, rows=0)

    def __call__(self, update: ProgressUpdate) -> None:
        self.progress.update(
            self.task,
            completed=update.units_done,
            total=update.units_total,
            rows=update.rows_done,
        )
        self.progress.refresh()


def _write_report(report: DeidReport, path: Path) -> None:
    """Write the JSON report atomically (no half-written report on failure)."""
    folder = path.parent if str(path.parent) else Path()
    if not folder.is_dir():
        raise InvalidInputError(f"{path}: report folder does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(report.to_json())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@handle_errors
def deidentify(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT",
            help="Extract: .csv, .xlsx, .parquet or .jsonl (--engine spark: or a folder of them)",
        ),
    ],
    policy: Annotated[Path, typer.Option("--policy", help="Dataset policy (YAML)")],
    out: Annotated[Path, typer.Option("--out", help="Output file: .csv, .jsonl or .parquet")],
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=64, help="Worker processes (default: settings)"),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the JSON report here")
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option("--engine", help="local (worker processes) or spark (--out is a directory)"),
    ] = Engine.LOCAL,
    master: Annotated[
        str | None,
        typer.Option("--master", help="Spark master: local[2], spark://..., yarn, k8s://..."),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", min=1, max=1_000_000, help="Spark partitions"),
    ] = None,
    output_format: Annotated[
        SparkFormat | None,
        typer.Option("--format", help="Spark part files: parquet (default), csv or jsonl"),
    ] = None,
) -> None:
    """De-identify an extract according to its dataset policy."""
    settings = get_settings()
    parsed_policy = load_policy(policy)
    if engine is Engine.SPARK:
        if workers is not None:
            raise InvalidInputError("--workers is for the local engine; Spark uses --partitions")
        keystore = open_keystore(settings)
        _deidentify_on_spark(
            input_path,
            parsed_policy,
            out,
            keystore=keystore,
            spark=_SparkChoice(master, partitions, (output_format or SparkFormat.PARQUET).value),
            run=RunOptions(
                spacy_model=settings.spacy_model,
                optouts=_optouts(settings.database_url, keystore),
            ),
            report=report,
        )
        return
    for given, name in ((master, "--master"), (partitions, "--partitions")):
        if given is not None:
            raise InvalidInputError(f"{name} needs --engine spark")
    if output_format is not None:
        raise InvalidInputError(
            "--format needs --engine spark (the local engine takes the format from --out)"
        )
    keystore = open_keystore(settings)
    optouts = _optouts(settings.database_url, keystore)
    bar = _Bar(f"de-identifying {input_path.name}") if sys.stdout.isatty() else None
    try:
        if bar is not None:
            bar.progress.start()
        result = deidentify_file(
            input_path,
            parsed_policy,
            out,
            keystore=keystore,
            options=RunOptions(
                workers=workers if workers is not None else settings.deid_workers,
                progress=bar,
                spacy_model=settings.spacy_model,
                optouts=optouts,
            ),
        )
    finally:
        if bar is not None:
            bar.progress.stop()
    _finish(result, out, report)


def _optouts(database_url: str, keystore: KeyStore) -> OptOutFilter | None:
    """The opt-out list in force in the platform database, applied by both engines."""
    found = filter_in_force(database_url, keystore)
    if found is None:
        err_console.print(
            "no National Data Opt-out list is loaded in the platform database: none applied",
            highlight=False,
            markup=False,
        )
    return found


def _finish(result: DeidReport, out: Path | str, report: Path | None) -> None:
    """The report file, the summary and where the output went (both engines)."""
    if report is not None:
        _write_report(result, report)
    console.print(result.summary(), highlight=False, markup=False)
    if result.rows_rejected:
        err_console.print(
            f"{result.rows_rejected:,} row(s) rejected under the policy; "
            + ("see the report" if report is not None else "use --report for the list"),
            highlight=False,
            markup=False,
        )
    console.print(f"wrote {out}", highlight=False, markup=False)


@dataclass(frozen=True)
class _SparkChoice:
    master: str | None
    partitions: int | None
    output_format: str


def _deidentify_on_spark(
    input_path: Path,
    policy: Policy,
    out: Path,
    *,
    keystore: KeyStore,
    spark: _SparkChoice,
    run: RunOptions,
    report: Path | None,
) -> None:
    """``--engine spark``: the same plan on Spark; PySpark is imported only here."""
    from fivesafes.deid.spark.job import SparkOptions, deidentify_spark  # noqa: PLC0415

    result = deidentify_spark(
        input_path,
        policy,
        str(out),
        keystore=keystore,
        options=SparkOptions(
            master=spark.master,
            partitions=spark.partitions,
            output_format=spark.output_format,
            run=run,
        ),
    )
    _finish(result, out, report)
