"""Log-in by password or API token: rate limit, check, audit, open a session.

Failed attempts are audited (``web.login``, outcome ``denied``) with the reason code and,
when the username names a real user, that user's id as the target; never the password,
the token or a mistyped username. After :data:`MAX_FAILURES` failures for one username
from one client within :data:`WINDOW` (or :data:`MAX_CLIENT_FAILURES` for any usernames
from one client), further attempts are refused unchecked until the window has passed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.db import utcnow
from fivesafes.errors import AuthenticationError, FivesafesError
from fivesafes.identity import passwords
from fivesafes.identity import service as identity
from fivesafes.identity.web_models import LoginFailure
from fivesafes.identity.web_sessions import OpenedSession, open_session

WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
MAX_CLIENT_FAILURES = 20


class TooManyAttemptsError(FivesafesError):
    """Too many failed log-ins: the web answers 429."""

    code = "too_many_attempts"

    def __init__(self) -> None:
        minutes = int(WINDOW.total_seconds() // 60)
        super().__init__(
            f"too many failed log-in attempts: wait {minutes} minutes before trying again, "
            "or ask your administrator to check your account"
        )


def _key(*parts: str | None) -> str:
    return hashlib.sha256("\x00".join(p or "-" for p in parts).encode("utf-8")).hexdigest()


def _failures(session: Session, key: str, now: datetime) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.key_hash == key, LoginFailure.occurred_at > now - WINDOW)
    )
    return int(count or 0)


def _note_failures(session: Session, keys: list[str], now: datetime) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.occurred_at <= now - WINDOW))
    session.add_all(LoginFailure(key_hash=k, occurred_at=now) for k in keys)
    session.flush()


def _check_limits(
    session: Session, trail: AuditTrail, keys: tuple[str, str], target: str | None, method: str
) -> None:
    now = utcnow()
    if (
        _failures(session, keys[0], now) >= MAX_FAILURES
        or _failures(session, keys[1], now) >= MAX_CLIENT_FAILURES
    ):
        _audit_denied(session, trail, target, method, TooManyAttemptsError.code)
        raise TooManyAttemptsError()


def _audit_denied(
    session: Session, trail: AuditTrail, target: str | None, method: str, reason: str
) -> None:
    trail.record(
        session,
        "web.login",
        outcome="denied",
        target_type="user",
        target_id=target,
        details={"method": method, "reason": reason},
    )


def log_in_with_password(
    session: Session, trail: AuditTrail, username: str, password: str, client: str | None
) -> OpenedSession:
    """Open a session for the right username and password, or raise (after auditing)."""
    username = username.strip().lower()
    known = passwords.find_user(session, username)
    target = str(known.id) if known is not None else None
    keys = (_key("user", username, client), _key("client", client))
    _check_limits(session, trail, keys, target, "password")
    try:
        user = passwords.authenticate_password(session, username, password)
    except AuthenticationError as exc:
        _note_failures(session, list(keys), utcnow())
        _audit_denied(session, trail, target, "password", exc.code)
        raise
    session.execute(delete(LoginFailure).where(LoginFailure.key_hash == keys[0]))
    return open_session(session, trail, user, "password")


def log_in_with_token(
    session: Session, trail: AuditTrail, token: str, client: str | None
) -> OpenedSession:
    """Open a session for the holder of a valid API token, or raise (after auditing).

    The session is linked to the token: revoking it (or its expiry) ends the session.
    """
    keys = (_key("token", client), _key("client", client))
    _check_limits(session, trail, keys, None, "token")
    try:
        found = identity.authenticate_token(session, token.strip())
    except AuthenticationError as exc:
        _note_failures(session, list(keys), utcnow())
        _audit_denied(session, trail, None, "token", exc.code)
        raise
    return open_session(session, trail, found.user, "token", token=found)
