"""The test identity provider's records: who signs in, and the grants in flight.

Kept apart from the provider and its endpoints so both can import them at the top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class IdpUser:
    """Who the provider signs in (authorize, device approval) and whose claims it mints."""

    subject: str
    claims: dict[str, Any] = field(default_factory=dict)

    def snapshot(self) -> IdpUser:
        return IdpUser(self.subject, dict(self.claims))


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str
    user: IdpUser
    expires_at: float


@dataclass
class DeviceGrant:
    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    interval: int
    status: str = "pending"  # pending, approved, denied, used
    last_poll: float | None = None
    user: IdpUser | None = None


@dataclass
class RefreshGrant:
    client_id: str
    scope: str
    user: IdpUser
