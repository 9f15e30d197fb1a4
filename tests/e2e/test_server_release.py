"""Releases through a real server process and the `fivesafes fetch` HTTP client."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fivesafes.access import service as access
from fivesafes.access.schemas import RequestIn
from fivesafes.audit.trail import AuditTrail
from fivesafes.db import make_engine, make_session_factory, session_scope, utcnow
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role
from fivesafes.keys.local import LocalFileKeyStore
from tests.e2e.server import environment, run_cli, running_server
from tests.factories import ingest
from tests.factories.access import approved_grant
from tests.factories.datasets import load_policies
from tests.factories.extracts import ADMISSION_OUTPUT as ALL_OUTPUT
from tests.factories.extracts import ADMISSIONS as DATASET
from tests.factories.extracts import ADMISSIONS_POLICY as POLICY
from tests.factories.extracts import admission_rows
from tests.integration.access.helpers import project_body, shipped_policy

TRAIL = AuditTrail.for_operator()


def _world(database_url: str, tmp_path: Path) -> tuple[int, str, str]:
    """Ingest, a project and a grant; (grant id, researcher token, outsider token)."""
    keystore = LocalFileKeyStore(tmp_path / "keys")
    keystore.init()
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    policy = shipped_policy()
    try:
        with session_scope(factory) as session:
            load_policies(session, tmp_path, {DATASET: POLICY})
        with ingest.ingestor(factory, keystore) as ingestor:
            ingest.Extracts(ingestor, tmp_path).ingested(DATASET, admission_rows())
        now = utcnow()
        with session_scope(factory) as session:
            officer = identity.create_user(session, TRAIL, "gov", Role.GOVERNANCE)
            rae = identity.create_user(session, TRAIL, "rae", Role.RESEARCHER)
            out = identity.create_user(session, TRAIL, "out", Role.RESEARCHER)
            tokens = [
                identity.issue_token(session, TRAIL, u, "t", timedelta(days=1)).secret
                for u in (rae, out)
            ]
            project = access.create_project(
                session, TRAIL, policy, officer, body=project_body(rae), now=now
            )
            body = RequestIn(
                dataset=DATASET,
                columns=ALL_OUTPUT,
                justification="The study needs every admission.",
            )
            grant = approved_grant(session, policy, rae, officer, project.id, body, now)
        return grant, tokens[0], tokens[1]
    finally:
        engine.dispose()


def test_fetch_csv_and_parquet_through_a_real_server(database_url: str, tmp_path: Path) -> None:
    grant, token, outsider = _world(database_url, tmp_path)
    env = environment(database_url, tmp_path)
    with running_server(env, tmp_path) as base:
        for fmt in ("csv", "parquet"):
            out = tmp_path / f"release.{fmt}"
            fetched = run_cli(
                "fetch", str(grant), "--out", str(out), "--format", fmt,
                "--token", token, "--url", base, env=env, cwd=tmp_path,
            )  # fmt: skip
            assert fetched.returncode == 0, fetched.stderr
            assert "118 rows" in fetched.stdout
            table = pacsv.read_csv(out) if fmt == "csv" else pq.read_table(out)
            assert table.num_rows == 118
            assert table.column_names == ALL_OUTPUT
        refused = run_cli(
            "fetch", str(grant), "--out", str(tmp_path / "no.csv"),
            "--token", outsider, "--url", base, env=env, cwd=tmp_path,
        )  # fmt: skip
        assert refused.returncode != 0
        assert "403" in refused.stderr
        assert not (tmp_path / "no.csv").exists()
        releases = httpx.get(
            f"{base}/grants/{grant}/releases", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert [r["state"] for r in releases] == ["completed", "completed"]
        assert all(len(r["content_sha256"]) == 64 for r in releases)
