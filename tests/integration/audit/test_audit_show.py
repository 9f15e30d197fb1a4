"""`fivesafes audit show`: newest first, --since as a span or a UTC time, --limit, actors
by username, and a clear refusal of a --since it cannot read."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.db import make_engine, utcnow
from fivesafes.identity.models import User
from tests.integration.audit.helpers import insert_at

runner = CliRunner()
ROW = re.compile(r"^\u2502 (\d+) +\u2502", re.MULTILINE)  # a table row: "│ 12  │ ..."


@pytest.fixture
def initialised(empty_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "keys"))
    monkeypatch.setenv("COLUMNS", "200")
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["users", "add", "amy", "--role", "researcher"]).exit_code == 0
    return empty_database_url


def _seqs(output: str) -> list[int]:
    """The seq column of the table, in the order printed."""
    return [int(found[1]) for found in ROW.finditer(output)]


def _amy(url: str) -> str:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return str(session.scalar(select(User.id).where(User.username == "amy")))
    finally:
        engine.dispose()


def _backdate(url: str, ages: list[timedelta], actor_id: str | None = None) -> None:
    engine = make_engine(url)
    try:
        insert_at(engine, [(utcnow() - age, "denied") for age in ages], actor_id)
    finally:
        engine.dispose()


def test_newest_first_and_limited(initialised: str) -> None:
    everything = runner.invoke(app, ["audit", "show"])
    assert everything.exit_code == 0, everything.output
    seqs = _seqs(everything.output)
    assert len(seqs) >= 4
    assert seqs == sorted(seqs, reverse=True)
    assert "newest first" in everything.output
    three = runner.invoke(app, ["audit", "show", "--limit", "3"])
    # the first listing is on the trail now: the newest event, above what it listed
    assert _seqs(three.output) == [seqs[0] + 1, *seqs[:2]]
    assert "older ones match too" in three.output
    assert runner.invoke(app, ["audit", "show", "--limit", "0"]).exit_code == 2


def test_since_a_span_or_a_utc_time_and_actors_by_username(initialised: str) -> None:
    amy = _amy(initialised)
    _backdate(initialised, [timedelta(days=9), timedelta(hours=30), timedelta(hours=2)], amy)
    week = runner.invoke(app, ["audit", "show", "--action", "test.event", "--since", "7d"])
    assert week.exit_code == 0, week.output
    assert len(_seqs(week.output)) == 2
    day = runner.invoke(app, ["audit", "show", "--action", "test.event", "--since", "24h"])
    assert len(_seqs(day.output)) == 1
    assert "amy" in day.output
    assert amy not in day.output  # the name, not the id
    moment = (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    since_time = runner.invoke(app, ["audit", "show", "--action", "test.", "--since", moment])
    assert len(_seqs(since_time.output)) == 2
    between = runner.invoke(
        app, ["audit", "show", "--action", "test.event", "--since", "10d", "--until", "1d"]
    )
    assert len(_seqs(between.output)) == 2
    by_name = runner.invoke(app, ["audit", "show", "--actor", "amy"])
    assert len(_seqs(by_name.output)) == 3
    # operator commands show the shell account they ran as
    assert re.search(r"os:\S+", runner.invoke(app, ["audit", "show"]).output)

    as_csv = runner.invoke(app, ["audit", "show", "--actor", "amy", "--csv"])
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [r["actor_username"] for r in rows] == ["amy"] * 3
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)


@pytest.mark.parametrize("since", ["yesterday", "7y", "2026-13-01", "-1d"])
def test_a_since_it_cannot_read_is_refused_naming_the_forms(initialised: str, since: str) -> None:
    result = runner.invoke(app, ["audit", "show", "--since", since])
    assert result.exit_code == 2
    assert "--since" in result.output
    assert "24h" in result.output
    assert "Traceback" not in result.output


def test_until_before_since_and_an_unknown_outcome_are_refused(initialised: str) -> None:
    crossed = runner.invoke(app, ["audit", "show", "--since", "1d", "--until", "2d"])
    assert crossed.exit_code == 2
    assert "--until is not after --since" in crossed.output
    unknown = runner.invoke(app, ["audit", "show", "--outcome", "maybe"])
    assert unknown.exit_code == 2
    assert "success, denied or failed" in unknown.output
