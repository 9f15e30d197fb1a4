"""Web log-in, sessions, CSRF and the rate limit, in process, on both dialects."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.verify import verify_chain
from fivesafes.config import Settings
from fivesafes.db import utcnow
from fivesafes.httpkit import cookies
from fivesafes.identity import login, passwords
from fivesafes.identity import service as identity
from fivesafes.identity import web_sessions as web_session
from fivesafes.identity.models import Role
from fivesafes.identity.web_models import WebSession

TRAIL = AuditTrail.for_operator()
PASSWORD = "a long enough passphrase"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def client(settings: Settings) -> TestClient:
    # https: the session cookie is Secure, and httpx (rightly) keeps it off plain http.
    return TestClient(create_app(settings), base_url="https://testserver")


@pytest.fixture
def users(session_factory: sessionmaker[Session]) -> dict[str, str]:
    made = {}
    with session_factory() as session:
        for name, role in (("rita", Role.RESEARCHER), ("gina", Role.GOVERNANCE)):
            user = identity.create_user(session, TRAIL, name, role)
            passwords.set_password(session, TRAIL, user, PASSWORD)
            made[name] = str(user.id)
        session.commit()
    return made


def _form_token(client: TestClient, path: str = "/web/login") -> str:
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def _log_in(client: TestClient, username: str, password: str = PASSWORD) -> object:
    token = _form_token(client)
    return client.post(
        "/web/login",
        data={"csrf_token": token, "username": username, "password": password},
        follow_redirects=False,
    )


def _events(factory: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_log_in_sets_a_secure_session_cookie_and_log_out_ends_it(
    client: TestClient, users: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    response = _log_in(client, "rita")
    assert response.status_code == 303
    assert response.headers["location"] == "/web/research"
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "session" in v
    )
    assert cookie.startswith(cookies.COOKIE + "=")
    for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert client.get("/me").json()["username"] == "rita"  # the API accepts the session
    page = client.get("/web/research")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
    success = _events(session_factory, "web.login")
    assert [(e.outcome, e.actor_id, e.target_id) for e in success] == [
        ("success", users["rita"], users["rita"])
    ]

    token = CSRF.search(page.text)
    assert token
    out = client.post("/web/logout", data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/me").status_code == 401
    assert (
        client.get("/web/research", follow_redirects=False)
        .headers["location"]
        .startswith("/web/login?next=/web/research")
    )
    assert len(_events(session_factory, "web.logout")) == 1
    with session_factory() as session:
        assert session.scalar(select(WebSession)) is None


def test_token_log_in(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        user = identity.create_user(session, TRAIL, "ula", Role.UPLOADER)
        secret = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
        session.commit()
    token = _form_token(client)
    response = client.post(
        "/web/login/token", data={"csrf_token": token, "token": secret}, follow_redirects=False
    )
    assert response.headers["location"] == "/web/upload"
    assert client.get("/web/upload").status_code == 200
    bad = client.post(
        "/web/login/token",
        data={"csrf_token": _form_token(client), "token": "fs_wrong"},
        follow_redirects=False,
    )
    assert bad.status_code == 401
    assert "not valid" in bad.text


def test_failed_log_ins_are_audited_without_the_guess_and_rate_limited(
    client: TestClient, users: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    for _ in range(login.MAX_FAILURES):
        assert _log_in(client, "rita", "the wrong passphrase!").status_code == 401
    limited = _log_in(client, "rita")  # the right password no longer helps
    assert limited.status_code == 429
    assert "too many failed log-in attempts" in limited.text
    assert _log_in(client, "gina").status_code == 303  # another user is unaffected

    unknown = _log_in(client, "nobody-here", "the wrong passphrase!")
    assert unknown.status_code == 401
    assert "wrong username or password" in unknown.text

    denied = [e for e in _events(session_factory, "web.login") if e.outcome == "denied"]
    assert len(denied) == login.MAX_FAILURES + 2
    assert {e.target_id for e in denied} == {users["rita"], None}
    for event in denied:
        assert "wrong passphrase" not in event.details
        assert "nobody-here" not in event.details
        assert event.actor_id is None
    assert '"reason":"too_many_attempts"' in denied[login.MAX_FAILURES].details
    with session_factory() as session:
        assert verify_chain(session).ok


def test_the_delay_passes_and_the_right_password_clears_the_count(
    users: dict[str, str], session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_factory() as session:
        for _ in range(login.MAX_FAILURES):
            with pytest.raises(passwords.AuthenticationError):
                login.log_in_with_password(session, TRAIL, "rita", "wrong passphrase!!", "1.2.3.4")
        with pytest.raises(login.TooManyAttemptsError) as waiting:
            login.log_in_with_password(session, TRAIL, "rita", PASSWORD, "1.2.3.4")
        assert timedelta(0) < waiting.value.wait <= login.FIRST_DELAY
        # Another client is not delayed by someone else's guesses.
        login.log_in_with_password(session, TRAIL, "rita", PASSWORD, "5.6.7.8")
        later = utcnow() + login.FIRST_DELAY + timedelta(seconds=1)
        monkeypatch.setattr(login, "utcnow", lambda: later)
        opened = login.log_in_with_password(session, TRAIL, "rita", PASSWORD, "1.2.3.4")
        assert opened.row.user.username == "rita"
        # The count was cleared: one more mistake is free again, not a longer delay.
        with pytest.raises(passwords.AuthenticationError):
            login.log_in_with_password(session, TRAIL, "rita", "wrong passphrase!!", "1.2.3.4")
        login.log_in_with_password(session, TRAIL, "rita", PASSWORD, "1.2.3.4")
        session.commit()


def test_csrf_is_required_on_every_form_and_cookie_authenticated_post(
    client: TestClient, users: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    _form_token(client)
    no_token = client.post(
        "/web/login", data={"username": "rita", "password": PASSWORD}, follow_redirects=False
    )
    assert no_token.status_code == 403
    assert _log_in(client, "rita").status_code == 303
    assert client.post("/web/logout", follow_redirects=False).status_code == 403
    wrong = client.post("/web/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert wrong.status_code == 403
    assert "security token" in wrong.text
    # The API refuses a cookie-authenticated POST without the header too...
    api = client.post("/projects/proposals", json={})
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "csrf_failed"
    # ...and accepts the header (the body is then validated as usual).
    page = client.get("/web/research")
    token = CSRF.search(page.text)
    assert token
    header = {"X-CSRF-Token": token.group(1)}
    validated = client.post("/projects/proposals", json={}, headers=header)
    assert validated.status_code == 422
    refusals = [e for e in _events(session_factory, "web.logout") if e.outcome == "denied"]
    assert len(refusals) == 2
    assert client.get("/me").status_code == 200  # still logged in


def test_sessions_expire_when_idle_and_when_the_user_is_disabled(
    users: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    with session_factory() as session:
        user = identity.get_user(session, "rita")
        opened = web_session.open_session(session, TRAIL, user, "password")
        assert web_session.find_session(session, opened.secret) is not None
        idle = utcnow() + web_session.IDLE_TIMEOUT + timedelta(seconds=1)
        assert web_session.find_session(session, opened.secret, now=idle) is None
        again = web_session.open_session(session, TRAIL, user, "password")
        identity.disable_user(session, TRAIL, "rita")
        assert web_session.find_session(session, again.secret) is None
        assert web_session.find_session(session, "not-a-session") is None
        assert web_session.find_session(session, None) is None
        session.commit()


def test_a_researcher_opening_the_queue_gets_an_audited_403_page(
    client: TestClient, users: dict[str, str], session_factory: sessionmaker[Session]
) -> None:
    _log_in(client, "rita")
    page = client.get("/web/governance/queue")
    assert page.status_code == 403
    assert "You do not have access to this page" in page.text
    assert page.headers["content-type"].startswith("text/html")
    denied = _events(session_factory, "web.governance.queue")
    assert [(e.outcome, e.actor_id) for e in denied] == [("denied", users["rita"])]
