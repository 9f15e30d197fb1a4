"""The device authorization grant (RFC 8628), which the CLI's ``fivesafes login`` uses.

Polls answer authorization_pending until the user is approved (``approve_device``, the
verification page, or a ``device_script`` step), slow_down when they come faster than
the interval (which then grows), access_denied and expired_token for good.
"""

from __future__ import annotations

import html
import secrets
import time
from typing import TYPE_CHECKING, Any

from tests.oidc_idp.httpd import Reply, Request
from tests.oidc_idp.oauth import (
    OAuthError,
    authenticate_client,
    issue_tokens,
    json_reply,
    page,
    single,
    with_query,
)
from tests.oidc_idp.state import DeviceGrant

if TYPE_CHECKING:
    from tests.oidc_idp.server import TestIdentityProvider

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels: no words, no 0/O or 1/I
DEVICE_STEPS = frozenset(
    {"authorization_pending", "slow_down", "access_denied", "expired_token", "approved"}
)


def _scripted_step(idp: TestIdentityProvider, grant: DeviceGrant) -> None:
    """Apply the next ``device_script`` step to this grant (a poll's scripted outcome)."""
    step = idp.device_script.pop(0)
    if step not in DEVICE_STEPS:
        raise ValueError(f"device_script step {step!r} is not one of {sorted(DEVICE_STEPS)}")
    if step == "approved":
        grant.status, grant.user = "approved", idp.user.snapshot()
    elif step == "access_denied":
        grant.status = "denied"
    elif step == "expired_token":
        grant.expires_at = time.monotonic() - 1
    elif step == "slow_down":
        grant.interval += idp.slow_down_increment
        raise OAuthError("slow_down", f"poll at most every {grant.interval} s")
    else:
        raise OAuthError("authorization_pending", "the user has not approved yet")


def device_grant(idp: TestIdentityProvider, client_id: str, form: dict[str, str]) -> dict[str, Any]:
    """The token endpoint's device_code grant: tokens once approved, else the RFC 8628
    error for where the sign-in stands."""
    grant = idp._devices.get(form.get("device_code", ""))
    if grant is None or grant.client_id != client_id or grant.status == "used":
        raise OAuthError("invalid_grant", "the device_code is unknown or already used")
    now = time.monotonic()
    too_soon = grant.last_poll is not None and now - grant.last_poll < grant.interval - 0.05
    grant.last_poll = now
    if idp.device_script and grant.status == "pending":
        _scripted_step(idp, grant)
    # Final answers first: a client told to slow down must still learn it is over.
    if time.monotonic() > grant.expires_at:
        raise OAuthError("expired_token", "the device code has expired")
    if grant.status == "denied":
        raise OAuthError("access_denied", "the user denied the request")
    if grant.status == "pending":
        if too_soon:
            grant.interval += idp.slow_down_increment
            raise OAuthError("slow_down", f"poll at most every {grant.interval} s")
        raise OAuthError("authorization_pending", "the user has not approved yet")
    assert grant.user is not None
    grant.status = "used"
    return issue_tokens(idp, client_id=client_id, scope=grant.scope, user=grant.user)


# -- endpoints ---------------------------------------------------------------------------


def _user_code() -> str:
    letters = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
    return f"{letters[:4]}-{letters[4:]}"


def device_authorization(idp: TestIdentityProvider, request: Request) -> Reply:
    try:
        if request.method != "POST":
            raise OAuthError("invalid_request", "the device authorization endpoint takes POST")
        form = single(request.form)
        client_id, _ = authenticate_client(idp, request, form)
        scope = form.get("scope", "")
        if "openid" not in scope.split():
            raise OAuthError("invalid_scope", "scope must include openid")
    except OAuthError as exc:
        return json_reply(exc.status, {"error": exc.error, "error_description": exc.description})
    with idp._lock:
        grant = DeviceGrant(
            device_code=secrets.token_urlsafe(32),
            user_code=_user_code(),
            client_id=client_id,
            scope=scope,
            expires_at=time.monotonic() + idp.device_expires_in,
            interval=idp.device_interval,
        )
        idp._devices[grant.device_code] = grant
    verification_uri = idp.url("device")
    return json_reply(200, {
        "device_code": grant.device_code,
        "user_code": grant.user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": with_query(verification_uri, {"user_code": grant.user_code}),
        "expires_in": idp.device_expires_in,
        "interval": grant.interval,
        "message": f"To sign in, open {verification_uri} and enter the code {grant.user_code}.",
    })  # fmt: skip


def device_page(idp: TestIdentityProvider, request: Request) -> Reply:
    """The verification page a person would open: approve or deny a user code."""
    if request.method == "POST":
        form = dict(request.form)
        try:
            if form.get("action") == "approve":
                idp.approve_device(form.get("user_code", ""))
            else:
                idp.deny_device(form.get("user_code", ""))
        except LookupError:
            return page(400, "Unknown code", "no pending sign-in has this code")
        return page(200, "Done", "You may close this window.")
    code = html.escape(dict(request.query).get("user_code", ""), quote=True)
    action = html.escape(idp.url("device"), quote=True)
    body = (
        f"<h1>{html.escape(idp.name)}: device sign-in</h1>"
        f"<form method='post' action='{action}'>"
        f"<input name='user_code' value='{code}'>"
        "<button type='submit' name='action' value='approve'>Approve</button> "
        "<button type='submit' name='action' value='deny'>Deny</button></form>"
    )
    return page(200, "Device sign-in", body)
