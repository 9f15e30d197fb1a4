"""Ingestion throughput, end to end: upload to committed version, through a real server.

A generated structured-only extract (no free text) is POSTed to a `fivesafes` server
process as a streamed multipart upload; the clock runs from the first byte sent until
``GET /uploads/{id}`` reports ``succeeded`` (the version committed). Peak memory is the
server's whole process tree (server plus its de-identification workers), sampled from
/proc. Target (issue 4): >= 50,000 rows/s into PostgreSQL with peak RSS under 1 GiB;
SQLite is reported alongside.

Run: ``python -m fivesafes.bench.ingestion [--rows 1000000] [--dialect postgresql sqlite]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import yaml

from fivesafes.audit.trail import AuditTrail
from fivesafes.bench.databases import temporary_database
from fivesafes.bench.memory import PeakSampler
from fivesafes.bench.servers import uvicorn_server
from fivesafes.bench.structured import _POLICY, write_extract
from fivesafes.datasets.models import UploadState
from fivesafes.datasets.service import load_policy_file
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role
from fivesafes.keys.local import LocalFileKeyStore

TARGET_ROWS_PER_SECOND = 50_000
MAX_PEAK_MB = 1024


@dataclass(slots=True)
class IngestRun:
    dialect: str
    rows: int
    seconds: float
    peak_mb: float
    upload_seconds: float  # until 202 Accepted: the body streamed into the encrypted spool

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


@dataclass(slots=True)
class IngestionBenchmark:
    runs: list[IngestRun] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(
            r.rows_per_second >= TARGET_ROWS_PER_SECOND and r.peak_mb < MAX_PEAK_MB
            for r in self.runs
            if r.dialect == "postgresql"
        )

    def render(self) -> str:
        lines = ["ingestion, end to end (upload -> committed version), structured extract"]
        for r in self.runs:
            verdict = ""
            if r.dialect == "postgresql":
                ok = r.rows_per_second >= TARGET_ROWS_PER_SECOND and r.peak_mb < MAX_PEAK_MB
                verdict = "PASS" if ok else "FAIL"
            lines.append(
                f"  {r.dialect:<10} {r.rows:>9,} rows  {r.seconds:7.1f} s  "
                f"{r.rows_per_second:>9,.0f} rows/s  (upload {r.upload_seconds:.1f} s)  "
                f"peak RSS {r.peak_mb:6.0f} MB  {verdict}"
            )
        lines.append(
            f"  target: >= {TARGET_ROWS_PER_SECOND:,} rows/s into PostgreSQL, "
            f"peak RSS < {MAX_PEAK_MB} MB"
        )
        return "\n".join(lines)


@contextmanager
def server(url: str, keys: Path, spool: Path) -> Iterator[tuple[str, int]]:
    """The platform's own app on ``url`` with its keys and spool (yields base URL and pid)."""
    env = {
        "FIVESAFES_DATABASE_URL": url,
        "FIVESAFES_KEYSTORE_PATH": str(keys),
        "FIVESAFES_SPOOL_PATH": str(spool),
        "FIVESAFES_DEID_WORKERS": "2",
    }
    with uvicorn_server("fivesafes.app:create_app", env) as running:
        yield running


def _prepare(url: str, folder: Path) -> str:
    policy = folder / "policy.yaml"
    policy.write_text(yaml.safe_dump(_POLICY, sort_keys=False), encoding="utf-8")
    engine = make_engine(url)
    trail = AuditTrail.for_operator()
    try:
        with session_scope(make_session_factory(engine)) as session:
            load_policy_file(session, trail, policy)
            user = identity.create_user(session, trail, "bench", Role.UPLOADER)
            return identity.issue_token(session, trail, user, "bench", timedelta(days=1)).secret
    finally:
        engine.dispose()


def _ingest_once(dialect: str, extract: Path, rows: int) -> IngestRun:
    with (
        tempfile.TemporaryDirectory(prefix="fivesafes-bench-") as tmp,
        temporary_database(dialect) as url,
    ):
        folder = Path(tmp)
        LocalFileKeyStore(folder / "keys").init()
        token = _prepare(url, folder)
        auth = {"Authorization": f"Bearer {token}"}
        with (
            server(url, folder / "keys", folder / "spool") as (base, pid),
            PeakSampler(pid) as mem,
        ):
            start = time.perf_counter()
            with extract.open("rb") as handle:
                response = httpx.post(
                    f"{base}/datasets/{_POLICY['dataset']}/uploads",
                    files={"file": (extract.name, handle, "text/csv")},
                    headers=auth,
                    timeout=600,
                )
            response.raise_for_status()
            accepted_after = time.perf_counter() - start
            upload = response.json()["id"]
            while True:
                state = httpx.get(f"{base}/uploads/{upload}", headers=auth, timeout=30).json()
                if UploadState(state["state"]).finished:
                    break
                time.sleep(0.05)
            seconds = time.perf_counter() - start
        if state["state"] != UploadState.SUCCEEDED:
            raise RuntimeError(f"benchmark upload failed: {state['errors']}")
        if state["report"]["rows_out"] != rows:
            raise RuntimeError("benchmark upload lost rows")
        return IngestRun(dialect, rows, seconds, mem.peak_mb, accepted_after)


def run_ingestion_benchmark(
    rows: int = 1_000_000, dialects: Sequence[str] = ("postgresql", "sqlite")
) -> IngestionBenchmark:
    result = IngestionBenchmark()
    with tempfile.TemporaryDirectory(prefix="fivesafes-bench-extract-") as tmp:
        extract = Path(tmp) / "extract.csv"
        write_extract(extract, rows)
        for dialect in dialects:
            result.runs.append(_ingest_once(dialect, extract, rows))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dialect", nargs="+", default=["postgresql", "sqlite"])
    args = parser.parse_args(argv)
    bench = run_ingestion_benchmark(args.rows, args.dialect)
    sys.stdout.write(bench.render() + "\n")
    return 0 if bench.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
