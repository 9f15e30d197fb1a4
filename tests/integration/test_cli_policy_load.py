"""`fivesafes policies load --as ADMIN`: the policy version and its audit event name the
admin who loaded it, not the shell account; anyone else is refused, and that is audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from fivesafes.audit.models import AuditEvent
from fivesafes.cli.main import app
from fivesafes.datasets.models import DatasetPolicyVersion
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.identity.models import User

POLICY = Path(__file__).resolve().parents[2] / "policies" / "datasets" / "sample-extract.yaml"
runner = CliRunner()


@pytest.fixture
def database(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", empty_database_url)
    assert runner.invoke(app, ["init"]).exit_code == 0
    for name, role in (("rita", "researcher"), ("ada", "admin")):
        done = runner.invoke(app, ["users", "add", name, "--role", role])
        assert done.exit_code == 0, done.output
    return empty_database_url


def _read(url: str) -> tuple[dict[str, str], list[DatasetPolicyVersion], list[AuditEvent]]:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            ids = {u.username: str(u.id) for u in session.scalars(select(User))}
            versions = list(session.scalars(select(DatasetPolicyVersion)))
            events = list(
                session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.action == "policy.load")
                    .order_by(AuditEvent.seq)
                )
            )
            return ids, versions, events
    finally:
        engine.dispose()


def test_the_loading_admin_is_recorded_on_the_version_and_the_event(database: str) -> None:
    done = runner.invoke(app, ["policies", "load", str(POLICY), "--as", "ada"])
    assert done.exit_code == 0, done.output
    assert "sample-extract: policy v1 stored" in done.output
    ids, versions, events = _read(database)
    assert [v.loaded_by for v in versions] == [ids["ada"]]
    assert [(e.actor_id, e.actor_role, e.outcome) for e in events] == [
        (ids["ada"], "admin", "success")
    ]
    assert not any((e.actor_id or "").startswith("os:") for e in events)


@pytest.mark.parametrize(
    ("username", "message", "reason"),
    [
        ("rita", "only an admin loads policies", "not_admin"),
        ("nobody", "no user 'nobody'", "unknown_user"),
    ],
)
def test_anyone_but_an_admin_is_refused_and_the_refusal_is_audited(
    database: str, username: str, message: str, reason: str
) -> None:
    done = runner.invoke(app, ["policies", "load", str(POLICY), "--as", username])
    assert done.exit_code == 1
    assert message in done.output
    assert "policy_load_refused" in done.output
    ids, versions, events = _read(database)
    assert versions == []  # nothing stored
    assert [(e.outcome, json.loads(e.details)["reason"]) for e in events] == [("denied", reason)]
    assert events[0].actor_id == ids.get(username, events[0].actor_id)


def test_a_disabled_admin_is_refused(database: str) -> None:
    assert runner.invoke(app, ["users", "disable", "ada"]).exit_code == 0
    done = runner.invoke(app, ["policies", "load", str(POLICY), "--as", "ada"])
    assert done.exit_code == 1
    assert "disabled" in done.output
    assert _read(database)[1] == []


def test_load_without_as_is_a_usage_error(database: str) -> None:
    done = runner.invoke(app, ["policies", "load", str(POLICY)])
    assert done.exit_code == 2
    assert "--as" in done.output
    assert _read(database)[1] == []
