"""CSRF protection: a synchroniser token per session, and a double-submit cookie for the
log-in form (which has no session yet).

Every form carries the token in a hidden field; scripts send it in the ``X-CSRF-Token``
header. Every unsafe request authenticated by the session cookie must present it (API
routes included: see ``httpkit.deps.authenticate_request``); a bearer token needs none, since
a browser never attaches one by itself. SameSite=Strict cookies are the second layer.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

from fivesafes.errors import PermissionDeniedError

FIELD = "csrf_token"
HEADER = "x-csrf-token"
#: Holds the log-in form's token until a session exists (``__Host-``: Secure, path /, no domain).
LOGIN_COOKIE = "__Host-fivesafes-login-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(PermissionDeniedError):
    code = "csrf_failed"

    def __init__(self) -> None:
        super().__init__(
            "the form was missing its security token or it did not match: reload the page "
            "and try again"
        )


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, submitted: str | None) -> bool:
    """Constant-time comparison; an empty or missing token never matches."""
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))


def submitted_token(request: Request) -> str | None:
    """The header, or the form field the web routes read before dependencies run."""
    header = request.headers.get(HEADER)
    if header:
        return header
    value = getattr(request.state, "csrf_form_token", None)
    return value if isinstance(value, str) else None


def require(expected: str, request: Request) -> None:
    """Refuse an unsafe request whose token does not match ``expected``."""
    if request.method in SAFE_METHODS:
        return
    if not tokens_match(expected, submitted_token(request)):
        raise CsrfError()
