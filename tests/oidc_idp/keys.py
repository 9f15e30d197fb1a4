"""Signing keys and compact-JWT signing for the test identity provider.

Keys are made per run (never committed): RSA 2048 for RS256 / PS256, P-256 for ES256.
Besides honest signing with joserfc, this module signs the tokens a verifier must refuse
(HS256 with the public key as the secret, ``alg: none``), which joserfc rightly will not
produce, so they are assembled by hand here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from typing import Any

from joserfc import jwk, jwt

#: The algorithms an honest key of this provider may sign with, by key family.
RSA_ALGS = frozenset({"RS256", "PS256"})
EC_ALGS = frozenset({"ES256"})
SUPPORTED_ALGS = RSA_ALGS | EC_ALGS

AsymmetricKey = jwk.RSAKey | jwk.ECKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key pair and the algorithm it signs with by default."""

    kid: str
    alg: str
    key: AsymmetricKey

    def public_jwk(self) -> dict[str, Any]:
        data = dict(self.key.as_dict(private=False))
        # No "alg" member, as in Entra ID's JWKS: an RSA key then verifies RS256 and PS256
        # alike, and the verifier, not the key set, decides which algorithms it accepts.
        data.pop("alg", None)
        data.update({"kid": self.kid, "use": "sig"})
        return data

    def public_pem(self) -> bytes:
        return self.key.as_pem(private=False)

    def can_sign(self, alg: str) -> bool:
        family = RSA_ALGS if isinstance(self.key, jwk.RSAKey) else EC_ALGS
        return alg in family


def _generate_raw(alg: str) -> AsymmetricKey:
    if alg in RSA_ALGS:
        return jwk.RSAKey.generate_key(2048, private=True)
    if alg in EC_ALGS:
        return jwk.ECKey.generate_key("P-256", private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r} (use one of {sorted(SUPPORTED_ALGS)})")


class KeyFactory:
    """Hands out keys without making every test wait for RSA generation.

    Generating RSA 2048 takes tens of milliseconds, and tests take fewer. So: never-used
    keys (:meth:`new`, for rotation and foreign keys) come from spares made in a
    background thread; the key a provider starts a test with (:meth:`recycled`) is one
    another test retired, never one any running provider holds, never the one it just had.
    """

    SPARES = 2

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._spares: dict[str, list[AsymmetricKey]] = {}
        self._filling: set[str] = set()
        self._retired: dict[str, list[SigningKey]] = {}

    def retire(self, retired: list[SigningKey]) -> None:
        """Keys a provider no longer holds (its reset): reusable by a later test."""
        with self._ready:
            for key in retired:
                pool = self._retired.setdefault(key.alg, [])
                if key not in pool:
                    pool.append(key)

    def recycled(self, alg: str, *, avoid: set[str]) -> SigningKey:
        """The oldest retired key whose kid is not in ``avoid``, else a new one."""
        with self._ready:
            pool = self._retired.setdefault(alg, [])
            for i, key in enumerate(pool):
                if key.kid not in avoid:
                    return pool.pop(i)
        return self.new(alg)

    def new(self, alg: str) -> SigningKey:
        with self._ready:
            spares = self._spares.setdefault(alg, [])
            if not spares and alg in self._filling:
                self._ready.wait_for(lambda: bool(spares) or alg not in self._filling, 5)
            raw = spares.pop() if spares else None
        if raw is None:
            raw = _generate_raw(alg)
        self._refill(alg)
        # RFC 7638 thumbprints: unique per key, and stable across a JWKS round trip.
        return SigningKey(kid=raw.thumbprint()[:16], alg=alg, key=raw)

    def _refill(self, alg: str) -> None:
        with self._ready:
            if alg in self._filling or len(self._spares[alg]) >= self.SPARES:
                return
            self._filling.add(alg)

        def fill() -> None:
            try:
                while True:
                    raw = _generate_raw(alg)
                    with self._ready:
                        self._spares[alg].append(raw)
                        self._ready.notify_all()
                        if len(self._spares[alg]) >= self.SPARES:
                            return
            finally:
                with self._ready:
                    self._filling.discard(alg)
                    self._ready.notify_all()

        threading.Thread(target=fill, name=f"oidc-idp-keygen-{alg}", daemon=True).start()


#: One per process: retired keys pass from test to test, whichever provider held them.
FACTORY = KeyFactory()


def sign(key: SigningKey, claims: dict[str, Any], *, alg: str, header: dict[str, Any]) -> str:
    """An honest compact JWS with ``key`` (joserfc)."""
    if not key.can_sign(alg):
        raise ValueError(f"a {key.alg} key cannot sign {alg}")
    return jwt.encode({**header, "alg": alg}, claims, key.key, algorithms=[alg])


def sign_hmac(secret: bytes, claims: dict[str, Any], *, header: dict[str, Any]) -> str:
    """HS256 over the claims: with the public key as the secret this is the classic
    algorithm-confusion forgery a verifier must refuse."""
    signing_input = f"{_json_segment({**header, 'alg': 'HS256'})}.{_json_segment(claims)}"
    digest = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(digest)}"


def sign_none(claims: dict[str, Any], *, header: dict[str, Any]) -> str:
    """An unsecured JWT (``alg: none``, empty signature, RFC 7519 section 6)."""
    return f"{_json_segment({**header, 'alg': 'none'})}.{_json_segment(claims)}."


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 section 4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())
