"""The Caldicott Guardian flag: only on a governance officer, audited, dropped on leaving
governance; and ``fivesafes users set-caldicott`` drives it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.main import app
from fivesafes.errors import ConflictError
from fivesafes.identity import service
from fivesafes.identity.models import Role

TRAIL = AuditTrail.for_operator()


def _events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_flag_is_set_and_cleared_with_one_event_each(session: Session) -> None:
    officer = service.create_user(session, TRAIL, "olive", Role.GOVERNANCE)
    assert officer.caldicott_guardian is False
    service.set_caldicott_guardian(session, TRAIL, "olive", on=True)
    service.set_caldicott_guardian(session, TRAIL, "olive", on=True)  # no change, no event
    assert officer.caldicott_guardian is True
    service.set_caldicott_guardian(session, TRAIL, "olive", on=False)
    assert officer.caldicott_guardian is False
    session.commit()
    events = _events(session, "user.caldicott_guardian")
    assert [json.loads(e.details or "{}")["on"] for e in events] == [True, False]
    assert {e.target_id for e in events} == {str(officer.id)}


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.GOVERNANCE])
def test_only_a_governance_officer_can_be_the_guardian(session: Session, role: Role) -> None:
    service.create_user(session, TRAIL, "someone", role)
    with pytest.raises(ConflictError) as refused:
        service.set_caldicott_guardian(session, TRAIL, "someone", on=True)
    assert refused.value.code == "caldicott_guardian_needs_governance"
    assert service.get_user(session, "someone").caldicott_guardian is False
    # Turning it off is always allowed (and a no-op here).
    service.set_caldicott_guardian(session, TRAIL, "someone", on=False)
    assert _events(session, "user.caldicott_guardian") == []


def test_leaving_governance_drops_the_flag(session: Session) -> None:
    service.create_user(session, TRAIL, "gwen", Role.GOVERNANCE)
    service.set_caldicott_guardian(session, TRAIL, "gwen", on=True)
    service.change_role(session, TRAIL, "gwen", Role.RESEARCHER)
    service.change_role(session, TRAIL, "gwen", Role.GOVERNANCE)
    assert service.get_user(session, "gwen").caldicott_guardian is False
    session.commit()
    first, second = _events(session, "user.change_role")
    assert json.loads(first.details or "{}")["caldicott_guardian_cleared"] is True
    assert "caldicott_guardian_cleared" not in json.loads(second.details or "{}")


def test_cli_set_caldicott(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    assert run("init")[0] == 0
    assert run("users", "add", "olive", "--role", "governance")[0] == 0
    assert run("users", "add", "rita", "--role", "reidentifier")[0] == 0
    code, out = run("users", "set-caldicott", "olive", "--on")
    assert code == 0, out
    assert "Caldicott Guardian flag on" in out
    code, out = run("users", "list")
    assert "governance (Caldicott Guardian)" in out
    assert "reidentifier" in out
    code, out = run("users", "set-caldicott", "rita", "--on")
    assert code != 0
    assert "not a governance officer" in out
    code, out = run("users", "set-caldicott", "olive", "--off")
    assert code == 0, out
    assert "(Caldicott Guardian)" not in run("users", "list")[1]
