"""Password hashing: argon2id, salted, constant outcome for unknown users, length rules."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from fivesafes.errors import InvalidInputError
from fivesafes.identity import passwords

#: This file is about the production argon2 profile: tests/conftest.py leaves it in place.
REAL_PASSWORD_HASHING = True


def test_hash_is_argon2id_salted_and_verifies() -> None:
    first = passwords.hash_password("correct horse battery")
    second = passwords.hash_password("correct horse battery")
    assert first.startswith("$argon2id$")
    assert first != second  # a fresh salt each time
    assert "correct horse" not in first
    assert passwords.verify_password(first, "correct horse battery")
    assert not passwords.verify_password(first, "correct horse battery ")
    assert not passwords.needs_rehash(first)


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$broken"])
def test_missing_or_broken_hashes_never_verify(stored: str | None) -> None:
    assert not passwords.verify_password(stored, "correct horse battery")


def test_overlong_passwords_are_refused_without_hashing() -> None:
    stored = passwords.hash_password("a" * passwords.MAX_LENGTH)
    assert not passwords.verify_password(stored, "a" * (passwords.MAX_LENGTH + 1))


@pytest.mark.parametrize("weak", ["", "short", "elevenchars", " " * 20, "x" * 257])
def test_length_rules(weak: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        passwords.hash_password(weak)
    assert caught.value.code == "weak_password"


def test_weaker_parameters_are_flagged_for_rehash() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192).hash("correct horse battery")
    assert passwords.verify_password(old, "correct horse battery")
    assert passwords.needs_rehash(old)
