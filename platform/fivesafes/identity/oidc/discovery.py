"""A provider's discovery document (``{issuer}/.well-known/openid-configuration``).

The document says where to send people (authorization, device, end-session endpoints),
where to exchange codes (token endpoint) and where the signing keys are (``jwks_uri``).
Whoever can change it can point fivesafes at their own keys, so it is fetched only from
the configured issuer, without following redirects, bounded in size and time, and
accepted only when its ``issuer`` is the configured one (OpenID Connect Discovery 1.0,
section 4.3) and every endpoint is https (http only on loopback, for a test provider).

A failure is :class:`ServiceUnavailableError` ``provider_unavailable``: the provider (or
the path to it) is down, not the user's fault, and the next call tries again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from fivesafes.errors import ServiceUnavailableError
from fivesafes.identity.oidc.config import ProviderConfig

log = logging.getLogger("fivesafes.identity")

#: A discovery document or a JWKS is a few kilobytes; anything far larger is not one.
MAX_DOCUMENT_BYTES = 512 * 1024
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
PROVIDER_UNAVAILABLE = "provider_unavailable"


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    """What fivesafes uses of a provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str | None
    device_authorization_endpoint: str | None
    end_session_endpoint: str | None


def unavailable(provider: ProviderConfig, what: str) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"identity provider {provider.label!r} is unavailable: {what}", code=PROVIDER_UNAVAILABLE
    )


def fetch_json(
    http: httpx.Client, url: str, provider: ProviderConfig, what: str, *, timeout: float
) -> dict[str, Any]:
    """GET ``url`` as a JSON object, or :class:`ServiceUnavailableError` naming ``what``.

    Streams the body so that a hostile or broken endpoint cannot make the server hold an
    unbounded response in memory; never follows a redirect (a redirect could take the
    key lookup to a host the policy does not name).
    """
    try:
        with http.stream(
            "GET",
            url,
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise unavailable(provider, f"its {what} answered HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise unavailable(
                        provider, f"its {what} is larger than {MAX_DOCUMENT_BYTES} bytes"
                    )
    except httpx.HTTPError as exc:
        log.warning(
            "oidc provider %s: %s fetch failed (%s)", provider.name, what, type(exc).__name__
        )
        raise unavailable(
            provider, f"its {what} could not be fetched ({type(exc).__name__})"
        ) from None
    try:
        data = json.loads(bytes(body))
    except ValueError:
        raise unavailable(provider, f"its {what} is not JSON") from None
    if not isinstance(data, dict):
        raise unavailable(provider, f"its {what} is not a JSON object")
    return data


def _endpoint(
    document: dict[str, Any], key: str, provider: ProviderConfig, *, required: bool
) -> str | None:
    value = document.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise unavailable(provider, f"its discovery document has no {key}")
    parts = urlsplit(value)
    secure = parts.scheme == "https" and bool(parts.hostname)
    loopback = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if not (secure or loopback):
        raise unavailable(provider, f"its discovery document's {key} is not an https:// URL")
    return value


def parse_metadata(document: dict[str, Any], provider: ProviderConfig) -> ProviderMetadata:
    """Validate a discovery document against the configured provider."""
    issuer = document.get("issuer")
    # The configured issuer has no trailing slash (config strips it); a provider whose
    # issuer has one (``https://tenant.example/``) is the same issuer.
    if not isinstance(issuer, str) or issuer.rstrip("/") != provider.issuer:
        raise unavailable(
            provider,
            "its discovery document names a different issuer than the one configured",
        )
    jwks_uri = _endpoint(document, "jwks_uri", provider, required=provider.jwks_file is None)
    return ProviderMetadata(
        issuer=provider.issuer,
        authorization_endpoint=_required(document, "authorization_endpoint", provider),
        token_endpoint=_required(document, "token_endpoint", provider),
        jwks_uri=jwks_uri,
        device_authorization_endpoint=_endpoint(
            document, "device_authorization_endpoint", provider, required=False
        ),
        end_session_endpoint=_endpoint(document, "end_session_endpoint", provider, required=False),
    )


def _required(document: dict[str, Any], key: str, provider: ProviderConfig) -> str:
    value = _endpoint(document, key, provider, required=True)
    assert value is not None  # required=True never returns None
    return value


def discover(http: httpx.Client, provider: ProviderConfig, *, timeout: float) -> ProviderMetadata:
    """Fetch and validate ``provider``'s discovery document."""
    document = fetch_json(
        http, provider.discovery_url, provider, "discovery document", timeout=timeout
    )
    return parse_metadata(document, provider)
