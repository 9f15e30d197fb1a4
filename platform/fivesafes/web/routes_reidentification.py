"""The reidentifier's pages: approved requests to reverse, the reversal, the action taken.

Only a user with the ``reidentifier`` role reaches these pages (a researcher never does:
the role check runs before anything is loaded). The reversal is a POST, never a GET, so
no link, history entry or prefetch can repeat it; its page is rendered from the subjects
decrypted in this request, with ``Cache-Control: no-store``, and is never shown again:
the service refuses a second execution (409). Refusals are audited by the error pages
under the route's name, like every page's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from fivesafes.db import utcnow
from fivesafes.httpkit.deps import DbSession, Trail, require_role
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import Policy
from fivesafes.identity.models import Role, User
from fivesafes.keys.store import KeyStore
from fivesafes.reidentification import service
from fivesafes.reidentification.models import ReidState
from fivesafes.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Reidentifier = Annotated[User, Depends(require_role(Role.REIDENTIFIER))]
HOME = "/web/reidentification"


@router.get(HOME, name="web.reidentification")
def home(request: Request, session: DbSession, user: Reidentifier, policy: Policy) -> Response:
    """Requests waiting for their reversal, and reversals of yours waiting for an action."""
    now = utcnow()
    requests = service.list_requests(session, policy, user)
    ready = [r for r in requests if r.state == ReidState.APPROVED and r.expires_at > now]
    to_record = [r for r in requests if r.state == ReidState.EXECUTED and r.executed_by == user.id]
    done = [r for r in requests if r.state == ReidState.ACTIONED]
    return render(
        request,
        "reidentification.html",
        {"ready": ready, "to_record": to_record, "done": done},
    )


@router.post(HOME + "/{reidentification_id}/execute", name="web.reidentification_execute")
def execute(
    reidentification_id: PathId,
    request: Request,
    session: DbSession,
    user: Reidentifier,
    trail: Trail,
) -> Response:
    """Reverse the request once and show its NHS numbers on this page, this once."""
    keystore: KeyStore = request.app.state.keystore
    revealed = service.execute(session, trail, keystore, user, reidentification_id, utcnow(), "web")
    response = render(
        request,
        "reidentification_revealed.html",
        {"request_id": reidentification_id, "subjects": revealed},
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@router.post(HOME + "/{reidentification_id}/action", name="web.reidentification_action")
def record_action(
    reidentification_id: PathId,
    session: DbSession,
    user: Reidentifier,
    trail: Trail,
    action_taken: Annotated[str, Form(min_length=10, max_length=10_000)],
) -> Response:
    """Record what was done with the reversal (the executor only)."""
    service.record_action(session, trail, user, reidentification_id, action_taken, utcnow())
    return redirect(HOME)
