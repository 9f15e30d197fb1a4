"""Governance pages for dataset versions: every version of a dataset with its state
(withdrawn ones with their reason, purged ones marked), and one version's page with the
form to withdraw it.

Withdrawing goes through :mod:`fivesafes.release.withdrawal` like the API and the CLI, so
the rule (``dataset_version.withdraw``), the audit event and the refusals are theirs; a
missing reason or a version already withdrawn is shown on the version's page.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from fivesafes.datasets import review as version_review
from fivesafes.datasets.modification_log import version_modification_log
from fivesafes.db import utcnow
from fivesafes.httpkit.deps import DbSession, Trail, require_role
from fivesafes.httpkit.params import PathId
from fivesafes.identity.models import Role, User
from fivesafes.release import withdrawal
from fivesafes.release.withdrawal_views import version_status_out, version_status_outs
from fivesafes.web.rendering import WebRoute, render
from fivesafes.web.withdraw_form import withdraw_from_form

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Officer = Annotated[User, Depends(require_role(Role.GOVERNANCE))]


def _version_path(name: str, number: int) -> str:
    return f"/web/governance/datasets/{quote(name, safe='')}/versions/{number}"


@router.get("/web/governance/datasets/{name}/versions", name="web.governance.dataset_versions")
def dataset_versions(*, name: str, request: Request, session: DbSession, user: Officer) -> Response:
    records = withdrawal.version_records(session, name)
    rows = version_status_outs(session, records)
    return render(request, "governance/dataset_versions.html", {"dataset": name, "rows": rows})


def _version_page(
    request: Request,
    session: Session,
    user: User,
    name: str,
    number: int,
    *,
    withdraw_errors: list[str] | None = None,
    withdraw_reason: str = "",
    status: int = 200,
) -> Response:
    target = withdrawal.version_target(session, name, number)
    version = target.loaded_version
    record = withdrawal.version_record(session, version)
    offered = withdrawal.may_withdraw(
        session, request.app.state.access_policy, user, name, number, utcnow()
    )
    reviewed = version_review.review_of_version(session, version) is not None
    return render(
        request,
        "governance/dataset_version.html",
        {
            "row": version_status_out(session, record),
            "reviewed": reviewed,
            "version_label": f"{name} version {number}",
            "withdrawal": version,
            "withdraw_action": f"{_version_path(name, number)}/withdraw" if offered else None,
            "withdraw_errors": withdraw_errors or [],
            "withdraw_reason": withdraw_reason,
            "modifications": version_modification_log(session, version),
        },
        status,
    )


@router.get(
    "/web/governance/datasets/{name}/versions/{number}", name="web.governance.dataset_version"
)
def dataset_version(
    *, name: str, number: PathId, request: Request, session: DbSession, user: Officer
) -> Response:
    return _version_page(request, session, user, name, number)


@router.post(
    "/web/governance/datasets/{name}/versions/{number}/withdraw",
    name="web.governance.dataset_version_withdraw",
)
def withdraw(
    *,
    name: str,
    number: PathId,
    request: Request,
    session: DbSession,
    trail: Trail,
    user: Officer,
    reason: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    def show_again(errors: list[str], typed: str, status: int) -> Response:
        return _version_page(
            request,
            session,
            user,
            name,
            number,
            withdraw_errors=errors,
            withdraw_reason=typed,
            status=status,
        )

    done = _version_path(name, number)
    return withdraw_from_form(
        request, session, trail, user, (name, number), reason, done=done, show_again=show_again
    )
