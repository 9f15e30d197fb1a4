"""Browser sessions and failed log-ins, stored server-side.

A session cookie holds a 256-bit random secret; only its SHA-256 is stored (like API
tokens), so a database leak hands out no working session. Failed log-ins are kept only
as a keyed count per username and client (the key is a hash: no username guess is
stored in clear) for the rate limit.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.db import Base, UTCDateTime, utcnow
from fivesafes.identity.models import ApiToken, User


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Hex SHA-256 of the cookie's secret.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    # The synchroniser token every form and unsafe request of this session must carry.
    csrf_token: Mapped[str] = mapped_column(String(64))
    # "password", "token" or "oidc": how the session was opened.
    method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The API token a "token" session was opened with: revoking or expiry ends the session.
    token_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_tokens.id"), default=None)
    # The user's credentials_epoch at log-in; a password or role change bumps it and so
    # ends this session at its next lookup.
    credentials_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # The identity provider an "oidc" session was opened through (its name in the
    # identity policy): log-out signs out there too where the provider offers it.
    provider: Mapped[str | None] = mapped_column(String(32), default=None)

    user: Mapped[User] = relationship()
    token: Mapped[ApiToken | None] = relationship()


class LoginFailure(Base):
    __tablename__ = "web_login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Hex SHA-256 of "username, client address" (or "token, client address").
    key_hash: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
