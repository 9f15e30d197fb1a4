"""`fivesafes policies|datasets|ingest|optouts ...`: datasets in from the server's shell."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.trust import trusted_keys
from fivesafes.cli.access_commands import As, acting
from fivesafes.cli.runtime import EXIT_INVALID_INPUT, console, handle_errors, transaction
from fivesafes.config import get_settings
from fivesafes.datasets import policy_versions, service, views
from fivesafes.datasets.models import UploadState, VersionState
from fivesafes.db import make_engine, make_session_factory
from fivesafes.deid.engine import ProgressUpdate
from fivesafes.errors import InvalidInputError
from fivesafes.ingestion.deidentified import ingest_deidentified
from fivesafes.ingestion.ingestor import Ingestor, IngestorOptions
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.ingestion.optouts import load_optouts
from fivesafes.keys.open import open_keystore
from fivesafes.release import withdrawal

policies_app = typer.Typer(
    help="Dataset policies (YAML, reviewed like code).", no_args_is_help=True
)
datasets_app = typer.Typer(help="Datasets and their versions.", no_args_is_help=True)
optouts_app = typer.Typer(help="The National Data Opt-out list.", no_args_is_help=True)

DEFAULT_POLICY_DIR = Path("policies/datasets")


@policies_app.command("load")
@handle_errors
def load(
    as_user: Annotated[
        str, typer.Option("--as", help="Username of the admin loading them (recorded as such)")
    ],
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Policy files or folders (default policies/datasets)"),
    ] = None,
) -> None:
    """Validate and store dataset policies as the named admin; a changed policy becomes a
    new policy version. The policy version and its audit event name that admin."""
    files = [f for p in (paths or [DEFAULT_POLICY_DIR]) for f in service.policy_files(p)]
    trail = AuditTrail.for_operator()
    with transaction() as session:  # all or nothing: one bad file loads none
        loaded = policy_versions.load_policy_files_as(session, trail, as_user, files)
    for item in loaded:
        state = "stored" if item.created else "unchanged"
        console.print(
            f"{item.dataset}: policy v{item.version} {state} (sha256 {item.content_sha256[:16]}…)"
        )


@datasets_app.command("list")
@handle_errors
def list_datasets() -> None:
    """Datasets with their sensitivity, policy version and dataset versions."""
    with transaction() as session:
        table = Table(
            "dataset",
            "sensitivity",
            "policy",
            "versions",
            "newest rows",
            "newest state",
            "released as latest",
            "withdrawn",
        )
        for dataset in service.list_datasets(session):
            view = views.dataset_view(session, dataset)
            newest = view.versions[-1] if view.versions else None
            # "latest" for grants is the newest available one (pending_review, rejected and
            # withdrawn versions are never released).
            available = [v.number for v in view.versions if v.state == VersionState.AVAILABLE]
            withdrawn = [str(v.number) for v in view.versions if v.withdrawn_at is not None]
            table.add_row(
                view.name,
                view.sensitivity,
                f"v{view.policy_version}",
                str(len(view.versions)),
                f"{newest.row_count:,}" if newest else "-",
                newest.state if newest else "-",
                f"version {available[-1]}" if available else "none",
                ", ".join(withdrawn) or "-",
            )
        console.print(table)


@datasets_app.command("withdraw")
@handle_errors
def withdraw(
    name: Annotated[str, typer.Argument(help="Dataset name")],
    version: Annotated[int, typer.Argument(min=1, help="Version number")],
    reason: Annotated[
        str, typer.Option(help="Why (shown to researchers whose grants are fixed to it)")
    ],
    as_user: As,
) -> None:
    """Withdraw a version (governance; its uploader before any release): it leaves
    "latest", grants fixed to it stop releasing; its data is kept until a purge."""
    with acting(as_user) as a:
        record = withdrawal.withdraw_version(
            *a.writing, dataset=name, number=version, reason=reason, now=a.now
        )
    assert record.purge_from is not None
    console.print(
        f"{name} version {version} withdrawn; its data is kept for "
        f"{record.retention_days} days (purge allowed from {record.purge_from:%Y-%m-%d %H:%M} UTC)"
    )


@datasets_app.command("purge")
@handle_errors
def purge(
    name: Annotated[str, typer.Argument(help="Dataset name")],
    version: Annotated[int, typer.Argument(min=1, help="Version number")],
    as_user: As,
) -> None:
    """Drop a withdrawn version's data once its policy's withdrawn_retention_days have
    passed (governance); the version's record, report and audit trail stay."""
    with acting(as_user) as a:
        record = withdrawal.purge_version(*a.writing, dataset=name, number=version, now=a.now)
    console.print(
        f"{name} version {version}: data table {record.version.table_name} dropped "
        f"({record.version.row_count:,} rows); the version's record stays"
    )


@optouts_app.command("load")
@handle_errors
def load_opt_outs(
    path: Annotated[Path, typer.Argument(help="One NHS number per line, or a CSV with nhs_number")],
) -> None:
    """Replace the opt-out list in force; only keyed HMACs of the numbers are stored."""
    keystore = open_keystore(get_settings())
    with transaction() as session:
        result = load_optouts(session, AuditTrail.for_operator(), path, keystore)
    console.print(
        f"opt-out list {result.list_id} loaded: {result.entries:,} patients"
        + (f" ({result.duplicates:,} duplicate lines)" if result.duplicates else "")
    )


def ingest(
    dataset: Annotated[str, typer.Option(help="Dataset name (its policy must be loaded)")],
    file: Annotated[
        Path | None, typer.Argument(help="Extract: .csv, .xlsx, .parquet or .jsonl")
    ] = None,
    deidentified: Annotated[
        Path | None,
        typer.Option(
            "--deidentified",
            help="Instead of FILE: a signed hand-over directory (part files and "
            "_fivesafes_manifest.json from `deidentify --engine spark`), loaded as is",
        ),
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes")] = None,
    report: Annotated[Path | None, typer.Option(help="Also write the report as JSON here")] = None,
) -> None:
    """De-identify FILE into a new immutable version of DATASET (as an API upload would),
    or load the verified hand-over directory given by --deidentified."""
    if (file is None) == (deidentified is None):
        raise InvalidInputError("give either FILE or --deidentified DIRECTORY, not both or none")
    if deidentified is not None:
        if workers is not None:
            raise InvalidInputError("--workers: a hand-over is loaded, not de-identified again")
        _ingest_handover(dataset, deidentified, report)
        return
    assert file is not None
    settings = get_settings()
    engine = make_engine(settings.database_url)
    ingestor = Ingestor(
        make_session_factory(engine),
        open_keystore(settings),
        # The server's watchdog judges this upload by the same lease: renew it as often.
        IngestorOptions.from_settings(settings, workers=workers),
    )
    try:
        with _progress_bar(file) as on_progress:
            view = ingest_file(ingestor, AuditTrail.for_operator(), dataset, file, on_progress)
    finally:
        ingestor.close()
        engine.dispose()
    if report is not None and view.report is not None:
        report.write_text(json.dumps(view.report, indent=2, sort_keys=True) + "\n")
    if view.state != UploadState.SUCCEEDED:
        for error in view.errors:
            where = ", ".join(
                str(x)
                for x in (
                    error.file,
                    error.line and f"line {error.line}",
                    error.column and f"column {error.column!r}",
                )
                if x
            )
            console.print(
                f"[bold red]failed[/]: {where + ': ' if where else ''}{error.message}",
                markup=True,
                highlight=False,
            )
        raise typer.Exit(EXIT_INVALID_INPUT)
    assert view.report is not None
    console.print(
        f"{view.dataset} version {view.dataset_version}: {view.report['rows_out']:,} rows "
        f"({view.report['rows_rejected']:,} rejected, "
        f"{view.report['opted_out_excluded']:,} opted out) from {file.name}"
    )


def _ingest_handover(dataset: str, directory: Path, report: Path | None) -> None:
    """Verify a signed hand-over and load it (the CLI reads any path: it is the operator)."""
    settings = get_settings()
    keystore = open_keystore(settings)
    engine = make_engine(settings.database_url)
    try:
        result = ingest_deidentified(
            make_session_factory(engine),
            AuditTrail.for_operator(),
            dataset,
            directory,
            trusted_keys(settings, keystore),
        )
    finally:
        engine.dispose()
    if report is not None:
        report.write_text(json.dumps(result.provenance, indent=2, sort_keys=True) + "\n")
    console.print(
        f"{result.dataset} version {result.version}: {result.rows:,} rows from the signed "
        f"hand-over {directory.name} ({result.provenance['engine']} engine, signed by key "
        f"{result.provenance['signature_fingerprint']})",
        highlight=False,
        markup=False,
    )


@contextmanager
def _progress_bar(file: Path) -> Iterator[Callable[[ProgressUpdate], None]]:
    """A Rich progress bar on a terminal; silent otherwise (CI logs, pipes)."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        disable=not sys.stderr.isatty(),
        console=console,
        # Refreshed from the callback, not a background thread: no thread may be running
        # while the engine forks its workers.
        auto_refresh=False,
    )
    task = progress.add_task(file.name, total=None, rows=0)

    def update(change: ProgressUpdate) -> None:
        progress.update(
            task, completed=change.units_done, total=change.units_total, rows=change.rows_done
        )
        progress.refresh()

    with progress:
        yield update
