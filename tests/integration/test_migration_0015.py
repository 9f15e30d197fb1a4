"""Migration 0015 keeps every user (and what points at them) and makes the new role usable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import select

from fivesafes import schema
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.identity.models import Role, User

_USERS = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("username", sa.String()),
    sa.column("full_name", sa.String()),
    sa.column("role", sa.Enum("uploader", "researcher", "governance", "admin", name="user_role")),
    sa.column("is_active", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("credentials_epoch", sa.Integer()),
)
_TOKENS = sa.table(
    "api_tokens",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("token_hash", sa.String()),
    sa.column("prefix", sa.String()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("expires_at", sa.DateTime(timezone=True)),
)


def _seed_at_0014(url: str) -> uuid.UUID:
    """A governance officer with an API token (a row pointing at users), made at 0014."""
    user_id = uuid.uuid4()
    now = datetime.now(UTC)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                _USERS.insert().values(
                    id=user_id,
                    username="officer",
                    full_name="Olive Officer",
                    role="governance",
                    is_active=True,
                    created_at=now,
                    credentials_epoch=3,
                )
            )
            connection.execute(
                _TOKENS.insert().values(
                    id=uuid.uuid4(),
                    user_id=user_id,
                    name="cli",
                    token_hash="ab" * 32,
                    prefix="fs_abc",
                    created_at=now,
                    expires_at=now + timedelta(days=1),
                )
            )
    finally:
        engine.dispose()
    return user_id


def test_upgrade_keeps_users_and_the_new_role_is_usable(empty_database_url: str) -> None:
    schema.upgrade(empty_database_url, "0014")
    user_id = _seed_at_0014(empty_database_url)
    schema.upgrade(empty_database_url)

    engine = make_engine(empty_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            officer = session.get(User, user_id)
            assert officer is not None
            assert (officer.username, officer.role, officer.credentials_epoch) == (
                "officer",
                Role.GOVERNANCE,
                3,
            )
            assert officer.caldicott_guardian is False  # nobody starts as the guardian
            assert len(officer.tokens) == 1
            officer.caldicott_guardian = True
            session.add(User(username="reid", role=Role.REIDENTIFIER))
        with session_scope(make_session_factory(engine)) as session:
            stored = session.scalars(select(User).where(User.username == "reid")).one()
            assert stored.role is Role.REIDENTIFIER
            assert stored.caldicott_guardian is False
            assert session.get(User, user_id).caldicott_guardian is True  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_downgrade_keeps_users_and_upgrade_again_works(empty_database_url: str) -> None:
    schema.upgrade(empty_database_url, "0014")
    user_id = _seed_at_0014(empty_database_url)
    schema.upgrade(empty_database_url)
    schema.downgrade(empty_database_url, "0014")
    # The role value stays in PostgreSQL's user_role type; upgrading adds it "if not exists".
    schema.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            officer = session.get(User, user_id)
            assert officer is not None
            assert len(officer.tokens) == 1
            session.add(User(username="reid", role=Role.REIDENTIFIER))
    finally:
        engine.dispose()
