"""The whole re-identification path through the API, the pages and the CLI, on both
databases: a researcher asks, two officers (one a Caldicott Guardian) approve, the
reidentifier reverses it once and records the action, and the IG report lists it; with
the refusals the entry points answer (role, state, expiry, limit, project, flag).
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes.audit.models import AuditEvent
from fivesafes.cli.main import app as cli
from fivesafes.config import Settings, reset_settings_cache
from fivesafes.db import session_scope, utcnow
from fivesafes.reidentification.models import ReidentificationRequest
from tests.integration.reidentification.e2e_world import World, build

PATH = "/reidentification-requests"
REASON = {"reason": "Clinically urgent and within the protocol."}
ACTION = {"action_taken": "Passed to the patient's GP by secure e-mail on the same day."}


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    return build(settings, session_factory, tmp_path)


def _post(world: World, path: str, who: str, body: Any = None) -> Any:
    return world.client.post(path, json=body, headers=world.people[who].auth)


def approved(world: World, n: int = 1, side: str = "a") -> int:
    """A request of ``side``'s researcher approved by an officer and the Guardian."""
    who = "researcher" if side == "a" else "other"
    made = _post(world, PATH, who, world.body(side, n))
    assert made.status_code == 201, made.text
    rid = int(made.json()["id"])
    for officer in ("officer", "guardian"):
        done = _post(world, f"{PATH}/{rid}/approve", officer, REASON)
        assert done.status_code == 200, done.text
    assert done.json()["state"] == "approved"
    return rid


def test_the_full_path_reverses_once_and_is_reported(
    world: World, monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path
) -> None:
    truth = world.released["a"].truth
    made = _post(world, PATH, "researcher", world.body("a", 2))
    assert made.status_code == 201, made.text
    assert made.json()["state"] == "pending"
    rid = made.json()["id"]
    asked = made.json()["subjects"]
    assert [s["project_pseudonym"] for s in asked] == sorted(truth)[:2]

    first = _post(world, f"{PATH}/{rid}/approve", "officer", REASON)
    assert (first.status_code, first.json()["state"]) == (200, "pending")
    assert _post(world, f"{PATH}/{rid}/approve", "officer", REASON).status_code == 409
    early = _post(world, f"{PATH}/{rid}/execute", "reidentifier")
    assert early.status_code == 409, "executed before the second approval"
    second = _post(world, f"{PATH}/{rid}/approve", "guardian", REASON)
    assert (second.status_code, second.json()["state"]) == (200, "approved")

    refused = _post(world, f"{PATH}/{rid}/execute", "researcher")
    assert refused.status_code == 403
    executed = _post(world, f"{PATH}/{rid}/execute", "reidentifier")
    assert executed.status_code == 200, executed.text
    assert executed.headers["cache-control"] == "no-store"
    revealed = {s["project_pseudonym"]: s["nhs_number"] for s in executed.json()["subjects"]}
    assert revealed == {p: truth[p] for p in sorted(truth)[:2]}
    again = _post(world, f"{PATH}/{rid}/execute", "reidentifier")
    assert again.status_code == 409

    # The researcher sees the request's progress, never the numbers.
    seen = world.client.get(f"{PATH}/{rid}", headers=world.people["researcher"].auth)
    assert seen.status_code == 200
    assert seen.json()["state"] == "executed"
    assert not any(n in seen.text for n in revealed.values())
    assert _post(world, f"{PATH}/{rid}/action", "researcher", ACTION).status_code == 403
    acted = _post(world, f"{PATH}/{rid}/action", "reidentifier", ACTION)
    assert (acted.status_code, acted.json()["state"]) == (200, "actioned")
    assert acted.json()["action_taken"] == ACTION["action_taken"]
    # The trust's note on an identified patient stays trust-side: the researcher sees
    # that an action was recorded, not what it says.
    after = world.client.get(f"{PATH}/{rid}", headers=world.people["researcher"].auth).json()
    assert (after["state"], after["action_taken"]) == ("actioned", None)
    assert after["action_recorded_at"] is not None

    with world.factory() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.action.like("reidentification.%"),
                    AuditEvent.outcome == "success",
                )
            )
        )
    for step in ("request", "approve", "execute", "view", "action"):
        assert f"reidentification.{step}" in actions

    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "keys"))
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    out = tmp_path / "reversals.csv"
    result = CliRunner().invoke(cli, ["reidentification", "report", "--csv", str(out)])
    assert result.exit_code == 0, (result.output, repr(result.exception))
    assert world.people["reidentifier"].username in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["request_id"] for r in rows] == [str(rid)]
    assert rows[0]["caldicott_guardian_approved"] == "yes"
    assert not any(n in out.read_text() + result.output for n in revealed.values())
    with world.factory() as session:
        reported = session.scalar(
            select(AuditEvent).where(AuditEvent.action == "reidentification.report")
        )
    assert reported is not None


def test_an_expired_request_cannot_be_executed(world: World) -> None:
    rid = approved(world)
    with session_scope(world.factory) as session:
        session.execute(
            update(ReidentificationRequest)
            .where(ReidentificationRequest.id == rid)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    listed = world.client.get(f"{PATH}/{rid}", headers=world.people["officer"].auth)
    assert listed.json()["state"] == "expired"
    refused = _post(world, f"{PATH}/{rid}/execute", "reidentifier")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "reidentification_expired"


def test_a_rejected_request_cannot_be_executed(world: World) -> None:
    made = _post(world, PATH, "researcher", world.body())
    rid = made.json()["id"]
    assert _post(world, f"{PATH}/{rid}/reject", "officer", REASON).status_code == 200
    assert _post(world, f"{PATH}/{rid}/approve", "guardian", REASON).status_code == 409
    assert _post(world, f"{PATH}/{rid}/execute", "reidentifier").status_code == 409


def test_over_the_monthly_limit_is_429(world: World) -> None:
    # The policy allows 4 patients a month for the project: 3, then 1, then no more.
    assert _post(world, PATH, "researcher", world.body("a", 3)).status_code == 201
    assert _post(world, PATH, "researcher", world.body("a", 1)).status_code == 201
    refused = _post(world, PATH, "researcher", world.body("a", 1))
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "reidentification_limit_reached"


def test_entry_point_refusals(world: World) -> None:
    other = world.released["b"]
    wrong_project = _post(world, PATH, "researcher", world.body("b"))
    assert wrong_project.status_code == 403
    foreign = world.body("a", project_pseudonyms=sorted(other.truth)[:1])
    missing = world.body("a", project_pseudonyms=["0" * 32])
    answers = [_post(world, PATH, "researcher", b) for b in (foreign, missing)]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].json() == answers[1].json(), "a foreign pseudonym is told apart"
    plain = _post(world, PATH, "researcher", world.body("plain"))
    assert plain.status_code == 409
    assert plain.json()["error"]["code"] == "reidentification_not_allowed"
    assert _post(world, PATH, "officer", world.body()).status_code == 403
    rid = _post(world, PATH, "researcher", world.body()).json()["id"]
    own = _post(world, f"{PATH}/{rid}/approve", "researcher", REASON)
    assert own.status_code == 403


def test_the_page_shows_the_numbers_once(world: World) -> None:
    rid = approved(world)
    auth = world.people["reidentifier"].auth
    page = world.client.get("/web/reidentification", headers=auth)
    assert page.status_code == 200
    assert f"/web/reidentification/{rid}/execute" in page.text
    shown = world.client.post(f"/web/reidentification/{rid}/execute", headers=auth)
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"] == "no-store"
    pseudonym = sorted(world.released["a"].truth)[0]
    assert world.released["a"].truth[pseudonym] in shown.text
    again = world.client.post(f"/web/reidentification/{rid}/execute", headers=auth)
    assert again.status_code == 409
    assert world.released["a"].truth[pseudonym] not in again.text
    acted = world.client.post(
        f"/web/reidentification/{rid}/action",
        data=ACTION,
        headers=auth,
        follow_redirects=False,
    )
    assert acted.status_code == 303, acted.text
    researcher = world.client.get("/web/reidentification", headers=world.people["researcher"].auth)
    assert researcher.status_code == 403
