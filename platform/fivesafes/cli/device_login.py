"""The device authorization grant (RFC 8628), as ``fivesafes login`` runs it.

A researcher's terminal has no browser to be redirected back to, so the CLI asks the
identity provider for a user code, the researcher approves it in any browser (with the
provider's MFA), and the CLI polls the token endpoint until the provider answers. The
CLI is a public client (no secret: one shipped to every laptop would be no secret).

Everything is plain HTTP with httpx, following the RFC's text, because the polling rules
are where clients go wrong: wait ``interval`` seconds between polls (5 when the provider
does not say), add 5 seconds for this and every later poll on ``slow_down``, keep going on
``authorization_pending``, stop on ``access_denied`` and ``expired_token`` (and when
``expires_in`` has passed whatever the provider says), back off on a timeout, and stop on
any other error naming it. Which provider to use comes from the server
(``GET /auth/providers``), and the provider's endpoints from its discovery document,
whose ``issuer`` must be the one the server named: a document naming another issuer is
a mix-up, not a provider. Neither the device code nor a token is ever printed.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from fivesafes.errors import (
    AuthenticationError,
    FivesafesError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5  # RFC 8628 section 3.2: when the provider gives none
SLOW_DOWN_STEP = 5  # RFC 8628 section 3.5
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class ServerProvider:
    """One entry of the server's ``GET /auth/providers``."""

    name: str
    label: str
    issuer: str
    client_id: str
    audience: str
    scopes: tuple[str, ...]
    api_scope: str | None


@dataclass(frozen=True, slots=True)
class ProviderEndpoints:
    """What the CLI needs from the provider's discovery document."""

    issuer: str
    token_endpoint: str
    device_authorization_endpoint: str
    scopes_supported: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """The device authorization response; ``device_code`` is a secret (never shown)."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int

    def __repr__(self) -> str:
        return f"DeviceAuthorization(user_code={self.user_code!r}, expires_in={self.expires_in})"


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None

    def __repr__(self) -> str:
        return f"TokenSet(expires_at={self.expires_at!r})"


class DeviceLoginRefusedError(AuthenticationError):
    """The provider ended the sign-in: ``code`` is its OAuth error (access_denied...)."""


def _secure(url: str, what: str) -> str:
    """An https URL, or http on loopback (a test provider): a token or a device code is
    never sent where anyone on the path could read it."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise ServiceUnavailableError(
        f"{what} {url!r} is not an https:// URL: refusing to send credentials there",
        code="insecure_provider",
    )


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ServiceUnavailableError(
            f"{what} answered HTTP {response.status_code} without a JSON object",
            code="provider_unavailable",
        )
    return data


def _get(http: httpx.Client, url: str, what: str) -> httpx.Response:
    try:
        return http.get(url)
    except httpx.TransportError as exc:
        raise ServiceUnavailableError(f"cannot reach {what} at {url}: {exc}") from None


# -- which provider ----------------------------------------------------------------------


def list_providers(http: httpx.Client, url: str) -> list[ServerProvider]:
    """The server's identity providers (``GET {url}/auth/providers``, public)."""
    endpoint = f"{url.rstrip('/')}/auth/providers"
    response = _get(http, endpoint, "the fivesafes server")
    if response.status_code != 200:
        raise ServiceUnavailableError(
            f"{endpoint} answered HTTP {response.status_code}: is {url} a fivesafes server?",
            code="http_error",
        )
    try:
        entries = response.json()
        return [
            ServerProvider(
                name=str(e["name"]),
                label=str(e.get("label") or e["name"]),
                issuer=str(e["issuer"]).rstrip("/"),
                client_id=str(e["client_id"]),
                audience=str(e["audience"]),
                scopes=tuple(str(s) for s in e.get("scopes") or ("openid",)),
                api_scope=str(e["api_scope"]) if e.get("api_scope") else None,
            )
            for e in entries
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ServiceUnavailableError(
            f"{endpoint} did not answer a list of providers", code="http_error"
        ) from None


def choose_provider(
    providers: Sequence[ServerProvider], name: str | None, url: str
) -> ServerProvider:
    """The provider named, or the only one; several and none named is an error listing
    them (guessing would send the researcher to the wrong organisation)."""
    names = ", ".join(p.name for p in providers)
    if not providers:
        raise NotFoundError(
            f"{url} has no identity provider to sign in with: ask its administrator for "
            "an API token (--token)",
            code="no_provider",
        )
    if name is None:
        if len(providers) == 1:
            return providers[0]
        raise InvalidInputError(
            f"{url} offers several identity providers ({names}): choose one with --provider",
            code="provider_required",
        )
    for provider in providers:
        if provider.name == name:
            return provider
    raise InvalidInputError(
        f"{url} has no identity provider {name!r} (it has: {names})", code="unknown_provider"
    )


def discover(http: httpx.Client, provider: ServerProvider) -> ProviderEndpoints:
    """The provider's endpoints from ``{issuer}/.well-known/openid-configuration``."""
    url = _secure(f"{provider.issuer}/.well-known/openid-configuration", "the provider's issuer")
    response = _get(http, url, f"identity provider {provider.name!r}")
    if response.status_code != 200:
        raise ServiceUnavailableError(
            f"{url} answered HTTP {response.status_code}", code="provider_unavailable"
        )
    doc = _json_object(response, f"identity provider {provider.name!r}")
    if str(doc.get("issuer", "")).rstrip("/") != provider.issuer:
        raise ServiceUnavailableError(
            f"the discovery document of {provider.name!r} names another issuer than "
            f"{provider.issuer}: refusing it",
            code="wrong_issuer",
        )
    device = doc.get("device_authorization_endpoint")
    token = doc.get("token_endpoint")
    if not isinstance(device, str) or not device:
        raise ServiceUnavailableError(
            f"identity provider {provider.name!r} does not offer the device authorization "
            "grant (no device_authorization_endpoint): ask for an API token instead",
            code="device_flow_unsupported",
        )
    if not isinstance(token, str) or not token:
        raise ServiceUnavailableError(
            f"identity provider {provider.name!r} lists no token_endpoint",
            code="provider_unavailable",
        )
    supported = doc.get("scopes_supported")
    return ProviderEndpoints(
        issuer=provider.issuer,
        token_endpoint=_secure(token, "the token endpoint"),
        device_authorization_endpoint=_secure(device, "the device authorization endpoint"),
        scopes_supported=tuple(str(s) for s in supported) if isinstance(supported, list) else (),
    )


def requested_scope(provider: ServerProvider, endpoints: ProviderEndpoints) -> str:
    """The provider's scopes, its API scope (an access token for fivesafes) and
    ``offline_access`` where offered (a refresh token, so fetch can renew quietly)."""
    wanted = list(provider.scopes)
    if provider.api_scope:
        wanted.append(provider.api_scope)
    if "offline_access" in endpoints.scopes_supported:
        wanted.append("offline_access")
    return " ".join(dict.fromkeys(wanted))


# -- the grant ---------------------------------------------------------------------------


def _positive_int(value: Any, default: int | None) -> int | None:
    if isinstance(value, bool):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def start(
    http: httpx.Client, endpoints: ProviderEndpoints, client_id: str, scope: str
) -> DeviceAuthorization:
    """Ask for a device code and a user code (RFC 8628 section 3.1)."""
    url = endpoints.device_authorization_endpoint
    try:
        response = http.post(url, data={"client_id": client_id, "scope": scope})
    except httpx.TransportError as exc:
        raise ServiceUnavailableError(f"cannot reach {url}: {exc}") from None
    data = _json_object(response, "the device authorization endpoint")
    if response.status_code != 200:
        raise _oauth_error(data, response.status_code, "the device authorization request")
    try:
        verification = str(data.get("verification_uri") or data["verification_url"])
        complete = data.get("verification_uri_complete")
        expires_in = _positive_int(data["expires_in"], None)
        if expires_in is None:
            raise ValueError("expires_in")
        return DeviceAuthorization(
            device_code=str(data["device_code"]),
            user_code=str(data["user_code"]),
            verification_uri=verification,
            verification_uri_complete=str(complete) if complete else None,
            expires_in=expires_in,
            interval=_positive_int(data.get("interval"), DEFAULT_INTERVAL) or DEFAULT_INTERVAL,
        )
    except (KeyError, ValueError):
        raise ServiceUnavailableError(
            "the device authorization response lacks device_code, user_code, "
            "verification_uri or expires_in",
            code="provider_unavailable",
        ) from None


def _oauth_error(data: dict[str, Any], status: int, what: str) -> FivesafesError:
    error = str(data.get("error") or "http_error")
    # The provider's description is for people and names no secret; cut it short anyway.
    description = str(data.get("error_description") or "")[:300]
    detail = f": {description}" if description else ""
    message = f"{what} was refused by the identity provider ({error}, HTTP {status}){detail}"
    if error in {"invalid_client", "unauthorized_client", "invalid_scope"}:
        return PermissionDeniedError(message, code=error)
    return DeviceLoginRefusedError(message, code=error)


def _expiry(data: dict[str, Any], now: datetime) -> datetime | None:
    seconds = _positive_int(data.get("expires_in"), None)
    if seconds is not None:
        return now + timedelta(seconds=seconds)
    return _jwt_expiry(str(data["access_token"]))


def _jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` of a JWT access token, read without verifying it: only to know when
    to refresh (the server verifies it); None for an opaque token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return datetime.fromtimestamp(int(payload["exp"]), UTC)
    except (ValueError, KeyError, TypeError, OverflowError):
        return None


def _token_set(data: dict[str, Any], now: datetime, what: str) -> TokenSet:
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ServiceUnavailableError(f"{what}: the answer holds no access_token")
    if str(data.get("token_type", "")).lower() != "bearer":
        raise ServiceUnavailableError(f"{what}: token_type is not Bearer")
    refresh = data.get("refresh_token")
    return TokenSet(
        access_token=token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=_expiry(data, now),
    )


def poll(
    http: httpx.Client,
    endpoints: ProviderEndpoints,
    client_id: str,
    authorization: DeviceAuthorization,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> TokenSet:
    """Poll the token endpoint until the provider answers (RFC 8628 section 3.4, 3.5)."""
    interval = authorization.interval
    deadline = clock() + authorization.expires_in
    form = {"grant_type": DEVICE_GRANT, "device_code": authorization.device_code,
            "client_id": client_id}  # fmt: skip
    while True:
        if clock() + interval > deadline:
            raise DeviceLoginRefusedError(
                f"the sign-in code expired after {authorization.expires_in} s without an "
                "approval: run `fivesafes login` again",
                code="expired_token",
            )
        sleep(interval)
        try:
            response = http.post(endpoints.token_endpoint, data=form)
        except httpx.TimeoutException:
            interval *= 2  # section 3.5: reduce the polling frequency on a timeout
            continue
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(
                f"cannot reach {endpoints.token_endpoint}: {exc}"
            ) from None
        data = _json_object(response, "the token endpoint")
        if response.status_code == 200:
            return _token_set(data, datetime.now(UTC), "the device sign-in")
        error = data.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN_STEP
            continue
        if error == "access_denied":
            raise DeviceLoginRefusedError(
                "the sign-in was denied at the identity provider", code="access_denied"
            )
        if error == "expired_token":
            raise DeviceLoginRefusedError(
                "the sign-in code expired before it was approved: run `fivesafes login` again",
                code="expired_token",
            )
        raise _oauth_error(data, response.status_code, "the device sign-in")


def refresh(
    http: httpx.Client, token_endpoint: str, client_id: str, refresh_token: str
) -> TokenSet:
    """A new access token from a refresh token (RFC 6749 section 6); a provider that
    rotates refresh tokens sends a new one, which replaces the old."""
    url = _secure(token_endpoint, "the token endpoint")
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    try:
        response = http.post(url, data=form)
    except httpx.TransportError as exc:
        raise ServiceUnavailableError(f"cannot reach {url}: {exc}") from None
    data = _json_object(response, "the token endpoint")
    if response.status_code != 200:
        raise _oauth_error(data, response.status_code, "renewing the stored sign-in")
    tokens = _token_set(data, datetime.now(UTC), "renewing the stored sign-in")
    if tokens.refresh_token is None:
        return TokenSet(tokens.access_token, refresh_token, tokens.expires_at)
    return tokens
