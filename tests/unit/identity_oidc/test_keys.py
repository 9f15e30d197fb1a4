"""The JWKS cache: refresh on an unknown kid, rate-limited; rotation; which keys count."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from fivesafes.errors import ServiceUnavailableError
from fivesafes.identity.oidc.config import ProviderConfig
from fivesafes.identity.oidc.jwks import parse_jwks
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.oidc.refusals import RefusalReason, TokenRefused
from tests.unit.identity_oidc.support import (
    Clock,
    FakeIdp,
    Signer,
    ec_signer,
    file_providers,
    mint,
    policy,
    provider_entry,
    rsa_signer,
    write_jwks,
)


def refused(providers: OidcProviders, token: str) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        providers.verify_access_token(token)
    return caught.value


def test_keys_are_fetched_once_and_cached(rsa_key: Signer, clock: Clock) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = idp.providers(clock)
    assert (idp.discovery_requests, idp.jwks_requests) == (0, 0)  # nothing at start-up
    for _ in range(3):
        providers.verify_access_token(mint(rsa_key))
    assert (idp.discovery_requests, idp.jwks_requests) == (1, 1)


def test_an_unknown_kid_refreshes_once_then_is_unknown_key(rsa_key: Signer, clock: Clock) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = idp.providers(clock)
    providers.verify_access_token(mint(rsa_key))
    clock.advance(31)
    stranger = rsa_signer("stranger")
    assert refused(providers, mint(stranger)).reason is RefusalReason.UNKNOWN_KEY
    assert idp.jwks_requests == 2  # looked again before refusing


def test_a_second_unknown_kid_within_the_interval_does_not_refetch(
    rsa_key: Signer, clock: Clock
) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = idp.providers(clock)
    providers.verify_access_token(mint(rsa_key))
    clock.advance(31)
    refused(providers, mint(rsa_signer("one")))
    assert idp.jwks_requests == 2
    clock.advance(29)
    for kid in ("two", "three", "four"):
        assert refused(providers, mint(rsa_signer(kid))).reason is RefusalReason.UNKNOWN_KEY
    assert idp.jwks_requests == 2
    clock.advance(1)  # 30 s after the last refresh: one more look
    refused(providers, mint(rsa_signer("five")))
    assert idp.jwks_requests == 3


def test_the_first_load_right_after_start_is_not_rate_limited(
    rsa_key: Signer, clock: Clock
) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = idp.providers(clock)
    assert refused(providers, mint(rsa_signer("x"))).reason is RefusalReason.UNKNOWN_KEY
    assert idp.jwks_requests == 1  # the first load already was the look; no second one


def test_a_rotated_key_is_found_after_a_refresh_and_the_old_one_still_works(
    rsa_key: Signer, clock: Clock
) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = idp.providers(clock)
    providers.verify_access_token(mint(rsa_key))
    new = rsa_signer("rsa-new")
    idp.signers = [new, rsa_key]  # rotation: new key published, old kept
    clock.advance(60)
    assert providers.verify_access_token(mint(new, now=clock.now)).subject == "subject-1"
    assert idp.jwks_requests == 2
    assert providers.verify_access_token(mint(rsa_key, now=clock.now))
    assert idp.jwks_requests == 2


def test_a_withdrawn_key_stops_working_after_the_next_refresh(
    rsa_key: Signer, clock: Clock
) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = idp.providers(clock)
    providers.verify_access_token(mint(rsa_key))
    new = rsa_signer("rsa-new")
    idp.signers = [new]
    clock.advance(60)
    providers.verify_access_token(mint(new, now=clock.now))  # refreshes: old key gone
    assert refused(providers, mint(rsa_key, now=clock.now)).reason is RefusalReason.UNKNOWN_KEY


def test_a_rotation_inside_the_interval_waits_for_it(rsa_key: Signer, clock: Clock) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = idp.providers(clock)
    providers.verify_access_token(mint(rsa_key))
    new = rsa_signer("rsa-new")
    idp.signers = [new, rsa_key]
    clock.advance(10)
    assert refused(providers, mint(new, now=clock.now)).reason is RefusalReason.UNKNOWN_KEY
    clock.advance(20)
    assert providers.verify_access_token(mint(new, now=clock.now))


def test_keys_unreachable_is_provider_unavailable_then_recovers(
    rsa_key: Signer, clock: Clock
) -> None:
    idp = FakeIdp(signers=[rsa_key], down=True)
    providers = idp.providers(clock)
    first = refused(providers, mint(rsa_key))
    assert first.reason is RefusalReason.PROVIDER_UNAVAILABLE
    assert first.code == "provider_unavailable"
    assert first.provider == "trust"
    idp.down = False
    # Discovery failures are retried at once, but a failed key load counts as a look.
    clock.advance(31)
    assert providers.verify_access_token(mint(rsa_key, now=clock.now))


def test_a_failed_key_fetch_is_not_retried_within_the_interval(
    rsa_key: Signer, clock: Clock
) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = idp.providers(clock)
    providers.metadata("trust")  # discovery succeeds
    idp.down = True
    assert refused(providers, mint(rsa_key)).reason is RefusalReason.PROVIDER_UNAVAILABLE
    assert refused(providers, mint(rsa_key)).reason is RefusalReason.PROVIDER_UNAVAILABLE
    assert idp.jwks_requests == 1
    idp.down = False
    clock.advance(30)
    assert providers.verify_access_token(mint(rsa_key, now=clock.now))
    assert idp.jwks_requests == 2


def test_cached_keys_survive_a_provider_outage(rsa_key: Signer, clock: Clock) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = idp.providers(clock)
    providers.verify_access_token(mint(rsa_key))
    idp.down = True
    clock.advance(120)
    assert providers.verify_access_token(mint(rsa_key, now=clock.now))
    # An unknown kid during the outage: the refresh fails, and says so.
    assert refused(providers, mint(rsa_signer("new"), now=clock.now)).reason is (
        RefusalReason.PROVIDER_UNAVAILABLE
    )
    assert providers.verify_access_token(mint(rsa_key, now=clock.now))


def test_es256_and_ps256_are_accepted(clock: Clock, ec_key: Signer) -> None:
    ps = rsa_signer("ps-1", alg="PS256")
    idp = FakeIdp(signers=[ec_key, ps])
    providers = idp.providers(clock)
    assert providers.verify_access_token(mint(ec_key)).subject == "subject-1"
    assert providers.verify_access_token(mint(ps)).subject == "subject-1"


def test_one_rsa_key_verifies_rs256_and_ps256(rsa_key: Signer, clock: Clock) -> None:
    providers = FakeIdp(signers=[rsa_key]).providers(clock)
    assert providers.verify_access_token(mint(rsa_key, alg="RS256"))
    assert providers.verify_access_token(mint(rsa_key, alg="PS256"))


def test_a_key_published_for_one_algorithm_refuses_another(
    tmp_path: Path, rsa_key: Signer, clock: Clock
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [rsa_key.public(alg="RS256")]}))
    providers = OidcProviders(policy(provider_entry(jwks_file=str(path))), clock=clock)
    assert providers.verify_access_token(mint(rsa_key, alg="RS256"))
    assert refused(providers, mint(rsa_key, alg="PS256")).reason is RefusalReason.BAD_SIGNATURE


def test_the_jwks_file_is_never_fetched_and_is_reread_on_an_unknown_kid(
    tmp_path: Path, rsa_key: Signer, clock: Clock
) -> None:
    idp = FakeIdp(signers=[rsa_key])
    path = write_jwks(tmp_path / "jwks.json", rsa_key)
    providers = OidcProviders(
        policy(provider_entry(jwks_file=str(path))), http=idp.client(), clock=clock
    )
    assert providers.verify_access_token(mint(rsa_key))
    new = rsa_signer("rsa-new")
    write_jwks(path, new, rsa_key)  # the operator replaces the file
    clock.advance(31)
    assert providers.verify_access_token(mint(new, now=clock.now))
    assert (idp.discovery_requests, idp.jwks_requests) == (0, 0)
    assert providers.key_cache("trust").loads == 2


def test_an_unreadable_jwks_file_is_provider_unavailable(
    tmp_path: Path, rsa_key: Signer, clock: Clock
) -> None:
    providers = file_providers(tmp_path, rsa_key, clock=clock)
    (tmp_path / "jwks.json").write_text("{not json")
    assert refused(providers, mint(rsa_key)).reason is RefusalReason.PROVIDER_UNAVAILABLE


@pytest.mark.parametrize(
    "mutate",
    [
        lambda k: {**k, "kty": "oct", "k": "c2VjcmV0"},  # symmetric: whoever holds it signs
        lambda k: {**k, "use": "enc"},
        lambda k: {**k, "key_ops": ["encrypt"]},
        lambda k: {**k, "n": "AQAB"},  # broken / far too short
        lambda k: {k2: v for k2, v in k.items() if k2 != "n"},
    ],
)
def test_unusable_keys_are_ignored(
    rsa_key: Signer, mutate: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    index = parse_jwks({"keys": [mutate(rsa_key.public()), "junk", 7]}, _provider())
    assert index == {}


def test_a_published_private_key_is_ignored(rsa_key: Signer) -> None:
    private = dict(rsa_key.key.as_dict(private=True))
    private["kid"] = rsa_key.kid
    assert parse_jwks({"keys": [private]}, _provider()) == {}


@pytest.mark.filterwarnings("ignore::joserfc.errors.SecurityWarning")
def test_a_short_rsa_key_is_ignored() -> None:
    short = RSAKey.generate_key(1024, private=True)
    data = dict(short.as_dict(private=False))
    data["kid"] = "short"
    assert parse_jwks({"keys": [data]}, _provider()) == {}


def test_an_ec_key_on_another_curve_is_ignored() -> None:
    p384 = dict(ECKey.generate_key("P-384", private=True).as_dict(private=False))
    assert parse_jwks({"keys": [p384]}, _provider()) == {}


def test_usable_keys_are_indexed_by_kid(rsa_key: Signer, ec_key: Signer) -> None:
    index = parse_jwks({"keys": [rsa_key.public(), ec_key.public()]}, _provider())
    assert sorted(k for k in index if k) == ["ec-1", "rsa-1"]


def test_a_jwks_without_keys_is_provider_unavailable() -> None:
    with pytest.raises(ServiceUnavailableError) as caught:
        parse_jwks({"kid": "x"}, _provider())
    assert caught.value.code == "provider_unavailable"


def _provider() -> ProviderConfig:
    return policy(provider_entry()).providers[0]


def test_min_refresh_is_configurable(rsa_key: Signer, clock: Clock) -> None:
    idp = FakeIdp(signers=[rsa_key])
    providers = OidcProviders(
        policy(provider_entry()),
        http=idp.client(),
        clock=clock,
        jwks_min_refresh=timedelta(seconds=300),
    )
    providers.verify_access_token(mint(rsa_key))
    clock.advance(299)
    refused(providers, mint(ec_signer("new"), now=clock.now))
    assert idp.jwks_requests == 1
    clock.advance(1)
    refused(providers, mint(ec_signer("newer"), now=clock.now))
    assert idp.jwks_requests == 2
