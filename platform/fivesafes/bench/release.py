"""Release throughput through a real server, against PostgreSQL's own COPY.

A generated 1,000,000-row structured extract is ingested into a fresh PostgreSQL database;
a researcher holds a grant on every output column. The bar (issue 7): downloading the
release as CSV and as Parquet from a `fivesafes` server process runs at >= 50% of the
rows/s of ``COPY (SELECT <the same columns> FROM <the version's table>) TO STDOUT``
measured in the same run (psycopg, bytes counted and discarded), with the server's peak
RSS (process tree, sampled from /proc) under 1 GiB. The release does all its work in that
time: reading the rows, the disclosure gate (every patient here is distinct, so a million
patients are counted), project pseudonyms and date shifts, shuffling, CSV/Parquet encoding
and the SHA-256. Each figure is the best of ``--repeats`` timed rounds (COPY, CSV, Parquet
in turn), after one untimed round; since issue 21 the report also gives the spread of the
per-round ratios (each round's release over the same round's COPY). The judged ratio stays
best over best, which always lies within that spread.

Run: ``python -m fivesafes.bench.release [--rows 1000000]`` or ``fivesafes bench release``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import yaml

from fivesafes.access import service as access
from fivesafes.access.models import Grant
from fivesafes.access.policy import load_access_policy
from fivesafes.access.schemas import ProjectIn, RequestIn
from fivesafes.audit.trail import AuditTrail
from fivesafes.bench.databases import temporary_database
from fivesafes.bench.ingestion import server
from fivesafes.bench.memory import PeakSampler
from fivesafes.bench.report import Figure, ratios, spread
from fivesafes.bench.structured import STRUCTURED_POLICY, write_extract
from fivesafes.datasets.models import DatasetVersion
from fivesafes.datasets.service import load_policy_file
from fivesafes.datasets.version_tables import VERSION_SCHEMA
from fivesafes.db import make_engine, make_session_factory, session_scope, utcnow
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role
from fivesafes.ingestion.ingestor import Ingestor, IngestorOptions
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.keys.local import LocalFileKeyStore

TARGET_RATIO = 0.5
FORMATS = ("csv", "parquet")
MAX_PEAK_MB = 1024
COLUMNS = [n for n, c in STRUCTURED_POLICY["columns"].items() if c.get("action") != "drop"]


@dataclass(slots=True)
class Run:
    label: str
    rows: int
    seconds: float
    size: int
    peak_mb: float | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


@dataclass(slots=True)
class ReleaseBenchmark:
    rows: int
    copy: Run | None = None
    releases: list[Run] = field(default_factory=list)
    round_ratios: dict[str, list[float]] = field(default_factory=dict)  # per format

    def ratio(self, run: Run) -> float:
        assert self.copy is not None
        return run.rows_per_second / self.copy.rows_per_second

    def spread(self, run: Run) -> tuple[float, float] | None:
        found = self.round_ratios.get(run.label)
        return spread(found) if found else None

    def figures(self) -> list[Figure]:
        assert self.copy is not None
        found = []
        for r in self.releases:
            found.append(
                Figure(
                    f"release {r.label} / COPY TO, {self.rows:,} rows",
                    r.rows_per_second,
                    "rows/s",
                    "COPY (SELECT ...) TO STDOUT",
                    self.copy.rows_per_second,
                    self.ratio(r),
                    self.spread(r),
                    TARGET_RATIO,
                    context="best of rounds over best of rounds",
                )
            )
            found.append(
                Figure(
                    f"release {r.label} server peak RSS",
                    r.peak_mb or 0.0,
                    "MB",
                    bar=MAX_PEAK_MB,
                    rule="value_below",
                )
            )
        return found

    @property
    def passed(self) -> bool:
        return bool(self.releases) and all(
            self.ratio(r) >= TARGET_RATIO and (r.peak_mb or 0) < MAX_PEAK_MB for r in self.releases
        )

    def render(self) -> str:
        assert self.copy is not None
        c = self.copy
        lines = [
            f"release through a real server, PostgreSQL, {self.rows:,} rows, "
            f"{len(COLUMNS)} columns",
            f"  COPY (SELECT ...) TO STDOUT  {c.seconds:6.2f} s  {c.rows_per_second:>10,.0f} rows/s"
            f"  {c.size / 1e6:7.1f} MB",
        ]
        for r in self.releases:
            ok = self.ratio(r) >= TARGET_RATIO and (r.peak_mb or 0) < MAX_PEAK_MB
            found = self.spread(r)
            rounds = f" (rounds {found[0]:.0%}-{found[1]:.0%})" if found else ""
            lines.append(
                f"  release {r.label:<20} {r.seconds:6.2f} s  {r.rows_per_second:>10,.0f} rows/s"
                f"  {r.size / 1e6:7.1f} MB  {self.ratio(r):5.0%} of COPY{rounds}  "
                f"peak RSS {r.peak_mb or 0:5.0f} MB  {'PASS' if ok else 'FAIL'}"
            )
        lines.append(
            f"  target: >= {TARGET_RATIO:.0%} of COPY rows/s, server peak RSS < {MAX_PEAK_MB} MB"
        )
        return "\n".join(lines)


def _prepare(url: str, folder: Path, rows: int) -> tuple[str, int, str]:
    """Ingest the extract, make a project and a grant; (token, grant id, table name)."""
    policy_path = folder / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(STRUCTURED_POLICY, sort_keys=False), encoding="utf-8")
    extract = folder / "extract.csv"
    write_extract(extract, rows)
    keystore = LocalFileKeyStore(folder / "keys")
    keystore.init()
    trail = AuditTrail.for_operator()
    policy = load_access_policy(Path("policies/access.yaml"))
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        with session_scope(factory) as session:
            load_policy_file(session, trail, policy_path)
        ingestor = Ingestor(factory, keystore, IngestorOptions(workers=2))
        try:
            ingest_file(ingestor, trail, STRUCTURED_POLICY["dataset"], extract)
        finally:
            ingestor.close()
        now = utcnow()
        with session_scope(factory) as session:
            officer = identity.create_user(session, trail, "bench-officer", Role.GOVERNANCE)
            researcher = identity.create_user(session, trail, "bench-researcher", Role.RESEARCHER)
            token = identity.issue_token(
                session, trail, researcher, "bench", timedelta(days=1)
            ).secret
            project = access.create_project(
                session,
                trail,
                policy,
                officer,
                body=ProjectIn(
                    title="Release benchmark",
                    purpose="Measure release throughput against PostgreSQL COPY.",
                    lay_summary="A benchmark on synthetic data.",
                    ethics_ref="n/a",
                    dsa_ref="n/a",
                    lawful_basis="6.1.e-public-task",
                    special_category_condition="9.2.j-archiving-research-statistics",
                    start_date=now.date() - timedelta(days=1),
                    end_date=now.date() + timedelta(days=30),
                    lead=researcher.username,
                    members=[],
                ),
                now=now,
            )
            request = access.create_request(
                session,
                trail,
                policy,
                researcher,
                project_id=project.id,
                body=RequestIn(
                    dataset=STRUCTURED_POLICY["dataset"],
                    columns=COLUMNS,
                    justification="Benchmark of the release path on synthetic data.",
                ),
                now=now,
            )
            access.review_request(
                session,
                trail,
                policy,
                officer,
                request_id=request.id,
                approve=True,
                reason="Benchmark.",
                now=now,
            )
            session.flush()
            grant = session.query(Grant).filter_by(request_id=request.id).one()
            version = session.query(DatasetVersion).one()
            return token, grant.id, version.table_name
    finally:
        engine.dispose()


def _copy_baseline(url: str, table: str, rows: int) -> Run:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        start = time.perf_counter()
        size = 0
        source = f"{VERSION_SCHEMA}.{table}"
        with cursor.copy(f"COPY (SELECT {columns} FROM {source}) TO STDOUT") as copy:  # noqa: S608 - our own names
            for chunk in copy:
                size += len(chunk)
        return Run("COPY", rows, time.perf_counter() - start, size)


def _download(base: str, pid: int, token: str, grant: int, fmt: str) -> tuple[Run, int]:
    auth = {"Authorization": f"Bearer {token}"}
    with PeakSampler(pid) as memory:
        start = time.perf_counter()
        size = 0
        with httpx.stream(
            "GET", f"{base}/grants/{grant}/data", params={"format": fmt}, headers=auth, timeout=600
        ) as response:
            response.raise_for_status()
            rows = int(response.headers["X-Release-Rows"])
            for chunk in response.iter_bytes(1 << 20):
                size += len(chunk)
        seconds = time.perf_counter() - start
    return Run(fmt, rows, seconds, size, memory.peak_mb), rows


def run_release_benchmark(rows: int = 1_000_000, repeats: int = 3) -> ReleaseBenchmark:
    result = ReleaseBenchmark(rows)
    with (
        tempfile.TemporaryDirectory(prefix="fivesafes-bench-release-") as tmp,
        temporary_database("postgresql") as url,
    ):
        folder = Path(tmp)
        token, grant, table = _prepare(url, folder, rows)
        retained = {"FIVESAFES_RELEASE_COPIES_PATH": str(folder / "release-copies")}
        with server(url, folder / "keys", folder / "spool", retained) as (base, pid):
            # One untimed round first (a fresh server's first release pays for its
            # imports and caches; the database's first scan for its buffers), then the
            # timed rounds, interleaved so that a change in the machine's load falls on
            # the baseline and the releases alike. Peak RSS counts every round.
            warm = {fmt: _download(base, pid, token, grant, fmt)[0] for fmt in FORMATS}
            _copy_baseline(url, table, rows)
            copies: list[Run] = []
            runs: dict[str, list[Run]] = {fmt: [] for fmt in FORMATS}
            for _ in range(repeats):
                copies.append(_copy_baseline(url, table, rows))
                for fmt in FORMATS:
                    runs[fmt].append(_download(base, pid, token, grant, fmt)[0])
            result.copy = min(copies, key=lambda r: r.seconds)
            for fmt in FORMATS:
                result.round_ratios[fmt] = ratios(
                    [r.rows_per_second for r in runs[fmt]], [c.rows_per_second for c in copies]
                )
                best = min(runs[fmt], key=lambda r: r.seconds)
                best.peak_mb = max(r.peak_mb or 0 for r in [warm[fmt], *runs[fmt]])
                if best.rows < rows * 0.99:
                    raise RuntimeError(f"release lost rows: {json.dumps(best.rows)}")
                result.releases.append(best)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    bench = run_release_benchmark(args.rows, args.repeats)
    sys.stdout.write(bench.render() + "\n")
    return 0 if bench.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
