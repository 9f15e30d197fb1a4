"""Log-in, log-out and each role's home page.

The log-in page offers the identity providers' sign-in (``web.routes_oidc``) beside the
password and token forms; ``FIVESAFES_LOCAL_LOGIN=false`` takes the forms away and
refuses their posts, so a site that requires its provider's MFA cannot be entered around it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from fivesafes.audit.recorder import AuditRecorder
from fivesafes.audit.trail import AuditTrail
from fivesafes.errors import AuthenticationError, PermissionDeniedError
from fivesafes.httpkit import cookies, csrf
from fivesafes.httpkit.deps import CurrentUser, DbSession, request_context
from fivesafes.identity import login
from fivesafes.identity import web_sessions as web_session
from fivesafes.identity.models import Role
from fivesafes.identity.oidc import web_flow
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.web import rendering
from fivesafes.web.rendering import WebRoute, redirect, render, safe_next

router = APIRouter(route_class=WebRoute, include_in_schema=False)

HOME = {
    Role.UPLOADER: "/web/upload",
    Role.RESEARCHER: "/web/research",
    Role.GOVERNANCE: "/web/governance/queue",
    Role.ADMIN: "/web/admin",
    Role.REIDENTIFIER: "/web/reidentification",
}


def _trail(request: Request) -> AuditTrail:
    recorder: AuditRecorder = request.app.state.audit_recorder
    return AuditTrail(request_context(request), recorder)


def _local_login(request: Request) -> bool:
    return bool(request.app.state.settings.local_login)


def login_page(
    request: Request, *, status: int = 200, error: str | None = None, tab: str = "password"
) -> Response:
    """The log-in page: a "Sign in with" link per identity provider and, unless local
    log-in is off, the forms, with a fresh double-submit CSRF token in a cookie and a field."""
    token = csrf.new_token()
    next_url = safe_next(request.query_params.get("next")) or ""
    providers: OidcProviders = request.app.state.oidc
    suffix = f"?{urlencode({'next': next_url})}" if next_url else ""
    sign_ins = [(f"/web/login/oidc/{p.name}{suffix}", p.label) for p in providers.policy.providers]
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "error": error,
            "next": next_url,
            "tab": tab,
            "sign_ins": sign_ins,
            "local_login": _local_login(request),
        },
        status,
    )
    response.set_cookie(
        csrf.LOGIN_COOKIE, token, path="/", secure=True, httponly=True, samesite="strict"
    )
    return response


@router.get("/", name="web.root")
def root() -> Response:
    return redirect("/web/")


def _attempt_login(
    request: Request,
    log_in: Callable[[AuditTrail, str | None], web_session.OpenedSession],
    next_url: str,
    *,
    tab: str = "password",
    refused: str | None = None,
) -> Response:
    """One log-in attempt, by either method: the form's CSRF check, the local-login
    switch (403), the throttle (429), a refusal (401, with ``refused`` instead of the
    service's message when given)."""
    _check_login_csrf(request)
    if not _local_login(request):
        raise PermissionDeniedError(
            "log-in with a fivesafes password or API token is switched off here "
            "(FIVESAFES_LOCAL_LOGIN=false); sign in with your organisation's account",
            code="local_login_disabled",
        )
    client = request.client.host if request.client else None
    try:
        opened = log_in(_trail(request), client)
    except login.TooManyAttemptsError as exc:
        page = login_page(request, status=429, error=exc.message, tab=tab)
        page.headers["Retry-After"] = str(max(1, math.ceil(exc.wait.total_seconds())))
        return page
    except AuthenticationError as exc:
        return login_page(request, status=401, error=refused or exc.message, tab=tab)
    return _logged_in(opened, next_url)


@router.get("/web/login", name="web.login_form")
def login_form(request: Request) -> Response:
    return login_page(request)


def _check_login_csrf(request: Request) -> None:
    if not csrf.tokens_match(request.cookies.get(csrf.LOGIN_COOKIE), csrf.submitted_token(request)):
        raise csrf.CsrfError()


def _logged_in(opened: web_session.OpenedSession, next_url: str | None) -> Response:
    response = redirect(safe_next(next_url) or HOME[opened.row.user.role])
    cookies.set_cookie(response, opened.secret)
    response.delete_cookie(csrf.LOGIN_COOKIE, path="/", secure=True, httponly=True)
    return response


@router.post("/web/login", name="web.login")
def login_password(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    return _attempt_login(
        request,
        lambda trail, client: login.log_in_with_password(
            session, trail, username, password, client
        ),
        next_url,
    )


@router.post("/web/login/token", name="web.login_token")
def login_token(
    request: Request,
    session: DbSession,
    token: Annotated[str, Form(max_length=1000)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    return _attempt_login(
        request,
        lambda trail, client: login.log_in_with_token(session, trail, token, client),
        next_url,
        tab="token",
        refused="that API token is not valid (unknown, expired or revoked)",
    )


@router.post("/web/logout", name="web.logout")
def logout(request: Request, session: DbSession, user: CurrentUser) -> Response:
    """End the session; one opened through an identity provider goes on to sign out
    there too, where the provider offers it (``end_session_endpoint``).

    That way on is a page that moves on (meta refresh, a link), not a redirect: browsers
    apply the CSP's ``form-action 'self'`` to the redirects of a posted form, so a 303 to
    the provider would leave the user here, signed out of fivesafes but not there.
    """
    row = request.state.web_session if hasattr(request.state, "web_session") else None
    provider = row.provider if row is not None and row.method == "oidc" else None
    if row is not None:
        web_session.close_session(session, _trail(request), row)
    elsewhere = None
    if provider is not None:
        providers: OidcProviders = request.app.state.oidc
        elsewhere = web_flow.end_session_url(providers, request.app.state.settings, provider)
    response: Response
    if elsewhere is not None:
        response = render(
            request, "moving_on.html", {"title": "Signing you out", "destination": elsewhere}
        )
    else:
        response = redirect(f"{rendering.LOGIN_PATH}?notice=logged_out")
    cookies.clear_cookie(response)
    return response


@router.get("/web/", name="web.home")
def home(user: CurrentUser) -> Response:
    return redirect(HOME[user.role])


@router.get("/web/admin", name="web.admin")
def admin_home(request: Request, user: CurrentUser) -> Response:
    return render(request, "admin.html")
