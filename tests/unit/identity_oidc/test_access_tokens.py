"""Access tokens (the API's bearer JWTs): every refusal reason, in the documented order."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.oidc.refusals import RefusalReason, TokenRefused
from tests.unit.identity_oidc.support import (
    AUDIENCE,
    ISSUER,
    T0,
    Clock,
    Signer,
    b64url,
    claims_at,
    file_providers,
    handmade,
    mint,
    mint_hmac,
    rsa_signer,
)


@pytest.fixture
def providers(tmp_path: Path, rsa_key: Signer, clock: Clock) -> OidcProviders:
    return file_providers(tmp_path, rsa_key, clock=clock)


def raw(header: bytes, payload: bytes, signature: str = "") -> str:
    return f"{b64url(header)}.{b64url(payload)}.{signature}"


def refusal(providers: OidcProviders, token: str) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        providers.verify_access_token(token)
    if len(token) > 8:
        assert token not in caught.value.message
        assert token not in str(caught.value)
    assert caught.value.code == caught.value.reason.value
    return caught.value


def test_a_good_token_is_verified(providers: OidcProviders, rsa_key: Signer) -> None:
    token = mint(rsa_key, email="a@example.org")
    verified = providers.verify_access_token(token)
    assert verified.provider.name == "trust"
    assert verified.issuer == ISSUER
    assert verified.subject == "subject-1"
    assert verified.claims["email"] == "a@example.org"
    assert verified.expires_at == T0 + timedelta(seconds=300)
    assert len(verified.token_hash) == 64
    assert verified.token_hash != mint(rsa_key, email="b@example.org")
    with pytest.raises(TypeError):
        verified.claims["sub"] = "someone else"  # type: ignore[index]


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not a token",
        "a.b",
        "a.b.c.d",
        "eyJ.eyJ.",
        raw(b"[1]", b"{}"),
        raw(b"{}", b"{}"),  # no alg
        raw(b'{"alg":"RS256"}', b"[]"),  # payload not an object
        raw(b'{"alg":"RS256","alg":"none"}', b"{}"),  # duplicate member
        raw(b'{"alg":"RS256"}', b'{"exp":NaN}'),
        raw(b'{"alg":"RS256","kid":7}', b"{}"),
        raw(b'{"alg":"RS256"}', b"\xff\xfe"),  # not UTF-8
        raw(b'{"alg":"RS256"}', b"{}") + "a+b/",  # not base64url
        raw(b'{"alg":"RS256"}', b"{}").replace(".", "==.", 1),  # padded
        raw(b'{"alg":"RS256"}', b"{}") + "B",  # one character: no whole byte
        raw(b'{"alg":"RS256"}', b"{}") + "AB",  # non-canonical: unused bits set
        "x" * 20_000,
    ],
)
def test_unparseable_tokens_are_malformed(providers: OidcProviders, token: str) -> None:
    assert refusal(providers, token).reason is RefusalReason.MALFORMED


def test_jws_extensions_are_malformed(providers: OidcProviders, rsa_key: Signer) -> None:
    # RFC 7797's unencoded payload would change what the signature covers.
    token = handmade(
        {"alg": "RS256", "kid": rsa_key.kid, "b64": False, "crit": ["b64"]}, claims_at(T0)
    )
    assert refusal(providers, token).reason is RefusalReason.MALFORMED


@pytest.mark.parametrize("alg", ["none", "HS256", "HS384", "HS512", "RS384", "ES512", "EdDSA"])
def test_an_algorithm_other_than_rs256_ps256_es256_is_a_bad_signature(
    providers: OidcProviders, rsa_key: Signer, alg: str
) -> None:
    token = handmade({"alg": alg, "kid": rsa_key.kid}, claims_at(T0), b"sig")
    refused = refusal(providers, token)
    assert refused.reason is RefusalReason.BAD_SIGNATURE
    assert alg in refused.message


def test_hs256_keyed_with_the_public_key_is_refused(
    providers: OidcProviders, rsa_key: Signer
) -> None:
    forged = mint_hmac(rsa_key.key.as_pem(private=False), kid=rsa_key.kid)
    assert refusal(providers, forged).reason is RefusalReason.BAD_SIGNATURE


def test_alg_is_checked_before_the_issuer(providers: OidcProviders) -> None:
    token = handmade({"alg": "none"}, claims_at(T0, iss="https://evil.example"))
    assert refusal(providers, token).reason is RefusalReason.BAD_SIGNATURE


@pytest.mark.parametrize("iss", ["https://evil.example/tenant/v2.0", None, 42])
def test_an_unknown_issuer_is_wrong_issuer(
    providers: OidcProviders, rsa_key: Signer, iss: object
) -> None:
    refused = refusal(providers, mint(rsa_key, iss=iss))
    assert refused.reason is RefusalReason.WRONG_ISSUER
    assert refused.provider is None


def test_the_issuer_with_a_trailing_slash_is_the_same_issuer(
    providers: OidcProviders, rsa_key: Signer
) -> None:
    assert providers.verify_access_token(mint(rsa_key, iss=ISSUER + "/")).issuer == ISSUER


def test_a_kid_the_jwks_does_not_hold_is_unknown_key(
    tmp_path: Path, rsa_key: Signer, clock: Clock
) -> None:
    providers = file_providers(tmp_path, rsa_key, clock=clock)
    stranger = rsa_signer("not-published")
    refused = refusal(providers, mint(stranger))
    assert refused.reason is RefusalReason.UNKNOWN_KEY
    assert (refused.provider, refused.issuer, refused.subject) == ("trust", ISSUER, None)


def test_unknown_key_comes_before_the_signature(providers: OidcProviders, rsa_key: Signer) -> None:
    token = mint(rsa_key, header={"kid": "other"})
    assert refusal(providers, token).reason is RefusalReason.UNKNOWN_KEY


def test_a_foreign_key_under_a_published_kid_is_a_bad_signature(
    providers: OidcProviders, rsa_key: Signer
) -> None:
    impostor = rsa_signer(rsa_key.kid)
    refused = refusal(providers, mint(impostor))
    assert refused.reason is RefusalReason.BAD_SIGNATURE
    assert refused.subject is None  # nothing unsigned reaches the audit trail


def test_a_tampered_payload_is_a_bad_signature(providers: OidcProviders, rsa_key: Signer) -> None:
    header, _, signature = mint(rsa_key).split(".")
    payload = handmade({}, claims_at(T0, sub="admin")).split(".")[1]
    assert (
        refusal(providers, f"{header}.{payload}.{signature}").reason is RefusalReason.BAD_SIGNATURE
    )


def test_a_tampered_signature_is_a_bad_signature(providers: OidcProviders, rsa_key: Signer) -> None:
    header, payload, signature = mint(rsa_key).split(".")
    flipped = b64url(bytes([b ^ 1 for b in b64url_decode(signature)]))
    token = f"{header}.{payload}.{flipped}"
    assert refusal(providers, token).reason is RefusalReason.BAD_SIGNATURE


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_an_ec_key_cannot_verify_an_rsa_algorithm(
    tmp_path: Path, ec_key: Signer, clock: Clock
) -> None:
    providers = file_providers(tmp_path, ec_key, clock=clock)
    token = handmade({"alg": "RS256", "kid": ec_key.kid}, claims_at(T0), b"x" * 256)
    refused = refusal(providers, token)
    assert refused.reason is RefusalReason.BAD_SIGNATURE
    assert "RS256 key" in refused.message


@pytest.mark.parametrize(
    "aud", ["api://other", ["api://other", "fivesafes-web"], None, [], [AUDIENCE, 3]]
)
def test_another_audience_is_wrong_audience(
    providers: OidcProviders, rsa_key: Signer, aud: object
) -> None:
    refused = refusal(providers, mint(rsa_key, aud=aud))
    assert refused.reason is RefusalReason.WRONG_AUDIENCE
    assert refused.subject == "subject-1"


def test_our_audience_among_several_is_accepted(providers: OidcProviders, rsa_key: Signer) -> None:
    assert providers.verify_access_token(mint(rsa_key, aud=["api://other", AUDIENCE]))


def test_the_audience_comes_before_the_expiry(providers: OidcProviders, rsa_key: Signer) -> None:
    token = mint(rsa_key, aud="api://other", now=T0 - timedelta(hours=2))
    assert refusal(providers, token).reason is RefusalReason.WRONG_AUDIENCE


@pytest.mark.parametrize(
    ("seconds_after_exp", "accepted"),
    [(-1, True), (0, True), (30, True), (59, True), (60, False), (61, False), (3600, False)],
)
def test_expiry_has_sixty_seconds_of_leeway(
    providers: OidcProviders, rsa_key: Signer, seconds_after_exp: int, accepted: bool
) -> None:
    token = mint(rsa_key)  # exp = T0 + 300
    now = T0 + timedelta(seconds=300 + seconds_after_exp)
    if accepted:
        assert providers.verify_access_token(token, now=now).subject == "subject-1"
    else:
        with pytest.raises(TokenRefused) as caught:
            providers.verify_access_token(token, now=now)
        assert caught.value.reason is RefusalReason.EXPIRED


def test_the_clock_is_the_default_now(
    providers: OidcProviders, rsa_key: Signer, clock: Clock
) -> None:
    token = mint(rsa_key)
    clock.advance(300 + 61)
    assert refusal(providers, token).reason is RefusalReason.EXPIRED


@pytest.mark.parametrize("claim", ["nbf", "iat"])
@pytest.mark.parametrize(("ahead", "accepted"), [(59, True), (60, True), (61, False), (900, False)])
def test_nbf_and_iat_in_the_future_are_not_yet_valid(
    providers: OidcProviders, rsa_key: Signer, claim: str, ahead: int, accepted: bool
) -> None:
    t = int(T0.timestamp())
    times: dict[str, Any] = {claim: t + ahead, "exp": t + 3600}
    token = mint(rsa_key, **times)
    if accepted:
        assert providers.verify_access_token(token, now=T0)
    else:
        assert refusal(providers, token).reason is RefusalReason.NOT_YET_VALID


def test_nbf_is_optional(providers: OidcProviders, rsa_key: Signer) -> None:
    assert providers.verify_access_token(mint(rsa_key, nbf=None))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": None},
        {"iat": None},
        {"sub": None},
        {"sub": ""},
        {"sub": 17},
        {"exp": "tomorrow"},
        {"exp": True},
        {"iat": 10**400},
        {"nbf": -5},
        {"exp": 10**12},
        {"sub": "x" * 256},
        {"sub": "line\nbreak"},
    ],
)
def test_missing_or_bad_required_claims_are_malformed(
    providers: OidcProviders, rsa_key: Signer, claims: dict[str, Any]
) -> None:
    refused = refusal(providers, mint(rsa_key, **claims))
    assert refused.reason is RefusalReason.MALFORMED
    assert refused.provider == "trust"


@pytest.mark.parametrize(
    "claims",
    [{"sub": "nul\x00"}, {"name": "lone \ud800 surrogate"}, {"groups": [{"deep": "nul\x00"}]}],
)
def test_text_that_could_not_be_stored_is_malformed_before_anything_else(
    providers: OidcProviders, rsa_key: Signer, claims: dict[str, Any]
) -> None:
    refused = refusal(providers, mint(rsa_key, **claims))
    assert refused.reason is RefusalReason.MALFORMED
    assert refused.provider is None


def test_a_subject_of_255_characters_is_accepted(providers: OidcProviders, rsa_key: Signer) -> None:
    assert providers.verify_access_token(mint(rsa_key, sub="s" * 255)).subject == "s" * 255


def test_malformed_claims_come_after_the_audience(
    providers: OidcProviders, rsa_key: Signer
) -> None:
    token = mint(rsa_key, aud="api://other", exp=None)
    assert refusal(providers, token).reason is RefusalReason.WRONG_AUDIENCE


def test_mfa_missing_is_refused(providers: OidcProviders, rsa_key: Signer) -> None:
    for amr in (None, ["pwd"], "mfa", []):
        refused = refusal(providers, mint(rsa_key, amr=amr))
        assert refused.reason is RefusalReason.MFA_REQUIRED
        assert refused.subject == "subject-1"


def test_mfa_is_checked_last(providers: OidcProviders, rsa_key: Signer) -> None:
    token = mint(rsa_key, amr=["pwd"], now=T0 - timedelta(hours=1))
    assert refusal(providers, token).reason is RefusalReason.EXPIRED


def test_amr_with_mfa_is_accepted(providers: OidcProviders, rsa_key: Signer) -> None:
    assert providers.verify_access_token(mint(rsa_key, amr=["mfa"]))


def test_an_acr_in_acr_values_counts_as_mfa(tmp_path: Path, rsa_key: Signer, clock: Clock) -> None:
    providers = file_providers(tmp_path, rsa_key, clock=clock, acr_values=["urn:example:loa:high"])
    assert providers.verify_access_token(mint(rsa_key, amr=None, acr="urn:example:loa:high"))
    refused = refusal(providers, mint(rsa_key, amr=None, acr="urn:example:loa:low"))
    assert refused.reason is RefusalReason.MFA_REQUIRED


def test_without_require_mfa_a_password_sign_in_is_accepted(
    tmp_path: Path, rsa_key: Signer, clock: Clock
) -> None:
    providers = file_providers(tmp_path, rsa_key, clock=clock, require_mfa=False)
    assert providers.verify_access_token(mint(rsa_key, amr=["pwd"])).subject == "subject-1"


def test_an_id_token_is_not_an_access_token(providers: OidcProviders, rsa_key: Signer) -> None:
    token = mint(rsa_key, aud="fivesafes-web", nonce="n")
    assert refusal(providers, token).reason is RefusalReason.WRONG_AUDIENCE


def test_a_token_without_kid_uses_the_only_key(providers: OidcProviders, rsa_key: Signer) -> None:
    assert providers.verify_access_token(mint(rsa_key, header={"kid": None}))


def test_a_token_without_kid_is_unknown_when_there_are_several_keys(
    tmp_path: Path, rsa_key: Signer, other_rsa_key: Signer, clock: Clock
) -> None:
    providers = file_providers(tmp_path, rsa_key, other_rsa_key, clock=clock)
    refused = refusal(providers, mint(rsa_key, header={"kid": None}))
    assert refused.reason is RefusalReason.UNKNOWN_KEY


def test_an_entra_authentication_context_in_acrs_counts_as_mfa(
    tmp_path: Path, rsa_key: Signer, clock: Clock
) -> None:
    # Entra ID's v2.0 access tokens carry no amr; a Conditional Access policy requiring
    # MFA for authentication context c1 puts "c1" in acrs.
    providers = file_providers(tmp_path, rsa_key, clock=clock, acr_values=["c1"])
    assert providers.verify_access_token(mint(rsa_key, amr=None, acrs=["c2", "c1"]))
    refused = refusal(providers, mint(rsa_key, amr=None, acrs=["c2"]))
    assert refused.reason is RefusalReason.MFA_REQUIRED
    assert refusal(providers, mint(rsa_key, amr=None, acrs="c1")).reason is (
        RefusalReason.MFA_REQUIRED
    )


ENTRA_V1 = "https://sts.windows.net/tenant/"


def test_a_second_access_token_issuer_is_accepted_for_access_tokens_only(
    tmp_path: Path, rsa_key: Signer, clock: Clock
) -> None:
    providers = file_providers(tmp_path, rsa_key, clock=clock, access_token_issuer=ENTRA_V1)
    verified = providers.verify_access_token(mint(rsa_key, iss=ENTRA_V1))
    # The account is keyed by the provider's configured issuer, whichever form came.
    assert verified.issuer == ISSUER
    assert providers.verify_access_token(mint(rsa_key)).issuer == ISSUER
    other = refusal(providers, mint(rsa_key, iss="https://sts.windows.net/other/"))
    assert other.reason is RefusalReason.WRONG_ISSUER
    with pytest.raises(TokenRefused) as caught:
        providers.verify_id_token(
            "trust", mint(rsa_key, iss=ENTRA_V1, aud="fivesafes-web", nonce="n"), nonce="n"
        )
    assert caught.value.reason is RefusalReason.WRONG_ISSUER


def test_the_subject_may_come_from_another_claim(
    tmp_path: Path, rsa_key: Signer, clock: Clock
) -> None:
    providers = file_providers(tmp_path, rsa_key, clock=clock, subject_claim="oid")
    verified = providers.verify_access_token(mint(rsa_key, oid="object-7"))
    assert verified.subject == "object-7"
    refused = refusal(providers, mint(rsa_key))
    assert refused.reason is RefusalReason.MALFORMED
    assert "'oid'" in refused.message


def test_an_id_token_is_refused_even_when_the_api_and_web_client_share_an_audience(
    tmp_path: Path, rsa_key: Signer, clock: Clock
) -> None:
    # One Entra ID registration for both: v2.0 access tokens carry its client id as aud,
    # and so do its ID tokens, which must still not open the API.
    providers = file_providers(tmp_path, rsa_key, clock=clock, audience="fivesafes-web")
    assert providers.verify_access_token(mint(rsa_key, aud="fivesafes-web"))
    id_token = mint(rsa_key, aud="fivesafes-web", nonce="n")
    assert refusal(providers, id_token).reason is RefusalReason.WRONG_AUDIENCE
    assert providers.verify_id_token("trust", id_token, nonce="n").subject == "subject-1"
