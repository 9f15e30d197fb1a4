"""Users and tokens: creation, listing, disabling, issuing, revoking, authenticating.

Services flush and never commit: the caller's transaction scope owns the commit, so a
change and its audit event land together.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.context import Actor
from fivesafes.audit.trail import AuditTrail
from fivesafes.db import utcnow
from fivesafes.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from fivesafes.identity.models import ApiToken, Role, User

TOKEN_PREFIX = "fs_"  # noqa: S105 - a public marker, not a secret
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,63}$")
# An unknown token gets one generic message; the holder of a real token is told whether
# it expired or was revoked, since that tells them nothing they could not already know.
_BAD_TOKEN = "invalid, expired or revoked token"  # noqa: S105 - a message, not a secret


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly issued token: ``secret`` is shown once and never stored."""

    token: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    """Hex SHA-256 of a token secret, the only form stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def actor_of(user: User) -> Actor:
    """How a user appears in the audit trail: by id, never by name or e-mail."""
    return Actor(id=str(user.id), role=user.role.value)


def create_user(
    session: Session,
    trail: AuditTrail,
    username: str,
    role: Role,
    *,
    full_name: str = "",
    email: str | None = None,
) -> User:
    """Add a user; usernames are lower-case and unique."""
    if not _USERNAME.fullmatch(username):
        raise InvalidInputError(
            "username must be 2-64 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter",
            code="invalid_username",
        )
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ConflictError(f"user {username!r} already exists", code="user_exists")
    user = User(username=username, role=role, full_name=full_name, email=email, is_active=True)
    session.add(user)
    session.flush()
    trail.record(
        session,
        "user.create",
        target_type="user",
        target_id=str(user.id),
        details={"role": role.value},
    )
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user {username!r}", code="user_not_found")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def disable_user(session: Session, trail: AuditTrail, username: str) -> User:
    """Disable a user: their tokens stop working at once (checked on every request)."""
    user = get_user(session, username)
    if user.is_active:
        user.is_active = False
        user.disabled_at = utcnow()
        session.flush()
        trail.record(session, "user.disable", target_type="user", target_id=str(user.id))
    return user


def issue_token(
    session: Session,
    trail: AuditTrail,
    user: User,
    name: str,
    lifetime: timedelta,
    *,
    now: datetime | None = None,
) -> IssuedToken:
    """Create a token for ``user``; the secret is returned once and only its hash is kept."""
    if not name.strip() or len(name) > 100:
        raise InvalidInputError("token name must be 1-100 characters", code="invalid_token_name")
    if lifetime <= timedelta(0):
        raise InvalidInputError("token lifetime must be positive", code="invalid_lifetime")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    issued_at = now or utcnow()
    token = ApiToken(
        user_id=user.id,
        name=name.strip(),
        token_hash=hash_token(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        created_at=issued_at,
        expires_at=issued_at + lifetime,
    )
    session.add(token)
    session.flush()
    trail.record(
        session,
        "token.issue",
        target_type="token",
        target_id=str(token.id),
        details={"user_id": str(user.id), "expires_at": token.expires_at.isoformat()},
    )
    return IssuedToken(token=token, secret=secret)


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.created_at)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query))


def revoke_token(
    session: Session, trail: AuditTrail, token_id: uuid.UUID, *, owner: User | None = None
) -> ApiToken:
    """Revoke a token with immediate effect. ``owner`` limits it to that user's tokens."""
    token = session.get(ApiToken, token_id)
    if token is None or (owner is not None and token.user_id != owner.id):
        raise NotFoundError(f"no token {token_id}", code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
        trail.record(
            session,
            "token.revoke",
            target_type="token",
            target_id=str(token.id),
            details={"user_id": str(token.user_id)},
        )
    return token


def authenticate(session: Session, secret: str, *, now: datetime | None = None) -> User:
    """The active user a bearer token belongs to, or AuthenticationError.

    The lookup is by hash (an index read that reveals nothing about the secret); the final
    equality check is constant-time all the same, so no timing difference depends on how
    much of a guessed hash matched.
    """
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AuthenticationError(_BAD_TOKEN, code="invalid_token")
    digest = hash_token(secret)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        raise AuthenticationError(_BAD_TOKEN, code="invalid_token")
    moment = now or utcnow()
    if token.revoked_at is not None:
        raise AuthenticationError("token has been revoked", code="token_revoked")
    if token.expires_at <= moment:
        raise AuthenticationError("token has expired", code="token_expired")
    user = token.user
    if not user.is_active:
        raise AuthenticationError("user account is disabled", code="user_disabled")
    token.last_used_at = moment
    session.flush()
    return user
