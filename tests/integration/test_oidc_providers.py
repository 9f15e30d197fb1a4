"""OidcProviders against the real test identity provider over HTTP on loopback.

The unit tests (tests/unit/identity_oidc/) pin every check with tokens minted in-process;
here the same verifier speaks real HTTP to a running provider: discovery and the JWKS
are fetched from it, keys rotate there, and two providers with different algorithms and
issuers are trusted at once.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fivesafes.errors import ServiceUnavailableError
from fivesafes.identity.oidc.config import load_identity_policy, parse_identity_policy
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.oidc.refusals import RefusalReason, TokenRefused
from tests.oidc_idp import TestIdentityProvider, identity_policy_file


class Clock:
    """Real time, moved forward by hand (the JWKS refresh interval)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def providers_for(
    tmp_path: Path, *idps: TestIdentityProvider | dict[str, Any], clock: Clock
) -> OidcProviders:
    policy = load_identity_policy(identity_policy_file(tmp_path, *idps))
    return OidcProviders(policy, clock=clock, timeout=2.0)


def refusal(providers: OidcProviders, token: str) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        providers.verify_access_token(token)
    assert token not in str(caught.value)
    return caught.value


def test_discovery_and_keys_are_fetched_from_the_provider_once(
    tmp_path: Path, oidc_idp: TestIdentityProvider, clock: Clock
) -> None:
    providers = providers_for(tmp_path, oidc_idp, clock=clock)
    assert (oidc_idp.discovery_requests, oidc_idp.jwks_requests) == (0, 0)
    metadata = providers.metadata("testidp")
    assert metadata.issuer == oidc_idp.issuer
    assert metadata.token_endpoint == oidc_idp.url("token")
    assert metadata.jwks_uri == oidc_idp.url("keys")
    assert metadata.device_authorization_endpoint == oidc_idp.url("devicecode")
    assert metadata.end_session_endpoint == oidc_idp.url("logout")
    oidc_idp.set_user("grace-0002", roles=["FiveSafes.Governance"])
    for _ in range(3):
        verified = providers.verify_access_token(oidc_idp.mint())
    assert (verified.subject, verified.issuer) == ("grace-0002", oidc_idp.issuer)
    assert verified.claims["roles"] == ["FiveSafes.Governance"]
    assert (oidc_idp.discovery_requests, oidc_idp.jwks_requests) == (1, 1)
    providers.close()


def test_an_id_token_from_the_provider_is_verified_with_its_nonce(
    tmp_path: Path, oidc_idp: TestIdentityProvider, clock: Clock
) -> None:
    providers = providers_for(tmp_path, oidc_idp, clock=clock)
    token = oidc_idp.mint_id_token(nonce="n-123")
    assert providers.verify_id_token("testidp", token, nonce="n-123").subject == "ada-0001"
    with pytest.raises(TokenRefused) as caught:
        providers.verify_id_token("testidp", token, nonce="n-456")
    assert caught.value.reason is RefusalReason.BAD_NONCE
    with pytest.raises(TokenRefused) as caught:
        providers.verify_access_token(token)  # an ID token is not for the API
    assert caught.value.reason is RefusalReason.WRONG_AUDIENCE


@pytest.mark.parametrize(
    ("mint", "reason"),
    [
        (lambda idp: idp.mint_unsigned(), RefusalReason.BAD_SIGNATURE),
        (lambda idp: idp.mint_hmac(), RefusalReason.BAD_SIGNATURE),
        (lambda idp: idp.mint_foreign(same_kid=True), RefusalReason.BAD_SIGNATURE),
        (lambda idp: idp.mint_foreign(same_kid=False), RefusalReason.UNKNOWN_KEY),
        (lambda idp: idp.mint(iss="https://evil.example/tenant/v2.0"), RefusalReason.WRONG_ISSUER),
        (lambda idp: idp.mint(audience="api://other"), RefusalReason.WRONG_AUDIENCE),
        (
            lambda idp: idp.mint(now=datetime.now(UTC) - timedelta(minutes=7)),
            RefusalReason.EXPIRED,
        ),
        (
            lambda idp: idp.mint(now=datetime.now(UTC) + timedelta(minutes=5)),
            RefusalReason.NOT_YET_VALID,
        ),
        (lambda idp: idp.mint(amr=["pwd"]), RefusalReason.MFA_REQUIRED),
        (lambda idp: idp.mint(sub=None), RefusalReason.MALFORMED),
        (lambda idp: idp.mint(exp=None), RefusalReason.MALFORMED),
    ],
)
def test_every_refusal_against_the_real_provider(
    tmp_path: Path,
    oidc_idp: TestIdentityProvider,
    clock: Clock,
    mint: Any,
    reason: RefusalReason,
) -> None:
    providers = providers_for(tmp_path, oidc_idp, clock=clock)
    refused = refusal(providers, mint(oidc_idp))
    assert refused.reason is reason
    assert refused.code == reason.value


def test_a_token_within_the_leeway_is_accepted(
    tmp_path: Path, oidc_idp: TestIdentityProvider, clock: Clock
) -> None:
    providers = providers_for(tmp_path, oidc_idp, clock=clock)
    late = oidc_idp.mint(now=datetime.now(UTC) - timedelta(minutes=5, seconds=30))
    early = oidc_idp.mint(now=datetime.now(UTC) + timedelta(seconds=30))
    assert providers.verify_access_token(late)
    assert providers.verify_access_token(early)


def test_a_rotated_key_is_picked_up_and_the_old_one_kept_while_published(
    tmp_path: Path, oidc_idp: TestIdentityProvider, clock: Clock
) -> None:
    providers = providers_for(tmp_path, oidc_idp, clock=clock)
    old_kid = oidc_idp.kid
    old_token = oidc_idp.mint()
    assert providers.verify_access_token(old_token)
    new_kid = oidc_idp.rotate_key(keep_old=True)
    assert new_kid != old_kid
    clock.advance(31)
    assert providers.verify_access_token(oidc_idp.mint()).subject == "ada-0001"
    assert oidc_idp.jwks_requests == 2
    assert providers.verify_access_token(old_token)
    assert oidc_idp.jwks_requests == 2

    oidc_idp.rotate_key(keep_old=False)  # both earlier keys withdrawn
    clock.advance(31)
    assert providers.verify_access_token(oidc_idp.mint())
    assert oidc_idp.jwks_requests == 3
    assert refusal(providers, old_token).reason is RefusalReason.UNKNOWN_KEY


def test_unknown_kids_within_the_interval_cost_one_fetch(
    tmp_path: Path, oidc_idp: TestIdentityProvider, clock: Clock
) -> None:
    providers = providers_for(tmp_path, oidc_idp, clock=clock)
    providers.verify_access_token(oidc_idp.mint())
    clock.advance(31)
    for _ in range(5):
        forged = oidc_idp.mint_foreign(same_kid=False)
        assert refusal(providers, forged).reason is RefusalReason.UNKNOWN_KEY
    assert oidc_idp.jwks_requests == 2


def test_two_providers_at_once(
    tmp_path: Path,
    oidc_idp: TestIdentityProvider,
    second_oidc_idp: TestIdentityProvider,
    clock: Clock,
) -> None:
    providers = providers_for(tmp_path, oidc_idp, second_oidc_idp, clock=clock)
    assert providers.names() == ["testidp", "uni"]
    first = providers.verify_access_token(oidc_idp.mint())
    second = providers.verify_access_token(second_oidc_idp.mint())  # ES256
    assert (first.provider.name, second.provider.name) == ("testidp", "uni")
    assert second.issuer == second_oidc_idp.issuer != first.issuer
    # uni's genuine token presented as testidp's: testidp does not publish uni's key
    crossed = second_oidc_idp.mint(iss=oidc_idp.issuer, audience=oidc_idp.audience)
    assert refusal(providers, crossed).reason is RefusalReason.UNKNOWN_KEY
    # uni's token with testidp's audience: the audience is per provider
    assert refusal(providers, second_oidc_idp.mint(audience=oidc_idp.audience)).reason is (
        RefusalReason.WRONG_AUDIENCE
    )
    # an ID token of uni's is not one of testidp's sign-ins
    with pytest.raises(TokenRefused) as caught:
        providers.verify_id_token(
            "testidp",
            second_oidc_idp.mint_id_token(nonce="n", client_id=oidc_idp.client_id),
            nonce="n",
        )
    assert caught.value.reason is RefusalReason.WRONG_ISSUER


def test_a_jwks_file_is_used_instead_of_the_providers_keys(
    tmp_path: Path, oidc_idp: TestIdentityProvider, clock: Clock
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(oidc_idp.jwks()))
    providers = providers_for(tmp_path, oidc_idp.provider_config(jwks_file=str(path)), clock=clock)
    assert providers.verify_access_token(oidc_idp.mint())
    assert (oidc_idp.discovery_requests, oidc_idp.jwks_requests) == (0, 0)


def test_without_require_mfa_a_password_sign_in_is_accepted(
    tmp_path: Path, oidc_idp: TestIdentityProvider, clock: Clock
) -> None:
    providers = providers_for(tmp_path, oidc_idp.provider_config(require_mfa=False), clock=clock)
    oidc_idp.set_user("pwd-only", amr=["pwd"])
    assert providers.verify_access_token(oidc_idp.mint()).subject == "pwd-only"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_provider_that_is_not_running_is_unavailable(
    oidc_idp: TestIdentityProvider, clock: Clock
) -> None:
    issuer = f"http://127.0.0.1:{_closed_port()}/tenant/v2.0"
    entry = oidc_idp.provider_config(issuer=issuer)
    providers = OidcProviders(parse_identity_policy({"providers": [entry]}), clock=clock)
    with pytest.raises(ServiceUnavailableError) as caught:
        providers.metadata("testidp")
    assert caught.value.code == "provider_unavailable"
    token = oidc_idp.mint(iss=issuer)
    assert refusal(providers, token).reason is RefusalReason.PROVIDER_UNAVAILABLE


def test_a_discovery_document_naming_another_issuer_is_refused(
    oidc_idp: TestIdentityProvider, clock: Clock
) -> None:
    # The same server reached as "localhost": its document names 127.0.0.1, which is
    # not the issuer configured, so nothing it lists (its keys above all) is trusted.
    issuer = oidc_idp.issuer.replace("127.0.0.1", "localhost")
    entry = oidc_idp.provider_config(issuer=issuer)
    providers = OidcProviders(parse_identity_policy({"providers": [entry]}), clock=clock)
    with pytest.raises(ServiceUnavailableError) as caught:
        providers.metadata("testidp")
    assert caught.value.code == "provider_unavailable"
    assert "different issuer" in caught.value.message
    assert oidc_idp.discovery_requests == 1
    token = oidc_idp.mint(iss=issuer)
    assert refusal(providers, token).reason is RefusalReason.PROVIDER_UNAVAILABLE
    assert oidc_idp.jwks_requests == 0
