"""Posted forms: who may send one is settled before a byte of it is read.

Starlette would parse a form whatever the sender, keep it in memory, and spool a file
part to a temporary file in clear. A page form here is read only when:

1. it is ``application/x-www-form-urlencoded`` (no page posts files: uploads go to the
   API's streaming route and its encrypted spool), else 415;
2. its declared size is within ``form_max_bytes``, else 413 (``BodyLimitMiddleware``
   also counts a chunked body as it arrives);
3. the sender is known: a live session cookie or a valid bearer token, or, for the two
   log-in forms that have no session yet, the log-in CSRF cookie; else the request is
   refused unread (a redirect to the log-in page, or 403);
4. and, when the CSRF token comes in the ``X-CSRF-Token`` header, it matches.

Only then is the body read (in memory, capped) and its CSRF field checked, before the
route's own dependencies and parameters see it.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request

from fivesafes.db import session_scope
from fivesafes.errors import AuthenticationError, PayloadTooLargeError, UnsupportedMediaTypeError
from fivesafes.httpkit import cookies, csrf
from fivesafes.identity import service as identity
from fivesafes.identity import web_sessions as web_session

FORM_TYPE = "application/x-www-form-urlencoded"
#: The forms posted before anyone is logged in: guarded by the double-submit cookie.
ANONYMOUS_FORMS = frozenset({"web.login", "web.login_token"})


class UnsupportedFormError(UnsupportedMediaTypeError):
    """A page form that is not URL-encoded (the web pages never post files): 415."""

    def __init__(self) -> None:
        super().__init__(
            "web forms are accepted as application/x-www-form-urlencoded only; upload files "
            "with POST /datasets/{name}/uploads"
        )


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _bearer(request: Request) -> str | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def _expected_token(request: Request, route_name: str | None) -> str | None:
    """The CSRF token the form must carry (None: a bearer request, which needs none).

    Raises before the body is read when the sender is unknown. Runs in a thread: it
    looks the session up in its own short transaction.
    """
    if route_name in ANONYMOUS_FORMS:
        expected = request.cookies.get(csrf.LOGIN_COOKIE)
        if not expected:
            raise csrf.CsrfError()
        return expected
    bearer = _bearer(request)
    with session_scope(request.app.state.session_factory) as session:
        if bearer is not None:
            identity.authenticate(session, bearer)
            return None
        row = web_session.find_session(session, request.cookies.get(cookies.COOKIE))
        if row is None:
            raise AuthenticationError("missing bearer token", code="missing_token")
        return row.csrf_token


async def admit_form(request: Request, route_name: str | None) -> None:
    """Authenticate and CSRF-check an unsafe page request, then read its form (capped)."""
    kind = _media_type(request)
    if kind and kind != FORM_TYPE:
        raise UnsupportedFormError()
    declared = request.headers.get("content-length", "")
    limit: int = request.app.state.settings.form_max_bytes
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    expected = await run_in_threadpool(_expected_token, request, route_name)
    header = request.headers.get(csrf.HEADER)
    if expected is not None and header and not csrf.tokens_match(expected, header):
        raise csrf.CsrfError()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    request._body = bytes(body)  # Starlette's form parser reads the body from here
    if kind != FORM_TYPE:
        return
    fields = dict(parse_qsl(body.decode("latin-1"), keep_blank_values=True))
    submitted = fields.get(csrf.FIELD)
    request.state.csrf_form_token = submitted
    if expected is not None and not header and not csrf.tokens_match(expected, submitted):
        raise csrf.CsrfError()


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"form body exceeds the limit of {limit} bytes (FIVESAFES_FORM_MAX_BYTES)",
        code="body_too_large",
    )
