"""Properties: a signed token survives no change, and no input makes verify crash."""

from __future__ import annotations

import functools
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.oidc.refusals import TokenRefused
from fivesafes.identity.oidc.tokens import VerifiedToken
from tests.unit.identity_oidc.support import (
    T0,
    Clock,
    Signer,
    claims_at,
    ec_signer,
    mint,
    policy,
    provider_entry,
    rsa_signer,
    sign_raw,
    write_jwks,
)

# One key pair per algorithm for the whole module: hypothesis runs hundreds of examples.
_ALPHABET = string.ascii_letters + string.digits + "-_.=+/ "


@functools.cache
def _setup(tmp: str) -> tuple[OidcProviders, dict[str, str], Signer]:
    rsa, ec = rsa_signer("rsa-p"), ec_signer("ec-p")
    path = write_jwks(Path(tmp) / "jwks.json", rsa, ec)
    providers = OidcProviders(policy(provider_entry(jwks_file=str(path))), clock=Clock())
    tokens = {
        "RS256": mint(rsa),
        "PS256": mint(rsa, alg="PS256"),
        "ES256": mint(ec),
    }
    return providers, tokens, ec


def _world(tmp_path_factory: Any) -> tuple[OidcProviders, dict[str, str], Signer]:
    return _setup(str(tmp_path_factory.getbasetemp()))


def test_the_unchanged_tokens_verify(tmp_path_factory: Any) -> None:
    providers, tokens, _ = _world(tmp_path_factory)
    for token in tokens.values():
        assert providers.verify_access_token(token).subject == "subject-1"


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    alg=st.sampled_from(["RS256", "PS256", "ES256"]),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
    replacement=st.sampled_from(_ALPHABET),
)
def test_any_single_character_change_is_refused(
    tmp_path_factory: Any, alg: str, where: float, replacement: str
) -> None:
    providers, tokens, _ = _world(tmp_path_factory)
    token = tokens[alg]
    i = int(where * len(token))
    if token[i] == replacement:
        replacement = "A" if token[i] != "A" else "B"
    changed = token[:i] + replacement + token[i + 1 :]
    try:
        providers.verify_access_token(changed)
    except TokenRefused:
        return
    raise AssertionError(f"a token changed at position {i} of {len(token)} was accepted")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.one_of(st.text(max_size=300), st.text(alphabet=_ALPHABET, max_size=300)))
def test_arbitrary_text_is_only_ever_refused(tmp_path_factory: Any, text: str) -> None:
    providers, _, _ = _world(tmp_path_factory)
    assert isinstance(OidcProviders.looks_like_jwt(text), bool)
    with pytest.raises(TokenRefused) as caught:
        providers.verify_access_token(text)
    assert caught.value.code == caught.value.reason.value


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "nbf", "amr", "acr", "azp", "nonce"]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    overrides=st.dictionaries(st.sampled_from(_CLAIMS), _json, max_size=5),
    header=st.dictionaries(st.sampled_from(["typ", "cty", "x5t", "jku"]), _json, max_size=2),
)
def test_signed_tokens_with_arbitrary_claims_are_verified_or_refused(
    tmp_path_factory: Any, overrides: dict[str, Any], header: dict[str, Any]
) -> None:
    """Whatever a provider (or a stolen key) puts in the claims, verify answers with a
    VerifiedToken or a TokenRefused, never another exception."""
    providers, _, ec = _world(tmp_path_factory)
    claims = {**claims_at(T0), **overrides}
    token = sign_raw(ec, {**header, "alg": "ES256", "kid": ec.kid}, claims)
    try:
        verified = providers.verify_access_token(token, now=T0)
    except TokenRefused:
        return
    assert isinstance(verified, VerifiedToken)
    assert isinstance(verified.subject, str)
    assert verified.subject
