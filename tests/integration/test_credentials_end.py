"""Credentials that really end (issue 13), in process, on SQLite and PostgreSQL.

Revoking a token, changing or clearing a password and removing a role end the web
sessions opened with them at the very next request; a token minted with a token or a web
session expires no later than it and dies with it; every token's lifetime is capped by
``FIVESAFES_TOKEN_MAX_DAYS`` whoever issues it. Each rule is checked against a control
(another user's session, a sibling token) that must keep working, so a test cannot pass
by everything being refused.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes import schema
from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.main import app as cli_app
from fivesafes.config import Settings, load_settings, reset_settings_cache
from fivesafes.db import UTCDateTime, make_engine, make_session_factory, utcnow
from fivesafes.errors import AuthenticationError, ConflictError, InvalidInputError
from fivesafes.identity import passwords
from fivesafes.identity import service as identity
from fivesafes.identity import web_sessions as web_session
from fivesafes.identity.models import ApiToken, Role
from fivesafes.identity.web_models import WebSession

TRAIL = AuditTrail.for_operator()
PASSWORD = "a long enough passphrase"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app_settings(database_url: str, tmp_path: object) -> Settings:
    return load_settings(database_url=database_url, token_max_days=10, token_lifetime_days=30)


def _client(settings: Settings) -> TestClient:
    # https: the session cookie is Secure, and httpx keeps it off plain http.
    return TestClient(create_app(settings), base_url="https://testserver")


def _user(
    factory: sessionmaker[Session], username: str, role: Role, *, password: bool = False
) -> str:
    """A user with a one-day operator token; returns the token's secret."""
    with factory() as session:
        user = identity.create_user(session, TRAIL, username, role)
        if password:
            passwords.set_password(session, TRAIL, user, PASSWORD)
        secret = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
        session.commit()
        return secret


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _log_in_password(client: TestClient, username: str) -> None:
    page = client.get("/web/login")
    found = CSRF.search(page.text)
    assert found
    response = client.post(
        "/web/login",
        data={"csrf_token": found.group(1), "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _log_in_token(client: TestClient, secret: str) -> None:
    page = client.get("/web/login")
    found = CSRF.search(page.text)
    assert found
    response = client.post(
        "/web/login/token",
        data={"csrf_token": found.group(1), "token": secret},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _session_csrf(client: TestClient) -> str:
    page = client.get("/web/")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found
    return found.group(1)


def _logged_in(client: TestClient) -> bool:
    """Whether the client's session cookie still works, on the API and on the pages."""
    api = client.get("/me").status_code
    page = client.get("/web/", follow_redirects=False)
    web_ok = page.status_code in {200, 303} and not page.headers.get("location", "").startswith(
        "/web/login"
    )
    assert (api == 200) == web_ok, (api, page.status_code, page.headers.get("location"))
    return api == 200


def _events(factory: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with factory() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.outcome == "success")
                .order_by(AuditEvent.seq)
            )
        )


def _details(event: AuditEvent) -> dict[str, object]:
    loaded = json.loads(event.details) if event.details else {}
    assert isinstance(loaded, dict)
    return loaded


# --- web sessions end with what opened them ---------------------------------------------


def test_revoking_a_token_ends_the_web_sessions_opened_with_it(
    app_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    secret = _user(session_factory, "ula", Role.UPLOADER)
    with session_factory() as session:
        user = identity.get_user(session, "ula")
        other = identity.issue_token(session, TRAIL, user, "other", timedelta(days=1)).secret
        session.commit()
    with _client(app_settings) as victim, _client(app_settings) as control:
        _log_in_token(victim, secret)
        _log_in_token(control, other)
        assert _logged_in(victim)
        assert _logged_in(control)
        token_id = victim.get("/tokens", headers=_bearer(secret)).json()
        target = next(t["id"] for t in token_id if t["name"] == "t")
        assert victim.delete(f"/tokens/{target}", headers=_bearer(other)).status_code == 200
        assert not _logged_in(victim)
        assert _logged_in(control)  # a session opened with another token carries on


def test_a_token_session_ends_when_its_token_expires(
    app_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    secret = _user(session_factory, "ula", Role.UPLOADER)
    with _client(app_settings) as client:
        _log_in_token(client, secret)
        with session_factory() as session:
            row = session.scalars(select(WebSession)).one()
            token = session.get(ApiToken, row.token_id)
            assert token is not None
            assert row.expires_at <= token.expires_at  # never outlives its token
            session.execute(
                update(ApiToken)
                .where(ApiToken.id == token.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            session.commit()
        assert not _logged_in(client)


@pytest.mark.parametrize("change", ["set", "clear"])
def test_changing_or_clearing_a_password_ends_every_session_of_that_user(
    change: str, app_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    secret = _user(session_factory, "rita", Role.RESEARCHER, password=True)
    _user(session_factory, "gina", Role.GOVERNANCE, password=True)
    with (
        _client(app_settings) as by_password,
        _client(app_settings) as by_token,
        _client(app_settings) as control,
    ):
        _log_in_password(by_password, "rita")
        _log_in_token(by_token, secret)
        _log_in_password(control, "gina")
        assert _logged_in(by_password)
        assert _logged_in(by_token)
        assert _logged_in(control)
        with session_factory() as session:
            user = identity.get_user(session, "rita")
            if change == "set":
                passwords.set_password(session, TRAIL, user, "another long passphrase")
            else:
                passwords.clear_password(session, TRAIL, user)
            session.commit()
        assert not _logged_in(by_password)
        assert not _logged_in(by_token)
        assert _logged_in(control)
        # The bearer token itself was not minted from a session: it still works.
        assert by_password.get("/me", headers=_bearer(secret)).status_code == 200
    (event,) = _events(session_factory, f"user.{change}_password")[-1:]
    assert _details(event) == {"sessions_ended": True}


def test_removing_a_role_ends_the_users_sessions(
    app_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    admin = _user(session_factory, "ada", Role.ADMIN)
    _user(session_factory, "gina", Role.GOVERNANCE, password=True)
    _user(session_factory, "rita", Role.RESEARCHER, password=True)
    with _client(app_settings) as demoted, _client(app_settings) as control:
        _log_in_password(demoted, "gina")
        _log_in_password(control, "rita")
        assert _logged_in(demoted)
        assert _logged_in(control)
        response = demoted.post(
            "/users/gina/role", json={"role": "researcher"}, headers=_bearer(admin)
        )
        assert response.status_code == 200, response.text
        assert response.json()["role"] == "researcher"
        assert not _logged_in(demoted)
        assert _logged_in(control)
        bad = demoted.post("/users/gina/role", json={"role": "king"}, headers=_bearer(admin))
        assert bad.status_code == 422
        # A logged-in user without the admin role may not change roles.
        assert (
            control.post(
                "/users/gina/role",
                json={"role": "admin"},
                headers={"X-CSRF-Token": _session_csrf(control)},
            ).status_code
            == 403
        )
    (event,) = _events(session_factory, "user.change_role")
    assert _details(event) == {"from": "governance", "to": "researcher", "sessions_ended": True}


def test_the_last_admin_cannot_be_demoted(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        identity.create_user(session, TRAIL, "ada", Role.ADMIN)
        with pytest.raises(ConflictError) as refused:
            identity.change_role(session, TRAIL, "ada", Role.RESEARCHER)
        assert refused.value.code == "last_admin"
        identity.create_user(session, TRAIL, "bob", Role.ADMIN)
        assert identity.change_role(session, TRAIL, "ada", Role.RESEARCHER).role == Role.RESEARCHER


# --- tokens minted from tokens and sessions ----------------------------------------------


def test_a_token_minted_from_a_token_expires_with_it_and_dies_with_it(
    app_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    parent = _user(session_factory, "rita", Role.RESEARCHER)  # a one-day token
    with _client(app_settings) as client:
        minted = client.post(
            "/tokens", json={"name": "child", "lifetime_days": 5}, headers=_bearer(parent)
        )
        assert minted.status_code == 201, minted.text
        child = minted.json()
        grand = client.post("/tokens", json={"name": "grand"}, headers=_bearer(child["token"]))
        assert grand.status_code == 201, grand.text
        sibling = client.post("/tokens", json={"name": "sibling"}, headers=_bearer(parent))
        with session_factory() as session:
            parent_row = session.scalars(select(ApiToken).where(ApiToken.name == "t")).one()
            child_row = session.get(ApiToken, uuid.UUID(child["id"]))
            assert child_row is not None
            assert child_row.parent_token_id == parent_row.id
            assert child_row.expires_at == parent_row.expires_at  # capped, not 5 days
        assert child["parent_token_id"] == str(parent_row.id)
        for secret in (child["token"], grand.json()["token"], sibling.json()["token"]):
            assert client.get("/me", headers=_bearer(secret)).status_code == 200

        revoked = client.delete(f"/tokens/{child['id']}", headers=_bearer(parent))
        assert revoked.status_code == 200
        for secret in (child["token"], grand.json()["token"]):
            refused = client.get("/me", headers=_bearer(secret))
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "token_revoked"
        assert client.get("/me", headers=_bearer(sibling.json()["token"])).status_code == 200
        assert client.get("/me", headers=_bearer(parent)).status_code == 200
    revocations = _events(session_factory, "token.revoke")
    assert {e.target_id for e in revocations} == {child["id"], grand.json()["id"]}
    (by_cascade,) = [e for e in revocations if _details(e).get("reason") == "parent_revoked"]
    assert by_cascade.target_id == grand.json()["id"]
    assert _details(by_cascade)["cause"] == child["id"]
    (issued,) = [e for e in _events(session_factory, "token.issue") if e.target_id == child["id"]]
    assert _details(issued)["parent_token_id"] == str(parent_row.id)
    assert _details(issued)["capped_by_parent"] is True


def test_the_chain_is_checked_on_every_authentication_not_only_cascaded(
    session_factory: sessionmaker[Session],
) -> None:
    """A parent revoked or expired behind the service's back still ends its children."""
    with session_factory() as session:
        user = identity.create_user(session, TRAIL, "rita", Role.RESEARCHER)
        parent = identity.issue_token(session, TRAIL, user, "p", timedelta(days=2))
        child = identity.issue_token(
            session,
            TRAIL,
            user,
            "c",
            timedelta(days=1),
            minted_from=identity.Minter.from_token(parent.token),
        )
        session.commit()
        assert identity.authenticate(session, child.secret).username == "rita"
        parent.token.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
        with pytest.raises(AuthenticationError) as expired:
            identity.authenticate(session, child.secret)
        assert expired.value.code == "token_expired"
        parent.token.expires_at = utcnow() + timedelta(days=1)
        parent.token.revoked_at = utcnow()
        session.commit()
        with pytest.raises(AuthenticationError) as revoked:
            identity.authenticate(session, child.secret)
        assert revoked.value.code == "token_revoked"
        # Minting from a dead parent is refused too.
        with pytest.raises(AuthenticationError):
            identity.issue_token(
                session,
                TRAIL,
                user,
                "late",
                timedelta(days=1),
                minted_from=identity.Minter.from_token(parent.token),
            )


def test_a_session_may_not_mint_a_token_that_outlives_it(
    app_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    _user(session_factory, "rita", Role.RESEARCHER, password=True)
    with _client(app_settings) as client:
        _log_in_password(client, "rita")
        csrf = {"X-CSRF-Token": _session_csrf(client)}
        first = client.post("/tokens", json={"name": "from-web", "lifetime_days": 9}, headers=csrf)
        assert first.status_code == 201, first.text
        second = client.post("/tokens", json={"name": "kept"}, headers=csrf)
        assert second.status_code == 201
        with session_factory() as session:
            row = session.scalars(select(WebSession)).one()
            minted = session.get(ApiToken, uuid.UUID(first.json()["id"]))
            assert minted is not None
            assert minted.expires_at <= row.expires_at  # 12 hours, not 9 days
            assert minted.parent_session_id == row.id
        assert client.get("/me", headers=_bearer(first.json()["token"])).status_code == 200

        # A password change ends the session and the tokens it minted.
        with session_factory() as session:
            user = identity.get_user(session, "rita")
            passwords.set_password(session, TRAIL, user, "another long passphrase")
            session.commit()
        refused = client.get("/me", headers=_bearer(first.json()["token"]))
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "token_revoked"


def test_log_out_revokes_the_tokens_the_session_minted(
    app_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    _user(session_factory, "rita", Role.RESEARCHER, password=True)
    _user(session_factory, "gina", Role.GOVERNANCE, password=True)
    with _client(app_settings) as client, _client(app_settings) as control:
        _log_in_password(client, "rita")
        _log_in_password(control, "gina")
        csrf = _session_csrf(client)
        minted = client.post("/tokens", json={"name": "w"}, headers={"X-CSRF-Token": csrf})
        other = control.post(
            "/tokens", json={"name": "w"}, headers={"X-CSRF-Token": _session_csrf(control)}
        )
        assert minted.status_code == other.status_code == 201
        out = client.post("/web/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303
        assert client.get("/me", headers=_bearer(minted.json()["token"])).status_code == 401
        assert client.get("/me", headers=_bearer(other.json()["token"])).status_code == 200
    (logout,) = _events(session_factory, "web.logout")
    assert _details(logout) == {"tokens_revoked": 1}


def test_a_session_opened_with_a_token_mints_children_of_that_token(
    app_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    secret = _user(session_factory, "ula", Role.UPLOADER)
    with _client(app_settings) as client:
        _log_in_token(client, secret)
        minted = client.post(
            "/tokens", json={"name": "w"}, headers={"X-CSRF-Token": _session_csrf(client)}
        )
        assert minted.status_code == 201
        parent_id = next(t["id"] for t in client.get("/tokens").json() if t["name"] == "t")
        assert client.delete(f"/tokens/{parent_id}", headers=_bearer(secret)).status_code == 200
        assert client.get("/me", headers=_bearer(minted.json()["token"])).status_code == 401


# --- the lifetime cap, on every path -----------------------------------------------------


def test_the_api_refuses_a_lifetime_beyond_the_cap_and_caps_the_default(
    app_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    secret = _user(session_factory, "rita", Role.RESEARCHER)
    with session_factory() as session:
        user = identity.get_user(session, "rita")
        long_lived = identity.issue_token(
            session, TRAIL, user, "long", timedelta(days=10), max_lifetime=timedelta(days=10)
        ).secret
        session.commit()
    with _client(app_settings) as client:
        refused = client.post(
            "/tokens", json={"name": "x", "lifetime_days": 11}, headers=_bearer(long_lived)
        )
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "lifetime_too_long"
        assert "10 days" in error["message"]
        assert "FIVESAFES_TOKEN_MAX_DAYS" in error["message"]
        # The configured default (30 days) is cut to the cap (10 days).
        default = client.post("/tokens", json={"name": "d"}, headers=_bearer(long_lived))
        assert default.status_code == 201
        with session_factory() as session:
            row = session.get(ApiToken, uuid.UUID(default.json()["id"]))
            assert row is not None
            assert row.expires_at - row.created_at <= timedelta(days=10)
        assert client.get("/me", headers=_bearer(secret)).status_code == 200


def test_the_service_enforces_the_configured_cap_for_callers_that_pass_none(
    monkeypatch: pytest.MonkeyPatch, session_factory: sessionmaker[Session]
) -> None:
    monkeypatch.setenv("FIVESAFES_TOKEN_MAX_DAYS", "3")
    reset_settings_cache()
    with session_factory() as session:
        user = identity.create_user(session, TRAIL, "rita", Role.RESEARCHER)
        with pytest.raises(InvalidInputError) as refused:
            identity.issue_token(session, TRAIL, user, "t", timedelta(days=4))
        assert refused.value.code == "lifetime_too_long"
        ok = identity.issue_token(session, TRAIL, user, "t", timedelta(days=3))
        assert ok.token.expires_at - ok.token.created_at == timedelta(days=3)


def test_the_cli_and_first_run_set_up_obey_the_cap(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("FIVESAFES_TOKEN_MAX_DAYS", "5")
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings_cache()
    runner = CliRunner()
    assert runner.invoke(cli_app, ["init"]).exit_code == 0
    assert runner.invoke(cli_app, ["users", "add", "rita", "--role", "researcher"]).exit_code == 0
    refused = runner.invoke(cli_app, ["tokens", "issue", "rita", "--days", "6"])
    assert refused.exit_code != 0
    assert "FIVESAFES_TOKEN_MAX_DAYS" in refused.output
    assert runner.invoke(cli_app, ["tokens", "issue", "rita", "--days", "5"]).exit_code == 0
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            tokens = list(session.scalars(select(ApiToken)))
            assert len(tokens) == 2  # the admin's (init) and rita's
            assert all(t.expires_at - t.created_at <= timedelta(days=5) for t in tokens)
    finally:
        engine.dispose()


def test_the_cli_changes_roles_and_ends_sessions(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", empty_database_url)
    reset_settings_cache()
    runner = CliRunner()
    assert runner.invoke(cli_app, ["init"]).exit_code == 0
    assert runner.invoke(cli_app, ["users", "add", "gina", "--role", "governance"]).exit_code == 0
    engine = make_engine(empty_database_url)
    try:
        factory = make_session_factory(engine)
        with factory() as session:
            user = identity.get_user(session, "gina")
            secret = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1))
            opened = web_session.open_session(session, TRAIL, user, "token", token=secret.token)
            cookie = opened.secret
            session.commit()
        changed = runner.invoke(cli_app, ["users", "set-role", "gina", "--role", "uploader"])
        assert changed.exit_code == 0, changed.output
        assert "governance -> uploader" in changed.output
        with factory() as session:
            assert web_session.find_session(session, cookie) is None
            assert identity.get_user(session, "gina").role == Role.UPLOADER
        last = runner.invoke(cli_app, ["users", "set-role", "admin", "--role", "researcher"])
        assert last.exit_code != 0
        assert "last active admin" in last.output
    finally:
        engine.dispose()


# --- the migration ----------------------------------------------------------------------


def test_migration_0008_keeps_password_sessions_and_ends_unlinkable_token_sessions(
    empty_database_url: str,
) -> None:
    schema.upgrade(empty_database_url, "0007")
    engine = make_engine(empty_database_url)
    user_id, now = uuid.uuid4(), utcnow()
    stamp = (sa.column(c, UTCDateTime()) for c in ("created_at", "last_seen_at", "expires_at"))
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        *(sa.column(c) for c in ("username", "full_name", "role", "is_active")),
        sa.column("created_at", UTCDateTime()),
    )
    sessions = sa.table(
        "web_sessions",
        sa.column("id", sa.Uuid()),
        sa.column("user_id", sa.Uuid()),
        *(sa.column(c) for c in ("token_hash", "csrf_token", "method")),
        *stamp,
    )
    tokens = sa.table(
        "api_tokens",
        sa.column("id", sa.Uuid()),
        sa.column("user_id", sa.Uuid()),
        *(sa.column(c) for c in ("name", "token_hash", "prefix")),
        sa.column("created_at", UTCDateTime()),
        sa.column("expires_at", UTCDateTime()),
    )
    try:
        with engine.begin() as connection:
            connection.execute(
                users.insert().values(
                    id=user_id,
                    username="rita",
                    full_name="",
                    role="researcher",
                    is_active=True,
                    created_at=now,
                )
            )
            connection.execute(
                tokens.insert().values(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    name="old",
                    token_hash="f" * 64,
                    prefix="fs_old",
                    created_at=now,
                    expires_at=now + timedelta(days=1),
                )
            )
            for method in ("password", "token"):
                connection.execute(
                    sessions.insert().values(
                        id=uuid.uuid4(),
                        token_hash=method.ljust(64, "0"),
                        user_id=user_id,
                        csrf_token="c",
                        method=method,
                        created_at=now,
                        last_seen_at=now,
                        expires_at=now + timedelta(hours=1),
                    )
                )
        schema.upgrade(empty_database_url)
        with make_session_factory(engine)() as session:
            (row,) = session.scalars(select(WebSession))
            assert row.method == "password"
            assert row.credentials_epoch == 0
            assert row.user.credentials_epoch == 0
            (old,) = session.scalars(select(ApiToken))
            assert old.parent_token_id is None
            assert old.credentials_epoch is None  # operator tokens are not session-bound
            assert identity.token_refusal(session, old, now) is None
            # A session linked to the surviving token, so the downgrade meets real links.
            web_session.open_session(session, TRAIL, row.user, "token", token=old)
            session.commit()
        schema.downgrade(empty_database_url, "0007")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("api_tokens")}
        assert "parent_token_id" not in columns
        schema.upgrade(empty_database_url)
    finally:
        engine.dispose()
