"""The API's authentication, authorisation and error contract, in process, on both dialects."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings, load_settings
from fivesafes.db import utcnow
from fivesafes.identity import service
from fivesafes.identity.models import Role


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


TRAIL = AuditTrail.for_operator()


def _token(factory: sessionmaker[Session], username: str, role: Role) -> str:
    with factory() as session:
        user = service.create_user(session, TRAIL, username, role)
        secret = service.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
        session.commit()
        return secret


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_healthz_checks_the_database(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_is_503_when_the_database_is_unreachable(tmp_path: object) -> None:
    dead = load_settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none")
    with TestClient(create_app(dead)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "service_unavailable", "message": "database unreachable"}
    }


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/me", "/users", "/tokens"} <= set(paths)


def test_me_with_a_valid_token(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    secret = _token(session_factory, "alice", Role.RESEARCHER)
    response = client.get("/me", headers=_auth(secret))
    assert response.status_code == 200
    assert response.json()["username"] == "alice"
    assert response.json()["role"] == "researcher"


@pytest.mark.parametrize(
    ("case", "code", "fragment"),
    [
        ("missing", "missing_token", "missing bearer token"),
        ("unknown", "invalid_token", "invalid"),
        ("expired", "token_expired", "expired"),
        ("revoked", "token_revoked", "revoked"),
        ("disabled", "user_disabled", "disabled"),
    ],
)
def test_bad_credentials_are_401_with_a_clear_message(
    client: TestClient,
    session_factory: sessionmaker[Session],
    case: str,
    code: str,
    fragment: str,
) -> None:
    secret = _token(session_factory, "bob", Role.UPLOADER)
    with session_factory() as session:
        token = service.list_tokens(session)[0]
        if case == "expired":
            token.expires_at = utcnow() - timedelta(minutes=1)
        elif case == "revoked":
            service.revoke_token(session, TRAIL, token.id)
        elif case == "disabled":
            service.disable_user(session, TRAIL, "bob")
        session.commit()
    headers = {} if case == "missing" else _auth(secret if case != "unknown" else "fs_nope")
    response = client.get("/me", headers=headers)
    assert response.status_code == 401
    body = response.json()["error"]
    assert body["code"] == code
    assert fragment in body["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_role_is_403(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    secret = _token(session_factory, "carol", Role.RESEARCHER)
    response = client.get("/users", headers=_auth(secret))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden_role"
    assert "admin" in response.json()["error"]["message"]


def test_admin_creates_and_disables_users(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    admin = _token(session_factory, "root", Role.ADMIN)
    created = client.post(
        "/users", json={"username": "dana", "role": "governance"}, headers=_auth(admin)
    )
    assert created.status_code == 201
    assert created.json()["role"] == "governance"
    assert (
        client.post(
            "/users", json={"username": "dana", "role": "governance"}, headers=_auth(admin)
        ).status_code
        == 409
    )
    disabled = client.post("/users/dana/disable", headers=_auth(admin))
    assert disabled.status_code == 200
    assert disabled.json()["is_active"] is False
    listed = client.get("/users", headers=_auth(admin)).json()
    assert [u["username"] for u in listed] == ["dana", "root"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ed"}, "role"),
        ({"username": "ed", "role": "wizard"}, "role"),
        ({"username": "Ed!", "role": "admin"}, "username"),
        ({"username": "ed", "role": "admin", "shoe": 1}, "shoe"),
    ],
)
def test_bad_body_is_422_naming_the_field(
    client: TestClient, session_factory: sessionmaker[Session], body: dict[str, object], field: str
) -> None:
    admin = _token(session_factory, "root", Role.ADMIN)
    response = client.post("/users", json=body, headers=_auth(admin))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(field) or f"{field}:" in error["message"]


def test_malformed_json_is_422(client: TestClient, session_factory: sessionmaker[Session]) -> None:
    admin = _token(session_factory, "root", Role.ADMIN)
    response = client.post(
        "/users",
        content=b'{"username": "ed", "role": ',
        headers={**_auth(admin), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]["message"]


def test_token_lifecycle_over_the_api(
    client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    first = _token(session_factory, "fred", Role.RESEARCHER)
    issued = client.post(
        "/tokens", json={"name": "notebook", "lifetime_days": 2}, headers=_auth(first)
    )
    assert issued.status_code == 201
    second = issued.json()["token"]
    assert client.get("/me", headers=_auth(second)).status_code == 200
    listed = client.get("/tokens", headers=_auth(first)).json()
    assert {t["name"] for t in listed} == {"t", "notebook"}
    assert all("token" not in t for t in listed)
    revoked = client.delete(f"/tokens/{issued.json()['id']}", headers=_auth(first))
    assert revoked.status_code == 200
    assert client.get("/me", headers=_auth(second)).status_code == 401
