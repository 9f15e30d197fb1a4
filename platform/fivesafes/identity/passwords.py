"""Passwords for the web log-in: argon2id hashes, setting, checking.

Only an argon2id hash (salted, memory-hard; parameters carried in the hash string) is
stored. API tokens stay the way to script the platform; a password only opens a browser
session. An unknown username is checked against a dummy hash so that the time taken does
not tell which usernames exist.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.errors import AuthenticationError, InvalidInputError
from fivesafes.identity.models import User
from fivesafes.identity.service import end_credentials

MIN_LENGTH = 12
MAX_LENGTH = 256
BAD_CREDENTIALS = "wrong username or password"

# RFC 9106's second recommended profile (64 MiB, 3 passes): argon2-cffi's default.
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("fivesafes-dummy-password-for-timing")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (checks the length rules first)."""
    check_strength(password)
    return _hasher.hash(password)


def check_strength(password: str) -> None:
    """Length is the rule that matters (NCSC): 12 to 256 characters, not all blank."""
    if len(password) < MIN_LENGTH or len(password) > MAX_LENGTH or not password.strip():
        raise InvalidInputError(
            f"a password must be {MIN_LENGTH} to {MAX_LENGTH} characters long",
            code="weak_password",
        )


def generate_password() -> str:
    """A random password of 144 bits in four groups (letters, digits, '-' and '_')."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(4))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (always spends an argon2 check)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)


def set_password(session: Session, trail: AuditTrail, user: User, password: str) -> None:
    """Store a new hash for ``user``; audited, without any trace of the password.

    Every web session the user has open ends (whoever knew the old password may be the
    reason for the change), and so do the tokens those sessions minted.
    """
    user.password_hash = hash_password(password)
    _credentials_changed(session, trail, user, "user.set_password")


def clear_password(session: Session, trail: AuditTrail, user: User) -> None:
    """Remove the password: the user can then log in on the web only with a token.

    Like a change, it ends the user's web sessions and the tokens they minted.
    """
    if user.password_hash is not None:
        user.password_hash = None
        _credentials_changed(session, trail, user, "user.clear_password")


def _credentials_changed(session: Session, trail: AuditTrail, user: User, action: str) -> None:
    """End what the old credentials opened, and audit ``action`` (no trace of a password)."""
    end_credentials(user)
    session.flush()
    trail.record(
        session,
        action,
        target_type="user",
        target_id=str(user.id),
        details={"sessions_ended": True},
    )


def find_user(session: Session, username: str) -> User | None:
    """The user with this exact username, or None (no error: callers audit the miss)."""
    if not username or len(username) > 64:
        return None
    return session.scalar(select(User).where(User.username == username))


def authenticate_password(session: Session, username: str, password: str) -> User:
    """The active user ``username`` whose password is ``password``, or AuthenticationError.

    One message for an unknown user, a wrong password and a user without a password; a
    disabled account is told so only after the right password was given.
    """
    user = find_user(session, username)
    stored = user.password_hash if user is not None else None
    if not verify_password(stored, password) or user is None or stored is None:
        raise AuthenticationError(BAD_CREDENTIALS, code="bad_credentials")
    if not user.is_active:
        raise AuthenticationError("user account is disabled", code="user_disabled")
    if needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
        session.flush()
    return user
