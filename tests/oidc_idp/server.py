"""The test OpenID Connect identity provider: its state, its tokens and its lifecycle.

A real provider over real HTTP on 127.0.0.1 (a free port), so the platform's discovery,
JWKS fetching, code exchange and device polling are exercised exactly as against Entra
ID or a university's IdP, with knobs a real provider lacks: whom it signs in, key
rotation, and tokens a verifier must refuse (foreign key, HS256, ``alg: none``, expired,
wrong audience...). The HTTP endpoints are in :mod:`tests.oidc_idp.endpoints`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.oidc_idp import keys
from tests.oidc_idp.endpoints import handle
from tests.oidc_idp.httpd import IdpHttpServer
from tests.oidc_idp.state import AuthCode, DeviceGrant, IdpUser, RefreshGrant

#: Claim value -> fivesafes role, as an Entra ID app registration would define app roles.
DEFAULT_ROLES = {
    "FiveSafes.Uploader": "uploader",
    "FiveSafes.Researcher": "researcher",
    "FiveSafes.Governance": "governance",
    "FiveSafes.Admin": "admin",
}
DEFAULT_SUBJECT = "ada-0001"


def _default_claims(subject: str) -> dict[str, Any]:
    return {
        "preferred_username": subject,
        "email": f"{subject}@uni.example",
        "name": f"Test User {subject}",
        "roles": ["FiveSafes.Researcher"],
        "amr": ["pwd", "mfa"],
    }


def _aware(moment: datetime) -> datetime:
    """A naive time is taken as UTC, never as the machine's local time."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class TestIdentityProvider:
    """A running OpenID Connect provider for tests; a context manager (start / stop)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(
        self,
        name: str = "testidp",
        *,
        issuer_path: str = "/tenant/v2.0",
        client_id: str = "fivesafes-web",
        client_secret: str | None = None,
        cli_client_id: str = "fivesafes-cli",
        audience: str = "api://fivesafes",
        alg: str = "RS256",
        end_session: bool = True,
    ) -> None:
        if alg not in keys.SUPPORTED_ALGS:
            raise ValueError(f"alg must be one of {sorted(keys.SUPPORTED_ALGS)}")
        self.name = name
        self.issuer_path = "/" + issuer_path.strip("/") if issuer_path.strip("/") else ""
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.cli_client_id = cli_client_id
        self.audience = audience
        self.alg = alg
        self.end_session = end_session
        self._lock = threading.RLock()
        self._key_factory = keys.FACTORY
        self._keys: list[keys.SigningKey] = []
        self._http: IdpHttpServer | None = None
        self._reset_state()

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TestIdentityProvider:
        if self._http is not None:
            raise RuntimeError(f"identity provider {self.name!r} is already running")
        self._http = IdpHttpServer(lambda request: handle(self, request))
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> TestIdentityProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError(f"identity provider {self.name!r} is not running (call start())")
        return self._http.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return self.base_url + self.issuer_path

    def url(self, endpoint: str) -> str:
        """The absolute URL of an endpoint under the issuer (``"token"`` ...)."""
        return f"{self.issuer}/{endpoint.lstrip('/')}"

    @property
    def discovery_url(self) -> str:
        return self.url(".well-known/openid-configuration")

    # -- state ---------------------------------------------------------------------------

    def _reset_state(self, *, keep_key: bool = False) -> None:
        with self._lock:
            if not (keep_key and self._keys):
                old = self._keys
                avoid = {k.kid for k in old}
                self._keys = [self._key_factory.recycled(self.alg, avoid=avoid)]
                self._key_factory.retire(old)
            #: Seconds: the lifetime of issued tokens, of codes, of device codes.
            self.token_lifetime = 300
            self.code_lifetime = 60
            self.device_expires_in = 600
            #: The device grant's polling interval, and what slow_down adds (RFC 8628: 5 s).
            self.device_interval = 1
            self.slow_down_increment = 5
            self.user = IdpUser(DEFAULT_SUBJECT, _default_claims(DEFAULT_SUBJECT))
            #: Registered redirect URIs; authorize refuses any other (400, no redirect).
            self.redirect_uris: list[str] = []
            #: True: authorize shows a page with a "Continue" button instead of redirecting.
            self.interactive = False
            #: An OAuth error code authorize answers with (``access_denied``...), or None.
            self.authorize_error: str | None = None
            #: What the next device-code polls answer, one step each, whatever their timing
            #: and whatever approve / deny said: "authorization_pending", "slow_down",
            #: "access_denied", "expired_token", "approved" (as ``user``). So a CLI in the
            #: test's own thread can be driven through every state without a second thread.
            self.device_script: list[str] = []
            self.jwks_requests = 0
            self.discovery_requests = 0
            #: One entry per authorize request: its parameters (no secrets in them).
            self.authorize_requests: list[dict[str, str]] = []
            #: One entry per token request: grant_type, client_id, auth_method, error.
            self.token_requests: list[dict[str, str | None]] = []
            #: One entry per end-session request: its parameters.
            self.logout_calls: list[dict[str, str]] = []
            self._codes: dict[str, AuthCode] = {}
            self._devices: dict[str, DeviceGrant] = {}
            self._refresh: dict[str, RefreshGrant] = {}
            self._pending: dict[str, dict[str, Any]] = {}

    def reset(self, *, keep_key: bool = False) -> None:
        """Back to a just-started provider: default user, counters cleared, no registered
        redirect URIs, no outstanding codes or grants, and a different signing key (a
        tests-wide recycled one, not the one it had: see :class:`keys.KeyFactory`) unless
        ``keep_key`` (a long-lived platform server that cached the JWKS)."""
        self._reset_state(keep_key=keep_key)

    def set_user(self, subject: str, **claims: Any) -> IdpUser:
        """Sign in ``subject`` from now on: default claims (a researcher with MFA),
        overridden by ``claims``; ``claim=None`` removes that claim."""
        merged = _default_claims(subject)
        merged.update(claims)
        user = IdpUser(subject, {k: v for k, v in merged.items() if v is not None})
        with self._lock:
            self.user = user
        return user

    # -- keys --------------------------------------------------------------------------

    @property
    def current_key(self) -> keys.SigningKey:
        return self._keys[0]

    @property
    def kid(self) -> str:
        return self.current_key.kid

    def rotate_key(self, *, keep_old: bool = True) -> str:
        """A new signing key; the old ones stay in the JWKS only with ``keep_old``."""
        new = self._key_factory.new(self.alg)
        with self._lock:
            self._keys = [new, *self._keys] if keep_old else [new]
        return new.kid

    def jwks(self) -> dict[str, Any]:
        """The public JWKS (as served at jwks_uri), for jwks_file tests."""
        with self._lock:
            return {"keys": [k.public_jwk() for k in self._keys]}

    def write_jwks(self, path: Path) -> Path:
        """Write the public JWKS to ``path`` (an air-gapped site's ``jwks_file``)."""
        path.write_text(json.dumps(self.jwks(), indent=2), encoding="utf-8")
        return path

    def _key_for(self, kid: str | None) -> keys.SigningKey:
        if kid is not None:
            for key in self._keys:
                if key.kid == kid:
                    return key
        return self.current_key

    # -- minting -----------------------------------------------------------------------

    def _claims(
        self,
        *,
        audience: str | None,
        lifetime: timedelta,
        now: datetime | None,
        user: IdpUser | None,
        claims: dict[str, Any],
    ) -> dict[str, Any]:
        who = user or self.user
        issued = _aware(now or datetime.now(UTC))
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": who.subject,
            "aud": self.audience if audience is None else audience,
            "iat": int(issued.timestamp()),
            "nbf": int(issued.timestamp()),
            "exp": int((issued + lifetime).timestamp()),
            "jti": secrets.token_hex(8),
            **who.claims,
        }
        payload.update(claims)
        return {k: v for k, v in payload.items() if v is not None}

    def _header(self, kid: str | None, header: dict[str, Any] | None) -> dict[str, Any]:
        base: dict[str, Any] = {"typ": "JWT", "kid": kid or self.kid}
        base.update(header or {})
        return {k: v for k, v in base.items() if v is not None}

    def mint(
        self,
        *,
        audience: str | None = None,
        lifetime: timedelta = timedelta(minutes=5),
        now: datetime | None = None,
        kid: str | None = None,
        alg: str | None = None,
        header: dict[str, Any] | None = None,
        user: IdpUser | None = None,
        **claims: Any,
    ) -> str:
        """An access token signed with the current key (or the JWKS key named ``kid``;
        an unknown ``kid`` goes in the header over the current key's signature).

        Claims: iss, sub, aud (the audience), iat, nbf, exp, jti and the user's claims,
        overridden by ``claims``; ``claim=None`` removes it. ``header`` adds to (or, with
        None values, removes from) the JOSE header.
        """
        with self._lock:
            key = self._key_for(kid)
            payload = self._claims(
                audience=audience, lifetime=lifetime, now=now, user=user, claims=claims
            )
            hdr = self._header(kid or key.kid, header)
        return keys.sign(key, payload, alg=alg or key.alg, header=hdr)

    def mint_id_token(self, *, nonce: str | None, client_id: str | None = None, **kw: Any) -> str:
        """An ID token as the token endpoint issues it: aud = the client, with the nonce."""
        issued = kw.get("now") or datetime.now(UTC)
        kw.setdefault("auth_time", int(_aware(issued).timestamp()))
        return self.mint(audience=client_id or self.client_id, nonce=nonce, **kw)

    def mint_foreign(self, *, same_kid: bool = True, **kw: Any) -> str:
        """Signed by a key that is not in the JWKS; its kid is the current key's (a forged
        signature) or, with ``same_kid=False``, its own (an unknown key)."""
        foreign = self._key_factory.new(self.alg)
        kid = kw.pop("kid", None) or (self.kid if same_kid else foreign.kid)
        alg = kw.pop("alg", None) or foreign.alg
        header = kw.pop("header", None)
        with self._lock:
            payload = self._claims(
                audience=kw.pop("audience", None),
                lifetime=kw.pop("lifetime", timedelta(minutes=5)),
                now=kw.pop("now", None),
                user=kw.pop("user", None),
                claims=kw,
            )
            hdr = self._header(kid, header)
        return keys.sign(foreign, payload, alg=alg, header=hdr)

    def _unsigned_parts(self, kw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        kw.pop("alg", None)
        kid = kw.pop("kid", None)
        header = kw.pop("header", None)
        with self._lock:
            payload = self._claims(
                audience=kw.pop("audience", None),
                lifetime=kw.pop("lifetime", timedelta(minutes=5)),
                now=kw.pop("now", None),
                user=kw.pop("user", None),
                claims=kw,
            )
            return payload, self._header(kid, header)

    def mint_hmac(self, *, secret: bytes | None = None, **kw: Any) -> str:
        """HS256, keyed by default with the current public key's PEM (algorithm confusion)."""
        payload, hdr = self._unsigned_parts(kw)
        return keys.sign_hmac(secret or self.current_key.public_pem(), payload, header=hdr)

    def mint_unsigned(self, **kw: Any) -> str:
        """``alg: none`` with an empty signature."""
        payload, hdr = self._unsigned_parts(kw)
        return keys.sign_none(payload, header=hdr)

    # -- configuration for the platform ------------------------------------------------

    def provider_config(self, **overrides: Any) -> dict[str, Any]:
        """This provider's entry in identity.yaml; ``key=None`` drops a key."""
        config: dict[str, Any] = {
            "name": self.name,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "cli_client_id": self.cli_client_id,
            "audience": self.audience,
            "role_claim": "roles",
            "roles": dict(DEFAULT_ROLES),
            "require_mfa": True,
            "api_scope": f"{self.audience}/.default",
        }
        config.update(overrides)
        return {k: v for k, v in config.items() if v is not None}

    def client_secret_variable(self) -> str:
        return f"FIVESAFES_OIDC_{self.name.upper().replace('-', '_')}_CLIENT_SECRET"

    def client_secret_env(self) -> dict[str, str]:
        """``{FIVESAFES_OIDC_<NAME>_CLIENT_SECRET: secret}`` for the platform's environment."""
        return {self.client_secret_variable(): self.client_secret}

    # -- device grant control ----------------------------------------------------------

    def _pending_device(self, user_code: str | None) -> DeviceGrant:
        pending = [d for d in self._devices.values() if d.status == "pending"]
        if user_code is not None:
            wanted = user_code.replace("-", "").upper()
            pending = [d for d in pending if d.user_code.replace("-", "") == wanted]
        if not pending:
            what = f"user code {user_code!r}" if user_code else "any user code"
            raise LookupError(f"{self.name}: no pending device authorization for {what}")
        return pending[-1]

    def approve_device(self, user_code: str | None = None) -> None:
        """Approve a pending device sign-in (the latest one by default) as ``self.user``."""
        with self._lock:
            grant = self._pending_device(user_code)
            grant.status = "approved"
            grant.user = self.user.snapshot()

    def deny_device(self, user_code: str | None = None) -> None:
        with self._lock:
            self._pending_device(user_code).status = "denied"

    def expire_device(self, user_code: str | None = None) -> None:
        """Make a pending device code expire now (expired_token on the next poll)."""
        with self._lock:
            self._pending_device(user_code).expires_at = time.monotonic() - 1

    def wait_for_device_request(self, timeout: float = 10.0) -> str:
        """The user code of the latest pending device authorization, waiting for one (a CLI
        running in another thread or process asks for it); TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = [d for d in self._devices.values() if d.status == "pending"]
                if pending:
                    return pending[-1].user_code
            time.sleep(0.02)
        raise TimeoutError(f"{self.name}: no device authorization request within {timeout} s")
