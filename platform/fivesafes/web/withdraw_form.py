"""The withdraw form's one step, wherever the form is shown (review page, version page,
upload view): withdraw the version, or, when refused, undo, audit the refusal and show
the page again with the message and what was typed."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from fivesafes.audit.trail import AuditTrail
from fivesafes.db import utcnow
from fivesafes.errors import ConflictError, InvalidInputError
from fivesafes.httpkit.errors import audit_refusal, status_for
from fivesafes.identity.models import User
from fivesafes.release import withdrawal
from fivesafes.web.rendering import redirect

#: Renders the form's page again: (messages, the reason typed, HTTP status).
ShowAgain = Callable[[list[str], str, int], Response]


def withdraw_from_form(
    request: Request,
    session: Session,
    trail: AuditTrail,
    user: User,
    version: tuple[str, int],
    reason: str,
    *,
    done: str,
    show_again: ShowAgain,
) -> Response:
    """Withdraw ``version`` (dataset, number); redirect to ``done`` with the notice."""
    dataset, number = version
    try:
        withdrawal.withdraw_version(
            session,
            trail,
            request.app.state.access_policy,
            user,
            dataset=dataset,
            number=number,
            reason=reason,
            now=utcnow(),
        )
    except (InvalidInputError, ConflictError) as exc:
        session.rollback()
        status = status_for(exc)
        audit_refusal(request, status, exc.code, {})
        return show_again([exc.message], reason, status)
    return redirect(f"{done}?notice=version_withdrawn")
