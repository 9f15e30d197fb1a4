"""OidcProviders as the app uses it, and the refusals' codes and HTTP statuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fivesafes.config import load_settings
from fivesafes.errors import NotFoundError
from fivesafes.httpkit.errors import status_for
from fivesafes.identity.oidc.config import IdentityPolicy
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.oidc.refusals import RefusalReason, RoleRefused, TokenRefused
from tests.unit.identity_oidc.support import (
    ISSUER,
    T0,
    Clock,
    Signer,
    file_providers,
    mint,
    policy,
    provider_entry,
)


def test_no_providers_is_falsy() -> None:
    providers = OidcProviders(IdentityPolicy())
    assert not providers
    assert providers.names() == []


def test_names_config_and_unknown_provider() -> None:
    providers = OidcProviders(
        policy(provider_entry(), provider_entry(name="uni", issuer="https://uni.example"))
    )
    assert providers
    assert providers.names() == ["trust", "uni"]
    assert providers.config("uni").issuer == "https://uni.example"
    with pytest.raises(NotFoundError) as caught:
        providers.config("other")
    assert caught.value.code == "unknown_provider"
    with pytest.raises(NotFoundError):
        providers.metadata("other")


def test_the_client_secret_comes_from_the_environment() -> None:
    providers = OidcProviders(
        policy(provider_entry(name="nhs-mail")),
        environ={"FIVESAFES_OIDC_NHS_MAIL_CLIENT_SECRET": "s3cret"},
    )
    assert providers.client_secret("nhs-mail") == "s3cret"
    assert OidcProviders(policy(provider_entry()), environ={}).client_secret("trust") is None


def test_from_settings_reads_the_identity_policy(
    tmp_path: Path, rsa_key: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    path = tmp_path / "identity.yaml"
    path.write_text(yaml.safe_dump({"providers": [provider_entry(jwks_file=str(jwks))]}))
    monkeypatch.setenv("FIVESAFES_OIDC_JWKS_MIN_REFRESH_SECONDS", "120")
    providers = OidcProviders.from_settings(load_settings(identity_policy=path))
    assert providers.names() == ["trust"]
    assert providers.key_cache("trust").min_refresh.total_seconds() == 120


@pytest.mark.parametrize(
    "token",
    [
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",  # unsigned: still a JWT, refused as one
    ],
)
def test_looks_like_jwt(token: str) -> None:
    assert OidcProviders.looks_like_jwt(token)


@pytest.mark.parametrize(
    "token",
    [
        "fs_abc.def.ghi",
        "fs_Zm9vYmFy",
        "",
        "a.b",
        "a.b.c.d",
        "a b.c.d",
        "a..c",
        ".b.c",
        "a.b.c=",
        "a.b.c\n",
    ],
)
def test_does_not_look_like_jwt(token: str) -> None:
    assert not OidcProviders.looks_like_jwt(token)


def test_a_real_token_looks_like_a_jwt(rsa_key: Signer) -> None:
    assert OidcProviders.looks_like_jwt(mint(rsa_key))


@pytest.mark.parametrize("reason", list(RefusalReason))
def test_a_token_refusal_is_401_with_the_reason_as_code(reason: RefusalReason) -> None:
    refused = TokenRefused(reason, "no", provider="trust", issuer=ISSUER, subject="s")
    assert status_for(refused) == 401
    assert refused.code == reason.value
    assert (refused.provider, refused.issuer, refused.subject) == ("trust", ISSUER, "s")
    assert refused.keeps_audit is False
    assert str(refused) == "no"


def test_a_role_refusal_is_403() -> None:
    refused = RoleRefused(RefusalReason.NO_ROLE, "no role")
    assert status_for(refused) == 403
    assert refused.code == "no_role"
    assert refused.provider is None
    assert type(refused).code == "forbidden"  # the instance's code, not the class's


def test_the_reason_codes_are_the_documented_ones() -> None:
    assert {r.value for r in RefusalReason} == {
        "expired",
        "not_yet_valid",
        "bad_signature",
        "wrong_audience",
        "wrong_issuer",
        "unknown_key",
        "mfa_required",
        "no_role",
        "ambiguous_role",
        "user_disabled",
        "malformed",
        "bad_nonce",
        "provider_unavailable",
    }


def test_verify_uses_the_injected_clock(tmp_path: Path, rsa_key: Signer) -> None:
    late = Clock(T0.replace(year=2027))
    providers = file_providers(tmp_path, rsa_key, clock=late)
    with pytest.raises(TokenRefused) as caught:
        providers.verify_access_token(mint(rsa_key))
    assert caught.value.reason is RefusalReason.EXPIRED
