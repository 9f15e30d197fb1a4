"""Who signed in through which provider, and the sign-ins under way.

A federated user is matched by (issuer, subject), never by e-mail or username: those can
be reassigned at the provider, the subject cannot. The row also remembers the role the
provider last mapped to, and the hash of the last bearer token seen, so that an API
client's first request with a new token is audited as a sign-in and the rest are not.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.db import Base, UTCDateTime, utcnow
from fivesafes.identity.models import User


class FederatedIdentity(Base):
    __tablename__ = "federated_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_federated_issuer_subject"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    # The provider's name in the identity policy when the account was made (informative:
    # the match is on issuer and subject).
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The role the provider's claims mapped to at the last sign-in; None: no role (the
    # account's sessions were ended and it cannot sign in until one is mapped again).
    provider_role: Mapped[str | None] = mapped_column(String(16), default=None)
    # Hex SHA-256 of the last bearer JWT accepted for this identity.
    last_token_hash: Mapped[str | None] = mapped_column(String(64), default=None)

    user: Mapped[User] = relationship()


class OidcLoginAttempt(Base):
    """A web sign-in sent to a provider and not yet back: single use, ten minutes.

    Found by the SHA-256 of its ``state``; the browser that started it also holds the
    state in a cookie, so a code injected into another browser's callback is refused.
    """

    __tablename__ = "oidc_login_attempts"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
