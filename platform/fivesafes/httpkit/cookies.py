"""The session cookie: reading the user from it, setting and clearing it.

The cookie is ``Secure`` (browsers treat http://127.0.0.1 and http://localhost as secure
contexts, so this holds in local tests too), ``HttpOnly`` (no script reads it) and
``SameSite=Strict`` (no other site's page can make the browser send it). Both the API
(cookie-authenticated calls from the pages' scripts) and the pages read it, so it lives
here, not in either.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from fivesafes.httpkit import csrf
from fivesafes.identity.models import Role, User
from fivesafes.identity.web_sessions import MAX_AGE, find_session

COOKIE = "__Host-fivesafes-session"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who the pages are for: plain values, usable after the transaction has ended."""

    id: uuid.UUID
    username: str
    full_name: str
    role: Role
    csrf_token: str


def user_from_cookie(session: Session, request: Request) -> User | None:
    """The user of the request's session cookie, or None; CSRF-checked if unsafe.

    The session row is left on ``request.state.web_session`` (log-out ends it) and a
    :class:`Viewer` on ``request.state.viewer`` for the pages (forms need the CSRF token;
    an error page is drawn after the request's transaction has ended).
    """
    row = find_session(session, request.cookies.get(COOKIE))
    if row is None:
        return None
    user = row.user
    request.state.viewer = Viewer(user.id, user.username, user.full_name, user.role, row.csrf_token)
    csrf.require(row.csrf_token, request)
    request.state.web_session = row
    return user


def set_cookie(response: Response, secret: str) -> None:
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(MAX_AGE.total_seconds()),
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
