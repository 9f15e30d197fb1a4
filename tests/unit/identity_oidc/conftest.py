"""Fixtures of the OpenID Connect verification tests: a clock and keys made per test."""

from __future__ import annotations

import pytest

from tests.unit.identity_oidc.support import Clock, Signer, ec_signer, rsa_signer


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
