"""Keys, tokens, providers and a fake provider over httpx.MockTransport, for the unit tests.

Every key is made per test run (never committed), once per process (:class:`KeyPool`);
tokens are minted here with joserfc,
and the ones an honest signer cannot make (``alg: none``, HS256) are assembled by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from fivesafes.identity.oidc.config import IdentityPolicy, parse_identity_policy
from fivesafes.identity.oidc.providers import OidcProviders

ISSUER = "https://login.example/tenant/v2.0"
AUDIENCE = "api://fivesafes"
CLIENT_ID = "fivesafes-web"
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Signer:
    """A key pair, its kid and the algorithm it signs with."""

    key: RSAKey | ECKey
    kid: str
    alg: str = "RS256"

    def public(self, **extra: Any) -> dict[str, Any]:
        data = dict(self.key.as_dict(private=False))
        data.pop("alg", None)
        data.update({"kid": self.kid, "use": "sig", **extra})
        return data


class KeyPool:
    """Key pairs made once per process and handed out afresh to each test.

    Generating an RSA 2048 key costs tens of milliseconds (far more on a loaded machine),
    more than most of these tests; made per test, keys were a large part of this folder's
    time. Within one test every key handed out is a different key (a stranger, an
    impostor with a published kid and a rotated-in key must each differ from the rest);
    :meth:`start_test` lets the next test take the same keys again, in the same order.
    Nothing outside a test holds a key: each test builds its own providers and JWKS.
    """

    def __init__(self) -> None:
        self._rsa: list[RSAKey] = []
        self._ec: list[ECKey] = []
        self._next_rsa = 0
        self._next_ec = 0

    def start_test(self) -> None:
        self._next_rsa = self._next_ec = 0

    def rsa(self) -> RSAKey:
        if self._next_rsa == len(self._rsa):
            self._rsa.append(RSAKey.generate_key(2048, private=True))
        self._next_rsa += 1
        return self._rsa[self._next_rsa - 1]

    def ec(self) -> ECKey:
        if self._next_ec == len(self._ec):
            self._ec.append(ECKey.generate_key("P-256", private=True))
        self._next_ec += 1
        return self._ec[self._next_ec - 1]


#: The process's pool; tests/unit/identity_oidc/conftest.py starts it over for each test.
KEYS = KeyPool()


def rsa_signer(kid: str = "rsa-1", alg: str = "RS256") -> Signer:
    """An RSA 2048 signer whose key no other signer of this test has."""
    return Signer(KEYS.rsa(), kid, alg)


def ec_signer(kid: str = "ec-1") -> Signer:
    """A P-256 signer whose key no other signer of this test has."""
    return Signer(KEYS.ec(), kid, "ES256")


def jwks(*signers: Signer) -> dict[str, Any]:
    return {"keys": [s.public() for s in signers]}


def claims_at(now: datetime, **claims: Any) -> dict[str, Any]:
    """An access token's claims at ``now``, overridden by ``claims`` (None removes one)."""
    t = int(now.timestamp())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "subject-1",
        "aud": AUDIENCE,
        "iat": t,
        "nbf": t,
        "exp": t + 300,
        "amr": ["pwd", "mfa"],
        "roles": ["FiveSafes.Researcher"],
    }
    base.update(claims)
    return {k: v for k, v in base.items() if v is not None}


def mint(
    signer: Signer,
    *,
    now: datetime = T0,
    alg: str | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """An honestly signed compact JWT (joserfc)."""
    alg = alg or signer.alg
    protected = {"typ": "JWT", "kid": signer.kid, **(header or {}), "alg": alg}
    protected = {k: v for k, v in protected.items() if v is not None}
    payload = json.dumps(claims_at(now, **claims)).encode()
    return jws.serialize_compact(protected, payload, signer.key, algorithms=[alg])


def sign_raw(signer: Signer, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A genuine signature over whatever header and claims (joserfc's serializer would
    refuse a header it finds odd; a verifier must still cope with one)."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    alg = jws.JWSRegistry(algorithms=[signer.alg]).get_alg(signer.alg)
    return f"{signing_input}.{b64url(alg.sign(signing_input.encode(), signer.key))}"


def handmade(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{segment(header)}.{segment(claims)}.{b64url(signature)}"


def mint_hmac(secret: bytes, *, kid: str, now: datetime = T0, **claims: Any) -> str:
    """HS256 keyed with ``secret`` (the public key: the algorithm-confusion forgery)."""
    signing_input = f"{segment({'alg': 'HS256', 'kid': kid})}.{segment(claims_at(now, **claims))}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(digest)}"


def provider_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": "trust",
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "audience": AUDIENCE,
        "roles": {"FiveSafes.Researcher": "researcher"},
        "require_mfa": True,
    }
    entry.update(overrides)
    return {k: v for k, v in entry.items() if v is not None}


def policy(*entries: dict[str, Any]) -> IdentityPolicy:
    return parse_identity_policy({"providers": list(entries)}, "test")


def write_jwks(path: Path, *signers: Signer) -> Path:
    path.write_text(json.dumps(jwks(*signers)))
    return path


def file_providers(
    tmp_path: Path, *signers: Signer, clock: Clock, **overrides: Any
) -> OidcProviders:
    """Providers whose one provider reads its JWKS from a file (never fetched)."""
    path = write_jwks(tmp_path / "jwks.json", *signers)
    return OidcProviders(policy(provider_entry(jwks_file=str(path), **overrides)), clock=clock)


@dataclass
class FakeIdp:
    """Discovery and JWKS behind an httpx.MockTransport, with counters and an off switch."""

    issuer: str = ISSUER
    signers: list[Signer] = field(default_factory=list)
    down: bool = False
    document_issuer: str | None = None
    extra_document: dict[str, Any] = field(default_factory=dict)
    discovery_requests: int = 0
    jwks_requests: int = 0

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "issuer": self.document_issuer or self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/keys",
            "device_authorization_endpoint": f"{self.issuer}/devicecode",
            "end_session_endpoint": f"{self.issuer}/logout",
        }
        doc.update(self.extra_document)
        return {k: v for k, v in doc.items() if v is not None}

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url == f"{self.issuer}/.well-known/openid-configuration":
            self.discovery_requests += 1
            if self.down:
                return httpx.Response(503, text="down")
            return httpx.Response(200, json=self.document())
        if url == f"{self.issuer}/keys":
            self.jwks_requests += 1
            if self.down:
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(200, json=jwks(*self.signers))
        return httpx.Response(404)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def providers(self, clock: Clock, **overrides: Any) -> OidcProviders:
        return OidcProviders(
            policy(provider_entry(issuer=self.issuer, **overrides)),
            http=self.client(),
            clock=clock,
            jwks_min_refresh=timedelta(seconds=30),
        )
