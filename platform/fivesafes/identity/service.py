"""Users and tokens: creation, listing, disabling, issuing, revoking, authenticating.

Services flush and never commit: the caller's transaction scope owns the commit, so a
change and its audit event land together.

Credentials really end. Every token's lifetime is capped (``FIVESAFES_TOKEN_MAX_DAYS``)
here, the one place tokens are made, so no path can exceed it. A token minted with
another credential records it (:class:`Minter`): it cannot outlive it, and it dies with
it — a child of a revoked or expired token is refused (the chain is checked on every
authentication, and revocation cascades), and a token minted from a web session is
bound to the user's ``credentials_epoch`` as that session was, so a password or role
change ends it along with the session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.audit.context import Actor
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import get_settings
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
# How long a chain of tokens minted from tokens may grow; checked at mint and bounding
# the walk made at every authentication.
MAX_CHAIN_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Minter:
    """The credential a new token is minted with; the token may not outlive it.

    ``parent_token_id``: the token behind the request (a bearer token, or the token a web
    session was opened with). ``session_id``: the web session, if minted from one.
    ``credentials_epoch``: the user's epoch the parent is bound to (a session always is).
    ``not_after``: the parent's own expiry, which caps the new token's.
    """

    parent_token_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    credentials_epoch: int | None = None
    not_after: datetime | None = None

    @classmethod
    def from_token(cls, token: ApiToken) -> Minter:
        return cls(
            parent_token_id=token.id,
            credentials_epoch=token.credentials_epoch,
            not_after=token.expires_at,
        )


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
    origin: Mapping[str, object] | None = None,
) -> User:
    """Add a user; usernames are lower-case and unique. ``origin``, audited with the
    event, says where the account came from when not from an administrator (a
    provider's first sign-in: its name, issuer and the subject)."""
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
    details: dict[str, object] = {"role": role.value, **(origin or {})}
    trail.record(
        session, "user.create", target_type="user", target_id=str(user.id), details=details
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


def end_credentials(user: User) -> None:
    """Move the user's credentials epoch on: their web sessions, and the tokens minted
    from them, stop working at their next use (checked on every lookup)."""
    user.credentials_epoch = (user.credentials_epoch or 0) + 1


def change_role(
    session: Session,
    trail: AuditTrail,
    username: str,
    role: Role,
    *,
    origin: Mapping[str, object] | None = None,
) -> User:
    """Give ``username`` the role ``role`` in place of their current one (``origin``,
    audited with the event: who decided, when not an administrator — a provider's
    mapping at a sign-in).

    Removing a role ends every web session the user has open (and the tokens minted from
    them): what was opened with the old role's rights does not carry on. The last active
    admin cannot be demoted, so the platform always keeps someone able to manage it.
    """
    user = get_user(session, username)
    if user.role == role:
        return user
    if user.role == Role.ADMIN and user.is_active:
        admins = session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == Role.ADMIN, User.is_active.is_(True))
        )
        if int(admins or 0) <= 1:
            raise ConflictError(
                f"{username!r} is the last active admin: make another admin first",
                code="last_admin",
            )
    previous = user.role
    user.role = role
    end_credentials(user)
    # The Caldicott Guardian flag belongs to a governance officer; leaving governance
    # drops it, so coming back later does not quietly restore a guardian's weight.
    guardian_cleared = user.caldicott_guardian and role != Role.GOVERNANCE
    if guardian_cleared:
        user.caldicott_guardian = False
    session.flush()
    details: dict[str, object] = {
        "from": previous.value,
        "to": role.value,
        "sessions_ended": True,
        **({"caldicott_guardian_cleared": True} if guardian_cleared else {}),
        **(origin or {}),
    }
    trail.record(
        session, "user.change_role", target_type="user", target_id=str(user.id), details=details
    )
    return user


def set_caldicott_guardian(session: Session, trail: AuditTrail, username: str, on: bool) -> User:
    """Turn ``username``'s Caldicott Guardian flag on or off (audited
    ``user.caldicott_guardian``; setting it to what it already is records nothing).

    Only a governance officer can carry the flag: a re-identification needs, when
    ``FIVESAFES_REID_REQUIRE_CALDICOTT_GUARDIAN`` is on, one of its two governance
    approvals to come from a guardian, and the flag on anyone else would mean nothing.
    Turning it off is always allowed (and approvals already given keep the flag they
    were given with).
    """
    user = get_user(session, username)
    if user.caldicott_guardian == on:
        return user
    if on and user.role != Role.GOVERNANCE:
        raise ConflictError(
            f"{username!r} is not a governance officer: only one can be the Caldicott Guardian",
            code="caldicott_guardian_needs_governance",
        )
    user.caldicott_guardian = on
    session.flush()
    trail.record(
        session,
        "user.caldicott_guardian",
        target_type="user",
        target_id=str(user.id),
        details={"on": on},
    )
    return user


def issue_token(
    session: Session,
    trail: AuditTrail,
    user: User,
    name: str,
    lifetime: timedelta,
    *,
    now: datetime | None = None,
    minted_from: Minter | None = None,
    max_lifetime: timedelta | None = None,
) -> IssuedToken:
    """Create a token for ``user``; the secret is returned once and only its hash is kept.

    ``lifetime`` beyond ``max_lifetime`` (default: the ``FIVESAFES_TOKEN_MAX_DAYS``
    setting, read here so that no caller can forget it) is refused. A token minted with
    another credential (``minted_from``) expires no later than it and is linked to it.
    """
    if not name.strip() or len(name) > 100:
        raise InvalidInputError("token name must be 1-100 characters", code="invalid_token_name")
    if lifetime <= timedelta(0):
        raise InvalidInputError("token lifetime must be positive", code="invalid_lifetime")
    cap = max_lifetime if max_lifetime is not None else get_settings().token_max_lifetime
    if lifetime > cap:
        raise InvalidInputError(
            f"token lifetime must be at most {_days(cap)} (FIVESAFES_TOKEN_MAX_DAYS)",
            code="lifetime_too_long",
        )
    issued_at = now or utcnow()
    parent = minted_from or Minter()
    expires_at = issued_at + lifetime
    if parent.parent_token_id is not None:
        _require_live_parent(session, parent.parent_token_id, user, issued_at)
    if parent.not_after is not None:
        if parent.not_after <= issued_at:
            raise AuthenticationError("the credential minting this token has expired")
        expires_at = min(expires_at, parent.not_after)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip(),
        token_hash=hash_token(secret),
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        created_at=issued_at,
        expires_at=expires_at,
        parent_token_id=parent.parent_token_id,
        parent_session_id=parent.session_id,
        credentials_epoch=parent.credentials_epoch,
    )
    session.add(token)
    session.flush()
    details: dict[str, object] = {
        "user_id": str(user.id),
        "expires_at": token.expires_at.isoformat(),
    }
    if parent.parent_token_id is not None:
        details["parent_token_id"] = str(parent.parent_token_id)
    if parent.session_id is not None:
        details["parent_session_id"] = str(parent.session_id)
    if expires_at < issued_at + lifetime:
        details["capped_by_parent"] = True
    trail.record(
        session, "token.issue", target_type="token", target_id=str(token.id), details=details
    )
    return IssuedToken(token=token, secret=secret)


def _days(span: timedelta) -> str:
    days = span.days
    return f"{days} day" if days == 1 else f"{days} days"


def _require_live_parent(
    session: Session, parent_id: uuid.UUID, user: User, moment: datetime
) -> None:
    """Refuse to mint from a dead parent, another user's, or at the end of a long chain."""
    parent = session.get(ApiToken, parent_id)
    if parent is None or parent.user_id != user.id:
        raise AuthenticationError(_BAD_TOKEN, code="invalid_token")
    refusal = token_refusal(session, parent, moment)
    if refusal is not None:
        raise AuthenticationError(refusal[1], code=refusal[0])
    depth = len(_ancestors(session, parent))
    if depth >= MAX_CHAIN_DEPTH:
        raise InvalidInputError(
            f"tokens may be minted from tokens at most {MAX_CHAIN_DEPTH} deep: "
            "ask an administrator for a fresh token instead",
            code="token_chain_too_deep",
        )


def _ancestors(session: Session, token: ApiToken) -> list[ApiToken]:
    """The tokens ``token`` was minted from, nearest first (bounded; a cycle ends it)."""
    chain: list[ApiToken] = []
    seen = {token.id}
    current = token
    while current.parent_token_id is not None and len(chain) <= MAX_CHAIN_DEPTH:
        parent = session.get(ApiToken, current.parent_token_id)
        if parent is None or parent.id in seen:
            break
        chain.append(parent)
        seen.add(parent.id)
        current = parent
    return chain


def token_refusal(session: Session, token: ApiToken, moment: datetime) -> tuple[str, str] | None:
    """Why ``token`` no longer authenticates (code, message), or None if it is live.

    Checks the token, then every token it was minted from: revoked, expired, or bound to
    a credentials epoch the user has moved past (password or role changed). The user's
    own state (disabled) is the caller's check.
    """
    chain = [token, *_ancestors(session, token)]
    if len(chain) > MAX_CHAIN_DEPTH + 1:
        return "token_revoked", "token chain is too long"
    if token.parent_token_id is not None and chain[-1].parent_token_id is not None:
        # A parent is missing: the lineage cannot be shown to be alive.
        return "token_revoked", "a token this one was minted from no longer exists"
    epoch = token.user.credentials_epoch
    for index, link in enumerate(chain):
        whose = "token" if index == 0 else "a token this one was minted from"
        if link.revoked_at is not None:
            return "token_revoked", f"{whose} has been revoked"
        if link.expires_at <= moment:
            return "token_expired", f"{whose} has expired"
        if link.credentials_epoch is not None and link.credentials_epoch != epoch:
            return (
                "token_revoked",
                f"{whose} was minted from a web session that has ended "
                "(the password or role changed)",
            )
    return None


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.created_at)
    if user is not None:
        query = query.where(ApiToken.user_id == user.id)
    return list(session.scalars(query))


def revoke_token(
    session: Session, trail: AuditTrail, token_id: uuid.UUID, *, owner: User | None = None
) -> ApiToken:
    """Revoke a token with immediate effect, and every token minted from it.

    ``owner`` limits it to that user's tokens. The web sessions opened with any of them
    end at their next request (``identity.web_sessions.find_session`` checks the token).
    """
    token = session.get(ApiToken, token_id)
    if token is None or (owner is not None and token.user_id != owner.id):
        raise NotFoundError(f"no token {token_id}", code="token_not_found")
    moment = utcnow()
    if token.revoked_at is None:
        _revoke(session, trail, token, moment)
    _revoke_descendants(session, trail, [token.id], moment, cause=str(token.id))
    return token


def revoke_minted_by_session(session: Session, trail: AuditTrail, session_id: uuid.UUID) -> int:
    """At log-out: revoke the tokens a web session minted (and theirs); returns how many."""
    children = list(
        session.scalars(
            select(ApiToken).where(
                ApiToken.parent_session_id == session_id, ApiToken.revoked_at.is_(None)
            )
        )
    )
    moment = utcnow()
    for child in children:
        _revoke(session, trail, child, moment, reason="session_ended")
    return len(children) + _revoke_descendants(
        session, trail, [c.id for c in children], moment, cause=str(session_id)
    )


def _revoke(
    session: Session, trail: AuditTrail, token: ApiToken, moment: datetime, **why: str
) -> None:
    """Revoke one token at ``moment`` and audit it (``why``: the reason and its cause, for
    a token revoked because the credential it was minted from ended)."""
    token.revoked_at = moment
    session.flush()
    trail.record(
        session,
        "token.revoke",
        target_type="token",
        target_id=str(token.id),
        details={"user_id": str(token.user_id), **why},
    )


def _revoke_descendants(
    session: Session,
    trail: AuditTrail,
    roots: list[uuid.UUID],
    moment: datetime,
    *,
    cause: str,
) -> int:
    """Revoke every live token minted (directly or not) from ``roots``; each is audited."""
    revoked = 0
    frontier = list(roots)
    seen = set(roots)
    while frontier:
        children = list(
            session.scalars(select(ApiToken).where(ApiToken.parent_token_id.in_(frontier)))
        )
        frontier = []
        for child in children:
            if child.id in seen:
                continue
            seen.add(child.id)
            frontier.append(child.id)
            if child.revoked_at is None:
                _revoke(session, trail, child, moment, reason="parent_revoked", cause=cause)
                revoked += 1
    return revoked


def authenticate_token(session: Session, secret: str, *, now: datetime | None = None) -> ApiToken:
    """The live token a bearer secret belongs to (its user active), or AuthenticationError.

    The lookup is by hash (an index read that reveals nothing about the secret); the final
    equality check is constant-time all the same, so no timing difference depends on how
    much of a guessed hash matched. The token's whole lineage must be live.
    """
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AuthenticationError(_BAD_TOKEN, code="invalid_token")
    digest = hash_token(secret)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        raise AuthenticationError(_BAD_TOKEN, code="invalid_token")
    moment = now or utcnow()
    refusal = token_refusal(session, token, moment)
    if refusal is not None:
        raise AuthenticationError(refusal[1], code=refusal[0])
    if not token.user.is_active:
        raise AuthenticationError("user account is disabled", code="user_disabled")
    token.last_used_at = moment
    session.flush()
    return token


def authenticate(session: Session, secret: str, *, now: datetime | None = None) -> User:
    """The active user a bearer token belongs to, or AuthenticationError."""
    return authenticate_token(session, secret, now=now).user
