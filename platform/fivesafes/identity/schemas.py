"""Request and response bodies for users and tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from fivesafes.identity.models import Role


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9._-]+$")
    role: Role
    full_name: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    full_name: str
    role: Role
    is_active: bool
    created_at: datetime


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    lifetime_days: int | None = Field(default=None, ge=1, le=365)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    # The token this one was minted with; it dies with that one.
    parent_token_id: uuid.UUID | None = None


class IssuedTokenOut(TokenOut):
    """Returned once, at issue: the only time the secret is visible."""

    token: str


class ProviderOut(BaseModel):
    """What a client needs to sign in with a provider: public facts, never a secret."""

    name: str
    label: str
    issuer: str
    client_id: str = Field(description="The public client for the device sign-in (CLI).")
    audience: str = Field(description="The aud the API accepts on this provider's tokens.")
    scopes: list[str]
    api_scope: str | None
