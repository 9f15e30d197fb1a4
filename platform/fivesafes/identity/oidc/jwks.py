"""A provider's signing keys (its JWKS), cached and refreshed when a new ``kid`` appears.

Providers rotate keys by publishing the new one, signing with it, and later withdrawing
the old one; a token naming a ``kid`` we have not seen is therefore the one moment to
look again. Looking again costs the provider a request (and us up to the HTTP timeout),
and anyone can send a token with a made-up ``kid``, so a refresh happens at most once per
``min_refresh`` per provider: a flood of such tokens costs one fetch, then each is simply
``unknown_key`` until the interval has passed.

Only public RSA and EC (P-256) keys meant for signatures are kept: those are what RS256,
PS256 and ES256 verify with. A symmetric key would let whoever else holds it mint
tokens, and a published private key is compromised by definition, so both are dropped
(logged by ``kid`` only, never the key material).

An air-gapped site's JWKS comes from ``jwks_file`` and is never fetched; the file is
read again (under the same rate limit) on an unknown ``kid``, so an operator rotates keys
by replacing the file.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, RSAKey

from fivesafes.identity.oidc.config import ProviderConfig
from fivesafes.identity.oidc.discovery import unavailable

log = logging.getLogger("fivesafes.identity")

#: RSA keys shorter than this are not trusted (NIST SP 800-131A; every provider issues 2048+).
MIN_RSA_BITS = 2048
#: Members of a JWK that only a private (or symmetric) key has.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

#: kid (None for a key published without one) -> the usable keys under it.
KeyIndex = dict[str | None, list[Key]]


def _usable_key(data: Any, provider: ProviderConfig) -> Key | None:
    """The public signing key ``data`` describes, or None when it is not one we may use."""
    if not isinstance(data, dict):
        return None
    kid = data.get("kid")
    kid_text = kid if isinstance(kid, str) else "(none)"
    kty = data.get("kty")
    if kty not in ("RSA", "EC"):
        return None
    if data.get("use", "sig") != "sig":
        return None
    key_ops = data.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None
    if _PRIVATE_MEMBERS & data.keys():
        log.warning(
            "oidc provider %s: JWKS key %r carries private material; ignored",
            provider.name,
            kid_text[:80],
        )
        return None
    if kty == "RSA" and _modulus_bits(data.get("n")) < MIN_RSA_BITS:
        log.warning(
            "oidc provider %s: JWKS key %r is too short; ignored", provider.name, kid_text[:80]
        )
        return None
    try:
        key: Key = RSAKey.import_key(data) if kty == "RSA" else ECKey.import_key(data)
    except (JoseError, ValueError, TypeError, KeyError):
        log.warning(
            "oidc provider %s: JWKS key %r is invalid; ignored", provider.name, kid_text[:80]
        )
        return None
    if isinstance(key, ECKey) and key.curve_name != "P-256":
        return None
    return key


def _modulus_bits(n: Any) -> int:
    """The size of an RSA modulus given as base64url (0 when it is not one), checked
    before the import so that a short key is refused without joserfc's warning."""
    if not isinstance(n, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        return 0
    return int.from_bytes(raw, "big").bit_length()


def parse_jwks(document: Any, provider: ProviderConfig) -> KeyIndex:
    """The usable keys of a JWKS document, by ``kid``; unusable keys are skipped."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise unavailable(provider, "its JWKS has no 'keys' list")
    index: KeyIndex = {}
    for data in keys:
        key = _usable_key(data, provider)
        if key is not None:
            kid = data.get("kid")
            index.setdefault(kid if isinstance(kid, str) else None, []).append(key)
    if not index:
        log.warning("oidc provider %s: its JWKS has no usable signing key", provider.name)
    return index


def read_jwks_file(path: Path, provider: ProviderConfig) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise unavailable(provider, f"its JWKS file {path} cannot be read as JSON") from None


class KeyCache:
    """One provider's keys: loaded on first use, reloaded at most once per ``min_refresh``.

    ``load`` returns the JWKS document (a file's or the provider's), raising
    :class:`~fivesafes.errors.ServiceUnavailableError` when it cannot. A lock makes
    concurrent requests that all meet the same new ``kid`` share one fetch.
    """

    def __init__(
        self,
        provider: ProviderConfig,
        load: Callable[[], Any],
        *,
        min_refresh: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.provider = provider
        self._load = load
        self.min_refresh = min_refresh
        self._clock = clock
        self._keys: KeyIndex | None = None
        self._last_load: datetime | None = None
        self._lock = threading.Lock()
        #: How many times the JWKS was loaded (fetched or read); for tests and metrics.
        self.loads = 0

    def _may_load(self, now: datetime) -> bool:
        return self._last_load is None or now - self._last_load >= self.min_refresh

    def _reload(self, now: datetime) -> KeyIndex:
        # The attempt counts even when it fails: an unreachable provider is not asked
        # again for every token that arrives meanwhile.
        self._last_load = now
        self.loads += 1
        self._keys = parse_jwks(self._load(), self.provider)
        return self._keys

    def keys_for(self, kid: str | None) -> list[Key]:
        """The keys published under ``kid`` (empty: unknown, even after a refresh).

        A token without a ``kid`` may use the provider's only key. Raises
        ``ServiceUnavailableError`` when the keys had to be loaded and could not be.
        """
        with self._lock:
            now = self._clock()
            keys = self._keys
            if keys is None:
                if not self._may_load(now):
                    raise unavailable(self.provider, "its keys could not be loaded; retrying soon")
                keys = self._reload(now)
            found = _lookup(keys, kid)
            if found or not self._may_load(now):
                return found
            return _lookup(self._reload(now), kid)


def _lookup(keys: KeyIndex, kid: str | None) -> list[Key]:
    if kid is not None:
        return list(keys.get(kid, []))
    every = [key for group in keys.values() for key in group]
    return every if len(every) == 1 else []
