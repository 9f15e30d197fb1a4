"""Failed log-ins back off per account: the real user waits a short, bounded delay, never
a lock an attacker can extend, and an attacker gets few guesses. On both dialects."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.main import app as cli
from fivesafes.config import Settings
from fivesafes.db import utcnow
from fivesafes.errors import AuthenticationError
from fivesafes.identity import login, passwords
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role
from fivesafes.identity.web_models import LoginFailure

TRAIL = AuditTrail.for_operator()
PASSWORD = "a long enough passphrase"
WRONG = "not the passphrase at all"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(login, "utcnow", clock)
    return clock


@pytest.fixture
def rita(session_factory: sessionmaker[Session]) -> str:
    with session_factory() as session:
        user = identity.create_user(session, TRAIL, "rita", Role.RESEARCHER)
        passwords.set_password(session, TRAIL, user, PASSWORD)
        session.commit()
        return str(user.id)


Attempt = Callable[..., str]


@pytest.fixture
def attempt(session_factory: sessionmaker[Session], rita: str) -> Attempt:
    """One log-in, committed like a request: "ok", "wrong" or "wait"."""

    def run(password: str, client: str = "10.0.0.1", username: str = "rita") -> str:
        with session_factory() as session:
            try:
                login.log_in_with_password(session, TRAIL, username, password, client)
            except login.TooManyAttemptsError:
                outcome = "wait"
            except AuthenticationError:
                outcome = "wrong"
            else:
                outcome = "ok"
            session.commit()
        return outcome

    return run


def _failure_rows(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(LoginFailure)) or 0)


def test_delays_double_from_30_seconds_to_a_15_minute_cap() -> None:
    backoff = login.Backoff(5)
    delays = [backoff.delay(n) for n in range(12)]
    assert delays[:5] == [timedelta(0)] * 5
    assert delays[5:11] == [
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=8),
        timedelta(minutes=15),
    ]
    assert backoff.delay(10_000) == login.MAX_DELAY


@pytest.mark.usefixtures("rita")
def test_the_right_password_after_the_delay_logs_in_and_clears_the_count(
    attempt: Attempt, clock: Clock
) -> None:
    assert [attempt(WRONG) for _ in range(5)] == ["wrong"] * 5
    assert attempt(PASSWORD) == "wait"  # refused unchecked, right or wrong
    clock.advance(timedelta(seconds=31))
    assert attempt(PASSWORD) == "ok"
    # Cleared: the next mistakes start from nothing, not from a longer delay.
    assert [attempt(WRONG) for _ in range(5)] == ["wrong"] * 5
    clock.advance(timedelta(seconds=31))
    assert attempt(PASSWORD) == "ok"


def test_attempts_during_a_delay_are_not_checked_and_do_not_extend_it(
    attempt: Attempt, clock: Clock, session_factory: sessionmaker[Session]
) -> None:
    for _ in range(5):
        attempt(WRONG)
    rows = _failure_rows(session_factory)
    for _ in range(50):  # an attacker hammering during the delay
        assert attempt(WRONG) == "wait"
        clock.advance(timedelta(milliseconds=500))
    assert _failure_rows(session_factory) == rows  # none of them counted
    clock.advance(timedelta(seconds=6))  # 31 s after the last checked failure
    assert attempt(PASSWORD) == "ok"


def test_an_attacker_who_keeps_guessing_gets_one_guess_per_15_minutes(
    attempt: Attempt, clock: Clock
) -> None:
    checked = 0
    for _ in range(40):  # two hours, trying every three minutes
        if attempt(WRONG) == "wrong":
            checked += 1
        clock.advance(timedelta(minutes=3))
    # 5 free, then delays of 0.5, 1, 2, 4, 8 min (each a 3-minute step), then 15-minute caps.
    assert checked <= 5 + 5 + (120 // 15)
    clock.advance(login.MAX_DELAY)
    assert attempt(PASSWORD) == "ok"  # the real user, once the attacker stops: at most 15 min


def test_many_clients_guessing_one_account_meet_the_account_wide_count(
    attempt: Attempt, clock: Clock
) -> None:
    for n in range(login.MAX_ACCOUNT_FAILURES):
        assert attempt(WRONG, client=f"10.1.0.{n}") == "wrong"  # one guess each: none delayed
    assert attempt(PASSWORD, client="10.2.0.1") == "wait"  # the account now waits everywhere
    clock.advance(timedelta(seconds=31))
    assert attempt(PASSWORD, client="10.2.0.1") == "ok"
    assert attempt(WRONG, client="10.1.0.1") == "wrong"  # cleared for every client


def test_one_client_spraying_usernames_meets_the_client_count(
    attempt: Attempt, clock: Clock
) -> None:
    for n in range(login.MAX_CLIENT_FAILURES):
        assert attempt(WRONG, username=f"guess-{n}") == "wrong"
    assert attempt(PASSWORD) == "wait"  # even rita's right password, from that client
    assert attempt(PASSWORD, client="10.9.9.9") == "ok"
    clock.advance(timedelta(seconds=31))
    assert attempt(PASSWORD) == "ok"


@pytest.mark.usefixtures("rita")
def test_unknown_usernames_back_off_alike(attempt: Attempt) -> None:
    # The same answers as for a real account: the delay tells nobody which names exist.
    assert [attempt(WRONG, username="nobody") for _ in range(6)] == ["wrong"] * 5 + ["wait"]


def test_the_page_says_when_to_try_again(settings: Settings, rita: str) -> None:
    client = TestClient(create_app(settings), base_url="https://testserver")

    def post(password: str) -> object:
        token = CSRF.search(client.get("/web/login").text)
        assert token
        return client.post(
            "/web/login",
            data={"csrf_token": token.group(1), "username": "rita", "password": password},
            follow_redirects=False,
        )

    for _ in range(5):
        assert post(WRONG).status_code == 401  # type: ignore[attr-defined]
    waiting = post(PASSWORD)
    assert waiting.status_code == 429  # type: ignore[attr-defined]
    assert 1 <= int(waiting.headers["retry-after"]) <= 30  # type: ignore[attr-defined]
    assert "try again in" in waiting.text  # type: ignore[attr-defined]
    assert "unlock" in waiting.text  # type: ignore[attr-defined]


def test_users_unlock_lets_the_right_password_in_at_once_and_is_audited(
    attempt: Attempt,
    clock: Clock,
    rita: str,
    database_url: str,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(10):  # five free mistakes from each of two clients
        assert attempt(WRONG, client=f"10.3.0.{n % 2}") == "wrong"
    assert attempt(PASSWORD, client="10.3.0.1") == "wait"
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli, ["users", "unlock", "rita"])
    assert result.exit_code == 0, result.output
    assert "unlocked rita" in result.output
    assert attempt(PASSWORD, client="10.3.0.1") == "ok"
    assert attempt(PASSWORD, client="10.3.0.0") == "ok"
    with session_factory() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.unlock")).one()
    assert event.target_id == rita
    assert event.outcome == "success"
    assert json.loads(event.details) == {"failures_forgotten": 10}
    assert event.actor_id.startswith("os:")

    unknown = CliRunner().invoke(cli, ["users", "unlock", "nobody"])
    assert unknown.exit_code != 0
    assert "not_found" in unknown.output
