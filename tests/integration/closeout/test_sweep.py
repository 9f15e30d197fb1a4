"""The close-out sweep with an explicit clock, on SQLite and PostgreSQL: end-date
transitions (once), a release-less project closing at once, the overdue event at most
once per project per UTC day, and the CLI's sweep and close."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fivesafes.access.models import Project, ProjectState
from fivesafes.cli.main import app as cli
from fivesafes.closeout.sweep import sweep, system_trail
from fivesafes.config import Settings, reset_settings_cache
from fivesafes.db import session_scope, utcnow
from fivesafes.httpkit.lifespan import _sweep_once
from tests.factories.release_world import World
from tests.integration.closeout.helpers import attestation, close, details, events, released

DAYS = 30


def _sweep(world: World, now: datetime, copies: Path) -> tuple[list[int], list[int]]:
    with session_scope(world.factory) as session:
        result = sweep(session, system_trail(), now, days=DAYS, copies_folder=copies)
    return result.closing, result.overdue_recorded


def _project(world: World, name: str) -> Project:
    with session_scope(world.factory) as session:
        found = session.get(Project, world.projects[name])
        assert found is not None
        session.expunge(found)
        return found


def test_end_date_moves_projects_to_closing_once(world: World, settings: Settings) -> None:
    released(world)
    end = _project(world, "a").end_date
    copies = settings.release_copies_path
    on_last_day = datetime.combine(end, datetime.min.time()).replace(tzinfo=utcnow().tzinfo)
    assert _sweep(world, on_last_day + timedelta(hours=23), copies) == ([], [])
    after = on_last_day + timedelta(days=1, minutes=1)
    closing, _ = _sweep(world, after, copies)
    assert closing == sorted(world.projects.values())
    a, b = _project(world, "a"), _project(world, "b")
    assert a.state is ProjectState.CLOSING
    assert a.closing_reason == "end date reached"
    assert a.closing_requested_by == "system"
    assert a.closing_at == after
    assert b.state is ProjectState.CLOSED  # no releases: nothing to attest
    # Idempotent: a second sweep (another server, or cron) records nothing more.
    assert _sweep(world, after + timedelta(minutes=5), copies) == ([], [])
    trail = events(world, "project.closing")
    assert len(trail) == 2
    assert {details(e)["trigger"] for e in trail} == {"end_date"}
    assert {e.actor_id for e in trail} == {"system:closeout-sweep"}
    assert len(events(world, "project.closed")) == 1


def test_overdue_event_once_per_utc_day(world: World, settings: Settings) -> None:
    released(world)
    assert close(world).status_code == 200
    copies = settings.release_copies_path
    started = _project(world, "a").closing_at
    assert started is not None
    project = world.projects["a"]
    assert _sweep(world, started + timedelta(days=DAYS - 1), copies) == ([], [])
    late = started + timedelta(days=DAYS + 2, hours=1)
    assert _sweep(world, late, copies) == ([], [project])
    assert _sweep(world, late + timedelta(minutes=1), copies) == ([], [])  # same day
    (event,) = events(world, "project.attestation_overdue")
    assert details(event) == {"project_id": project, "days_overdue": 2, "outstanding_releases": 1}
    next_day = datetime.combine(late.date() + timedelta(days=1), datetime.min.time()).replace(
        tzinfo=late.tzinfo
    )
    assert _sweep(world, next_day, copies) == ([], [project])
    assert len(events(world, "project.attestation_overdue")) == 2
    # An attestation awaiting review still counts as outstanding (not accepted).
    release_id = world.client.get(
        f"/projects/{project}/closeout", headers=world.people["a"].auth
    ).json()["releases"][0]["release_id"]
    made = world.client.post(
        f"/projects/{project}/attestations",
        json=attestation([release_id]),
        headers=world.people["a"].auth,
    )
    assert made.status_code == 201
    status = world.client.get(f"/projects/{project}/closeout", headers=world.people["a"].auth)
    assert status.json()["releases"][0]["status"] == "submitted"


def test_cli_close_and_sweep(
    world: World, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings_cache()  # the world's app read the settings before the URL was set
    runner = CliRunner()
    b_lead = world.people["b"].username
    refused = runner.invoke(
        cli, ["projects", "close", str(world.projects["a"]), "--as", b_lead, "--reason", "Mine."]
    )
    assert refused.exit_code == 1
    assert "denied_not_lead" in refused.output
    done = runner.invoke(
        cli, ["projects", "close", str(world.projects["b"]), "--as", b_lead, "--reason", "Done."]
    )
    assert done.exit_code == 0, done.output
    assert "is closed" in done.output  # no releases: closed at once
    swept = runner.invoke(cli, ["projects", "closeout-sweep"])
    assert swept.exit_code == 0, swept.output
    assert "0 projects began closing" in swept.output
    assert _project(world, "a").state is ProjectState.ACTIVE
    (event,) = events(world, "project.closing")
    assert event.target_id == str(world.projects["b"])


def test_the_servers_periodic_sweep_closes_ended_projects(world: World) -> None:
    """The lifespan task's one round (``_sweep_once``) on the server's own settings."""
    with session_scope(world.factory) as session:
        ended = session.get(Project, world.projects["b"])
        assert ended is not None
        ended.start_date = utcnow().date() - timedelta(days=60)
        ended.end_date = utcnow().date() - timedelta(days=1)
    _sweep_once(world.client.app)  # type: ignore[arg-type]
    assert _project(world, "b").state is ProjectState.CLOSED  # no releases: closed at once
    assert _project(world, "a").state is ProjectState.ACTIVE
    (event,) = events(world, "project.closing")
    assert event.actor_id == "system:closeout-sweep"
    _sweep_once(world.client.app)  # type: ignore[arg-type]
    assert len(events(world, "project.closing")) == 1
