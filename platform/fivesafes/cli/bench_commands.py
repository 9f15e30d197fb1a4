"""``fivesafes bench``: every benchmark, each against a baseline measured in the same run.

The figures these print are the ones recorded in ``docs/benchmarks.md``; the exit code is
non-zero when a bar is missed, so ``make bench`` fails loudly in CI. Every bar is on a
ratio to a same-run baseline (issue 21), so it means the same on a quiet machine and a
loaded one; a run under load says so. Each command merges its figures into
``var/bench/latest.json`` under its own name (see :mod:`fivesafes.bench.report`) and
prints one table; ``bench all`` prints one table of everything at the end.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fivesafes.cli.runtime import console, handle_errors
from fivesafes.errors import ConfigurationError

if TYPE_CHECKING:
    from fivesafes.bench.report import Figure, Report

bench_app = typer.Typer(
    help="Benchmarks, each a ratio to a baseline measured in the same run.",
    no_args_is_help=True,
)

#: Reports of this process's bench commands, in order (``bench all`` tabulates them).
_REPORTS: list[Report] = []


def _measured(
    bench: str, options: dict[str, Any], run: Callable[[Report], tuple[str, list[Figure], bool]]
) -> bool:
    """Run one bench inside a :class:`Report`: its text, the load, the JSON, the table.

    ``run`` returns the bench's own text, its figures and its own verdict (which may hold
    bars that are not figures, like the de-identification quality bars); it may add
    notes to the report (why a part was skipped).
    """
    from fivesafes.bench.report import Report, table, write_latest  # noqa: PLC0415

    report = Report(bench, options)
    text, figures, passed = run(report)
    report.figures = figures
    report.finish()
    console.print(text, highlight=False, soft_wrap=True)
    for warning in report.warnings():
        console.print(warning, style="bold yellow", highlight=False)
    path = write_latest(report)
    console.print(table([report]))
    console.print(f"figures written to {path}", highlight=False)
    _REPORTS.append(report)
    return passed and report.passed


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


Rounds = Annotated[
    int | None, typer.Option("--rounds", min=1, help="Timed rounds (each gives a ratio).")
]


def _run_deid(
    data_dir: Path,
    workers: int,
    limit: int | None,
    corpus: bool = True,
    per_seed: int | None = None,
    rounds: int | None = None,
) -> bool:
    from fivesafes.bench.deid_bench import DEV_CSV, ROUNDS, run_deid_benchmark  # noqa: PLC0415
    from fivesafes.bench.deid_corpora import DOCS_PER_SEED  # noqa: PLC0415

    if not (data_dir / DEV_CSV).exists():
        raise ConfigurationError(f"{data_dir / DEV_CSV} not found; pass --data-dir")
    options = {"workers": workers, "limit": limit, "corpus": corpus, "rounds": rounds or ROUNDS}

    def run(report: Report) -> tuple[str, list[Figure], bool]:
        result = run_deid_benchmark(
            data_dir,
            workers=workers,
            limit=limit,
            corpus=corpus,
            per_seed=per_seed or DOCS_PER_SEED,
            rounds=rounds or ROUNDS,
        )
        return result.render(), result.figures(), result.passed()

    return _measured("deid", options, run)


@bench_app.command("deid")
@handle_errors
def deid(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    workers: Workers = 2,
    limit: Limit = None,
    per_seed: PerSeed = None,
    no_corpus: NoCorpus = False,
    rounds: Rounds = None,
) -> None:
    """Dev set and the tuning/held-out corpus: recall, keep, words kept, speed vs plain
    Presidio and against the spaCy NER-only ceiling (same notes, same workers)."""
    if not _run_deid(data_dir, workers, limit, not no_corpus, per_seed, rounds):
        raise typer.Exit(1)


def _run_structured(rows: list[int] | None, workers: int, rounds: int | None = None) -> bool:
    from fivesafes.bench.structured import DEFAULT_ROWS, run_structured_benchmark  # noqa: PLC0415

    sizes = tuple(rows or DEFAULT_ROWS)
    options = {"rows": list(sizes), "workers": workers, "rounds": rounds or 3}

    def run(report: Report) -> tuple[str, list[Figure], bool]:
        result = run_structured_benchmark(sizes, workers, repeats=rounds or 3)
        return result.render(), result.figures(), result.passed

    return _measured("structured", options, run)


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
    count = (rows or [1_000_000])[0]
    chosen_dialects = tuple(dialects or ("postgresql", "sqlite"))
    chosen_stores = tuple(keystores or KEYSTORES)
    options = {
        "rows": count,
        "dialects": list(chosen_dialects),
        "keystores": list(chosen_stores),
        "repeats": repeats,
    }

    def run(report: Report) -> tuple[str, list[Figure], bool]:
        result = run_ingestion_benchmark(count, chosen_dialects, chosen_stores, repeats)
        if result.pkcs11_skipped is not None:
            report.notes.append(f"pkcs11: skipped ({result.pkcs11_skipped})")
        return result.render(), result.figures(), result.passed

    return _measured("ingestion", options, run)


def _run_audit(
    rounds: int | None = None, requests: int | None = None, dialects: list[str] | None = None
) -> bool:
    from fivesafes.bench.audit import run_audit_benchmark  # noqa: PLC0415

    chosen = dialects or ["postgresql", "sqlite"]
    for dialect in chosen:
        if dialect not in ("postgresql", "sqlite"):
            raise ConfigurationError(f"--dialect: {dialect!r} is not postgresql or sqlite")
    options = {"rounds": rounds or 7, "requests": requests or 1000, "dialects": chosen}

    def run(report: Report) -> tuple[str, list[Figure], bool]:
        results = [
            run_audit_benchmark(dialect, requests=requests or 1000, rounds=rounds or 7)
            for dialect in chosen
        ]
        text = "\n".join(r.render() for r in results)
        return text, [r.figure() for r in results], all(r.passed for r in results)

    return _measured("audit", options, run)


def _run_release(rows: list[int] | None, rounds: int | None = None) -> bool:
    from fivesafes.bench.release import run_release_benchmark  # noqa: PLC0415

    count = (rows or [1_000_000])[0]
    options = {"rows": count, "rounds": rounds or 3}

    def run(report: Report) -> tuple[str, list[Figure], bool]:
        result = run_release_benchmark(count, rounds or 3)
        return result.render(), result.figures(), result.passed

    return _measured("release", options, run)


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
    options = {"notes": notes, "rows": rows, "repeats": repeats}

    def run(report: Report) -> tuple[str, list[Figure], bool]:
        result = run_spark_benchmark(data_dir, notes=notes, rows=rows, repeats=repeats)
        return result.render(), result.figures(), result.passed

    return _measured("spark", options, run)


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
def release(rows: Rows = None, rounds: Rounds = None) -> None:
    """Release (CSV, Parquet) through a real server vs PostgreSQL COPY of the same columns,
    best over best and the spread of the rounds' ratios."""
    if not _run_release(rows, rounds):
        raise typer.Exit(1)


@bench_app.command("structured")
@handle_errors
def structured(rows: Rows = None, workers: Workers = 2, rounds: Rounds = None) -> None:
    """Structured-only engine against the I/O floor (pyarrow CSV read + write of the same
    file, same process), and peak RSS at 100k and 1M rows."""
    if not _run_structured(rows, workers, rounds):
        raise typer.Exit(1)


@bench_app.command("ingestion")
@handle_errors
def ingestion(
    rows: Rows = None,
    dialect: Dialects = None,
    keystore: Keystores = None,
    repeats: Repeats = 1,
) -> None:
    """Upload-to-version throughput through a real server against PostgreSQL COPY FROM of
    the same rows and the engine alone on the same file: PostgreSQL and SQLite, each with
    the local key store and the PKCS#11 one (skipped, saying why, without SoftHSM2)."""
    if not _run_ingestion(rows, dialect, keystore, repeats):
        raise typer.Exit(1)


Requests = Annotated[
    int | None, typer.Option("--requests", min=4, help="Requests per variant per round.")
]


@bench_app.command("audit")
@handle_errors
def audit(rounds: Rounds = None, requests: Requests = None, dialect: Dialects = None) -> None:
    """An audited endpoint's throughput with and without audit recording, interleaved
    within each round; the median ratio and its spread."""
    if not _run_audit(rounds, requests, dialect):
        raise typer.Exit(1)


@bench_app.command("all")
@handle_errors
def run_all(
    data_dir: DataDir = DEFAULT_DATA_DIR, workers: Workers = 2, limit: Limit = None
) -> None:
    """Every benchmark: de-identification, structured engine, ingestion, audit overhead,
    releases, and the Spark engine against the local one (when pyspark is installed);
    one table of every ratio at the end, and var/bench/latest.json."""
    from fivesafes.bench.report import Report, load_warning, table, write_latest  # noqa: PLC0415

    whole = Report("all", {"workers": workers, "limit": limit})
    first = len(_REPORTS)
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
        whole.notes.append("spark: skipped (pyspark is not installed)")
    whole.finish()
    reports = _REPORTS[first:]
    whole.figures = [f for r in reports for f in r.figures]
    write_latest(whole)
    console.print(table(reports))
    for warning in whole.warnings():
        console.print(warning, style="bold yellow", highlight=False)
    if whole.load_after is not None and load_warning(whole.load_after, whole.cores) is None:
        console.print(
            f"load average {whole.load_before[0]:.2f} before, {whole.load_after[0]:.2f} after "
            f"({whole.cores} cores)",
            highlight=False,
        )
    failed = [name for name, ok in results.items() if not ok]
    if failed:
        console.print(f"bars missed: {', '.join(failed)}")
        raise typer.Exit(1)
