"""Fixtures of the OpenID Connect verification tests: a clock, and keys distinct within
each test (from a pool made once per process, see support.KeyPool)."""

from __future__ import annotations

import pytest

from tests.unit.identity_oidc.support import KEYS, Clock, Signer, ec_signer, rsa_signer


@pytest.fixture(autouse=True)
def _distinct_keys() -> None:
    """Each test takes its keys from the start of the pool: distinct within the test."""
    KEYS.start_test()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rsa_key() -> Signer:
    return rsa_signer("rsa-1")


@pytest.fixture
def other_rsa_key() -> Signer:
    return rsa_signer("rsa-2")


@pytest.fixture
def ec_key() -> Signer:
    return ec_signer("ec-1")
