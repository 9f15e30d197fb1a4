"""Sign-in with an identity provider: the way out to it and the way back.

``GET /web/login/oidc/{name}`` is a link, not a form: the CSP's ``form-action 'self'``
would stop a posted form redirected to the provider. The callback answers with a page
that moves on (meta refresh, a link) instead of a redirect: it is reached by a cross-site
navigation, on which the browser would not send the ``SameSite=Strict`` session cookie it
has just been given, so the next request must be a same-site one. The protocol itself is
``identity.oidc.web_flow``.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from fivesafes.audit.recorder import AuditRecorder
from fivesafes.audit.trail import AuditTrail
from fivesafes.errors import AuthenticationError, ServiceUnavailableError
from fivesafes.httpkit import cookies
from fivesafes.httpkit.deps import DbSession, request_context
from fivesafes.identity.oidc import web_flow
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.identity.oidc.refusals import RoleRefused
from fivesafes.web.rendering import WebRoute, redirect, render, safe_next
from fivesafes.web.routes_auth import HOME, login_page

router = APIRouter(route_class=WebRoute, include_in_schema=False)

ProviderName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{0,31}$")]


class _StateCookieFlags(TypedDict):
    path: str
    secure: bool
    httponly: bool
    samesite: Literal["lax"]


def _state_cookie_flags() -> _StateCookieFlags:
    """The state cookie's flags, the same when it is set and when it is deleted (a browser
    keeps a cookie whose deletion names another path). Lax, not Strict: the callback is a
    cross-site navigation back from the provider, and the state must come with it; its
    path keeps it off every other page."""
    return {
        "path": web_flow.STATE_COOKIE_PATH,
        "secure": True,
        "httponly": True,
        "samesite": "lax",
    }


def _forget_state(response: Response) -> Response:
    response.delete_cookie(web_flow.STATE_COOKIE, **_state_cookie_flags())
    return response


@router.get("/web/login/oidc/{name}", name="web.oidc_begin")
def begin(
    request: Request,
    session: DbSession,
    name: ProviderName,
    next_url: Annotated[str, Query(alias="next", max_length=500)] = "",
) -> Response:
    """Send the browser to the provider, keeping the attempt's state in a cookie."""
    providers: OidcProviders = request.app.state.oidc
    try:
        started = web_flow.begin_sign_in(
            session, providers, request.app.state.settings, name, safe_next(next_url) or ""
        )
    except ServiceUnavailableError as exc:
        return login_page(request, status=503, error=exc.message)
    response = redirect(started.authorize_url)
    response.set_cookie(
        web_flow.STATE_COOKIE,
        started.state,
        max_age=int(web_flow.ATTEMPT_LIFETIME.total_seconds()),
        **_state_cookie_flags(),
    )
    return response


@router.get("/web/login/oidc/{name}/callback", name="web.oidc_callback")
def callback(
    request: Request,
    session: DbSession,
    name: ProviderName,
    code: Annotated[str | None, Query(max_length=2000)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Finish the sign-in: a session and the page that moves on to the destination, or
    the log-in page saying what went wrong (401; 403 for no role; 503 provider down)."""
    recorder: AuditRecorder = request.app.state.audit_recorder
    trail = AuditTrail(request_context(request), recorder)
    try:
        done = web_flow.complete_sign_in(
            session,
            trail,
            request.app.state.oidc,
            request.app.state.settings,
            name,
            web_flow.ProviderAnswer(
                state=state,
                cookie_state=request.cookies.get(web_flow.STATE_COOKIE),
                code=code,
                error=error,
            ),
        )
    except RoleRefused as exc:
        return _forget_state(login_page(request, status=403, error=exc.message))
    except AuthenticationError as exc:
        return _forget_state(login_page(request, status=401, error=exc.message))
    except ServiceUnavailableError as exc:
        return _forget_state(login_page(request, status=503, error=exc.message))
    destination = safe_next(done.next_url) or HOME[done.opened.row.user.role]
    response = render(request, "moving_on.html", {"title": "Signed in", "destination": destination})
    cookies.set_cookie(response, done.opened.secret)
    return _forget_state(response)
