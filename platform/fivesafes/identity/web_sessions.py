"""Browser sessions: opened at log-in, found from the cookie, closed at log-out.

The cookie carries a random secret and nothing else; the session (its user, CSRF token,
expiry) is a row in ``web_sessions`` found by the secret's SHA-256. A session ends after
30 idle minutes or 12 hours, at log-out, or at once when its user is disabled.

It also ends at once when what opened it ends: every lookup checks that the user's
``credentials_epoch`` is still the one recorded at log-in (a password set or cleared, or
a role changed, moves it on) and, for a session opened with an API token, that the token
and every token it was minted from are still live (not revoked, not expired). A token
session never lasts beyond its token's expiry.

The cookie itself (its name and flags) and the request-bound lookup are HTTP concerns:
``httpkit.cookies``. This module knows only the rows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.db import utcnow
from fivesafes.identity import service as identity
from fivesafes.identity.models import ApiToken, User
from fivesafes.identity.web_models import WebSession

IDLE_TIMEOUT = timedelta(minutes=30)
MAX_AGE = timedelta(hours=12)
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class OpenedSession:
    row: WebSession
    secret: str  # goes into the cookie; never stored


def open_session(
    session: Session,
    trail: AuditTrail,
    user: User,
    method: str,
    *,
    token: ApiToken | None = None,
    provider: str | None = None,
    now: datetime | None = None,
) -> OpenedSession:
    """Start a session for ``user`` (audited as ``web.login``), opened with ``token`` if
    given: the session then ends with it, and never outlives it. ``provider`` names the
    identity provider of an ``oidc`` session: log-out signs out there too."""
    moment = now or utcnow()
    secret = secrets.token_urlsafe(32)
    expires_at = moment + MAX_AGE
    if token is not None:
        expires_at = min(expires_at, token.expires_at)
    row = WebSession(
        token_hash=identity.hash_token(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        method=method,
        created_at=moment,
        last_seen_at=moment,
        expires_at=expires_at,
        token_id=token.id if token is not None else None,
        credentials_epoch=user.credentials_epoch,
        provider=provider,
    )
    session.add(row)
    session.flush()
    details: dict[str, object] = {"method": method}
    if token is not None:
        details["token_id"] = str(token.id)
    if provider is not None:
        details["provider"] = provider
    trail.acting_as(identity.actor_of(user)).record(
        session,
        "web.login",
        target_type="user",
        target_id=str(user.id),
        details=details,
    )
    return OpenedSession(row, secret)


def _is_live(session: Session, row: WebSession, moment: datetime) -> bool:
    """Whether ``row`` may still be used: not expired or idle, its user active, its
    credentials unchanged since log-in, and (token sessions) its token lineage live."""
    if moment >= row.expires_at or moment - row.last_seen_at >= IDLE_TIMEOUT:
        return False
    user = row.user
    if not user.is_active or row.credentials_epoch != user.credentials_epoch:
        return False
    if row.method == "token":
        token = row.token
        if token is None or token.user_id != user.id:
            return False
        return identity.token_refusal(session, token, moment) is None
    return row.token_id is None


def find_session(
    session: Session, secret: str | None, *, now: datetime | None = None
) -> WebSession | None:
    """The live session whose cookie secret is ``secret``, or None (dead ones are removed)."""
    if not secret or len(secret) > 100:
        return None
    row = session.scalar(
        select(WebSession).where(WebSession.token_hash == identity.hash_token(secret))
    )
    if row is None:
        return None
    moment = now or utcnow()
    if not _is_live(session, row, moment):
        session.delete(row)
        session.flush()
        return None
    if moment - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = moment
        session.flush()
    return row


def minter_of(row: WebSession) -> identity.Minter:
    """What a token minted through this session is bound to: the session's end, its
    credentials epoch and (token sessions) the token it was opened with."""
    return identity.Minter(
        parent_token_id=row.token_id,
        session_id=row.id,
        credentials_epoch=row.credentials_epoch,
        not_after=row.expires_at,
    )


def close_session(session: Session, trail: AuditTrail, row: WebSession) -> None:
    """End a session (audited as ``web.logout``), and the tokens it minted with it."""
    user_id = str(row.user_id)
    session_id = row.id
    session.delete(row)
    session.flush()
    revoked = identity.revoke_minted_by_session(session, trail, session_id)
    trail.record(
        session,
        "web.logout",
        target_type="user",
        target_id=user_id,
        details={"tokens_revoked": revoked},
    )


def purge_expired(session: Session, *, now: datetime | None = None) -> int:
    """Delete sessions past their absolute or idle expiry; returns how many went."""
    moment = now or utcnow()
    result = session.execute(
        delete(WebSession).where(
            (WebSession.expires_at <= moment) | (WebSession.last_seen_at <= moment - IDLE_TIMEOUT)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
