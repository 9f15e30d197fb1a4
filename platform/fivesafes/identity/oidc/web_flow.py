"""The browser's sign-in with an identity provider: the authorization code flow with PKCE.

Three secrets tie the provider's answer to the browser and the moment that asked for it:

- ``state`` (in a cookie of the browser that started, and hashed in an
  :class:`OidcLoginAttempt`): a code delivered to another browser's callback — an attacker
  logging a victim into the attacker's account — is refused, and each attempt is used once;
- ``nonce`` (in the attempt, echoed inside the ID token): an ID token minted for another
  sign-in cannot be replayed into this one;
- the PKCE ``code_verifier`` (in the attempt, its S256 challenge sent to the provider): a
  code intercepted on its way back is useless without it.

The redirect URI is built from settings, never from the request's Host header, so a
forged Host cannot send codes elsewhere. Nothing here knows HTTP frameworks: the page
routes (``web.routes_oidc``) read the request, call these functions, and draw the answer.
Codes, tokens, the state and the client secret are never logged or audited.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.db import utcnow
from fivesafes.errors import AuthenticationError, ServiceUnavailableError
from fivesafes.identity import service as identity
from fivesafes.identity import web_sessions
from fivesafes.identity.oidc import accounts
from fivesafes.identity.oidc.models import OidcLoginAttempt
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.oidc.refusals import TokenRefused

#: How long a sign-in may stay at the provider before its answer is refused.
ATTEMPT_LIFETIME = timedelta(minutes=10)
#: The browser's half of the state. SameSite=Lax, not Strict: the provider's redirect back
#: is a cross-site navigation, on which a Strict cookie would not be sent.
STATE_COOKIE = "fivesafes_oidc_state"
STATE_COOKIE_PATH = "/web/login/oidc/"
_STATE_LENGTH = 43
_VERIFIER_LENGTH = 64  # RFC 7636: 43 to 128 unreserved characters
#: An OAuth error code as RFC 6749 allows it; anything else is not repeated to the user.
_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class SignInRefused(AuthenticationError):  # noqa: N818 (like the design's TokenRefused)
    """The provider's answer did not complete a sign-in (401): a state that is missing,
    not this browser's, unknown, used or expired; the provider's own error; a code the
    token endpoint refused. ``code`` is the reason audited as ``oidc.refused``."""

    keeps_audit = False


@dataclass(frozen=True, slots=True)
class StartedSignIn:
    """Where to send the browser, and the state it must keep (in :data:`STATE_COOKIE`)."""

    state: str
    authorize_url: str


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """What came back: the callback's parameters, and the state this browser kept."""

    state: str | None
    cookie_state: str | None
    code: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CompletedSignIn:
    opened: web_sessions.OpenedSession
    next_url: str


def base_url(settings: Settings) -> str:
    """The address users reach the platform at: ``public_url``, else the bound address."""
    return settings.public_url or f"http://{settings.host}:{settings.port}"


def redirect_uri(settings: Settings, name: str) -> str:
    """The callback registered at the provider, exactly (providers compare it verbatim)."""
    return f"{base_url(settings)}/web/login/oidc/{name}/callback"


def logged_out_url(settings: Settings) -> str:
    """Where the provider sends the browser back after signing out there."""
    return f"{base_url(settings)}/web/login?notice=logged_out"


def _with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to any query it already has (Entra ID's endpoints
    carry none, but a provider may, and it must survive)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def prune_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete attempts past their expiry (abandoned at the provider); returns how many."""
    result = session.execute(
        delete(OidcLoginAttempt).where(OidcLoginAttempt.expires_at <= (now or utcnow()))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def begin_sign_in(
    session: Session,
    providers: OidcProviders,
    settings: Settings,
    name: str,
    next_url: str = "",
    *,
    now: datetime | None = None,
) -> StartedSignIn:
    """Record a new attempt for provider ``name`` and build its authorization request.

    ``next_url`` must already be a safe destination (the caller's ``safe_next``). Raises
    ``NotFoundError`` (unknown_provider) and ``ServiceUnavailableError``
    (provider_unavailable: its discovery document could not be read).
    """
    config = providers.config(name)
    metadata = providers.metadata(name)
    moment = now or utcnow()
    prune_expired(session, now=moment)
    state = generate_token(_STATE_LENGTH)
    nonce = generate_token(_STATE_LENGTH)
    verifier = generate_token(_VERIFIER_LENGTH)
    session.add(
        OidcLoginAttempt(
            state_hash=identity.hash_token(state),
            provider=name,
            nonce=nonce,
            code_verifier=verifier,
            next_url=next_url[:500],
            created_at=moment,
            expires_at=moment + ATTEMPT_LIFETIME,
        )
    )
    session.flush()
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri(settings, name),
        "scope": " ".join(config.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if config.acr_values:
        params["acr_values"] = " ".join(config.acr_values)
    return StartedSignIn(state, _with_query(metadata.authorization_endpoint, params))


def _refuse(
    session: Session, trail: AuditTrail, name: str, code: str, message: str
) -> SignInRefused:
    """Audit ``oidc.refused`` (the shape of ``accounts.record_refusal``) and build the error."""
    trail.record(
        session,
        "oidc.refused",
        outcome="denied",
        details={"reason": code, "via": "web", "provider": name},
    )
    refused = SignInRefused(message, code=code)
    refused.keeps_audit = True
    return refused


def _take_attempt(
    session: Session,
    trail: AuditTrail,
    name: str,
    state: str | None,
    cookie_state: str | None,
    moment: datetime,
) -> OidcLoginAttempt:
    """The attempt ``state`` names, deleted (single use), or :class:`SignInRefused`."""
    if not state or not cookie_state or len(state) > 200:
        raise _refuse(
            session,
            trail,
            name,
            "state_missing",
            "this sign-in was not started from this browser (its state is missing); "
            "start again from the log-in page",
        )
    if not hmac.compare_digest(state.encode(), cookie_state.encode()):
        raise _refuse(
            session,
            trail,
            name,
            "state_mismatch",
            "this sign-in was not started from this browser (its state differs); "
            "start again from the log-in page",
        )
    attempt = session.scalar(
        select(OidcLoginAttempt).where(OidcLoginAttempt.state_hash == identity.hash_token(state))
    )
    if attempt is not None:
        session.delete(attempt)
        session.flush()
    if attempt is None or attempt.provider != name:
        raise _refuse(
            session,
            trail,
            name,
            "state_unknown",
            "this sign-in is unknown or was already used; start again from the log-in page",
        )
    if moment >= attempt.expires_at:
        raise _refuse(
            session,
            trail,
            name,
            "state_expired",
            "this sign-in took longer than 10 minutes; start again from the log-in page",
        )
    return attempt


def _provider_error(
    session: Session, trail: AuditTrail, name: str, label: str, error: str
) -> SignInRefused:
    """The provider answered with an error (the user cancelled, a policy refused them).
    Its code is repeated only when it looks like one: the parameter is the attacker's to
    write, and the page must not show their text as the platform's."""
    if error == "access_denied":
        message = f"the sign-in at {label} was cancelled or refused there"
    elif _ERROR_CODE.match(error):
        message = f"{label} did not sign you in (it answered {error})"
    else:
        message = f"{label} did not sign you in"
    return _refuse(session, trail, name, "provider_error", message)


def _basic_credentials(client_id: str, secret: str) -> httpx.BasicAuth:
    """client_secret_basic: both parts form-urlencoded first (RFC 6749 section 2.3.1)."""
    return httpx.BasicAuth(quote(client_id, safe=""), quote(secret, safe=""))


def _exchange_code(
    session: Session,
    trail: AuditTrail,
    providers: OidcProviders,
    settings: Settings,
    name: str,
    code: str,
    attempt: OidcLoginAttempt,
    http: httpx.Client | None,
) -> str:
    """The ID token the token endpoint gives for ``code`` (with the PKCE verifier)."""
    config = providers.config(name)
    endpoint = providers.metadata(name).token_endpoint
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(settings, name),
        "code_verifier": attempt.code_verifier,
        "client_id": config.client_id,
    }
    secret = providers.client_secret(name)
    headers = {"Accept": "application/json"}
    client = http or httpx.Client(timeout=settings.oidc_http_timeout_seconds)
    try:
        if secret:
            basic = _basic_credentials(config.client_id, secret)
            response = client.post(endpoint, data=form, auth=basic, headers=headers)
        else:  # a public client: PKCE alone
            response = client.post(endpoint, data=form, headers=headers)
    except httpx.HTTPError:
        raise ServiceUnavailableError(
            f"{config.label} could not be reached to finish the sign-in; try again shortly",
            code="provider_unavailable",
        ) from None
    finally:
        if http is None:
            client.close()
    body = _json_object(response)
    if response.status_code >= 500:
        raise ServiceUnavailableError(
            f"{config.label} failed to finish the sign-in (HTTP {response.status_code}); "
            "try again shortly",
            code="provider_unavailable",
        )
    if response.status_code != 200:
        error = body.get("error")
        said = f" ({error})" if isinstance(error, str) and _ERROR_CODE.match(error) else ""
        raise _refuse(
            session,
            trail,
            name,
            "code_rejected",
            f"{config.label} refused this sign-in's code{said}; start again from the log-in page",
        )
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise _refuse(
            session,
            trail,
            name,
            "no_id_token",
            f"{config.label} answered without an ID token; is the openid scope allowed?",
        )
    return id_token


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def complete_sign_in(
    session: Session,
    trail: AuditTrail,
    providers: OidcProviders,
    settings: Settings,
    name: str,
    answer: ProviderAnswer,
    *,
    http: httpx.Client | None = None,
    now: datetime | None = None,
) -> CompletedSignIn:
    """Finish the sign-in the provider answered: a web session for the person it vouches
    for, and where they were going.

    Every refusal is audited (``oidc.refused``) before it is raised: :class:`SignInRefused`
    (state, the provider's error, a rejected code), ``TokenRefused`` (the ID token: bad
    signature, nonce, MFA... and a disabled user, 401) and ``RoleRefused`` (no role, 403).
    ``ServiceUnavailableError`` when the provider cannot be reached.
    """
    config = providers.config(name)
    moment = now or utcnow()
    attempt = _take_attempt(session, trail, name, answer.state, answer.cookie_state, moment)
    if answer.error:
        raise _provider_error(session, trail, name, config.label, answer.error[:100])
    code = answer.code
    if not code or len(code) > 2000:
        raise _refuse(
            session,
            trail,
            name,
            "code_missing",
            f"{config.label} sent the browser back without a code; start again",
        )
    id_token = _exchange_code(session, trail, providers, settings, name, code, attempt, http)
    try:
        verified = providers.verify_id_token(name, id_token, nonce=attempt.nonce, now=now)
    except TokenRefused as refused:
        accounts.record_refusal(session, trail, refused, via="web")
        raise
    user = accounts.sign_in(session, trail, verified, via="web")
    opened = web_sessions.open_session(session, trail, user, "oidc", provider=name, now=now)
    return CompletedSignIn(opened, attempt.next_url)


def end_session_url(providers: OidcProviders, settings: Settings, name: str) -> str | None:
    """Where to sign out at provider ``name`` after ending our session, or None (it offers
    no end_session_endpoint, is no longer configured, or cannot be reached: our own
    session has ended anyway)."""
    if name not in providers.names():
        return None
    try:
        endpoint = providers.metadata(name).end_session_endpoint
    except ServiceUnavailableError:
        return None
    if not endpoint:
        return None
    params = {
        "client_id": providers.config(name).client_id,
        "post_logout_redirect_uri": logged_out_url(settings),
    }
    return _with_query(endpoint, params)
