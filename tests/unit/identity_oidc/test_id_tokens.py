"""ID tokens (the web sign-in): the named provider, the web client's audience, the nonce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fivesafes.errors import NotFoundError
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.oidc.refusals import RefusalReason, TokenRefused
from tests.unit.identity_oidc.support import (
    CLIENT_ID,
    Clock,
    Signer,
    mint,
    policy,
    provider_entry,
    write_jwks,
)

OTHER_ISSUER = "https://idp.uni.example/realms/staff"
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture
def providers(
    tmp_path: Path, rsa_key: Signer, other_rsa_key: Signer, clock: Clock
) -> OidcProviders:
    trust = write_jwks(tmp_path / "trust.json", rsa_key)
    uni = write_jwks(tmp_path / "uni.json", other_rsa_key)
    return OidcProviders(
        policy(
            provider_entry(jwks_file=str(trust)),
            provider_entry(name="uni", issuer=OTHER_ISSUER, client_id="fs-uni", jwks_file=str(uni)),
        ),
        clock=clock,
    )


def id_token(signer: Signer, **claims: Any) -> str:
    return mint(signer, **{"aud": CLIENT_ID, "nonce": NONCE, **claims})


def refusal(providers: OidcProviders, token: str, name: str = "trust") -> RefusalReason:
    with pytest.raises(TokenRefused) as caught:
        providers.verify_id_token(name, token, nonce=NONCE)
    return caught.value.reason


def test_a_good_id_token_is_verified(providers: OidcProviders, rsa_key: Signer) -> None:
    verified = providers.verify_id_token("trust", id_token(rsa_key), nonce=NONCE)
    assert (verified.provider.name, verified.subject) == ("trust", "subject-1")


@pytest.mark.parametrize("nonce", [None, "another", NONCE + "x", 5, ""])
def test_a_nonce_mismatch_is_bad_nonce(
    providers: OidcProviders, rsa_key: Signer, nonce: object
) -> None:
    assert refusal(providers, id_token(rsa_key, nonce=nonce)) is RefusalReason.BAD_NONCE


def test_an_empty_expected_nonce_matches_nothing(providers: OidcProviders, rsa_key: Signer) -> None:
    with pytest.raises(TokenRefused) as caught:
        providers.verify_id_token("trust", id_token(rsa_key, nonce=""), nonce="")
    assert caught.value.reason is RefusalReason.BAD_NONCE


def test_the_audience_must_be_the_web_client(providers: OidcProviders, rsa_key: Signer) -> None:
    token = id_token(rsa_key, aud="api://fivesafes")
    assert refusal(providers, token) is RefusalReason.WRONG_AUDIENCE


@pytest.mark.parametrize(
    ("aud", "azp", "accepted"),
    [
        (CLIENT_ID, None, True),
        (CLIENT_ID, CLIENT_ID, True),
        (CLIENT_ID, "someone-else", False),  # azp present: must be us
        ([CLIENT_ID, "other-app"], None, False),  # several audiences: azp required
        ([CLIENT_ID, "other-app"], CLIENT_ID, True),
        ([CLIENT_ID, "other-app"], "other-app", False),
    ],
)
def test_the_azp_rule(
    providers: OidcProviders, rsa_key: Signer, aud: object, azp: str | None, accepted: bool
) -> None:
    token = id_token(rsa_key, aud=aud, azp=azp)
    if accepted:
        assert providers.verify_id_token("trust", token, nonce=NONCE)
    else:
        assert refusal(providers, token) is RefusalReason.WRONG_AUDIENCE


def test_another_configured_providers_token_is_wrong_issuer(
    providers: OidcProviders, other_rsa_key: Signer
) -> None:
    # Genuine, signed by "uni", but this callback is trust's: never mix them up.
    token = id_token(other_rsa_key, iss=OTHER_ISSUER, aud=CLIENT_ID)
    assert refusal(providers, token, "trust") is RefusalReason.WRONG_ISSUER
    assert providers.verify_id_token(
        "uni", id_token(other_rsa_key, iss=OTHER_ISSUER, aud="fs-uni"), nonce=NONCE
    )


def test_a_key_of_another_provider_does_not_verify(
    providers: OidcProviders, other_rsa_key: Signer
) -> None:
    token = id_token(Signer(other_rsa_key.key, "rsa-1"))  # trust's kid, uni's key
    assert refusal(providers, token) is RefusalReason.BAD_SIGNATURE


def test_mfa_is_required_of_id_tokens_too(providers: OidcProviders, rsa_key: Signer) -> None:
    assert refusal(providers, id_token(rsa_key, amr=["pwd"])) is RefusalReason.MFA_REQUIRED


def test_the_nonce_is_checked_before_mfa(providers: OidcProviders, rsa_key: Signer) -> None:
    token = id_token(rsa_key, amr=["pwd"], nonce="stale")
    assert refusal(providers, token) is RefusalReason.BAD_NONCE


def test_an_unknown_provider_name_is_not_found(providers: OidcProviders, rsa_key: Signer) -> None:
    with pytest.raises(NotFoundError) as caught:
        providers.verify_id_token("nope", id_token(rsa_key), nonce=NONCE)
    assert caught.value.code == "unknown_provider"


def test_access_tokens_pick_the_provider_by_issuer(
    providers: OidcProviders, rsa_key: Signer, other_rsa_key: Signer
) -> None:
    assert providers.verify_access_token(mint(rsa_key)).provider.name == "trust"
    uni = providers.verify_access_token(mint(other_rsa_key, iss=OTHER_ISSUER))
    assert (uni.provider.name, uni.issuer) == ("uni", OTHER_ISSUER)
    # uni's key under uni's kid, claiming trust's issuer: trust does not publish it
    with pytest.raises(TokenRefused) as caught:
        providers.verify_access_token(mint(other_rsa_key))
    assert caught.value.reason is RefusalReason.UNKNOWN_KEY
