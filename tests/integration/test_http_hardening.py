"""HTTP-layer guards, in process on both dialects: bodies read only after authentication,
capped and never spooled to disk; ids validated; security headers; the trusted proxy."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import starlette.formparsers
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings, load_settings
from fivesafes.httpkit import csrf
from fivesafes.httpkit.params import MAX_ID
from fivesafes.identity import login as web_login
from fivesafes.identity import passwords
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role

TRAIL = AuditTrail.for_operator()
PASSWORD = "a long enough passphrase"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LIMIT = 64 * 1024
MB = 1024 * 1024


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def tokens(session_factory: sessionmaker[Session]) -> dict[str, str]:
    made = {}
    with session_factory() as session:
        for name, role in (
            ("gina", Role.GOVERNANCE),
            ("rita", Role.RESEARCHER),
            ("adam", Role.ADMIN),
        ):
            user = identity.create_user(session, TRAIL, name, role)
            passwords.set_password(session, TRAIL, user, PASSWORD)
            made[name] = identity.issue_token(session, TRAIL, user, "t", timedelta(days=1)).secret
        session.commit()
    return made


@pytest.fixture
def clean_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Temporary files go to a folder of the test's own; Starlette's spool is watched."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    spooled: list[object] = []
    real = starlette.formparsers.SpooledTemporaryFile

    def watched(*args: Any, **kwargs: Any) -> Any:
        spooled.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", watched)
    yield folder
    assert spooled == [], "Starlette spooled a form part to a temporary file"
    assert list(folder.iterdir()) == []


class Sent:
    """What a raw ASGI request got back, and how much of its body the app pulled."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.consumed = 0


def _post_raw(
    app: FastAPI,
    path: str,
    *,
    size: int,
    content_type: str,
    cookies: dict[str, str] | None = None,
    declare_length: bool = True,
    chunk: int = 16 * 1024,
) -> Sent:
    """POST ``size`` bytes in chunks, counting how many of them the app read."""
    sent = Sent()
    headers = [(b"content-type", content_type.encode()), (b"host", b"testserver")]
    if declare_length:
        headers.append((b"content-length", str(size).encode()))
    if cookies:
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        headers.append((b"cookie", cookie.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 443),
    }
    filler = b"a" * chunk

    async def receive() -> dict[str, Any]:
        if sent.consumed >= size:
            await asyncio.sleep(0)
            return {"type": "http.disconnect"}
        part = filler[: min(chunk, size - sent.consumed)]
        sent.consumed += len(part)
        return {"type": "http.request", "body": part, "more_body": sent.consumed < size}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.status = message["status"]
            sent.headers = {k.decode(): v.decode() for k, v in message["headers"]}

    asyncio.run(app(scope, receive, send))
    return sent


FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=xyz"


@pytest.mark.parametrize("path", ["/web/login", "/web/governance/checkpoints", "/web/logout"])
def test_anonymous_large_posts_are_refused_unread(
    app: FastAPI, clean_tempdir: Path, path: str
) -> None:
    for content_type in (FORM, MULTIPART):
        for declare_length in (True, False):  # Content-Length, or chunked
            sent = _post_raw(
                app, path, size=5 * MB, content_type=content_type, declare_length=declare_length
            )
            case = (content_type, declare_length, sent.status)
            assert sent.status in (303, 403, 413, 415), case
            # Refused on its headers alone: not one byte of the body was read.
            assert sent.consumed == 0, case
            assert sent.headers["cache-control"] == "no-store"


def test_login_form_with_its_cookie_is_read_only_up_to_the_cap(
    app: FastAPI, clean_tempdir: Path, database_url: str
) -> None:
    # Anyone can set the double-submit cookie: it admits the body, but only 64 KB of it.
    cookies = {csrf.LOGIN_COOKIE: "x" * 43}
    chunked = _post_raw(
        app, "/web/login", size=5 * MB, content_type=FORM, cookies=cookies, declare_length=False
    )
    assert chunked.status == 413
    assert chunked.consumed <= LIMIT + 16 * 1024
    declared = _post_raw(app, "/web/login", size=5 * MB, content_type=FORM, cookies=cookies)
    assert (declared.status, declared.consumed) == (413, 0)
    files = _post_raw(app, "/web/login", size=5 * MB, content_type=MULTIPART, cookies=cookies)
    assert (files.status, files.consumed) == (413, 0)
    small = _post_raw(app, "/web/login", size=1000, content_type=MULTIPART, cookies=cookies)
    assert (small.status, small.consumed) == (415, 0)  # page forms never take files


def _log_in(client: TestClient, username: str) -> str:
    token = CSRF.search(client.get("/web/login").text)
    assert token
    response = client.post(
        "/web/login",
        data={"csrf_token": token.group(1), "username": username, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/web/governance/integrity")
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


def test_a_logged_in_form_over_the_cap_is_413_and_a_normal_one_works(
    app: FastAPI, tokens: dict[str, str], clean_tempdir: Path
) -> None:
    client = TestClient(app, base_url="https://testserver")
    form_token = _log_in(client, "gina")
    big = client.post(
        "/web/governance/checkpoints",
        data={"csrf_token": form_token, "pad": "x" * (LIMIT + 1)},
        follow_redirects=False,
    )
    assert big.status_code == 413
    files = client.post(
        "/web/governance/checkpoints",
        data={"csrf_token": form_token},
        files={"file": ("e.csv", b"nhs_number\n9434765919\n" * 100_000)},
        follow_redirects=False,
    )
    assert files.status_code in (413, 415)
    wrong = client.post(
        "/web/governance/checkpoints", data={"csrf_token": "nope"}, follow_redirects=False
    )
    assert wrong.status_code == 403
    # Admitted past the CSRF check (the header, no body): the route itself answers.
    by_header = client.post(
        "/web/governance/requests/999999/review",
        headers={"X-CSRF-Token": form_token},
        follow_redirects=False,
    )
    assert by_header.status_code == 422, by_header.text
    ok = client.post("/web/logout", data={"csrf_token": form_token}, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    assert ok.headers["location"].endswith("notice=logged_out")


def test_api_json_bodies_are_capped_too(app: FastAPI, tokens: dict[str, str]) -> None:
    client = TestClient(app)
    auth = {"Authorization": f"Bearer {tokens['rita']}"}
    response = client.post(
        "/projects", headers=auth, json={"title": "t", "pad": "x" * (LIMIT + 10)}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


# --- ids ---------------------------------------------------------------------------------


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.160)
            yield from _api_routes(route.original_router.routes)


def _int_params(app: FastAPI) -> Iterator[tuple[str, str, Any]]:
    for route in _api_routes(app.routes):
        flat = route.dependant
        stack = [flat]
        while stack:
            dependant = stack.pop()
            stack.extend(dependant.dependencies)
            for param in (*dependant.path_params, *dependant.query_params):
                if param.field_info.annotation in (int, int | None):
                    yield route.path, param.name, param.field_info


def test_every_numeric_path_and_query_parameter_is_bounded(app: FastAPI) -> None:
    seen = 0
    for path, name, info in _int_params(app):
        seen += 1
        bounds = {type(m).__name__: m for m in info.metadata}
        assert "Le" in bounds, f"{path}: {name} has no upper bound"
        assert bounds["Le"].le <= 2**63 - 1, (path, name)
        assert "Ge" in bounds, f"{path}: {name} has no lower bound"
    assert seen >= 20


OUT_OF_RANGE = (
    f"/projects/{MAX_ID + 1}",
    "/projects/99999999999999999999999",
    f"/requests/{MAX_ID + 1}",
    f"/grants/{MAX_ID + 1}",
    f"/grants/{MAX_ID + 1}/releases",
    f"/grants?project={MAX_ID + 1}",
    f"/datasets/episodes/versions/{MAX_ID + 1}/review",
    f"/audit/events?after={2**63}",
    "/projects/0",
)


def test_ids_out_of_range_are_422_not_500(app: FastAPI, tokens: dict[str, str]) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    for path in OUT_OF_RANGE:
        response = client.get(path, headers={"Authorization": f"Bearer {tokens['gina']}"})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["code"] == "invalid_request"


def test_the_largest_id_is_a_plain_404(app: FastAPI, tokens: dict[str, str]) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get(
        f"/projects/{MAX_ID}", headers={"Authorization": f"Bearer {tokens['gina']}"}
    )
    assert response.status_code in (403, 404), response.text


# --- headers -----------------------------------------------------------------------------


def test_api_responses_are_not_cached_or_sniffed_and_hsts_only_over_https(
    settings: Settings, tokens: dict[str, str]
) -> None:
    plain = TestClient(create_app(settings))
    for response in (
        plain.get("/me", headers={"Authorization": f"Bearer {tokens['rita']}"}),
        plain.get("/me"),  # an error too
        plain.get("/healthz"),
    ):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "strict-transport-security" not in response.headers
    https = settings.model_copy(update={"public_url": "https://data.example.nhs.uk"})
    secure = TestClient(create_app(https)).get("/me")
    assert secure.headers["strict-transport-security"].startswith("max-age=")


# --- the trusted proxy -------------------------------------------------------------------

PROXY = "10.0.0.7"


def _fail_then_try(client: TestClient, forwarded: str, tries: int) -> list[int]:
    statuses = []
    for _ in range(tries):
        token = CSRF.search(client.get("/web/login").text)
        assert token
        response = client.post(
            "/web/login",
            data={"csrf_token": token.group(1), "username": "rita", "password": "wrong wrong"},
            headers={"X-Forwarded-For": forwarded},
            follow_redirects=False,
        )
        statuses.append(response.status_code)
    return statuses


def _right_password(client: TestClient, forwarded: str) -> int:
    token = CSRF.search(client.get("/web/login").text)
    assert token
    return client.post(
        "/web/login",
        data={"csrf_token": token.group(1), "username": "rita", "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded},
        follow_redirects=False,
    ).status_code


def test_behind_the_trusted_proxy_each_user_has_their_own_throttle(
    settings: Settings, tokens: dict[str, str]
) -> None:
    behind = settings.model_copy(update={"forwarded_allow_ips": f"{PROXY},10.9.0.0/16"})
    client = TestClient(create_app(behind), base_url="https://testserver", client=(PROXY, 443))
    assert _fail_then_try(client, "203.0.113.5", web_login.MAX_FAILURES + 1)[-1] == 429
    assert _right_password(client, "203.0.113.5") == 429  # that address is locked out
    assert _right_password(client, "198.51.100.9") == 303  # another user behind the proxy


def test_forwarded_for_from_anyone_else_is_ignored(
    settings: Settings, tokens: dict[str, str]
) -> None:
    behind = settings.model_copy(update={"forwarded_allow_ips": PROXY})
    client = TestClient(
        create_app(behind), base_url="https://testserver", client=("192.0.2.44", 443)
    )
    assert _fail_then_try(client, "203.0.113.5", web_login.MAX_FAILURES)[-1] == 401
    # Changing the header does not escape the lock: the peer address is the client.
    assert _right_password(client, "198.51.100.9") == 429


def test_no_proxy_is_trusted_by_default(settings: Settings) -> None:
    assert load_settings().trusted_proxies == []
    assert settings.trusted_proxies == []


# --- text the database cannot store -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("GET", "/datasets/epi%00sodes", None, "path.name"),
        ("GET", "/access/explain?user=ri%00ta&action=project.view", None, "query.user"),
        (
            "POST",
            "/projects/proposals",
            {
                "title": "A title\x00",
                "purpose": "a purpose long enough",
                "lay_summary": "a summary long enough",
                "ethics_ref": "E1",
                "dsa_ref": "D1",
            },
            "body.title",
        ),
    ],
)
def test_a_nul_character_anywhere_is_422_naming_where(
    app: FastAPI, tokens: dict[str, str], method: str, path: str, body: object, where: str
) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    response = client.request(
        method, path, json=body, headers={"Authorization": f"Bearer {tokens['rita']}"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_text"
    assert error["message"].startswith(where)
    assert "A title" not in error["message"]


def test_a_nul_in_a_web_form_is_422(app: FastAPI, tokens: dict[str, str]) -> None:
    client = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    token = CSRF.search(client.get("/web/login").text)
    assert token
    response = client.post(
        "/web/login",
        data={"csrf_token": token.group(1), "username": "ri\x00ta", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 422, response.text


def test_a_file_posted_to_a_page_form_is_never_parsed_or_spooled(
    app: FastAPI, clean_tempdir: Path
) -> None:
    # A well-formed multipart body with a file part, small enough for the cap, with the
    # log-in cookie: Starlette would have parsed it into a temporary file; now 415 unread.
    client = TestClient(app, base_url="https://testserver", cookies={csrf.LOGIN_COOKIE: "c" * 43})
    response = client.post(
        "/web/login",
        data={"csrf_token": "c" * 43, "username": "x", "password": "y"},
        files={"file": ("extract.csv", b"nhs_number\n9434765919\n" * 1000)},
        follow_redirects=False,
    )
    assert response.status_code == 415, response.text
