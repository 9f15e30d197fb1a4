"""``fivesafes bench``: the de-identification benchmark, and everything at once.

The figures these print are the ones recorded in ``docs/benchmarks.md``; the exit code is
non-zero when a bar is missed, so ``make bench`` fails loudly in CI.
"""

from __future__ import annotations

import importlib.util
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
Rows = Annotated[list[int] | None, typer.Option("--rows", help="Extract sizes to generate (rows).")]
Limit = Annotated[
    int | None, typer.Option("--limit", min=1, help="Only the first N dev notes (quick runs).")
]


PerSeed = Annotated[
    int | None,
    typer.Option(
        "--per-seed", min=1, help="Corpus documents per seed (default 150: a few minutes)."
    ),
]
NoCorpus = Annotated[
    bool, typer.Option("--no-corpus", help="Dev set only: skip the tuning and held-out corpus.")
]


def _run_deid(
    data_dir: Path,
    workers: int,
    limit: int | None,
    corpus: bool = True,
    per_seed: int | None = None,
) -> bool:
    from fivesafes.bench.deid_bench import DEV_CSV, run_deid_benchmark  # noqa: PLC0415
    from fivesafes.bench.deid_corpora import DOCS_PER_SEED  # noqa: PLC0415

    if not (data_dir / DEV_CSV).exists():
        raise ConfigurationError(f"{data_dir / DEV_CSV} not found; pass --data-dir")
    result = run_deid_benchmark(
        data_dir, workers=workers, limit=limit, corpus=corpus, per_seed=per_seed or DOCS_PER_SEED
    )
    console.print(result.render(), highlight=False)
    return result.passed()


@bench_app.command("deid")
@handle_errors
def deid(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    workers: Workers = 2,
    limit: Limit = None,
    per_seed: PerSeed = None,
    no_corpus: NoCorpus = False,
) -> None:
    """Dev set and the tuning/held-out corpus: recall, keep, words kept, speed vs Presidio."""
    if not _run_deid(data_dir, workers, limit, corpus=not no_corpus, per_seed=per_seed):
        raise typer.Exit(1)


def _run_structured(rows: list[int] | None, workers: int) -> bool:
    from fivesafes.bench.structured import run_structured_benchmark  # noqa: PLC0415

    result = run_structured_benchmark(tuple(rows or (10_000, 100_000)), workers, repeats=3)
    console.print(result.render(), highlight=False)
    return result.passed


Dialects = Annotated[
    list[str] | None,
    typer.Option("--dialect", help="Database kinds (postgresql, sqlite; default both)."),
]
Keystores = Annotated[
    list[str] | None,
    typer.Option(
        "--keystore",
        help="Key stores (local, pkcs11 on a throw-away SoftHSM2 token; default both).",
    ),
]


Repeats = Annotated[
    int,
    typer.Option(
        "--repeats", min=1, help="Rounds per key store, alternating; the best of each is kept."
    ),
]


def _run_ingestion(
    rows: list[int] | None,
    dialects: list[str] | None = None,
    keystores: list[str] | None = None,
    repeats: int = 1,
) -> bool:
    from fivesafes.bench.ingestion import KEYSTORES, run_ingestion_benchmark  # noqa: PLC0415

    for dialect in dialects or ():
        if dialect not in ("postgresql", "sqlite"):
            raise ConfigurationError(f"--dialect: {dialect!r} is not postgresql or sqlite")
    for keystore in keystores or ():
        if keystore not in KEYSTORES:
            raise ConfigurationError(
                f"--keystore: {keystore!r} is not one of {', '.join(KEYSTORES)}"
            )
    result = run_ingestion_benchmark(
        (rows or [1_000_000])[0],
        tuple(dialects or ("postgresql", "sqlite")),
        tuple(keystores or KEYSTORES),
        repeats,
    )
    console.print(result.render(), highlight=False)
    return result.passed


def _run_audit() -> bool:
    from fivesafes.bench.audit import TARGET_RATIO, run_audit_benchmark  # noqa: PLC0415

    passed = True
    for dialect in ("postgresql", "sqlite"):
        result = run_audit_benchmark(dialect)
        console.print(result.render(), highlight=False)
        passed = passed and result.ratio >= TARGET_RATIO
    return passed


def _run_release(rows: list[int] | None) -> bool:
    from fivesafes.bench.release import run_release_benchmark  # noqa: PLC0415

    result = run_release_benchmark((rows or [1_000_000])[0])
    console.print(result.render(), highlight=False, soft_wrap=True)
    return result.passed


Notes = Annotated[
    int, typer.Option("--notes", min=1, help="Free-text rows: the dev notes, cycled to N.")
]
SparkRows = Annotated[
    int, typer.Option("--rows", min=1, help="Rows of the generated structured extract.")
]
SparkRepeats = Annotated[
    int,
    typer.Option(
        "--repeats", min=1, help="Rounds per engine, alternating; the best of each is kept."
    ),
]


def _run_spark(data_dir: Path, notes: int = 2000, rows: int = 1_000_000, repeats: int = 2) -> bool:
    from fivesafes.bench.deid_bench import DEV_CSV  # noqa: PLC0415
    from fivesafes.bench.spark_bench import run_spark_benchmark  # noqa: PLC0415

    if importlib.util.find_spec("pyspark") is None:
        raise ConfigurationError("pyspark is not installed (the spark extra)")
    if not (data_dir / DEV_CSV).exists():
        raise ConfigurationError(f"{data_dir / DEV_CSV} not found; pass --data-dir")
    result = run_spark_benchmark(data_dir, notes=notes, rows=rows, repeats=repeats)
    console.print(result.render(), highlight=False, soft_wrap=True)
    return result.passed


@bench_app.command("spark")
@handle_errors
def spark(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    notes: Notes = 2000,
    rows: SparkRows = 1_000_000,
    repeats: SparkRepeats = 2,
) -> None:
    """Spark engine on local[2] vs the local engine with 2 workers: free-text dev notes and
    a generated structured extract; warm rows/s, their ratio, peak RSS of each run's tree."""
    if not _run_spark(data_dir, notes, rows, repeats):
        raise typer.Exit(1)


@bench_app.command("release")
@handle_errors
def release(rows: Rows = None) -> None:
    """Release (CSV, Parquet) through a real server vs PostgreSQL COPY of the same columns."""
    if not _run_release(rows):
        raise typer.Exit(1)


@bench_app.command("structured")
@handle_errors
def structured(rows: Rows = None, workers: Workers = 2) -> None:
    """Structured-only engine throughput (rows/s) and peak RSS at 10k and 100k rows."""
    if not _run_structured(rows, workers):
        raise typer.Exit(1)


@bench_app.command("ingestion")
@handle_errors
def ingestion(
    rows: Rows = None,
    dialect: Dialects = None,
    keystore: Keystores = None,
    repeats: Repeats = 1,
) -> None:
    """Upload-to-version throughput through a real server: PostgreSQL and SQLite, each
    with the local key store and the PKCS#11 one (skipped, saying why, without SoftHSM2)."""
    if not _run_ingestion(rows, dialect, keystore, repeats):
        raise typer.Exit(1)


@bench_app.command("audit")
@handle_errors
def audit() -> None:
    """An audited endpoint's throughput with and without audit recording."""
    if not _run_audit():
        raise typer.Exit(1)


@bench_app.command("all")
@handle_errors
def run_all(
    data_dir: DataDir = DEFAULT_DATA_DIR, workers: Workers = 2, limit: Limit = None
) -> None:
    """Every benchmark: de-identification, structured engine, ingestion, audit overhead,
    releases, and the Spark engine against the local one (when pyspark is installed)."""
    results = {
        "deid": _run_deid(data_dir, workers, limit),
        "structured": _run_structured(None, workers),
        "ingestion": _run_ingestion(None),
        "audit": _run_audit(),
        "release": _run_release(None),
    }
    if importlib.util.find_spec("pyspark") is not None:
        results["spark"] = _run_spark(data_dir)
    else:
        console.print("spark: skipped (pyspark is not installed: the spark extra)")
    failed = [name for name, ok in results.items() if not ok]
    if failed:
        console.print(f"bars missed: {', '.join(failed)}")
        raise typer.Exit(1)
