"""Users (admin) and the caller's own tokens."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from fivesafes.httpkit.deps import (
    AppSettings,
    CurrentUser,
    DbSession,
    Trail,
    minter_of,
    require_role,
)
from fivesafes.identity import service
from fivesafes.identity.models import Role, User
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.schemas import (
    IssuedTokenOut,
    ProviderOut,
    RoleChange,
    TokenCreate,
    TokenOut,
    UserCreate,
    UserOut,
)

router = APIRouter(tags=["identity"])
Admin = Annotated[User, Depends(require_role(Role.ADMIN))]


@router.get(
    "/auth/providers",
    name="auth.providers",
    response_model=list[ProviderOut],
    summary="The identity providers one may sign in with (public)",
)
def auth_providers(request: Request) -> list[ProviderOut]:
    """Public, so that ``fivesafes login`` can find the provider before it holds any
    credential; it lists only what the provider's own discovery document would."""
    providers: OidcProviders = request.app.state.oidc
    return [
        ProviderOut(
            name=p.name,
            label=p.label,
            issuer=p.issuer,
            client_id=p.device_client_id,
            audience=p.audience,
            scopes=list(p.scopes),
            api_scope=p.api_scope,
        )
        for p in providers.policy.providers
    ]


@router.get("/me", name="me", response_model=UserOut, summary="Who the token belongs to")
def me(user: CurrentUser) -> User:
    return user


@router.get("/users", name="user.list", response_model=list[UserOut], summary="All users (admin)")
def list_users(session: DbSession, _: Admin) -> list[User]:
    return service.list_users(session)


@router.post(
    "/users",
    response_model=UserOut,
    name="user.create",
    status_code=status.HTTP_201_CREATED,
    summary="Add a user (admin)",
)
def create_user(body: UserCreate, session: DbSession, _: Admin, trail: Trail) -> User:
    return service.create_user(
        session, trail, body.username, body.role, full_name=body.full_name, email=body.email
    )


@router.post(
    "/users/{username}/disable",
    name="user.disable",
    response_model=UserOut,
    summary="Disable a user (admin)",
)
def disable_user(username: str, session: DbSession, _: Admin, trail: Trail) -> User:
    return service.disable_user(session, trail, username)


@router.post(
    "/users/{username}/role",
    name="user.change_role",
    response_model=UserOut,
    summary="Change a user's role (admin); ends their web sessions",
)
def change_role(
    username: Annotated[str, Path(max_length=64)],
    body: RoleChange,
    session: DbSession,
    _: Admin,
    trail: Trail,
) -> User:
    return service.change_role(session, trail, username, body.role)


@router.get(
    "/tokens", name="token.list", response_model=list[TokenOut], summary="The caller's tokens"
)
def list_my_tokens(session: DbSession, user: CurrentUser) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in service.list_tokens(session, user)]


@router.post(
    "/tokens",
    response_model=IssuedTokenOut,
    name="token.issue",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a token for the caller (the secret is shown once)",
)
def issue_token(
    body: TokenCreate,
    *,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    trail: Trail,
) -> IssuedTokenOut:
    """A token minted with a token or a web session expires no later than it, dies with
    it, and never lives beyond ``FIVESAFES_TOKEN_MAX_DAYS`` (a longer request: 422)."""
    lifetime = timedelta(days=body.lifetime_days) if body.lifetime_days else settings.token_lifetime
    issued = service.issue_token(
        session,
        trail,
        user,
        body.name,
        lifetime,
        minted_from=minter_of(request),
        max_lifetime=settings.token_max_lifetime,
    )
    return IssuedTokenOut(**TokenOut.model_validate(issued.token).model_dump(), token=issued.secret)


@router.delete(
    "/tokens/{token_id}",
    name="token.revoke",
    response_model=TokenOut,
    summary="Revoke one of the caller's tokens",
)
def revoke_token(
    token_id: uuid.UUID, session: DbSession, user: CurrentUser, trail: Trail
) -> TokenOut:
    return TokenOut.model_validate(service.revoke_token(session, trail, token_id, owner=user))
