"""A database that is down answers 503 on every route; /healthz checks the app's rights."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fivesafes.app import create_app
from fivesafes.config import Settings, load_settings
from fivesafes.datasets.version_tables import VERSION_SCHEMA
from fivesafes.httpkit import cookies, csrf


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


@pytest.fixture
def down_client(tmp_path: Path) -> TestClient:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/fivesafes"
    settings = load_settings(database_url=url, keystore_path=tmp_path / "keys")
    return TestClient(create_app(settings), base_url="https://testserver")


BEARER = {"Authorization": "Bearer fs_" + "a" * 43}


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/me", {"headers": BEARER}),
        ("GET", "/datasets", {"headers": BEARER}),
        ("GET", "/projects/1", {"headers": BEARER}),
        ("POST", "/projects", {"headers": BEARER, "json": {"title": "t"}}),
        ("GET", "/audit/events", {"headers": BEARER}),
        ("GET", "/me", {}),  # even the refusal of an anonymous call needs the trail
        ("GET", "/web/research", {"cookies": {cookies.COOKIE: "s" * 43}}),
        (
            "POST",
            "/web/login",
            {
                "cookies": {csrf.LOGIN_COOKIE: "t" * 43},
                "data": {"csrf_token": "t" * 43, "username": "u", "password": "p"},
            },
        ),
    ],
)
def test_every_route_answers_503_when_the_database_is_down(
    down_client: TestClient,
    method: str,
    path: str,
    kwargs: dict[str, object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cookies = kwargs.pop("cookies", None)
    if isinstance(cookies, dict):
        down_client.cookies.update(cookies)
    response = down_client.request(method, path, follow_redirects=False, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response.headers["retry-after"].isdigit()
    assert response.headers["cache-control"] == "no-store"
    assert "127.0.0.1" not in response.text  # no connection details to the client
    assert "Traceback" not in caplog.text


def test_healthz_is_503_when_the_database_is_down(down_client: TestClient) -> None:
    response = down_client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


def test_healthz_ok_with_the_full_rights(settings: Settings) -> None:
    response = TestClient(create_app(settings)).get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


def test_healthz_is_503_on_a_read_only_sqlite_file(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's read-only mode")
    path = database_url.split("///", 1)[1]
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    settings = load_settings(database_url=read_only, keystore_path=tmp_path / "keys")
    response = TestClient(create_app(settings)).get("/healthz")
    assert response.status_code == 503, response.text
    assert "rights" in response.json()["error"]["message"]


@pytest.fixture
def app_role(database_url: str) -> Iterator[str]:
    """A login role with the grants of docs/audit.md, and the version schema's."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL privileges")
    role = f"fivesafes_app_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for statement in (
            f"CREATE ROLE {role} LOGIN",
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
            f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints FROM {role}",
            f"GRANT USAGE, CREATE ON SCHEMA {VERSION_SCHEMA} TO {role}",
        ):
            connection.execute(text(statement))
    try:
        yield role
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
            connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def _health_as(role: str, database_url: str, tmp_path: Path) -> tuple[int, str]:
    url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
    settings = load_settings(database_url=url, keystore_path=tmp_path / "keys")
    app = create_app(settings)
    try:
        response = TestClient(app).get("/healthz")
    finally:
        app.state.engine.dispose()
    return response.status_code, response.text


@pytest.mark.postgres
def test_healthz_ok_for_the_documented_app_role(
    app_role: str, database_url: str, tmp_path: Path
) -> None:
    status, body = _health_as(app_role, database_url, tmp_path)
    assert status == 200, body


@pytest.mark.postgres
@pytest.mark.parametrize(
    "revoke",
    [
        "REVOKE INSERT ON web_sessions FROM {role}",
        "REVOKE DELETE ON web_login_failures FROM {role}",
        "REVOKE SELECT ON audit_events FROM {role}",
        "REVOKE CREATE ON SCHEMA " + VERSION_SCHEMA + " FROM {role}",
    ],
)
def test_healthz_is_503_when_the_app_role_lacks_a_right(
    app_role: str,
    database_url: str,
    tmp_path: Path,
    revoke: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(revoke.format(role=app_role)))
    admin.dispose()
    status, body = _health_as(app_role, database_url, tmp_path)
    assert status == 503, body
    assert "rights" in body
    # The operator's log names what is missing; the anonymous caller does not learn it.
    missing = revoke.split(" FROM ", maxsplit=1)[0].removeprefix("REVOKE ")
    privilege, _, target = missing.partition(" ON ")
    assert privilege in caplog.text
    assert target.removeprefix("SCHEMA ") in caplog.text
    assert target.removeprefix("SCHEMA ") not in body
