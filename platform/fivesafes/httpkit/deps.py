"""Request-scoped dependencies: the transaction, the current user, role requirements.

Authorisation lives here once; routes declare what they need and never re-check it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from fivesafes.audit.context import Actor, AuditContext
from fivesafes.audit.recorder import AuditRecorder
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.db import session_scope
from fivesafes.errors import AuthenticationError, PermissionDeniedError
from fivesafes.httpkit import cookies
from fivesafes.identity import service as identity
from fivesafes.identity import web_sessions as web_session
from fivesafes.identity.models import Role, User
from fivesafes.identity.oidc import accounts as federated
from fivesafes.identity.oidc.providers import OidcProviders

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token issued by `fivesafes tokens issue`, or an access token (JWT) "
    "from an identity provider of the identity policy (docs/identity.md).",
)


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent; an error rolls
    it back unless the error keeps its audit (``db.keeps_audit``: the first use of an
    expired grant), which is then committed with the refusal. Nothing else commits."""
    with session_scope(request.app.state.session_factory) as session:
        yield session


# scope="function": commit runs before the response leaves, so a client never sees
# success for a change that then failed to commit.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]


def request_context(request: Request) -> AuditContext:
    """The audit context of this request; the actor is filled in once authenticated."""
    actor: Actor = getattr(request.state, "actor", None) or Actor.anonymous()
    return AuditContext(
        actor=actor,
        request_id=getattr(request.state, "request_id", None),
        client_addr=request.client.host if request.client else None,
    )


def authenticate_request(session: Session, request: Request) -> User:
    """The active user behind the bearer token or, failing that, the web session cookie.

    A bearer token is a fivesafes API token or, when identity providers are configured,
    a provider's access token (a JWT), verified and mapped by ``identity.oidc``; a
    refusal of one is audited and answered 401 (403: no role) with its reason code.

    A cookie-authenticated unsafe request (POST, DELETE...) must carry the session's CSRF
    token (``X-CSRF-Token`` header or the form's field), else 403: browsers attach cookies
    by themselves, never bearer tokens. The credential used is left on
    ``request.state.minter``, so a token minted by this request is bound to it.
    """
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        value = secret.strip()
        providers: OidcProviders = request.app.state.oidc
        if providers and OidcProviders.looks_like_jwt(value):
            recorder: AuditRecorder = request.app.state.audit_recorder
            trail = AuditTrail(request_context(request), recorder)
            user, verified = federated.authenticate_bearer(session, trail, providers, value)
            # A token minted with a provider's token lives no longer than it, and ends
            # with a role change like one minted from a web session.
            request.state.minter = identity.Minter(
                credentials_epoch=user.credentials_epoch, not_after=verified.expires_at
            )
        else:
            token = identity.authenticate_token(session, value)
            user = token.user
            request.state.minter = identity.Minter.from_token(token)
    else:
        found = cookies.user_from_cookie(session, request)
        if found is None:
            raise AuthenticationError("missing bearer token", code="missing_token")
        user = found
        request.state.minter = web_session.minter_of(request.state.web_session)
    request.state.actor = identity.actor_of(user)
    return user


def minter_of(request: Request) -> identity.Minter:
    """The credential that authenticated this request, which a token minted by it may
    not outlive (set by :func:`authenticate_request`; deny by default if it was not)."""
    minter = getattr(request.state, "minter", None)
    if not isinstance(minter, identity.Minter):
        raise AuthenticationError("missing bearer token", code="missing_token")
    return minter


def current_user(
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The active user behind the bearer token (or web session), or 401."""
    return authenticate_request(session, request)


CurrentUser = Annotated[User, Depends(current_user)]


def audit_trail(request: Request, user: CurrentUser) -> AuditTrail:
    """The trail an authenticated request's services record into."""
    recorder: AuditRecorder = request.app.state.audit_recorder
    return AuditTrail(request_context(request), recorder)


Trail = Annotated[AuditTrail, Depends(audit_trail)]


def ensure_role(user: User, allowed: frozenset[Role]) -> User:
    """``user`` if they hold one of ``allowed``, else 403 naming the roles needed."""
    if user.role not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise PermissionDeniedError(
            f"role {user.role.value!r} may not do this (needs: {names})", code="forbidden_role"
        )
    return user


def require_role(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only users holding one of ``roles`` through (else 403)."""
    allowed = frozenset(roles)

    def dependency(user: CurrentUser) -> User:
        return ensure_role(user, allowed)

    return dependency
