"""The test identity provider (tests/oidc_idp) behaves like a strict real one.

Other tests trust it to refuse what Entra ID or a university IdP would refuse, and to
mint exactly the tokens they ask for; these tests hold it to that, over real HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwk, jwt
from joserfc.errors import BadSignatureError, JoseError

from fivesafes.identity.oidc.config import (
    client_secret,
    client_secret_variable,
    load_identity_policy,
    parse_identity_policy,
)
from tests.oidc_idp import IdpUser, TestIdentityProvider, identity_policy_file

CALLBACK = "http://127.0.0.1:8000/web/login/oidc/testidp/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture(scope="module")
def http() -> Any:
    # One client per module: making one (its TLS context) costs more than most tests here.
    with httpx.Client(timeout=5, follow_redirects=False) as client:
        yield client


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, _b64(hashlib.sha256(verifier.encode()).digest())


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")

    def load(part: str) -> dict[str, Any]:
        return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))

    return load(header), load(payload), signature


def _verify(token: str, jwks: dict[str, Any], alg: str = "RS256") -> jwt.Token:
    key_set = jwk.KeySet.import_key_set(cast(Any, jwks))
    return jwt.decode(token, key_set, algorithms=[alg])


def _authorize(
    idp: TestIdentityProvider, http: httpx.Client, **overrides: str | None
) -> httpx.Response:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": idp.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid profile email",
        "state": "state-123",
        "nonce": "nonce-456",
        "code_challenge": _pkce()[1],
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return http.get(idp.url("authorize"), params={k: v for k, v in params.items() if v})


def _query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code in {302, 303}, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _code(idp: TestIdentityProvider, http: httpx.Client, challenge: str) -> str:
    return _query(_authorize(idp, http, code_challenge=challenge))["code"]


def _exchange(
    idp: TestIdentityProvider,
    http: httpx.Client,
    code: str,
    verifier: str,
    *,
    secret: str | None = None,
    post: bool = False,
    redirect_uri: str = CALLBACK,
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier}  # fmt: skip
    secret = idp.client_secret if secret is None else secret
    if post:
        form |= {"client_id": idp.client_id, "client_secret": secret}
        return http.post(idp.url("token"), data=form)
    return http.post(idp.url("token"), data=form, auth=(idp.client_id, secret))


@pytest.fixture
def web_idp(oidc_idp: TestIdentityProvider) -> TestIdentityProvider:
    oidc_idp.redirect_uris.append(CALLBACK)
    return oidc_idp


# -- discovery and keys ----------------------------------------------------------------


def test_discovery_lists_every_endpoint_under_the_issuer(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/tenant/v2\.0", oidc_idp.issuer)
    doc = http.get(f"{oidc_idp.issuer}/.well-known/openid-configuration").json()
    assert doc["issuer"] == oidc_idp.issuer
    endpoints = ["authorization_endpoint", "token_endpoint", "jwks_uri",
                 "device_authorization_endpoint", "end_session_endpoint"]  # fmt: skip
    for key in endpoints:
        assert doc[key].startswith(oidc_idp.issuer + "/")
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "offline_access" in doc["scopes_supported"]
    assert DEVICE_GRANT in doc["grant_types_supported"]
    assert oidc_idp.discovery_requests == 1
    jwks = http.get(doc["jwks_uri"]).json()
    assert jwks == oidc_idp.jwks()
    assert oidc_idp.jwks_requests == 1
    (key,) = jwks["keys"]
    assert key["kid"] == oidc_idp.kid
    assert key["kty"] == "RSA"
    assert key["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()  # public parts only


def test_without_end_session_neither_listed_nor_served(http: httpx.Client) -> None:
    with TestIdentityProvider("plain", end_session=False) as idp:
        doc = http.get(idp.discovery_url).json()
        assert "end_session_endpoint" not in doc
        assert http.get(idp.url("logout")).status_code == 404


def test_paths_outside_the_issuer_are_not_found(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    assert http.get(f"{oidc_idp.base_url}/.well-known/openid-configuration").status_code == 404
    assert http.get(oidc_idp.url("nothing-here")).status_code == 404


# -- authorization code flow -----------------------------------------------------------


def test_code_flow_issues_tokens_verifiable_against_the_jwks(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    verifier, challenge = _pkce()
    answer = _query(_authorize(web_idp, http, code_challenge=challenge))
    assert answer["state"] == "state-123"
    response = _exchange(web_idp, http, answer["code"], verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 300
    assert "refresh_token" not in tokens  # no offline_access asked for
    jwks = http.get(web_idp.url("keys")).json()

    id_token = _verify(tokens["id_token"], jwks)
    assert id_token.header["kid"] == web_idp.kid
    claims = id_token.claims
    assert claims["iss"] == web_idp.issuer
    assert claims["aud"] == web_idp.client_id
    assert claims["nonce"] == "nonce-456"
    assert claims["sub"] == web_idp.user.subject
    assert claims["roles"] == ["FiveSafes.Researcher"]
    assert claims["amr"] == ["pwd", "mfa"]
    assert {"preferred_username", "email", "name", "auth_time"} <= claims.keys()
    jwt.JWTClaimsRegistry(exp={"essential": True}, iat={"essential": True}).validate(claims)

    access = _verify(tokens["access_token"], jwks).claims
    assert access["aud"] == web_idp.audience
    assert access["azp"] == web_idp.client_id
    assert "nonce" not in access
    assert access["exp"] - access["iat"] == 300

    record = web_idp.token_requests[-1]
    assert record == {"grant_type": "authorization_code", "client_id": web_idp.client_id,
                      "auth_method": "client_secret_basic", "error": None}  # fmt: skip
    assert web_idp.client_secret not in repr(web_idp.token_requests)
    assert web_idp.authorize_requests[-1]["nonce"] == "nonce-456"


def test_nothing_is_logged(
    web_idp: TestIdentityProvider, http: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    verifier, challenge = _pkce()
    code = _code(web_idp, http, challenge)
    _exchange(web_idp, http, code, verifier)
    out, err = capfd.readouterr()
    assert code not in out + err
    assert "authorize" not in out + err  # no request lines at all


def test_concurrent_requests_are_all_served_and_counted(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda _: http.get(oidc_idp.url("keys")).status_code, range(40)))
    assert statuses == [200] * 40
    assert oidc_idp.jwks_requests == 40


def test_the_signed_in_user_is_the_one_set(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    user = web_idp.set_user("grace", roles=["FiveSafes.Admin"], amr=None)
    assert user == IdpUser("grace", web_idp.user.claims)
    assert "amr" not in user.claims
    assert user.claims["email"] == "grace@uni.example"
    verifier, challenge = _pkce()
    tokens = _exchange(web_idp, http, _code(web_idp, http, challenge), verifier).json()
    _, claims, _ = _segments(tokens["id_token"])
    assert claims["sub"] == "grace"
    assert claims["roles"] == ["FiveSafes.Admin"]
    assert "amr" not in claims


def test_client_secret_post_is_accepted(web_idp: TestIdentityProvider, http: httpx.Client) -> None:
    verifier, challenge = _pkce()
    response = _exchange(web_idp, http, _code(web_idp, http, challenge), verifier, post=True)
    assert response.status_code == 200, response.text
    assert web_idp.token_requests[-1]["auth_method"] == "client_secret_post"


def test_a_wrong_code_verifier_is_refused_and_burns_the_code(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    verifier, challenge = _pkce()
    code = _code(web_idp, http, challenge)
    wrong = _exchange(web_idp, http, code, _pkce()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert "code_verifier" in wrong.json()["error_description"]
    again = _exchange(web_idp, http, code, verifier)
    assert again.json()["error"] == "invalid_grant"  # single use, even when refused
    assert [r["error"] for r in web_idp.token_requests] == ["invalid_grant", "invalid_grant"]


def test_a_code_is_single_use(web_idp: TestIdentityProvider, http: httpx.Client) -> None:
    verifier, challenge = _pkce()
    code = _code(web_idp, http, challenge)
    assert _exchange(web_idp, http, code, verifier).status_code == 200
    assert _exchange(web_idp, http, code, verifier).json()["error"] == "invalid_grant"


def test_a_missing_code_verifier_is_refused(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    code = _code(web_idp, http, _pkce()[1])
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK}
    response = http.post(
        web_idp.url("token"), data=form, auth=(web_idp.client_id, web_idp.client_secret)
    )
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile email"}, "invalid_scope"),
    ],
)
def test_authorize_refusals_are_redirected_with_the_state(
    web_idp: TestIdentityProvider, http: httpx.Client, overrides: dict[str, str | None], error: str
) -> None:
    answer = _query(_authorize(web_idp, http, **overrides))
    assert answer["error"] == error
    assert answer["state"] == "state-123"
    assert "code" not in answer


@pytest.mark.parametrize(
    "overrides",
    [
        {"redirect_uri": "http://127.0.0.1:8000/web/login/oidc/testidp/callback/"},
        {"redirect_uri": "http://evil.example/callback"},
        {"redirect_uri": None},
        {"client_id": "someone-else"},
        {"client_id": "fivesafes-cli"},
    ],
)
def test_a_wrong_client_or_redirect_uri_is_shown_not_redirected(
    web_idp: TestIdentityProvider, http: httpx.Client, overrides: dict[str, str | None]
) -> None:
    response = _authorize(web_idp, http, **overrides)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_unregistered_until_registered(oidc_idp: TestIdentityProvider, http: httpx.Client) -> None:
    assert _authorize(oidc_idp, http).status_code == 400
    oidc_idp.redirect_uris.append(CALLBACK)
    assert "code" in _query(_authorize(oidc_idp, http))


def test_a_different_redirect_uri_at_the_token_endpoint_is_refused(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    other = "http://127.0.0.1:8000/elsewhere"
    web_idp.redirect_uris.append(other)
    verifier, challenge = _pkce()
    code = _code(web_idp, http, challenge)
    response = _exchange(web_idp, http, code, verifier, redirect_uri=other)
    assert response.json()["error"] == "invalid_grant"
    assert "redirect_uri" in response.json()["error_description"]


@pytest.mark.parametrize("post", [False, True])
def test_a_wrong_client_secret_is_invalid_client(
    web_idp: TestIdentityProvider, http: httpx.Client, post: bool
) -> None:
    verifier, challenge = _pkce()
    code = _code(web_idp, http, challenge)
    response = _exchange(web_idp, http, code, verifier, secret="not-the-secret", post=post)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert web_idp.token_requests[-1]["error"] == "invalid_client"


def test_the_web_client_must_authenticate(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    verifier, challenge = _pkce()
    form = {"grant_type": "authorization_code", "code": _code(web_idp, http, challenge),
            "redirect_uri": CALLBACK, "code_verifier": verifier,
            "client_id": web_idp.client_id}  # fmt: skip
    response = http.post(web_idp.url("token"), data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_two_client_authentication_methods_at_once_are_refused(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    verifier, challenge = _pkce()
    form = {"grant_type": "authorization_code", "code": _code(web_idp, http, challenge),
            "redirect_uri": CALLBACK, "code_verifier": verifier,
            "client_secret": web_idp.client_secret}  # fmt: skip
    response = http.post(
        web_idp.url("token"), data=form, auth=(web_idp.client_id, web_idp.client_secret)
    )
    assert response.json()["error"] == "invalid_request"


def test_the_public_client_may_not_use_the_code_grant(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    verifier, challenge = _pkce()
    form = {"grant_type": "authorization_code", "code": _code(web_idp, http, challenge),
            "redirect_uri": CALLBACK, "code_verifier": verifier,
            "client_id": web_idp.cli_client_id}  # fmt: skip
    response = http.post(web_idp.url("token"), data=form)
    assert response.json()["error"] == "unauthorized_client"


def test_an_expired_code_is_refused(web_idp: TestIdentityProvider, http: httpx.Client) -> None:
    web_idp.code_lifetime = -1
    verifier, challenge = _pkce()
    response = _exchange(web_idp, http, _code(web_idp, http, challenge), verifier)
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "the code has expired",
    }


def test_a_repeated_parameter_is_refused(web_idp: TestIdentityProvider, http: httpx.Client) -> None:
    response = http.post(
        web_idp.url("token"),
        content=b"grant_type=refresh_token&grant_type=password",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["error"] == "invalid_request"
    page = http.get(web_idp.url("authorize") + "?client_id=a&client_id=b")
    assert page.status_code == 400


@pytest.mark.parametrize("length", ["abc", "-5", str(10**6)])
def test_a_bad_content_length_is_a_400(oidc_idp: TestIdentityProvider, length: str) -> None:
    with socket.create_connection(("127.0.0.1", oidc_idp.port), timeout=5) as conn:
        path = urlsplit(oidc_idp.url("token")).path
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        status_line = conn.makefile("rb").readline()
    assert status_line.split()[1] == b"400"


def test_the_token_endpoint_takes_post_only(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    assert http.get(oidc_idp.url("token")).json()["error"] == "invalid_request"


def test_an_unknown_grant_type_is_unsupported(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    response = http.post(oidc_idp.url("token"), data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_authorize_error_is_answered_to_the_client(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    web_idp.authorize_error = "access_denied"
    answer = _query(_authorize(web_idp, http))
    assert answer["error"] == "access_denied"
    assert answer["state"] == "state-123"


def test_interactive_authorize_shows_continue_then_redirects(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    web_idp.interactive = True
    page = _authorize(web_idp, http)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert ">Continue</button>" in page.text
    request_id = re.search(r"name='request' value='([^']+)'", page.text)
    assert request_id is not None
    form = {"request": request_id.group(1), "action": "continue"}
    answer = http.post(web_idp.url("authorize"), data=form)
    assert answer.status_code == 303
    assert {"code", "state"} <= _query(answer).keys()
    replay = http.post(web_idp.url("authorize"), data=form)
    assert replay.status_code == 400


def test_interactive_cancel_is_access_denied(
    web_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    web_idp.interactive = True
    page = _authorize(web_idp, http)
    request_id = re.search(r"name='request' value='([^']+)'", page.text)
    assert request_id is not None
    answer = http.post(
        web_idp.url("authorize"), data={"request": request_id.group(1), "action": "cancel"}
    )
    assert _query(answer)["error"] == "access_denied"


# -- device authorization grant ---------------------------------------------------------


def _start_device(
    idp: TestIdentityProvider, http: httpx.Client, scope: str = "openid offline_access"
) -> dict[str, Any]:
    response = http.post(
        idp.url("devicecode"), data={"client_id": idp.cli_client_id, "scope": scope}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _poll(idp: TestIdentityProvider, http: httpx.Client, device_code: str) -> httpx.Response:
    form = {"grant_type": DEVICE_GRANT, "device_code": device_code,
            "client_id": idp.cli_client_id}  # fmt: skip
    return http.post(idp.url("token"), data=form)


def test_device_authorization_answer(oidc_idp: TestIdentityProvider, http: httpx.Client) -> None:
    started = _start_device(oidc_idp, http)
    assert started["interval"] == 1
    assert started["expires_in"] == 600
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", started["user_code"])
    assert started["verification_uri"] == oidc_idp.url("device")
    assert started["verification_uri_complete"].endswith(f"?user_code={started['user_code']}")
    assert started["user_code"] in started["message"]
    assert oidc_idp.wait_for_device_request(timeout=1) == started["user_code"]


def test_device_flow_pending_then_approved(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    oidc_idp.device_interval = 0  # no slow_down between these immediate polls
    started = _start_device(oidc_idp, http)
    pending = _poll(oidc_idp, http, started["device_code"])
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending"
    oidc_idp.set_user("turing", roles=["FiveSafes.Uploader"])
    oidc_idp.approve_device(started["user_code"])
    oidc_idp.set_user("someone-later")  # the approval already fixed who signed in
    tokens = _poll(oidc_idp, http, started["device_code"]).json()
    access = _verify(tokens["access_token"], oidc_idp.jwks()).claims
    assert access["sub"] == "turing"
    assert access["roles"] == ["FiveSafes.Uploader"]
    assert access["aud"] == oidc_idp.audience
    assert _segments(tokens["id_token"])[1]["aud"] == oidc_idp.cli_client_id
    assert tokens["refresh_token"]
    used = _poll(oidc_idp, http, started["device_code"])
    assert used.json()["error"] == "invalid_grant"
    assert oidc_idp.token_requests[1]["auth_method"] == "none"


def test_device_flow_denied(oidc_idp: TestIdentityProvider, http: httpx.Client) -> None:
    started = _start_device(oidc_idp, http)
    oidc_idp.deny_device()
    assert _poll(oidc_idp, http, started["device_code"]).json()["error"] == "access_denied"


def test_device_flow_expired(oidc_idp: TestIdentityProvider, http: httpx.Client) -> None:
    started = _start_device(oidc_idp, http)
    oidc_idp.expire_device(started["user_code"])
    assert _poll(oidc_idp, http, started["device_code"]).json()["error"] == "expired_token"


def test_device_flow_polling_too_fast_is_slow_down(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    started = _start_device(oidc_idp, http)
    assert _poll(oidc_idp, http, started["device_code"]).json()["error"] == "authorization_pending"
    fast = _poll(oidc_idp, http, started["device_code"]).json()
    assert fast["error"] == "slow_down"
    assert "6 s" in fast["error_description"]  # interval 1 + 5 (RFC 8628 section 3.5)


def test_a_device_script_drives_the_polls(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    oidc_idp.device_interval = 0
    oidc_idp.slow_down_increment = 0
    oidc_idp.device_script = ["authorization_pending", "slow_down", "approved"]
    started = _start_device(oidc_idp, http)
    answers = [_poll(oidc_idp, http, started["device_code"]).json() for _ in range(3)]
    assert [a.get("error") for a in answers] == ["authorization_pending", "slow_down", None]
    assert _verify(answers[2]["access_token"], oidc_idp.jwks()).claims["sub"] == "ada-0001"
    assert oidc_idp.device_script == []


@pytest.mark.parametrize("step", ["access_denied", "expired_token"])
def test_a_device_script_ends_a_flow(
    oidc_idp: TestIdentityProvider, http: httpx.Client, step: str
) -> None:
    oidc_idp.device_script = [step]
    started = _start_device(oidc_idp, http)
    assert _poll(oidc_idp, http, started["device_code"]).json()["error"] == step
    assert _poll(oidc_idp, http, started["device_code"]).json()["error"] == step  # for good


def test_device_control_without_a_pending_request_fails_loudly(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    with pytest.raises(LookupError):
        oidc_idp.approve_device()
    _start_device(oidc_idp, http)
    with pytest.raises(LookupError):
        oidc_idp.deny_device("BBBB-CCCC")


def test_device_clients(oidc_idp: TestIdentityProvider, http: httpx.Client) -> None:
    url = oidc_idp.url("devicecode")
    scope = "openid"
    web_without_secret = http.post(url, data={"client_id": oidc_idp.client_id, "scope": scope})
    assert web_without_secret.status_code == 401
    public_with_secret = http.post(
        url, data={"client_id": oidc_idp.cli_client_id, "scope": scope, "client_secret": "x"}
    )
    assert public_with_secret.json()["error"] == "invalid_client"
    unknown = http.post(url, data={"client_id": "nobody", "scope": scope})
    assert unknown.json()["error"] == "invalid_client"
    no_openid = http.post(url, data={"client_id": oidc_idp.cli_client_id, "scope": "email"})
    assert no_openid.json()["error"] == "invalid_scope"


def test_another_clients_device_code_is_refused(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    started = _start_device(oidc_idp, http)
    oidc_idp.approve_device()
    form = {"grant_type": DEVICE_GRANT, "device_code": started["device_code"]}
    response = http.post(
        oidc_idp.url("token"), data=form, auth=(oidc_idp.client_id, oidc_idp.client_secret)
    )
    assert response.json()["error"] == "invalid_grant"


def test_the_verification_page_approves(oidc_idp: TestIdentityProvider, http: httpx.Client) -> None:
    started = _start_device(oidc_idp, http)
    page = http.get(started["verification_uri_complete"])
    assert started["user_code"] in page.text
    http.post(oidc_idp.url("device"), data={"user_code": started["user_code"], "action": "approve"})
    assert "access_token" in _poll(oidc_idp, http, started["device_code"]).json()


def test_a_bad_device_script_step_is_a_loud_server_error(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    oidc_idp.device_script = ["approve"]  # not a step name
    started = _start_device(oidc_idp, http)
    response = _poll(oidc_idp, http, started["device_code"])
    assert response.status_code == 500
    assert "device_script step 'approve'" in response.text


def test_waiting_for_a_device_request_times_out(oidc_idp: TestIdentityProvider) -> None:
    with pytest.raises(TimeoutError):
        oidc_idp.wait_for_device_request(timeout=0.05)


# -- refresh ---------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    started = _start_device(oidc_idp, http, scope="openid api://fivesafes/.default offline_access")
    oidc_idp.approve_device()
    first = _poll(oidc_idp, http, started["device_code"]).json()
    form = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
            "client_id": oidc_idp.cli_client_id}  # fmt: skip
    second = http.post(oidc_idp.url("token"), data=form).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert _verify(second["access_token"], oidc_idp.jwks()).claims["sub"] == oidc_idp.user.subject
    assert http.post(oidc_idp.url("token"), data=form).json()["error"] == "invalid_grant"
    assert oidc_idp.token_requests[-2]["grant_type"] == "refresh_token"


def test_refresh_by_another_client_is_refused(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    started = _start_device(oidc_idp, http)
    oidc_idp.approve_device()
    refresh = _poll(oidc_idp, http, started["device_code"]).json()["refresh_token"]
    response = http.post(
        oidc_idp.url("token"),
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        auth=(oidc_idp.client_id, oidc_idp.client_secret),
    )
    assert response.json()["error"] == "invalid_grant"


# -- end session -----------------------------------------------------------------------


def test_end_session_records_and_redirects(
    oidc_idp: TestIdentityProvider, http: httpx.Client
) -> None:
    target = "http://127.0.0.1:8000/web/login?notice=logged_out"
    response = http.get(
        oidc_idp.url("logout"),
        params={"client_id": oidc_idp.client_id, "post_logout_redirect_uri": target},
    )
    assert response.status_code == 302
    assert response.headers["location"] == target
    assert oidc_idp.logout_calls == [
        {"client_id": oidc_idp.client_id, "post_logout_redirect_uri": target}
    ]


# -- keys ------------------------------------------------------------------------------


def test_rotate_key_keeping_the_old_one(oidc_idp: TestIdentityProvider) -> None:
    old_kid = oidc_idp.kid
    old_token = oidc_idp.mint()
    new_kid = oidc_idp.rotate_key()
    assert new_kid != old_kid
    assert oidc_idp.kid == new_kid
    assert [k["kid"] for k in oidc_idp.jwks()["keys"]] == [new_kid, old_kid]
    new_token = oidc_idp.mint()
    assert _segments(new_token)[0]["kid"] == new_kid
    _verify(old_token, oidc_idp.jwks())
    _verify(new_token, oidc_idp.jwks())
    assert _segments(oidc_idp.mint(kid=old_kid))[0]["kid"] == old_kid
    _verify(oidc_idp.mint(kid=old_kid), oidc_idp.jwks())


def test_rotate_key_dropping_the_old_one(oidc_idp: TestIdentityProvider) -> None:
    old_token = oidc_idp.mint()
    new_kid = oidc_idp.rotate_key(keep_old=False)
    assert [k["kid"] for k in oidc_idp.jwks()["keys"]] == [new_kid]
    with pytest.raises(JoseError):
        _verify(old_token, oidc_idp.jwks())


def test_reset_gives_a_fresh_provider(oidc_idp: TestIdentityProvider, http: httpx.Client) -> None:
    kid = oidc_idp.kid
    oidc_idp.set_user("someone")
    oidc_idp.redirect_uris.append(CALLBACK)
    oidc_idp.interactive = True
    http.get(oidc_idp.url("keys"))
    http.post(oidc_idp.url("token"), data={"grant_type": "password"})
    oidc_idp.reset()
    assert oidc_idp.kid != kid
    assert oidc_idp.user.subject == "ada-0001"
    assert oidc_idp.redirect_uris == []
    assert oidc_idp.interactive is False
    assert oidc_idp.jwks_requests == 0
    assert oidc_idp.token_requests == []


def test_reset_keeping_the_key(oidc_idp: TestIdentityProvider) -> None:
    kid = oidc_idp.kid
    oidc_idp.set_user("someone")
    oidc_idp.reset(keep_key=True)
    assert oidc_idp.kid == kid
    assert oidc_idp.user.subject == "ada-0001"


def test_running_providers_never_share_a_key() -> None:
    with TestIdentityProvider("one") as one, TestIdentityProvider("two") as two:
        seen: list[tuple[str, str]] = []
        for _ in range(4):
            one.reset()
            two.reset()
            seen.append((one.kid, two.kid))
            assert one.kid != two.kid
        assert all(a != b for a, b in itertools.pairwise(seen))  # changes each reset


def test_es256_provider(http: httpx.Client) -> None:
    with TestIdentityProvider("ec", alg="ES256") as idp:
        (key,) = http.get(idp.url("keys")).json()["keys"]
        assert key["kty"] == "EC"
        assert key["crv"] == "P-256"
        token = _verify(idp.mint(), idp.jwks(), alg="ES256")
        assert token.header["alg"] == "ES256"
        assert http.get(idp.discovery_url).json()["id_token_signing_alg_values_supported"] == [
            "ES256"
        ]


def test_stop_closes_the_port(http: httpx.Client) -> None:
    idp = TestIdentityProvider("brief").start()
    url = idp.discovery_url
    assert http.get(url).status_code == 200
    idp.stop()
    with pytest.raises(httpx.ConnectError):
        http.get(url)
    with pytest.raises(RuntimeError):
        idp.issuer  # noqa: B018


# -- minting ---------------------------------------------------------------------------


def test_mint_defaults(oidc_idp: TestIdentityProvider) -> None:
    token = _verify(oidc_idp.mint(), oidc_idp.jwks())
    claims = token.claims
    assert token.header == {"typ": "JWT", "alg": "RS256", "kid": oidc_idp.kid}
    assert claims["iss"] == oidc_idp.issuer
    assert claims["aud"] == "api://fivesafes"
    assert claims["sub"] == "ada-0001"
    assert claims["amr"] == ["pwd", "mfa"]
    assert claims["roles"] == ["FiveSafes.Researcher"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] == claims["iat"]
    assert oidc_idp.mint() != oidc_idp.mint()  # a jti each: no two tokens alike


def test_mint_overrides(oidc_idp: TestIdentityProvider) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    token = oidc_idp.mint(
        audience="api://other", lifetime=timedelta(minutes=1), now=now,
        amr=None, roles="FiveSafes.Admin", acr="urn:mfa", header={"typ": "at+jwt"},
    )  # fmt: skip
    header, claims, _ = _segments(token)
    assert header["typ"] == "at+jwt"
    assert claims["aud"] == "api://other"
    assert claims["iat"] == int(now.timestamp())
    assert claims["exp"] == claims["iat"] + 60
    assert "amr" not in claims
    assert claims["roles"] == "FiveSafes.Admin"
    assert claims["acr"] == "urn:mfa"
    assert "exp" not in _segments(oidc_idp.mint(exp=None))[1]


def test_mint_takes_a_naive_time_as_utc(oidc_idp: TestIdentityProvider) -> None:
    naive = datetime(2026, 1, 1, 12, 0)
    claims = _segments(oidc_idp.mint(now=naive))[1]
    assert claims["iat"] == int(naive.replace(tzinfo=UTC).timestamp())


def test_mint_with_an_unknown_kid_or_another_alg(oidc_idp: TestIdentityProvider) -> None:
    header, _, _ = _segments(oidc_idp.mint(kid="not-a-key"))
    assert header["kid"] == "not-a-key"
    ps = oidc_idp.mint(alg="PS256")
    assert _verify(ps, oidc_idp.jwks(), alg="PS256").header["alg"] == "PS256"
    with pytest.raises(ValueError, match="cannot sign ES256"):
        oidc_idp.mint(alg="ES256")


def test_mint_id_token(oidc_idp: TestIdentityProvider) -> None:
    claims = _verify(oidc_idp.mint_id_token(nonce="n-1"), oidc_idp.jwks()).claims
    assert claims["aud"] == oidc_idp.client_id
    assert claims["nonce"] == "n-1"


def test_mint_foreign_does_not_verify(oidc_idp: TestIdentityProvider) -> None:
    forged = oidc_idp.mint_foreign()
    header, claims, _ = _segments(forged)
    assert header["kid"] == oidc_idp.kid
    assert header["alg"] == "RS256"
    assert claims["iss"] == oidc_idp.issuer
    with pytest.raises(BadSignatureError):
        _verify(forged, oidc_idp.jwks())
    unknown = oidc_idp.mint_foreign(same_kid=False, sub="mallory")
    header, claims, _ = _segments(unknown)
    assert header["kid"] not in {k["kid"] for k in oidc_idp.jwks()["keys"]}
    assert claims["sub"] == "mallory"


def test_mint_hmac_is_keyed_with_the_public_key(oidc_idp: TestIdentityProvider) -> None:
    token = oidc_idp.mint_hmac(aud="api://x")
    header, claims, signature = _segments(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == oidc_idp.kid
    assert claims["aud"] == "api://x"
    signing_input = token.rsplit(".", 1)[0].encode()
    pem = oidc_idp.current_key.public_pem()
    assert signature == _b64(hmac.new(pem, signing_input, hashlib.sha256).digest())
    with pytest.raises(JoseError):
        _verify(token, oidc_idp.jwks())
    custom = oidc_idp.mint_hmac(secret=b"s3cret")
    expected = hmac.new(b"s3cret", custom.rsplit(".", 1)[0].encode(), hashlib.sha256).digest()
    assert _segments(custom)[2] == _b64(expected)


def test_mint_unsigned(oidc_idp: TestIdentityProvider) -> None:
    token = oidc_idp.mint_unsigned(sub="nobody")
    header, claims, signature = _segments(token)
    assert header["alg"] == "none"
    assert signature == ""
    assert token.endswith(".")
    assert claims["sub"] == "nobody"
    assert claims["iss"] == oidc_idp.issuer
    with pytest.raises(JoseError):
        _verify(token, oidc_idp.jwks())


# -- configuration for the platform ----------------------------------------------------


def test_provider_config_is_a_valid_identity_policy_entry(oidc_idp: TestIdentityProvider) -> None:
    policy = parse_identity_policy({"providers": [oidc_idp.provider_config()]})
    (provider,) = policy.providers
    assert provider.issuer == oidc_idp.issuer
    assert provider.client_id == "fivesafes-web"
    assert provider.device_client_id == "fivesafes-cli"
    assert provider.audience == "api://fivesafes"
    assert provider.api_scope == "api://fivesafes/.default"
    assert provider.require_mfa is True
    assert {r.value for r in provider.roles.values()} == {
        "uploader", "researcher", "governance", "admin"
    }  # fmt: skip
    assert provider.discovery_url == oidc_idp.discovery_url
    env = oidc_idp.client_secret_env()
    assert list(env) == [client_secret_variable(provider)]
    assert client_secret(provider, env) == oidc_idp.client_secret
    overridden = oidc_idp.provider_config(require_mfa=False, api_scope=None)
    assert overridden["require_mfa"] is False
    assert "api_scope" not in overridden


def test_a_jwks_file_entry(tmp_path: Path, oidc_idp: TestIdentityProvider) -> None:
    jwks_file = oidc_idp.write_jwks(tmp_path / "jwks.json")
    assert json.loads(jwks_file.read_text()) == oidc_idp.jwks()
    policy = load_identity_policy(
        identity_policy_file(tmp_path, oidc_idp.provider_config(jwks_file=jwks_file))
    )
    assert policy.providers[0].jwks_file == jwks_file


def test_identity_policy_file_names_both_providers(
    tmp_path: Path, oidc_idp: TestIdentityProvider, second_oidc_idp: TestIdentityProvider
) -> None:
    path = identity_policy_file(
        tmp_path, oidc_idp, second_oidc_idp.provider_config(display_name="University")
    )
    policy = load_identity_policy(path)
    assert [p.name for p in policy.providers] == ["testidp", "uni"]
    uni = policy.get("uni")
    assert uni is not None
    assert uni.label == "University"
    assert policy.for_issuer(second_oidc_idp.issuer) == uni
    assert second_oidc_idp.issuer != oidc_idp.issuer
    assert second_oidc_idp.jwks()["keys"][0]["kty"] == "EC"
