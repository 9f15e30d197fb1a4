from __future__ import annotations

import hmac
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.db import utcnow
from fivesafes.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError
from fivesafes.identity import service
from fivesafes.identity.models import ApiToken, Role

TRAIL = AuditTrail.for_operator()


def test_token_secret_is_never_stored(session: Session) -> None:
    user = service.create_user(session, TRAIL, "alice", Role.RESEARCHER)
    issued = service.issue_token(session, TRAIL, user, "laptop", timedelta(days=1))
    session.commit()
    stored = session.scalars(select(ApiToken)).one()
    assert issued.secret not in (stored.token_hash, stored.prefix, stored.name)
    assert stored.token_hash == service.hash_token(issued.secret)
    assert len(stored.token_hash) == 64


def test_authenticate_returns_user_and_records_last_use(session: Session) -> None:
    user = service.create_user(session, TRAIL, "bob", Role.UPLOADER)
    issued = service.issue_token(session, TRAIL, user, "cli", timedelta(days=1))
    session.commit()
    assert service.authenticate(session, issued.secret).username == "bob"
    assert issued.token.last_used_at is not None


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        ("unknown", "invalid_token"),
        ("expired", "token_expired"),
        ("revoked", "token_revoked"),
        ("disabled", "user_disabled"),
    ],
)
def test_authentication_failures(session: Session, mutate: str, code: str) -> None:
    user = service.create_user(session, TRAIL, "carol", Role.GOVERNANCE)
    issued = service.issue_token(session, TRAIL, user, "t", timedelta(days=1))
    secret = issued.secret
    if mutate == "unknown":
        secret = secret[:-4] + "AAAA"
    elif mutate == "expired":
        issued.token.expires_at = utcnow() - timedelta(seconds=1)
    elif mutate == "revoked":
        service.revoke_token(session, TRAIL, issued.token.id)
    elif mutate == "disabled":
        service.disable_user(session, TRAIL, "carol")
    session.commit()
    with pytest.raises(AuthenticationError) as caught:
        service.authenticate(session, secret)
    assert caught.value.code == code
    assert secret not in caught.value.message


def test_token_comparison_is_constant_time(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(service.hmac, "compare_digest", spy)
    user = service.create_user(session, TRAIL, "dan", Role.ADMIN)
    issued = service.issue_token(session, TRAIL, user, "t", timedelta(days=1))
    service.authenticate(session, issued.secret)
    assert calls == [(issued.token.token_hash, service.hash_token(issued.secret))]


def test_duplicate_user_is_a_conflict(session: Session) -> None:
    service.create_user(session, TRAIL, "erin", Role.RESEARCHER)
    with pytest.raises(ConflictError):
        service.create_user(session, TRAIL, "erin", Role.ADMIN)


def test_revoking_someone_elses_token_is_not_found(session: Session) -> None:
    owner = service.create_user(session, TRAIL, "fay", Role.RESEARCHER)
    other = service.create_user(session, TRAIL, "gus", Role.RESEARCHER)
    issued = service.issue_token(session, TRAIL, owner, "t", timedelta(days=1))
    with pytest.raises(NotFoundError):
        service.revoke_token(session, TRAIL, issued.token.id, owner=other)


@given(st.text(max_size=80))
def test_username_rule(candidate: str) -> None:
    valid = service._USERNAME.fullmatch(candidate) is not None
    assert valid == (
        2 <= len(candidate) <= 64
        and candidate[0].isascii()
        and candidate[0].islower()
        and candidate[0].isalpha()
        and all(c.isascii() and (c.islower() or c.isdigit() or c in "._-") for c in candidate)
    )


def test_bad_usernames_are_refused(session: Session) -> None:
    for bad in ("A", "Bob", "9lives", "a b", "x" * 65):
        with pytest.raises(InvalidInputError):
            service.create_user(session, TRAIL, bad, Role.RESEARCHER)
