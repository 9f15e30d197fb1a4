"""``fivesafes bench``: the de-identification benchmark, and everything at once.

The figures these print are the ones recorded in ``docs/benchmarks.md``; the exit code is
non-zero when a bar is missed, so ``make bench`` fails loudly in CI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fivesafes.cli.runtime import console, handle_errors
from fivesafes.errors import ConfigurationError

bench_app = typer.Typer(
    help="Benchmarks: de-identification quality and speed.", no_args_is_help=True
)

DEFAULT_DATA_DIR = Path("../shared/benchmarks")

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="Folder holding deid/ and external/ benchmark data.")
]
Workers = Annotated[int, typer.Option("--workers", min=1, help="Scrubber worker processes.")]
Limit = Annotated[
    int | None, typer.Option("--limit", min=1, help="Only the first N dev notes (quick runs).")
]


def _run_deid(data_dir: Path, workers: int, limit: int | None) -> bool:
    from fivesafes.bench.deid_bench import DEV_CSV, run_deid_benchmark  # noqa: PLC0415

    if not (data_dir / DEV_CSV).exists():
        raise ConfigurationError(f"{data_dir / DEV_CSV} not found; pass --data-dir")
    result = run_deid_benchmark(data_dir, workers=workers, limit=limit)
    console.print(result.render(), highlight=False)
    return result.passed()


@bench_app.command("deid")
@handle_errors
def deid(data_dir: DataDir = DEFAULT_DATA_DIR, workers: Workers = 2, limit: Limit = None) -> None:
    """Dev-set quality, plain Presidio vs the scrubber (notes/s, ratio), external recall."""
    if not _run_deid(data_dir, workers, limit):
        raise typer.Exit(1)


@bench_app.command("all")
@handle_errors
def run_all(
    data_dir: DataDir = DEFAULT_DATA_DIR, workers: Workers = 2, limit: Limit = None
) -> None:
    """The de-identification benchmark, then the structured-extract benchmark if present."""
    ok = _run_deid(data_dir, workers, limit)
    try:
        from fivesafes.bench.structured import run_structured_benchmark  # noqa: PLC0415
    except ImportError:
        console.print("structured benchmark not available; skipped")
    else:
        console.print(run_structured_benchmark().render(), highlight=False)
    if not ok:
        raise typer.Exit(1)
