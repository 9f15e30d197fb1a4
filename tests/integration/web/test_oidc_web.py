"""The web sign-in with identity providers (issue 16), in process, against the test IdP.

The app runs in process (TestClient, https://testserver); the provider is the real test
identity provider over loopback HTTP, reached with a plain httpx client as a browser
would follow the redirects: out to its authorize endpoint, back to our callback. The
code exchange and the discovery/JWKS fetches go from the app to the provider over HTTP.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings, load_settings
from fivesafes.db import utcnow
from fivesafes.httpkit import cookies, csrf
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role, User
from fivesafes.identity.oidc import web_flow
from fivesafes.identity.oidc.models import FederatedIdentity, OidcLoginAttempt
from fivesafes.identity.web_models import WebSession
from tests.conftest import sqlite_only
from tests.oidc_idp.fixtures import identity_policy_file
from tests.oidc_idp.server import TestIdentityProvider

BASE = "https://testserver"
#: For a test of the HTTP, cookie and redirect logic only, whose database work is what the
#: PostgreSQL tests here already cover (the user, federated identity and session rows, the
#: attempt used once and pruned, a disabled account, two providers' identities): SQLite.
HTTP_ONLY = sqlite_only
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REFRESH = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)">')


@dataclass
class World:
    client: TestClient
    factory: sessionmaker[Session]
    idps: dict[str, TestIdentityProvider]


def _settings(settings: Settings, policy: Path, **more: Any) -> Settings:
    return load_settings(
        database_url=settings.database_url,
        keystore_path=settings.keystore_path,
        identity_policy=policy,
        public_url=BASE,
        **more,
    )


def _world(
    settings: Settings,
    tmp_path: Path,
    factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    *idps: TestIdentityProvider,
    **more: Any,
) -> World:
    for idp in idps:
        idp.redirect_uris.append(f"{BASE}/web/login/oidc/{idp.name}/callback")
        for name, value in idp.client_secret_env().items():
            monkeypatch.setenv(name, value)
    policy = identity_policy_file(tmp_path / "identity.yaml", *idps)
    app = create_app(_settings(settings, policy, **more))
    return World(TestClient(app, base_url=BASE), factory, {i.name: i for i in idps})


@pytest.fixture
def world(
    settings: Settings,
    tmp_path: Path,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    oidc_idp: TestIdentityProvider,
) -> Iterator[World]:
    made = _world(settings, tmp_path, session_factory, monkeypatch, oidc_idp)
    yield made
    made.client.close()


def _begin(world: World, provider: str = "testidp", next_url: str | None = None) -> str:
    """Press "Sign in with ...": the authorize URL our server sends the browser to."""
    path = f"/web/login/oidc/{provider}"
    if next_url is not None:
        path += "?" + urlencode({"next": next_url})
    out = world.client.get(path, follow_redirects=False)
    assert out.status_code == 303, out.text
    return out.headers["location"]


def _at_provider(authorize_url: str) -> str:
    """The browser at the provider: where it is sent back to (our callback)."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{BASE}/web/login/oidc/")
    return location


def _sign_in(world: World, provider: str = "testidp", next_url: str | None = None) -> str:
    """A full sign-in: the callback's URL (already answered) and its page's destination."""
    back = _at_provider(_begin(world, provider, next_url))
    page = world.client.get(back, follow_redirects=False)
    assert page.status_code == 200, page.text
    found = REFRESH.search(page.text)
    assert found, page.text
    return found.group(1)


def _events(world: World, action: str) -> list[tuple[str, dict[str, Any]]]:
    with world.factory() as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        )
        return [(e.outcome, json.loads(e.details)) for e in rows]


def _refusal_reasons(world: World) -> list[str]:
    return [details["reason"] for _, details in _events(world, "oidc.refused")]


def _user_count(world: World) -> int:
    with world.factory() as session:
        return len(list(session.scalars(select(User))))


def _set_cookie_headers(response: httpx.Response) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


def test_sign_in_creates_the_user_with_the_mapped_role_and_lands_on_its_home(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    oidc_idp.set_user("ada-0001", roles=["FiveSafes.Researcher"])
    login = world.client.get("/web/login")
    assert 'href="/web/login/oidc/testidp"' in login.text
    assert "Sign in with testidp" in login.text

    out = world.client.get("/web/login/oidc/testidp", follow_redirects=False)
    assert out.status_code == 303
    state_cookie = next(c for c in _set_cookie_headers(out) if web_flow.STATE_COOKIE in c)
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/web/login/oidc/"):
        assert attribute.lower() in state_cookie.lower()
    authorize = urlsplit(out.headers["location"])
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == oidc_idp.url("authorize")
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == oidc_idp.client_id
    assert query["redirect_uri"] == f"{BASE}/web/login/oidc/testidp/callback"
    assert query["code_challenge_method"] == "S256"
    assert set(query["scope"].split()) >= {"openid"}
    assert query["state"] == world.client.cookies.get(web_flow.STATE_COOKIE)
    assert len(query["nonce"]) >= 32
    with world.factory() as session:
        attempt = session.scalars(select(OidcLoginAttempt)).one()
        assert attempt.state_hash != query["state"]  # only its hash is kept
        assert attempt.code_verifier not in out.headers["location"]

    back = _at_provider(out.headers["location"])
    page = world.client.get(back, follow_redirects=False)
    assert page.status_code == 200
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    destination = REFRESH.search(page.text)
    assert destination
    assert destination.group(1) == "/web/research"
    assert 'href="/web/research"' in page.text
    assert "Content-Security-Policy" in page.headers
    session_cookie = next(c for c in _set_cookie_headers(page) if cookies.COOKIE in c)
    assert "samesite=strict" in session_cookie.lower()
    assert world.client.cookies.get(web_flow.STATE_COOKIE) is None  # the state is forgotten

    home = world.client.get("/web/research")
    assert home.status_code == 200
    assert "Test User ada-0001" in home.text
    me = world.client.get("/me").json()
    assert me["role"] == "researcher"
    # The code went back with the client secret (Basic) and the PKCE verifier.
    assert oidc_idp.token_requests[-1]["grant_type"] == "authorization_code"
    assert oidc_idp.token_requests[-1]["auth_method"] == "client_secret_basic"
    assert oidc_idp.token_requests[-1].get("error") is None

    with world.factory() as session:
        user = session.scalars(select(User)).one()
        assert user.role is Role.RESEARCHER
        link = session.scalars(select(FederatedIdentity)).one()
        assert (link.issuer, link.subject, link.user_id) == (oidc_idp.issuer, "ada-0001", user.id)
        row = session.scalars(select(WebSession)).one()
        assert (row.method, row.provider) == ("oidc", "testidp")
        assert session.scalar(select(OidcLoginAttempt)) is None  # used once, gone
    logins = _events(world, "web.login")
    assert logins == [("success", {"method": "oidc", "provider": "testidp"})]
    signed = _events(world, "oidc.sign_in")
    assert [d["via"] for _, d in signed] == ["web"]
    code = parse_qs(urlsplit(back).query)["code"][0]
    with world.factory() as session:
        trail = " ".join(e.details for e in session.scalars(select(AuditEvent)))
    assert code not in trail
    assert query["state"] not in trail
    assert query["nonce"] not in trail


@HTTP_ONLY
def test_each_role_lands_on_its_own_home_and_next_is_kept(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    oidc_idp.set_user("gill-7", roles=["FiveSafes.Governance"])
    assert _sign_in(world) == "/web/governance/queue"
    assert world.client.get("/web/governance/queue").status_code == 200

    target = "/web/governance/audit?page=2"
    login = world.client.get("/web/login?" + urlencode({"next": target}))
    assert "/web/login/oidc/testidp?next=%2Fweb%2Fgovernance%2Faudit%3Fpage%3D2" in login.text
    assert _sign_in(world, next_url=target) == target
    # Somewhere else than our pages is never a destination (no open redirect).
    assert _sign_in(world, next_url="https://evil.example/web/") == "/web/governance/queue"
    assert _sign_in(world, next_url="//evil.example/x") == "/web/governance/queue"


@HTTP_ONLY
def test_a_callback_without_a_state_is_refused(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    back = _at_provider(_begin(world))
    parts = urlsplit(back)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if k != "state"}
    refused = world.client.get(urlunsplit(parts._replace(query=urlencode(query))))
    assert refused.status_code == 401
    assert "state is missing" in refused.text
    assert cookies.COOKIE not in refused.headers.get("set-cookie", "")
    assert _refusal_reasons(world) == ["state_missing"]
    assert _user_count(world) == 0
    assert oidc_idp.token_requests == []  # the code was never exchanged


@HTTP_ONLY
def test_a_state_other_than_the_browsers_is_refused(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    back = _at_provider(_begin(world))
    forged = re.sub(r"state=[^&]+", "state=" + "x" * 43, back)
    refused = world.client.get(forged)
    assert refused.status_code == 401
    assert "state differs" in refused.text
    assert _refusal_reasons(world) == ["state_mismatch"]
    assert _user_count(world) == 0


@HTTP_ONLY
def test_the_state_cookie_must_be_present(world: World, oidc_idp: TestIdentityProvider) -> None:
    """A code delivered to another browser (log-in CSRF: the attacker's own sign-in
    pushed into a victim's browser) is refused; the starting browser still finishes."""
    back = _at_provider(_begin(world))
    victim = TestClient(world.client.app, base_url=BASE)
    refused = victim.get(back)
    assert refused.status_code == 401
    assert "not started from this browser" in refused.text
    assert victim.get("/me").status_code == 401
    assert _refusal_reasons(world) == ["state_missing"]
    assert world.client.get(back).status_code == 200  # the real browser's attempt lives


def test_a_state_is_used_once(world: World, oidc_idp: TestIdentityProvider) -> None:
    authorize = _begin(world)
    state = world.client.cookies.get(web_flow.STATE_COOKIE)
    back = _at_provider(authorize)
    assert world.client.get(back).status_code == 200
    assert state is not None
    world.client.cookies.set(web_flow.STATE_COOKIE, state, path=web_flow.STATE_COOKIE_PATH)
    replay = world.client.get(back)
    assert replay.status_code == 401
    assert "already used" in replay.text
    assert _refusal_reasons(world) == ["state_unknown"]
    assert len(_events(world, "web.login")) == 1


@HTTP_ONLY
def test_a_code_is_used_once(world: World, oidc_idp: TestIdentityProvider) -> None:
    """The provider refuses a used code (and its PKCE challenge is another attempt's):
    replaying it under a fresh state signs nobody in."""
    back = _at_provider(_begin(world))
    assert world.client.get(back).status_code == 200
    used_code = parse_qs(urlsplit(back).query)["code"][0]
    fresh = _at_provider(_begin(world))
    replay = re.sub(r"code=[^&]+", "code=" + used_code, fresh)
    refused = world.client.get(replay)
    assert refused.status_code == 401
    assert "code (invalid_grant)" in refused.text
    assert _refusal_reasons(world) == ["code_rejected"]
    assert used_code not in json.dumps(_events(world, "oidc.refused"))
    assert len(_events(world, "web.login")) == 1


def test_an_expired_attempt_is_refused_and_pruned(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    back = _at_provider(_begin(world))
    with world.factory() as session:
        attempt = session.scalars(select(OidcLoginAttempt)).one()
        attempt.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    refused = world.client.get(back)
    assert refused.status_code == 401
    assert "longer than 10 minutes" in refused.text
    assert _refusal_reasons(world) == ["state_expired"]
    assert oidc_idp.token_requests == []

    with world.factory() as session:  # an abandoned attempt goes at the next sign-in
        session.add(
            OidcLoginAttempt(
                state_hash="0" * 64,
                provider="testidp",
                nonce="n",
                code_verifier="v",
                expires_at=utcnow() - timedelta(minutes=1),
            )
        )
        session.commit()
    _begin(world)
    with world.factory() as session:
        left = [a.state_hash for a in session.scalars(select(OidcLoginAttempt))]
    assert len(left) == 1
    assert left != ["0" * 64]


@HTTP_ONLY
def test_an_id_token_for_another_nonce_is_refused(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    authorize = re.sub(r"nonce=[^&]+", "nonce=" + "n" * 43, _begin(world))
    refused = world.client.get(_at_provider(authorize))
    assert refused.status_code == 401
    assert _refusal_reasons(world) == ["bad_nonce"]
    assert _user_count(world) == 0
    assert world.client.get("/me").status_code == 401


@HTTP_ONLY
def test_the_providers_error_is_shown_and_audited(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    oidc_idp.authorize_error = "access_denied"
    refused = world.client.get(_at_provider(_begin(world)))
    assert refused.status_code == 401
    assert "cancelled or refused there" in refused.text
    assert _refusal_reasons(world) == ["provider_error"]
    assert oidc_idp.token_requests == []
    # Free text in the error parameter is not repeated as if the platform said it.
    _begin(world)
    state = world.client.cookies.get(web_flow.STATE_COOKIE)
    odd = world.client.get(
        "/web/login/oidc/testidp/callback?"
        + urlencode({"state": state, "error": "Call 0800 FRAUD now"})
    )
    assert odd.status_code == 401
    assert "FRAUD" not in odd.text


@HTTP_ONLY
def test_no_mapped_role_is_403_and_makes_no_account(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    oidc_idp.set_user("nora-3", roles=["Some.Other.App"])
    refused = world.client.get(_at_provider(_begin(world)))
    assert refused.status_code == 403
    assert "carries no role fivesafes knows" in refused.text
    assert _user_count(world) == 0
    with world.factory() as session:
        assert session.scalar(select(FederatedIdentity)) is None
        assert session.scalar(select(WebSession)) is None
    assert _refusal_reasons(world) == ["no_role"]


@HTTP_ONLY
def test_missing_mfa_is_refused(world: World, oidc_idp: TestIdentityProvider) -> None:
    oidc_idp.set_user("pat-9", amr=["pwd"])
    refused = world.client.get(_at_provider(_begin(world)))
    assert refused.status_code == 401
    assert _refusal_reasons(world) == ["mfa_required"]
    assert _user_count(world) == 0
    assert world.client.get("/me").status_code == 401


def test_a_disabled_account_stays_out_whatever_the_provider_says(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    _sign_in(world)
    with world.factory() as session:
        user = session.scalars(select(User)).one()
        identity.disable_user(session, AuditTrail.for_operator(), user.username)
        session.commit()
    assert world.client.get("/me").status_code == 401  # its session ended with it
    refused = world.client.get(_at_provider(_begin(world)))
    assert refused.status_code == 401
    assert "disabled" in refused.text
    assert _refusal_reasons(world) == ["user_disabled"]
    assert world.client.get("/me").status_code == 401


@HTTP_ONLY
def test_a_provider_that_cannot_be_reached_is_503_on_the_log_in_page(
    settings: Settings,
    tmp_path: Path,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with TestIdentityProvider("gone") as idp:
        world = _world(settings, tmp_path, session_factory, monkeypatch, idp)
    out = world.client.get("/web/login/oidc/gone", follow_redirects=False)
    assert out.status_code == 503
    assert "Sign in with gone" in out.text  # the log-in page, saying what is wrong
    with session_factory() as session:
        assert session.scalar(select(OidcLoginAttempt)) is None


@HTTP_ONLY
def test_an_unknown_provider_is_404(world: World) -> None:
    assert world.client.get("/web/login/oidc/nosuch", follow_redirects=False).status_code == 404
    assert world.client.get("/web/login/oidc/NoSuch").status_code == 422


def test_two_providers_each_button_goes_to_its_own(
    settings: Settings,
    tmp_path: Path,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    oidc_idp: TestIdentityProvider,
    second_oidc_idp: TestIdentityProvider,
) -> None:
    world = _world(settings, tmp_path, session_factory, monkeypatch, oidc_idp, second_oidc_idp)
    login = world.client.get("/web/login").text
    assert "Sign in with testidp" in login
    assert "Sign in with uni" in login
    assert _begin(world, "testidp").startswith(oidc_idp.url("authorize") + "?")
    assert _begin(world, "uni").startswith(second_oidc_idp.url("authorize") + "?")

    second_oidc_idp.set_user("u-42", roles=["FiveSafes.Uploader"])
    assert _sign_in(world, "uni") == "/web/upload"
    assert second_oidc_idp.token_requests[-1]["grant_type"] == "authorization_code"
    assert world.client.get("/me").json()["role"] == "uploader"
    # The same subject at the other provider is another person.
    oidc_idp.set_user("u-42", roles=["FiveSafes.Researcher"])
    other = TestClient(world.client.app, base_url=BASE)
    world_b = World(other, session_factory, world.idps)
    assert _sign_in(world_b, "testidp") == "/web/research"
    with session_factory() as session:
        links = {(f.provider, f.issuer) for f in session.scalars(select(FederatedIdentity))}
        assert links == {("uni", second_oidc_idp.issuer), ("testidp", oidc_idp.issuer)}
        assert len(list(session.scalars(select(User)))) == 2
    # A state begun for one provider cannot finish at the other's callback.
    back = _at_provider(_begin(world_b, "uni"))
    crossed = back.replace("/oidc/uni/", "/oidc/testidp/")
    assert other.get(crossed).status_code == 401


@HTTP_ONLY
def test_log_out_ends_the_session_and_signs_out_at_the_provider(
    world: World, oidc_idp: TestIdentityProvider
) -> None:
    _sign_in(world)
    page = world.client.get("/web/research")
    token = CSRF.search(page.text)
    assert token
    out = world.client.post(
        "/web/logout", data={"csrf_token": token.group(1)}, follow_redirects=False
    )
    # A page that moves on, not a 303: the CSP's form-action applies to a posted form's
    # redirects, and would keep the browser here (tests/e2e/browser/test_oidc_sign_in.py).
    assert out.status_code == 200
    assert "Content-Security-Policy" in out.headers
    found = REFRESH.search(out.text)
    assert found
    end_session = html.unescape(found.group(1))
    assert f'href="{html.escape(end_session)}"' in out.text
    assert cookies.COOKIE in out.headers["set-cookie"]  # cleared
    location = urlsplit(end_session)
    assert f"{location.scheme}://{location.netloc}{location.path}" == oidc_idp.url("logout")
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query == {
        "client_id": oidc_idp.client_id,
        "post_logout_redirect_uri": f"{BASE}/web/login?notice=logged_out",
    }
    assert world.client.get("/me").status_code == 401
    with world.factory() as session:
        assert session.scalar(select(WebSession)) is None
    back = httpx.get(end_session, follow_redirects=False)
    assert back.headers["location"] == f"{BASE}/web/login?notice=logged_out"
    assert len(oidc_idp.logout_calls) == 1
    assert [o for o, _ in _events(world, "web.logout")] == ["success"]


@HTTP_ONLY
def test_log_out_without_an_end_session_endpoint_stays_here(
    settings: Settings,
    tmp_path: Path,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with TestIdentityProvider("plain", end_session=False) as idp:
        world = _world(settings, tmp_path, session_factory, monkeypatch, idp)
        _sign_in(world, "plain")
        token = CSRF.search(world.client.get("/web/research").text)
        assert token
        out = world.client.post(
            "/web/logout", data={"csrf_token": token.group(1)}, follow_redirects=False
        )
        assert out.headers["location"] == "/web/login?notice=logged_out"
        assert world.client.get("/me").status_code == 401


@HTTP_ONLY
def test_local_login_off_leaves_only_the_providers(
    settings: Settings,
    tmp_path: Path,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    oidc_idp: TestIdentityProvider,
) -> None:
    world = _world(settings, tmp_path, session_factory, monkeypatch, oidc_idp, local_login=False)
    page = world.client.get("/web/login")
    assert page.status_code == 200
    assert "Sign in with testidp" in page.text
    assert 'action="/web/login"' not in page.text
    assert 'action="/web/login/token"' not in page.text
    assert 'type="password"' not in page.text
    login_csrf = world.client.cookies.get(csrf.LOGIN_COOKIE)
    assert login_csrf
    for path, form in (
        ("/web/login", {"username": "admin", "password": "whatever it is"}),
        ("/web/login/token", {"token": "fs_anything"}),
    ):
        refused = world.client.post(
            path, data={"csrf_token": login_csrf, **form}, follow_redirects=False
        )
        assert refused.status_code == 403
        assert "local_login_disabled" in refused.text
    # Audited as refusals of the switch, before any password or token was looked at.
    denied = [d for o, d in _events(world, "web.login") if o == "denied"]
    assert [d["code"] for d in denied] == ["local_login_disabled"]
    assert "username" not in denied[0]
    assert _sign_in(world) == "/web/research"  # the provider's sign-in still works


@HTTP_ONLY
def test_local_login_is_on_by_default_beside_the_buttons(world: World) -> None:
    page = world.client.get("/web/login").text
    assert 'action="/web/login"' in page
    assert 'action="/web/login/token"' in page
    assert "Sign in with testidp" in page
