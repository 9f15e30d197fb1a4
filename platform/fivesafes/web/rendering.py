"""Templates, security headers, the page route class and the error pages.

:func:`install_error_pages` is the web's counterpart of ``httpkit/errors.py``: the same
status for each error (``status_for``) and the same audit record of every refusal
(``audit_refusal``), but an HTML page instead of JSON, and a redirect to the log-in page
when nobody is logged in. :class:`WebRoute` admits a posted form (``web.forms``: sender
authenticated and CSRF checked before the body is read, body capped, never a file) before
the dependencies run, and leaves its CSRF field for ``httpkit.cookies.user_from_cookie``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fivesafes import errors
from fivesafes.httpkit import csrf
from fivesafes.httpkit.cookies import Viewer
from fivesafes.httpkit.errors import audit_refusal, status_for
from fivesafes.identity.models import Role
from fivesafes.validation_messages import problem_messages
from fivesafes.web import forms

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
STATIC_DIR = Path(__file__).with_name("static")
LOGIN_PATH = "/web/login"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

#: Messages shown after a redirect (``?notice=code``): only these, never free text.
NOTICES = {
    "logged_out": "You have logged out.",
    "request_sent": "Your request was sent to the governance team.",
    "request_sent_refused": "Your request was sent, but its disclosure preview says a release "
    "would be refused: governance can approve it only with an override reason, and the "
    "download would still be refused. Preview other terms before asking again.",
    "approved": "Your approval was recorded.",
    "rejected": "The request was rejected.",
    "checkpoint": "A signed checkpoint of the audit trail was made.",
    "version_approved": "The dataset version was approved: it can now be requested and released.",
    "version_rejected": "The dataset version was rejected: it will never be released.",
    "version_withdrawn": "The dataset version was withdrawn: it will not be released again.",
    "project_proposed": "Your project was proposed: the governance team will decide on it.",
    "project_approved": "The project was approved: its members can now request data.",
    "project_rejected": "The project was rejected; the researcher sees your reason.",
    "member_added": "The researcher was added to the project.",
    "member_removed": "The researcher was removed: their use of the project's grants stopped.",
    "grant_revoked": "The grant was revoked: no more data can be released under it.",
    "project_closing": "The project is closing: its grants stopped. The lead now attests "
    "that every copy of its releases was destroyed.",
    "attestation_submitted": "Your destruction attestation was submitted for review.",
    "attestation_accepted": "The attestation was accepted.",
    "attestation_rejected": "The attestation was rejected; the lead sees your reason.",
}

#: Each role's pages, in menu order: (path, label).
NAV: dict[Role, tuple[tuple[str, str], ...]] = {
    Role.UPLOADER: (("/web/upload", "Upload an extract"),),
    Role.RESEARCHER: (("/web/research", "My projects and data"),),
    Role.GOVERNANCE: (
        ("/web/governance/queue", "Review queue"),
        ("/web/governance/projects", "Projects"),
        ("/web/governance/closeout", "Close-out"),
        ("/web/governance/access", "Who has access"),
        ("/web/governance/register", "Register of data held"),
        ("/web/governance/audit", "Audit trail"),
        ("/web/governance/integrity", "Chain integrity"),
        ("/web/governance/policies", "Dataset policies"),
    ),
    Role.ADMIN: (),
    Role.REIDENTIFIER: (("/web/reidentification", "Re-identification"),),
}


def with_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """A page, with the logged-in user, their menu and CSRF token in its context."""
    user: Viewer | None = getattr(request.state, "viewer", None)
    base: dict[str, Any] = {
        "user": user,
        "csrf_token": user.csrf_token if user is not None else "",
        "nav": NAV.get(user.role, ()) if user is not None else (),
        "notice": NOTICES.get(request.query_params.get("notice", "")),
        "path": request.url.path,
    }
    response = TEMPLATES.TemplateResponse(
        request, template, {**base, **(context or {})}, status_code=status
    )
    with_security_headers(response)
    return response


def redirect(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    with_security_headers(response)
    return response


def safe_next(value: str | None) -> str | None:
    """A post-log-in destination only if it is one of our pages (no open redirect)."""
    if value and value.startswith("/web/") and "//" not in value and "\\" not in value:
        return value
    return None


Handler = Callable[[Request], Coroutine[Any, Any, Response]]
ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]


class WebRoute(APIRoute):
    """A page route: admits a posted form first (``web.forms``); adds the security headers.

    A refusal is shown on :attr:`refusal_template` (the general error page): a route class
    for a page whose refusals need their own explanation (a refused download) names its
    own page and what it needs beyond the status, code and messages.
    """

    refusal_template = "error.html"

    def refusal_context(self, request: Request, code: str) -> dict[str, Any]:
        return {}

    def get_route_handler(self) -> Handler:
        original = super().get_route_handler()

        name = self.name

        async def handler(request: Request) -> Response:
            if request.method not in csrf.SAFE_METHODS:
                await forms.admit_form(request, name)
            return with_security_headers(await original(request))

        return handler


async def _delegate(handler: ExceptionHandler, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    return await result if isinstance(result, Awaitable) else result


def _is_page(request: Request) -> bool:
    return isinstance(request.scope.get("route"), WebRoute)


def _refusal_page(request: Request, context: dict[str, Any], status: int) -> HTMLResponse:
    """The refusal on the page its route names (``WebRoute.refusal_template``)."""
    route = request.scope["route"]
    assert isinstance(route, WebRoute)
    extra = route.refusal_context(request, context["code"])
    return render(request, route.refusal_template, {**context, **extra}, status)


def install_error_pages(app: FastAPI) -> None:
    """Pages get HTML errors; every other route keeps the API's JSON handlers.

    Must run after ``install_error_handlers``: it wraps the handlers that installed. It
    runs where those do, after the request's transaction has ended, so the refusal's own
    audit transaction never waits on it.
    """
    api_domain: ExceptionHandler = app.exception_handlers[errors.FivesafesError]
    api_validation: ExceptionHandler = app.exception_handlers[RequestValidationError]

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await _delegate(api_domain, request, exc)
        assert isinstance(exc, errors.FivesafesError)
        if isinstance(exc, errors.AuthenticationError):
            if exc.code != "missing_token":
                await run_in_threadpool(audit_refusal, request, 401, exc.code, {})
            target = request.url.path
            if request.method == "GET" and request.url.query:
                target += "?" + request.url.query
            return redirect(f"{LOGIN_PATH}?next={quote(target, safe='/')}")
        status = status_for(exc)
        await run_in_threadpool(audit_refusal, request, status, exc.code, {})
        context = {"status": status, "code": exc.code, "messages": [exc.message]}
        return _refusal_page(request, context, status)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await _delegate(api_validation, request, exc)
        assert isinstance(exc, RequestValidationError)
        fields = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        await run_in_threadpool(audit_refusal, request, 422, "invalid_request", {"fields": fields})
        messages = problem_messages(exc.errors(), skip=("body", "query"), whole="form")
        context = {"status": 422, "code": "invalid_request", "messages": messages}
        return _refusal_page(request, context, 422)

    app.add_exception_handler(errors.FivesafesError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
