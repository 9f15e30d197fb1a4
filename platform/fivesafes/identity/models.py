"""Users and API tokens.

Only a SHA-256 of each token is stored: a database leak must not hand out working
credentials. SHA-256 (not a slow password hash) is right here because tokens are 256-bit
random values, not guessable passwords.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String, Uuid, false
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.db import Base, UTCDateTime, utcnow


class Role(StrEnum):
    """What a person does on the platform; each user has exactly one."""

    UPLOADER = "uploader"
    RESEARCHER = "researcher"
    GOVERNANCE = "governance"
    ADMIN = "admin"
    # Trust-side staff who carry out an approved re-identification and act on it.
    REIDENTIFIER = "reidentifier"


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), default=None)
    role: Mapped[Role] = mapped_column(
        SAEnum(Role, name="user_role", values_callable=lambda e: [m.value for m in e])
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # argon2id hash for the web log-in (identity/passwords.py); None: token log-in only.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # Bumped whenever the user's password is set or cleared or their role is changed:
    # every web session (and token minted from one) records the value it was opened
    # under and dies when it no longer matches, so old credentials really end.
    credentials_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # The governance officer is the organisation's Caldicott Guardian (or acts for them):
    # a re-identification needs one such approval when the setting demands it.
    caldicott_guardian: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", foreign_keys="ApiToken.user_id"
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # Hex SHA-256 of the secret; unique so a lookup is one indexed read.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters of the token, shown in listings so people can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The token this one was minted with (API call authenticated by a token, or a web
    # session opened with one): revoking or expiry of the parent ends this token too.
    parent_token_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_tokens.id"), default=None, index=True
    )
    # The web session this token was minted from (no foreign key: sessions are deleted
    # when they end); log-out revokes the tokens it minted.
    parent_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)
    # The user's credentials_epoch the token was minted under, when minted from a web
    # session (or from a token that is bound so): a password change or role change ends
    # it. None for tokens issued by an operator or the first-run set-up.
    credentials_epoch: Mapped[int | None] = mapped_column(Integer, default=None)

    user: Mapped[User] = relationship(back_populates="tokens", foreign_keys=[user_id])
    parent: Mapped[ApiToken | None] = relationship(remote_side=[id])
