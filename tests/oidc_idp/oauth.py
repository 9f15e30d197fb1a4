"""OAuth plumbing shared by the test identity provider's endpoints: error answers,
replies, parameter parsing, client authentication and the token response.

Client authentication follows RFC 6749 section 2.3: the confidential web client by
client_secret_basic or client_secret_post (never both; the secret compared in constant
time), the public CLI client by its client_id alone and never with a secret.
"""

from __future__ import annotations

import base64
import hmac
import html
import json
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from tests.oidc_idp.httpd import Reply, Request
from tests.oidc_idp.state import IdpUser, RefreshGrant

if TYPE_CHECKING:
    from tests.oidc_idp.server import TestIdentityProvider


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), "application/json", headers or {})


def page(status: int, title: str, body: str) -> Reply:
    document = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    )
    return Reply(status, document.encode(), "text/html; charset=utf-8")


def redirect(location: str, status: int = 302) -> Reply:
    return Reply(status, b"", "text/plain", {"Location": location})


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def single(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Parameters as a dict; RFC 6749 section 3.1: each at most once."""
    result: dict[str, str] = {}
    for key, value in pairs:
        if key in result:
            raise OAuthError("invalid_request", f"parameter {key!r} is repeated")
        result[key] = value
    return result


def authenticate_client(
    idp: TestIdentityProvider, request: Request, form: dict[str, str]
) -> tuple[str, str]:
    """(client_id, auth method): the web client by its secret, or the public CLI client."""
    secret: str | None = None
    method = "none"
    client_id = form.get("client_id")
    authorization = request.headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        if "client_secret" in form:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            basic_id, basic_secret = decoded.split(":", 1)
        except ValueError:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
        basic_id, secret = unquote_plus(basic_id), unquote_plus(basic_secret)  # RFC 6749 2.3.1
        if client_id is not None and client_id != basic_id:
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
        client_id, method = basic_id, "client_secret_basic"
    elif "client_secret" in form:
        secret, method = form["client_secret"], "client_secret_post"
    if client_id == idp.client_id:
        if secret is None or not hmac.compare_digest(secret.encode(), idp.client_secret.encode()):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client_id, method
    if client_id is not None and client_id == idp.cli_client_id:
        if secret is not None:
            raise OAuthError("invalid_client", f"{client_id} is a public client: no secret", 401)
        return client_id, method
    raise OAuthError("invalid_client", "unknown client_id", 401)


def issue_tokens(
    idp: TestIdentityProvider,
    *,
    client_id: str,
    scope: str,
    user: IdpUser,
    nonce: str | None = None,
    with_id_token: bool = True,
) -> dict[str, Any]:
    lifetime = timedelta(seconds=idp.token_lifetime)
    result: dict[str, Any] = {
        "token_type": "Bearer",
        "expires_in": idp.token_lifetime,
        "scope": scope,
        "access_token": idp.mint(user=user, lifetime=lifetime, azp=client_id, scp=scope),
    }
    if with_id_token and "openid" in scope.split():
        result["id_token"] = idp.mint_id_token(
            nonce=nonce, client_id=client_id, user=user, lifetime=lifetime
        )
    if "offline_access" in scope.split():
        refresh = secrets.token_urlsafe(32)
        idp._refresh[refresh] = RefreshGrant(client_id=client_id, scope=scope, user=user)
        result["refresh_token"] = refresh
    return result
