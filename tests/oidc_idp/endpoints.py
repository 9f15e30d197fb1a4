"""The test identity provider's endpoints: discovery, JWKS, authorize, token, end session
(OpenID Connect Core and Discovery, RFC 6749, 7636), and the routing to them; the device
grant (RFC 8628) is in :mod:`tests.oidc_idp.device`.

Strict where a real provider is strict, because the platform must cope with that: PKCE
S256 is required, the redirect URI must be registered exactly, the confidential web
client must authenticate, codes and device codes are single use. Errors are the standard
``{"error", "error_description"}`` JSON. Nothing here logs a code, a token or a secret.
"""

from __future__ import annotations

import hmac
import html
import re
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.oidc_idp.device import DEVICE_GRANT, device_authorization, device_grant, device_page
from tests.oidc_idp.httpd import Reply, Request
from tests.oidc_idp.keys import s256
from tests.oidc_idp.oauth import (
    OAuthError,
    authenticate_client,
    issue_tokens,
    json_reply,
    page,
    redirect,
    single,
    with_query,
)
from tests.oidc_idp.state import AuthCode, IdpUser

if TYPE_CHECKING:
    from tests.oidc_idp.server import TestIdentityProvider

_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


# -- discovery and keys ----------------------------------------------------------------


def discovery(idp: TestIdentityProvider) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "issuer": idp.issuer,
        "authorization_endpoint": idp.url("authorize"),
        "token_endpoint": idp.url("token"),
        "jwks_uri": idp.url("keys"),
        "device_authorization_endpoint": idp.url("devicecode"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [idp.alg],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "nbf", "nonce", "auth_time", "amr", "acr",
            "roles", "preferred_username", "email", "name",
        ],
    }  # fmt: skip
    if idp.end_session:
        doc["end_session_endpoint"] = idp.url("logout")
    return doc


# -- authorize (code flow) -------------------------------------------------------------


def _issue_code(idp: TestIdentityProvider, params: dict[str, str], user: IdpUser) -> str:
    code = secrets.token_urlsafe(32)
    idp._codes[code] = AuthCode(
        client_id=params["client_id"],
        redirect_uri=params["redirect_uri"],
        code_challenge=params["code_challenge"],
        nonce=params.get("nonce"),
        scope=params.get("scope", ""),
        user=user,
        expires_at=time.monotonic() + idp.code_lifetime,
    )
    return code


def _answer(params: dict[str, str], **result: str) -> Reply:
    if "state" in params:
        result["state"] = params["state"]
    return redirect(with_query(params["redirect_uri"], result))


def _interactive_page(idp: TestIdentityProvider, pending_id: str) -> Reply:
    who = html.escape(str(idp.user.claims.get("preferred_username", idp.user.subject)))
    action = html.escape(idp.url("authorize"), quote=True)
    body = (
        f"<h1>{html.escape(idp.name)}</h1><p>Sign in as <strong>{who}</strong>?</p>"
        f"<form method='post' action='{action}'>"
        f"<input type='hidden' name='request' value='{pending_id}'>"
        "<button type='submit' name='action' value='continue'>Continue</button> "
        "<button type='submit' name='action' value='cancel'>Cancel</button>"
        "</form>"
    )
    return page(200, f"Sign in to {idp.name}", body)


def authorize(idp: TestIdentityProvider, request: Request) -> Reply:
    if request.method == "POST":
        return _authorize_continue(idp, request)
    try:
        params = single(request.query)
    except OAuthError as exc:
        return page(400, "Bad request", html.escape(exc.description))
    with idp._lock:
        idp.authorize_requests.append(dict(params))
    # Errors about the client or the redirect URI are shown, never redirected (RFC 6749
    # section 4.1.2.1): redirecting would make this an open redirector.
    if params.get("client_id") != idp.client_id:
        return page(400, "Unknown client", "client_id is not a registered client")
    if params.get("redirect_uri") not in idp.redirect_uris:
        return page(400, "Bad redirect_uri", "redirect_uri is not registered for this client")
    if params.get("response_type") != "code":
        return _answer(params, error="unsupported_response_type",
                       error_description="only response_type=code is supported")  # fmt: skip
    if "openid" not in params.get("scope", "").split():
        return _answer(params, error="invalid_scope", error_description="scope must include openid")
    if params.get("code_challenge_method") != "S256":
        return _answer(
            params,
            error="invalid_request",
            error_description="PKCE with code_challenge_method=S256 is required",
        )
    if not _CHALLENGE.match(params.get("code_challenge", "")):
        return _answer(
            params,
            error="invalid_request",
            error_description="code_challenge must be a base64url SHA-256 (43 characters)",
        )
    if idp.authorize_error:
        return _answer(
            params, error=idp.authorize_error, error_description="refused by the test IdP"
        )
    with idp._lock:
        if idp.interactive:
            pending_id = secrets.token_urlsafe(16)
            idp._pending[pending_id] = {"params": params, "user": idp.user.snapshot()}
            return _interactive_page(idp, pending_id)
        code = _issue_code(idp, params, idp.user.snapshot())
    return _answer(params, code=code)


def _authorize_continue(idp: TestIdentityProvider, request: Request) -> Reply:
    form = dict(request.form)
    with idp._lock:
        pending = idp._pending.pop(form.get("request", ""), None)
        if pending is None:
            return page(400, "Expired", "this sign-in request is unknown or already used")
        params: dict[str, str] = pending["params"]
        if form.get("action") != "continue":
            reply = _answer(params, error="access_denied", error_description="the user cancelled")
        else:
            reply = _answer(params, code=_issue_code(idp, params, pending["user"]))
    reply.status = 303  # after a POST, the browser follows with a GET
    return reply


# -- token -----------------------------------------------------------------------------


def _code_grant(idp: TestIdentityProvider, client_id: str, form: dict[str, str]) -> dict[str, Any]:
    if client_id != idp.client_id:
        raise OAuthError("unauthorized_client", "this client may not use the code grant")
    code = idp._codes.pop(form.get("code", ""), None)  # single use, even when refused
    if code is None:
        raise OAuthError("invalid_grant", "the code is unknown or already used")
    if time.monotonic() > code.expires_at:
        raise OAuthError("invalid_grant", "the code has expired")
    if code.client_id != client_id:
        raise OAuthError("invalid_grant", "the code was issued to another client")
    if form.get("redirect_uri") != code.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
    verifier = form.get("code_verifier")
    if verifier is None or not _VERIFIER.match(verifier):
        raise OAuthError("invalid_grant", "a code_verifier (43-128 characters) is required")
    if not hmac.compare_digest(s256(verifier), code.code_challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    return issue_tokens(
        idp, client_id=client_id, scope=code.scope, user=code.user, nonce=code.nonce
    )


def _refresh_grant(
    idp: TestIdentityProvider, client_id: str, form: dict[str, str]
) -> dict[str, Any]:
    grant = idp._refresh.get(form.get("refresh_token", ""))
    if grant is None or grant.client_id != client_id:
        raise OAuthError("invalid_grant", "the refresh_token is unknown, used or not yours")
    del idp._refresh[form["refresh_token"]]  # rotated: each refresh token works once
    scope = form.get("scope") or grant.scope
    if not set(scope.split()) <= set(grant.scope.split()):
        raise OAuthError("invalid_scope", "a refresh cannot widen the scope")
    if "offline_access" not in scope.split():
        scope = f"{scope} offline_access"
    return issue_tokens(idp, client_id=client_id, scope=scope, user=grant.user)


_GRANTS: dict[str, Callable[[TestIdentityProvider, str, dict[str, str]], dict[str, Any]]] = {
    "authorization_code": _code_grant,
    DEVICE_GRANT: device_grant,
    "refresh_token": _refresh_grant,
}


def token(idp: TestIdentityProvider, request: Request) -> Reply:
    record: dict[str, str | None] = {"grant_type": None, "client_id": None,
                                     "auth_method": None, "error": None}  # fmt: skip
    try:
        if request.method != "POST":
            raise OAuthError("invalid_request", "the token endpoint takes POST")
        form = single(request.form)
        record["grant_type"] = form.get("grant_type")
        grant = _GRANTS.get(form.get("grant_type", ""))
        if grant is None:
            raise OAuthError("unsupported_grant_type", "unsupported grant_type")
        client_id, method = authenticate_client(idp, request, form)
        record["client_id"], record["auth_method"] = client_id, method
        with idp._lock:
            result = grant(idp, client_id, form)
    except OAuthError as exc:
        record["error"] = exc.error
        with idp._lock:
            idp.token_requests.append(record)
        headers = {"WWW-Authenticate": 'Basic realm="test-idp"'} if exc.status == 401 else {}
        return json_reply(exc.status, {"error": exc.error, "error_description": exc.description},
                     headers)  # fmt: skip
    with idp._lock:
        idp.token_requests.append(record)
    return json_reply(200, result, {"Pragma": "no-cache"})


# -- end session -----------------------------------------------------------------------


def end_session(idp: TestIdentityProvider, request: Request) -> Reply:
    params = dict(request.query if request.method == "GET" else request.form)
    with idp._lock:
        idp.logout_calls.append(params)
    target = params.get("post_logout_redirect_uri")
    if target:
        extra = {"state": params["state"]} if "state" in params else {}
        return redirect(with_query(target, extra) if extra else target)
    return page(200, "Signed out", "You have signed out.")


# -- routing ---------------------------------------------------------------------------


def handle(idp: TestIdentityProvider, request: Request) -> Reply:
    prefix = idp.issuer_path
    if not request.path.startswith(prefix + "/"):
        return json_reply(404, {"error": "not_found"})
    endpoint = request.path[len(prefix) + 1 :]
    if endpoint == ".well-known/openid-configuration":
        with idp._lock:
            idp.discovery_requests += 1
        return json_reply(200, discovery(idp))
    if endpoint == "keys":
        with idp._lock:
            idp.jwks_requests += 1
        return json_reply(200, idp.jwks())
    routes: dict[str, Callable[[TestIdentityProvider, Request], Reply]] = {
        "authorize": authorize,
        "token": token,
        "devicecode": device_authorization,
        "device": device_page,
    }
    if idp.end_session:
        routes["logout"] = end_session
    route = routes.get(endpoint)
    if route is None:
        return json_reply(404, {"error": "not_found"})
    return route(idp, request)
