"""Log-in by password or API token: back off, check, audit, open a session.

Failed attempts are audited (``web.login``, outcome ``denied``) with the reason code and,
when the username names a real user, that user's id as the target; never the password,
the token or a mistyped username.

Failures are counted per key (a SHA-256 of what they were for, so no username guess is
stored in clear) and each count has its own :class:`Backoff`: a few failures are free,
then every attempt waits for a delay that doubles with each further failure, up to
:data:`MAX_DELAY`. The keys and their free failures:

- this username from this client (:data:`MAX_FAILURES`): a user who mistypes, or a guesser;
- this username from any client (:data:`MAX_ACCOUNT_FAILURES`): many guessers, one account;
- this client, any usernames (:data:`MAX_CLIENT_FAILURES`): one guesser, many accounts.

What makes it safe both ways (docs/web.md, "Failed log-ins"):

- during a delay the attempt is refused *unchecked* (no guess is tested) and is *not
  counted*, so hammering does not lengthen the delay: an attacker who stops leaves the
  real user waiting at most :data:`MAX_DELAY`, and the first correct password after the
  delay logs in and clears the username's counts;
- an attacker who goes on gets one tested guess per :data:`MAX_DELAY` per account once
  the delays are at their cap: under 100 a day against a password of 12 characters or more;
- another client is not delayed by someone else's guesses until the account-wide count is
  reached; ``fivesafes users unlock`` (:func:`unlock`) clears a username's counts at once.

Counts older than :data:`FORGET_AFTER` are forgotten.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
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

MAX_FAILURES = 5
MAX_ACCOUNT_FAILURES = 20
MAX_CLIENT_FAILURES = 20
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long attempts wait after ``failures`` counted failures, ``free`` of them free."""

    free: int

    def delay(self, failures: int) -> timedelta:
        if failures < self.free:
            return timedelta(0)
        doublings = min(failures - self.free, 16)  # 30 s * 2**5 already passes the cap
        return min(FIRST_DELAY * (1 << doublings), MAX_DELAY)


class TooManyAttemptsError(FivesafesError):
    """Too many failed log-ins: the web answers 429 and says when to try again."""

    code = "too_many_attempts"

    def __init__(self, wait: timedelta) -> None:
        self.wait = wait
        seconds = max(1, math.ceil(wait.total_seconds()))
        when = f"{seconds} seconds" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
        super().__init__(
            f"too many failed log-in attempts: try again in {when} (attempts before then "
            "are not checked), or ask your administrator to unlock your account"
        )


def _key(*parts: str | None) -> str:
    return hashlib.sha256("\x00".join(p or "-" for p in parts).encode("utf-8")).hexdigest()


def account_key(username: str) -> str:
    """The key of a username's failures from any client (what :func:`unlock` clears)."""
    return _key("account", username)


def _failures(session: Session, key: str, since: datetime) -> tuple[int, datetime | None]:
    """How many failures ``key`` has had after ``since``, and when the last was."""
    count, last = session.execute(
        select(func.count(), func.max(LoginFailure.occurred_at)).where(
            LoginFailure.key_hash == key, LoginFailure.occurred_at > since
        )
    ).one()
    if last is not None and last.tzinfo is None:  # SQLite's aggregate skips the type
        last = last.replace(tzinfo=since.tzinfo)
    return int(count or 0), last


def _unlocked_key(username: str) -> str:
    return _key("unlocked", username)


def _unlocked_at(session: Session, username: str) -> datetime | None:
    """When ``username`` was last unlocked: its failures before then no longer count.

    (A marker row in the failures table: the per-client keys are hashes that include the
    client's address, so they cannot be found by username to be deleted.)
    """
    _, last = _failures(session, _unlocked_key(username), utcnow() - FORGET_AFTER)
    return last


def _note_failures(session: Session, keys: list[str], now: datetime) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.occurred_at <= now - FORGET_AFTER))
    session.add_all(LoginFailure(key_hash=k, occurred_at=now) for k in keys)
    session.flush()


#: A key's backoff, and the moment before which its failures do not count (an unlock).
Limits = dict[str, tuple[Backoff, datetime | None]]


def _check_limits(
    session: Session, trail: AuditTrail, limits: Limits, target: str | None, method: str
) -> None:
    """Refuse, unchecked and uncounted, while any of the keys' delays runs."""
    now = utcnow()
    wait = timedelta(0)
    for key, (backoff, counted_after) in limits.items():
        since = max(now - FORGET_AFTER, counted_after or now - FORGET_AFTER)
        count, last = _failures(session, key, since)
        if last is not None:
            wait = max(wait, last + backoff.delay(count) - now)
    if wait > timedelta(0):
        _audit_denied(session, trail, target, method, TooManyAttemptsError.code)
        raise TooManyAttemptsError(wait)


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
    mine, account = _key("user", username, client), account_key(username)
    unlocked = _unlocked_at(session, username)
    limits: Limits = {
        mine: (Backoff(MAX_FAILURES), unlocked),
        account: (Backoff(MAX_ACCOUNT_FAILURES), unlocked),
        _key("client", client): (Backoff(MAX_CLIENT_FAILURES), None),
    }
    _check_limits(session, trail, limits, target, "password")
    try:
        user = passwords.authenticate_password(session, username, password)
    except AuthenticationError as exc:
        _note_failures(session, list(limits), utcnow())
        _audit_denied(session, trail, target, "password", exc.code)
        raise
    session.execute(delete(LoginFailure).where(LoginFailure.key_hash.in_((mine, account))))
    return open_session(session, trail, user, "password")


def log_in_with_token(
    session: Session, trail: AuditTrail, token: str, client: str | None
) -> OpenedSession:
    """Open a session for the holder of a valid API token, or raise (after auditing).

    The session is linked to the token: revoking it (or its expiry) ends the session.
    """
    limits: Limits = {
        _key("token", client): (Backoff(MAX_FAILURES), None),
        _key("client", client): (Backoff(MAX_CLIENT_FAILURES), None),
    }
    _check_limits(session, trail, limits, None, "token")
    try:
        found = identity.authenticate_token(session, token.strip())
    except AuthenticationError as exc:
        _note_failures(session, list(limits), utcnow())
        _audit_denied(session, trail, None, "token", exc.code)
        raise
    return open_session(session, trail, found.user, "token", token=found)


def unlock(session: Session, trail: AuditTrail, username: str) -> int:
    """Forget the failed log-ins of ``username`` from every client; audited.

    For an administrator who has made sure it is the real user who is kept waiting: their
    next correct password works at once. Returns how many failures (account-wide) were
    forgotten. The per-client counts (any usernames) are left: they belong to a client.
    """
    user = identity.get_user(session, username.strip().lower())
    now = utcnow()
    since = max(now - FORGET_AFTER, _unlocked_at(session, user.username) or now - FORGET_AFTER)
    forgotten, _ = _failures(session, account_key(user.username), since)
    session.execute(delete(LoginFailure).where(LoginFailure.key_hash == account_key(user.username)))
    session.add(LoginFailure(key_hash=_unlocked_key(user.username), occurred_at=now))
    trail.record(
        session,
        "user.unlock",
        target_type="user",
        target_id=str(user.id),
        details={"failures_forgotten": forgotten},
    )
    session.flush()
    return forgotten
