"""Verifying a provider's compact JWT: every check, in one fixed order, one reason each.

The order (docs/identity.md) is part of the contract, because the first failing check
names the refusal a client and the audit trail see:

1. parse: three base64url segments, JSON objects, no extension we do not understand
   (``malformed``);
2. the algorithm is RS256, PS256 or ES256 (``bad_signature``: ``none`` lets anyone
   sign, and HMAC keyed with the public key is the classic forgery);
3. the (not yet verified) ``iss`` names a configured provider (``wrong_issuer``);
4. the ``kid`` is in that provider's JWKS, after at most one rate-limited refresh
   (``unknown_key``);
5. the signature (``bad_signature``);
6. ``iss`` again, now that it is signed (``wrong_issuer``);
7. ``aud`` (and for ID tokens ``azp``) (``wrong_audience``);
8. ``exp``, ``iat`` and ``sub`` (or the provider's ``subject_claim``) are present
   (``malformed``); ``exp`` (``expired``), ``nbf`` and ``iat`` not in the future
   (``not_yet_valid``), each with :data:`LEEWAY` for clocks that disagree;
9. ID tokens: the ``nonce`` this sign-in sent (``bad_nonce``);
10. MFA where the provider requires it: ``amr`` contains ``mfa``, or ``acr`` (or one of
    Entra ID's ``acrs``) is one of the provider's ``acr_values`` (``mfa_required``).

Nothing before step 5 is trusted: a refusal names the subject only once the signature
held. No message quotes the token or a claim's value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

from fivesafes.errors import ServiceUnavailableError
from fivesafes.identity.oidc.config import ProviderConfig
from fivesafes.identity.oidc.jwks import KeyCache
from fivesafes.identity.oidc.refusals import RefusalReason, TokenRefused

ALLOWED_ALGORITHMS = ("RS256", "PS256", "ES256")
LEEWAY = timedelta(seconds=60)
#: Far above any real token (Entra's are 2-4 KB), far below what would cost us to parse.
MAX_TOKEN_LENGTH = 16 * 1024
#: OpenID Connect Core 1.0, section 2: ``sub`` is at most 255 ASCII characters.
MAX_SUBJECT_LENGTH = 255
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_REGISTRY = JWSRegistry(algorithms=ALLOWED_ALGORITHMS, strict_check_header=False)
#: The latest ``exp`` a datetime can hold (year 9999); later is not a real token.
_MAX_TIMESTAMP = 253402300799


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose every check passed: who the provider says this is, until when."""

    provider: ProviderConfig
    subject: str
    claims: Mapping[str, Any]
    expires_at: datetime
    #: Hex SHA-256 of the compact JWT: tells one token from the next without keeping it.
    token_hash: str

    @property
    def issuer(self) -> str:
        return self.provider.issuer


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a token must say to be for us: an access token's audience is the API's, an
    ID token's is the web client's (which must then be its ``azp`` too) with a nonce."""

    audience: str
    #: The ``iss`` values accepted (the provider's, and for access tokens perhaps a second).
    issuers: tuple[str, ...] = ()
    authorized_party: str | None = None
    nonce: str | None = None
    #: An access token whose audience is also the web client's (one Entra ID registration
    #: for both): an ID token would pass the audience check, so one (it has a nonce) is
    #: refused here.
    refuse_id_tokens: bool = False


@dataclass(frozen=True, slots=True)
class _Parsed:
    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _malformed(message: str) -> TokenRefused:
    return TokenRefused(RefusalReason.MALFORMED, f"malformed token: {message}")


def _b64decode(segment: str, what: str) -> bytes:
    if not _SEGMENT.fullmatch(segment):
        raise _malformed(f"its {what} is not base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise _malformed(f"its {what} is not base64url") from None
    # Only the canonical encoding: otherwise two spellings of one signature would both
    # verify, and "change any character and it is refused" would not hold.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise _malformed(f"its {what} is not canonical base64url")
    return raw


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate member")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError("not JSON")


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(
            raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _malformed(f"its {what} is not a JSON object") from None
    if not isinstance(value, dict):
        raise _malformed(f"its {what} is not a JSON object")
    try:
        storable = _storable(value)
    except RecursionError:
        storable = False
    if not storable:
        raise _malformed(f"its {what} holds text that is not valid Unicode or contains NUL")
    return value


def _storable(value: Any) -> bool:
    """No lone surrogate (not encodable as UTF-8) and no NUL (PostgreSQL refuses it) in
    any key or string: a claim the audit trail or the account could not store would
    turn a refusal into a server error."""
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def parse(token: str) -> _Parsed:
    if len(token) > MAX_TOKEN_LENGTH:
        raise _malformed(f"longer than {MAX_TOKEN_LENGTH} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise _malformed("a signed JWT has three dot-separated parts")
    header_segment, payload_segment, signature_segment = parts
    header = _json_object(_b64decode(header_segment, "header"), "header")
    claims = _json_object(_b64decode(payload_segment, "payload"), "payload")
    signature = _b64decode(signature_segment, "signature")
    if "crit" in header or "b64" in header:
        raise _malformed("its header asks for JWS extensions fivesafes does not support")
    if not isinstance(header.get("alg"), str):
        raise _malformed("its header names no algorithm")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _malformed("its key id is not a string")
    return _Parsed(header, claims, f"{header_segment}.{payload_segment}".encode("ascii"), signature)


def _issuer_matches(claims: Mapping[str, Any], issuers: tuple[str, ...]) -> bool:
    iss = claims.get("iss")
    return isinstance(iss, str) and iss.rstrip("/") in issuers


def _fits(alg: JWSAlgModel, key: Key) -> bool:
    """Whether ``key`` may verify ``alg`` (key type, curve, its own ``alg`` and ``use``)."""
    try:
        alg.check_key(key)
    except JoseError:
        return False
    return True


def _check_signature(parsed: _Parsed, keys: KeyCache, provider: ProviderConfig) -> None:
    """Steps 4 and 5: the key named by ``kid``, then the signature. Nothing of the token is
    trusted yet, so the refusal names the provider and issuer (configured), no subject."""

    def refused(reason: RefusalReason, message: str) -> TokenRefused:
        return TokenRefused(reason, message, provider=provider.name, issuer=provider.issuer)

    alg_name: str = parsed.header["alg"]
    try:
        candidates = keys.keys_for(parsed.header.get("kid"))
    except ServiceUnavailableError as exc:
        raise refused(RefusalReason.PROVIDER_UNAVAILABLE, exc.message) from None
    if not candidates:
        raise refused(
            RefusalReason.UNKNOWN_KEY,
            f"the token is signed with a key {provider.label} does not publish",
        )
    alg = _REGISTRY.get_alg(alg_name)
    fitting = [key for key in candidates if _fits(alg, key)]
    if not fitting:
        raise refused(RefusalReason.BAD_SIGNATURE, f"the token's key is not a {alg_name} key")
    if not any(alg.verify(parsed.signing_input, parsed.signature, key) for key in fitting):
        raise refused(RefusalReason.BAD_SIGNATURE, "the token's signature does not verify")


def _audiences(claims: Mapping[str, Any]) -> list[str] | None:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        return aud
    return None


def _timestamp(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim as seconds, None when absent; :func:`_malformed` when not one."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _malformed(f"its '{name}' claim is not a number of seconds")
    # Compared before any float conversion: a huge int would overflow it, NaN fails both.
    if not 0 <= value <= _MAX_TIMESTAMP:
        raise _malformed(f"its '{name}' claim is out of range")
    return float(value)


def _required_timestamp(claims: Mapping[str, Any], name: str) -> float:
    value = _timestamp(claims, name)
    if value is None:
        raise _malformed(f"it has no '{name}' claim")
    return value


def _has_mfa(claims: Mapping[str, Any], provider: ProviderConfig) -> bool:
    amr = claims.get("amr")
    if isinstance(amr, list) and "mfa" in amr:
        return True
    acr = claims.get("acr")
    if isinstance(acr, str) and acr in provider.acr_values:
        return True
    # Entra ID's authentication contexts (a Conditional Access policy requiring MFA for
    # context c1 puts "c1" here): its v2.0 access tokens carry no amr.
    acrs = claims.get("acrs")
    return isinstance(acrs, list) and any(
        isinstance(a, str) and a in provider.acr_values for a in acrs
    )


def _nonce_matches(claims: Mapping[str, Any], expected: str) -> bool:
    nonce = claims.get("nonce")
    if not expected or not isinstance(nonce, str):
        return False
    return hmac.compare_digest(nonce.encode("utf-8"), expected.encode("utf-8"))


def _check_audience(claims: Mapping[str, Any], wanted: Expectation, about: dict[str, Any]) -> None:
    """Step 7: the token is for us (``aud``; an ID token's ``azp``; no ID token as an
    access token where both share an audience), else ``wrong_audience``."""
    audiences = _audiences(claims)
    if audiences is None or wanted.audience not in audiences:
        raise TokenRefused(
            RefusalReason.WRONG_AUDIENCE,
            f"the token is not meant for fivesafes (its audience is not {wanted.audience!r})",
            **about,
        )
    if wanted.refuse_id_tokens and "nonce" in claims:
        raise TokenRefused(
            RefusalReason.WRONG_AUDIENCE,
            "an ID token is not an access token for the fivesafes API",
            **about,
        )
    if wanted.authorized_party is not None:
        azp = claims.get("azp")
        if (azp is not None or len(audiences) > 1) and azp != wanted.authorized_party:
            raise TokenRefused(
                RefusalReason.WRONG_AUDIENCE,
                "the token was issued to another client (azp)",
                **about,
            )


def verify(
    token: str,
    *,
    provider_for: Callable[[str], ProviderConfig | None],
    keys_for: Callable[[ProviderConfig], KeyCache],
    expect: Callable[[ProviderConfig], Expectation],
    now: datetime,
) -> VerifiedToken:
    """Verify ``token`` (see the module's docstring for the order), or :class:`TokenRefused`.

    ``provider_for`` maps the token's issuer to the provider it must come from (None:
    not one of ours); ``expect`` says what that provider's token must carry.
    """
    if not isinstance(token, str):
        raise _malformed("not a string")
    parsed = parse(token)
    alg_name = parsed.header["alg"]
    if alg_name not in ALLOWED_ALGORITHMS:
        raise TokenRefused(
            RefusalReason.BAD_SIGNATURE,
            f"algorithm {alg_name[:20]!r} is not accepted (only {', '.join(ALLOWED_ALGORITHMS)})",
        )
    iss = parsed.claims.get("iss")
    provider = provider_for(iss) if isinstance(iss, str) else None
    if provider is None:
        raise TokenRefused(
            RefusalReason.WRONG_ISSUER,
            "the token was not issued by an identity provider fivesafes trusts for it",
        )
    _check_signature(parsed, keys_for(provider), provider)
    claims = parsed.claims
    subject_claim = provider.subject_claim
    sub = claims.get(subject_claim)
    about: dict[str, Any] = {
        "provider": provider.name,
        "issuer": provider.issuer,
        "subject": sub[:MAX_SUBJECT_LENGTH] if isinstance(sub, str) and sub else None,
    }
    wanted = expect(provider)
    if not _issuer_matches(claims, wanted.issuers or (provider.issuer,)):
        raise TokenRefused(RefusalReason.WRONG_ISSUER, "the token's issuer is not ours", **about)

    _check_audience(claims, wanted, about)

    try:
        exp = _required_timestamp(claims, "exp")
        iat = _required_timestamp(claims, "iat")
        nbf = _timestamp(claims, "nbf")
        if not isinstance(sub, str) or not sub:
            raise _malformed(f"it has no '{subject_claim}' claim")
        if len(sub) > MAX_SUBJECT_LENGTH or not sub.isprintable():
            raise _malformed(
                f"its '{subject_claim}' claim is not an identifier of at most "
                f"{MAX_SUBJECT_LENGTH} characters"
            )
    except TokenRefused as refused:
        refused.provider, refused.issuer, refused.subject = (
            provider.name,
            provider.issuer,
            about["subject"],
        )
        raise
    moment = now.timestamp()
    leeway = LEEWAY.total_seconds()
    if moment >= exp + leeway:
        raise TokenRefused(RefusalReason.EXPIRED, "the token has expired", **about)
    if nbf is not None and nbf > moment + leeway:
        raise TokenRefused(RefusalReason.NOT_YET_VALID, "the token is not valid yet (nbf)", **about)
    if iat > moment + leeway:
        raise TokenRefused(
            RefusalReason.NOT_YET_VALID, "the token claims to be issued in the future", **about
        )

    if wanted.nonce is not None and not _nonce_matches(claims, wanted.nonce):
        raise TokenRefused(
            RefusalReason.BAD_NONCE, "the sign-in does not match this browser's attempt", **about
        )
    if provider.require_mfa and not _has_mfa(claims, provider):
        raise TokenRefused(
            RefusalReason.MFA_REQUIRED,
            f"{provider.label} requires multi-factor authentication; sign in again with it",
            **about,
        )
    return VerifiedToken(
        provider=provider,
        subject=sub,
        claims=MappingProxyType(dict(claims)),
        expires_at=datetime.fromtimestamp(exp, UTC),
        token_hash=hashlib.sha256(token.encode("utf-8")).hexdigest(),
    )
