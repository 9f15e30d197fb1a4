"""The access commands: the same services and decisions as the API, from the shell."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.db import utcnow
from fivesafes.identity.models import Role
from tests.integration.access.helpers import (
    make_dataset,
    make_project,
    make_request,
    make_user,
    project_body,
    shipped_policy,
)

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return database_url


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_review_and_revoke_from_the_shell(
    cli_env: str, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    policy, now = shipped_policy(), utcnow()
    with session_factory() as session:
        lead = make_user(session, Role.RESEARCHER, "lead")
        officer = make_user(session, Role.GOVERNANCE, "gov")
        project = make_project(session, policy, officer, lead, now=now)
        request = make_request(session, policy, lead, project, make_dataset(session), now=now)
        names = (lead.username, officer.username)
        ids = (project.id, request.id)
        session.commit()
    lead_name, officer_name = names
    project_id, request_id = ids

    code, out = _run("requests", "approve", str(request_id), "--as", lead_name, "--reason", "mine")
    assert code == 1
    assert "denied_not_permitted" in out
    code, out = _run("requests", "list", "--as", officer_name, "--state", "pending")
    assert code == 0, out
    assert str(request_id) in out
    code, out = _run("requests", "show", str(request_id), "--as", officer_name)
    assert "admission_date between 2023-01-01 and 2023-12-31" in out
    code, out = _run(
        "requests", "approve", str(request_id), "--as", officer_name, "--reason", "Fine."
    )
    assert (code, out.strip()) == (0, f"request {request_id}: approved")
    code, out = _run("grants", "list", "--as", lead_name)
    assert "yes" in out  # live; a fresh database, so this is grant 1
    code, out = _run(
        "access", "explain", lead_name, "grant.use", "--grant", "1", "--as", officer_name
    )
    assert "ALLOWED by rule roles.researcher.grant.use" in out
    code, out = _run("grants", "revoke", "1", "--as", officer_name, "--reason", "Suspended.")
    assert (code, out.strip()) == (0, "grant 1 revoked")
    code, out = _run(
        "access", "explain", lead_name, "grant.use", "--grant", "1", "--as", officer_name
    )
    assert "DENIED by rule grant_revoked" in out

    spec = tmp_path / "project.yaml"
    spec.write_text(
        yaml.safe_dump(project_body(None).model_dump(mode="json") | {"lead": lead_name})
    )
    code, out = _run("projects", "create", str(spec), "--as", officer_name)
    assert code == 0, out
    code, out = _run("projects", "list", "--as", lead_name)
    assert out.count("active") == 2
    assert str(project_id) in out
