"""Governance pages for dataset policies: each dataset's policy versions, the text of one
version as it was reviewed (comments included), and what changed between two versions.

A policy is the data dictionary that decides what leaves the trust, so governance reads
its history here: who loaded each version and when, and a line-by-line diff. The pages
read through :mod:`fivesafes.datasets.policy_versions` like any other entry point would;
reading a policy changes nothing and is not a data access, so it is not audited.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from fivesafes.datasets import policy_versions
from fivesafes.httpkit.deps import DbSession, require_role
from fivesafes.httpkit.params import MAX_ID, PathId
from fivesafes.identity.directory import usernames
from fivesafes.identity.models import Role, User
from fivesafes.web.rendering import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Officer = Annotated[User, Depends(require_role(Role.GOVERNANCE))]


@router.get("/web/governance/policies", name="web.governance.policies")
def datasets(request: Request, session: DbSession, user: Officer) -> Response:
    """Every dataset with the policy in force and how many versions it has had."""
    rows = policy_versions.policy_overview(session)
    names = usernames(session, (r.current.loaded_by for r in rows if r.current.loaded_by))
    return render(request, "governance/policies.html", {"rows": rows, "names": names})


@router.get("/web/governance/datasets/{name}/policies", name="web.governance.policy_versions")
def versions(*, name: str, request: Request, session: DbSession, user: Officer) -> Response:
    stored = policy_versions.list_policy_versions(session, name)
    names = usernames(session, (v.loaded_by for v in stored if v.loaded_by))
    return render(
        request,
        "governance/policy_versions.html",
        {"dataset": name, "versions": stored, "names": names},
    )


@router.get("/web/governance/datasets/{name}/policies/diff", name="web.governance.policy_diff")
def diff(
    *,
    name: str,
    old: Annotated[int, Query(alias="from", ge=1, le=MAX_ID)],
    new: Annotated[int, Query(alias="to", ge=1, le=MAX_ID)],
    request: Request,
    session: DbSession,
    user: Officer,
) -> Response:
    """The unified diff between two versions (either order; the same version: no change)."""
    shown = policy_versions.policy_diff(session, name, old, new)
    names = usernames(session, (v.loaded_by for v in (shown.old, shown.new) if v.loaded_by))
    every = policy_versions.list_policy_versions(session, name)
    return render(
        request,
        "governance/policy_diff.html",
        {"diff": shown, "names": names, "versions": every},
    )


@router.get(
    "/web/governance/datasets/{name}/policies/{version}", name="web.governance.policy_version"
)
def version(
    *, name: str, version: PathId, request: Request, session: DbSession, user: Officer
) -> Response:
    stored = policy_versions.get_policy_version(session, name, version)
    names = usernames(session, [stored.loaded_by] if stored.loaded_by else [])
    return render(request, "governance/policy_version.html", {"stored": stored, "names": names})
