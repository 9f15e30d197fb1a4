"""The configured identity providers, as the web, the API and the CLI's server side use them.

One object (``app.state.oidc``) holds, per provider, its discovery document and its
keys, each fetched when first needed and cached: start-up never waits on a provider,
and a provider that is down makes only its own sign-ins fail (503 / 401
``provider_unavailable``), never the server's start or the other providers.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from fivesafes.db import utcnow
from fivesafes.errors import NotFoundError
from fivesafes.identity.oidc import tokens
from fivesafes.identity.oidc.config import (
    IdentityPolicy,
    ProviderConfig,
    client_secret,
    load_identity_policy,
)
from fivesafes.identity.oidc.discovery import ProviderMetadata, discover, fetch_json
from fivesafes.identity.oidc.jwks import KeyCache, read_jwks_file
from fivesafes.identity.oidc.tokens import Expectation, VerifiedToken

if TYPE_CHECKING:
    from fivesafes.config import Settings

__all__ = ["OidcProviders", "ProviderMetadata", "VerifiedToken"]

_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


class OidcProviders:
    """Discovery, keys and token verification for every provider in the identity policy."""

    def __init__(
        self,
        policy: IdentityPolicy,
        *,
        http: httpx.Client | None = None,
        environ: Mapping[str, str] | None = None,
        jwks_min_refresh: timedelta = timedelta(seconds=30),
        timeout: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.policy = policy
        self._http = http
        self._owns_http = http is None
        self._environ = environ
        self._timeout = timeout
        self._clock = clock
        self._metadata: dict[str, ProviderMetadata] = {}
        self._metadata_locks = {p.name: threading.Lock() for p in policy.providers}
        self._http_lock = threading.Lock()
        self._keys = {
            p.name: KeyCache(p, self._jwks_loader(p), min_refresh=jwks_min_refresh, clock=clock)
            for p in policy.providers
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcProviders:
        """The providers of ``settings.identity_policy`` (validated: a bad file stops start-up)."""
        return cls(
            load_identity_policy(settings.identity_policy),
            jwks_min_refresh=timedelta(seconds=settings.oidc_jwks_min_refresh_seconds),
            timeout=settings.oidc_http_timeout_seconds,
        )

    def __bool__(self) -> bool:
        return bool(self.policy.providers)

    def names(self) -> list[str]:
        return [p.name for p in self.policy.providers]

    def config(self, name: str) -> ProviderConfig:
        provider = self.policy.get(name)
        if provider is None:
            raise NotFoundError(
                f"no identity provider named {name[:40]!r}", code="unknown_provider"
            )
        return provider

    def client_secret(self, name: str) -> str | None:
        return client_secret(self.config(name), self._environ)

    def close(self) -> None:
        """Close the HTTP client this object made (an injected one is the caller's)."""
        with self._http_lock:
            if self._owns_http and self._http is not None:
                self._http.close()
                self._http = None

    def _client(self) -> httpx.Client:
        with self._http_lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self._timeout, follow_redirects=False)
            return self._http

    def metadata(self, name: str) -> ProviderMetadata:
        """The provider's discovery document, fetched on first use and then cached.

        A failure raises ``ServiceUnavailableError`` (``provider_unavailable``) and is not
        cached: the next call tries again.
        """
        provider = self.config(name)
        cached = self._metadata.get(name)
        if cached is not None:
            return cached
        with self._metadata_locks[name]:
            cached = self._metadata.get(name)
            if cached is None:
                cached = discover(self._client(), provider, timeout=self._timeout)
                self._metadata[name] = cached
            return cached

    def _jwks_loader(self, provider: ProviderConfig) -> Callable[[], Any]:
        def load() -> Any:
            if provider.jwks_file is not None:
                return read_jwks_file(provider.jwks_file, provider)
            jwks_uri = self.metadata(provider.name).jwks_uri
            assert jwks_uri is not None  # discovery requires it when there is no jwks_file
            return fetch_json(self._client(), jwks_uri, provider, "JWKS", timeout=self._timeout)

        return load

    def key_cache(self, name: str) -> KeyCache:
        """The provider's key cache (its ``loads`` counter shows how often it was fetched)."""
        self.config(name)
        return self._keys[name]

    def _keys_for(self, provider: ProviderConfig) -> KeyCache:
        return self._keys[provider.name]

    def verify_access_token(self, token: str, *, now: datetime | None = None) -> VerifiedToken:
        """A bearer token for the API: from whichever provider its ``iss`` names, with that
        provider's ``audience``. Raises only :class:`~.refusals.TokenRefused`."""
        return tokens.verify(
            token,
            provider_for=self.policy.for_access_token_issuer,
            keys_for=self._keys_for,
            expect=lambda provider: Expectation(
                audience=provider.audience,
                issuers=provider.access_token_issuers,
                refuse_id_tokens=provider.audience == provider.client_id,
            ),
            now=now or self._clock(),
        )

    def verify_id_token(
        self, name: str, token: str, *, nonce: str, now: datetime | None = None
    ) -> VerifiedToken:
        """The ID token from provider ``name``'s token endpoint, for this sign-in attempt.

        Its issuer must be that provider (not merely any configured one), its audience
        the web client (and ``azp`` too when there are several), its nonce the attempt's.
        """
        expected = self.config(name)

        def provider_for(iss: str) -> ProviderConfig | None:
            return expected if self.policy.for_issuer(iss) is expected else None

        return tokens.verify(
            token,
            provider_for=provider_for,
            keys_for=self._keys_for,
            expect=lambda provider: Expectation(
                audience=provider.client_id,
                issuers=(provider.issuer,),
                authorized_party=provider.client_id,
                nonce=nonce,
            ),
            now=now or self._clock(),
        )

    @staticmethod
    def looks_like_jwt(token: str) -> bool:
        """Three base64url segments (the signature may be empty: an unsigned JWT is still
        a JWT, to be refused as one) and not a fivesafes API token (``fs_...``)."""
        return (
            isinstance(token, str)
            and not token.startswith("fs_")
            and _JWT_SHAPE.fullmatch(token) is not None
        )
