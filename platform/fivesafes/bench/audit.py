"""Audit overhead: an audited endpoint's throughput with and without recording.

`POST /tokens` (issue a token; audited as ``token.issue``) is served by a real uvicorn
process in each variant against the same fresh database, loaded by concurrent keep-alive
clients. Variants alternate over several rounds and the best round of each is kept, so
drift on a busy machine does not favour either side. Target (issue 5): audited throughput
>= 80% of unaudited.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from fivesafes.audit.trail import AuditTrail
from fivesafes.bench.databases import temporary_database
from fivesafes.bench.memory import PeakSampler
from fivesafes.bench.servers import uvicorn_server
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.identity import service
from fivesafes.identity.models import Role
from fivesafes.keys.local import LocalFileKeyStore

TARGET_RATIO = 0.80


@dataclass(slots=True)
class AuditBenchResult:
    dialect: str
    requests: int
    clients: int
    audited_rps: list[float] = field(default_factory=list)
    unaudited_rps: list[float] = field(default_factory=list)
    server_peak_rss_mb: float = 0.0

    @property
    def ratio(self) -> float:
        return max(self.audited_rps) / max(self.unaudited_rps)

    def render(self) -> str:
        verdict = "PASS" if self.ratio >= TARGET_RATIO else "FAIL"
        return (
            f"audit overhead ({self.dialect}, POST /tokens, {self.clients} clients, "
            f"{self.requests} requests per round)\n"
            f"  audited    {max(self.audited_rps):8.1f} req/s  (rounds: "
            f"{', '.join(f'{r:.0f}' for r in self.audited_rps)})\n"
            f"  unaudited  {max(self.unaudited_rps):8.1f} req/s  (rounds: "
            f"{', '.join(f'{r:.0f}' for r in self.unaudited_rps)})\n"
            f"  ratio      {self.ratio:8.2f}  (target >= {TARGET_RATIO:.2f}) {verdict}\n"
            f"  server peak RSS {self.server_peak_rss_mb:.0f} MB"
        )


def _load(base: str, token: str, requests: int, clients: int) -> float:
    per_client = requests // clients

    def client(_: int) -> None:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(per_client):
                response = http.post("/tokens", json={"name": "bench", "lifetime_days": 1})
                if response.status_code != 201:
                    raise RuntimeError(f"unexpected {response.status_code}: {response.text}")

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return per_client * clients / (time.perf_counter() - start)


def run_audit_benchmark(
    dialect: str = "postgresql", requests: int = 1000, clients: int = 4, rounds: int = 7
) -> AuditBenchResult:
    result = AuditBenchResult(dialect=dialect, requests=requests, clients=clients)
    with temporary_database(dialect) as url, _keys() as keys:
        engine = make_engine(url)
        with session_scope(make_session_factory(engine)) as session:
            user = service.create_user(session, AuditTrail.for_operator(), "bench", Role.RESEARCHER)
            token = service.issue_token(
                session, AuditTrail.for_operator(), user, "bench", timedelta(days=1)
            ).secret
        engine.dispose()
        env = {"FIVESAFES_DATABASE_URL": url, "FIVESAFES_KEYSTORE_PATH": str(keys)}
        for _ in range(rounds):
            for factory, sink in (
                ("audited_app", result.audited_rps),
                ("unaudited_app", result.unaudited_rps),
            ):
                with (
                    uvicorn_server(f"fivesafes.bench.audit_app:{factory}", env) as (base, pid),
                    PeakSampler(pid) as memory,
                ):
                    _load(base, token, requests // 10, clients)  # warm-up
                    sink.append(_load(base, token, requests, clients))
                result.server_peak_rss_mb = max(result.server_peak_rss_mb, memory.peak_mb)
    return result


@contextmanager
def _keys() -> Iterator[Path]:
    """A throw-away local key store for the benchmark servers."""
    with tempfile.TemporaryDirectory(prefix="fivesafes-bench-keys-") as folder:
        path = Path(folder) / "keys"
        LocalFileKeyStore(path).init()
        yield path


if __name__ == "__main__":
    for name in sys.argv[1:] or ["postgresql", "sqlite"]:
        print(run_audit_benchmark(name).render())
