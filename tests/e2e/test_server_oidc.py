"""``fivesafes login`` against a real server process and the test identity provider, then
``GET /me`` and ``fivesafes fetch`` with the token it stored (issue 16).

Three processes' worth of real HTTP: the CLI (a subprocess, as on a researcher's laptop)
asks the server which provider to use, runs the device grant at the provider (approved
here as the researcher would in a browser), and stores the token; the server verifies
that token against the provider's JWKS, creates the account with the mapped role, and
serves a release to it.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import httpx
import pyarrow.csv as pacsv
from sqlalchemy import select

from fivesafes.access import service as access
from fivesafes.access.schemas import RequestIn
from fivesafes.audit.trail import AuditTrail
from fivesafes.db import make_engine, make_session_factory, session_scope, utcnow
from fivesafes.identity.models import Role, User
from fivesafes.identity.oidc.models import FederatedIdentity
from tests.e2e.server import FIVESAFES, environment, run_cli, running_server
from tests.e2e.worlds import add_people, admissions_world
from tests.factories.access import approved_grant
from tests.factories.extracts import ADMISSION_OUTPUT as ALL_OUTPUT
from tests.factories.extracts import ADMISSIONS as DATASET
from tests.integration.access.helpers import project_body, shipped_policy
from tests.oidc_idp import TestIdentityProvider
from tests.oidc_idp.fixtures import identity_policy_file

TRAIL = AuditTrail.for_operator()


def _ingested(database_url: str, tmp_path: Path) -> None:
    """The keys, the admissions dataset and a governance officer, before the server."""
    with admissions_world(database_url, tmp_path) as factory, session_scope(factory) as session:
        add_people(session, {"gov": Role.GOVERNANCE})


def _grant_for(database_url: str, issuer: str, subject: str) -> int:
    """A project led by the provider's user (created by the server) and an approved grant."""
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            federated = session.scalars(
                select(FederatedIdentity).where(
                    FederatedIdentity.issuer == issuer, FederatedIdentity.subject == subject
                )
            ).one()
            researcher = federated.user
            officer = session.scalars(select(User).where(User.username == "gov")).one()
            policy = shipped_policy()
            now = utcnow()
            project = access.create_project(
                session, TRAIL, policy, officer, body=project_body(researcher), now=now
            )
            body = RequestIn(
                dataset=DATASET, columns=ALL_OUTPUT, justification="The study needs all of it."
            )
            return approved_grant(session, policy, researcher, officer, project.id, body, now)
    finally:
        engine.dispose()


def _login(base: str, env: dict[str, str], cwd: Path, idp: TestIdentityProvider) -> str:
    """Run ``fivesafes login`` as a process, approve its code at the provider."""
    process = subprocess.Popen(
        [FIVESAFES, "login", "--url", base],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        code = idp.wait_for_device_request(timeout=60)
        idp.approve_device(code)
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, out
    assert code in out
    return out


def test_device_login_then_me_and_fetch_with_the_stored_token(
    database_url: str, tmp_path: Path, oidc_idp_server: TestIdentityProvider
) -> None:
    idp = oidc_idp_server
    idp.reset()
    idp.set_user("rae-0042", preferred_username="rae", roles=["FiveSafes.Researcher"])
    _ingested(database_url, tmp_path)
    env = environment(database_url, tmp_path)
    env["FIVESAFES_IDENTITY_POLICY"] = str(identity_policy_file(tmp_path, idp))
    env.update(idp.client_secret_env())
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    credentials = tmp_path / "xdg" / "fivesafes" / "credentials.json"

    with running_server(env, tmp_path) as base:
        out = _login(base, env, tmp_path, idp)
        assert "as rae (researcher)" in out
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        stored = json.loads(credentials.read_text(encoding="utf-8"))[base]
        assert stored["access_token"] not in out
        assert stored["refresh_token"] not in out

        auth = {"Authorization": f"Bearer {stored['access_token']}"}
        me = httpx.get(f"{base}/me", headers=auth)
        assert me.status_code == 200, me.text
        assert (me.json()["username"], me.json()["role"]) == ("rae", "researcher")

        grant = _grant_for(database_url, idp.issuer, "rae-0042")
        target = tmp_path / "release.csv"
        fetched = run_cli(
            "fetch", str(grant), "--out", str(target), "--url", base, env=env, cwd=tmp_path
        )
        assert fetched.returncode == 0, fetched.stderr
        assert "118 rows" in fetched.stdout
        table = pacsv.read_csv(target)
        assert (table.num_rows, table.column_names) == (118, ALL_OUTPUT)
        assert stored["access_token"] not in fetched.stdout + fetched.stderr
        releases = httpx.get(f"{base}/grants/{grant}/releases", headers=auth).json()
        assert [r["state"] for r in releases] == ["completed"]

        # Signed out: fetch has no token any more and says how to get one.
        logout = run_cli("logout", "--url", base, env=env, cwd=tmp_path)
        assert logout.returncode == 0, logout.stderr
        refused = run_cli(
            "fetch", str(grant), "--out", str(tmp_path / "no.csv"), "--url", base,
            env=env, cwd=tmp_path,
        )  # fmt: skip
        assert refused.returncode == 1
        assert f"fivesafes login --url {base}" in refused.stderr
        assert not (tmp_path / "no.csv").exists()
