"""How projects, requests and grants are shown: the one place their API shapes are built.

The API and the web pages both present through these, so a page and a JSON response
never disagree about a request's approvals or whether a grant is live.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fivesafes.access import grants
from fivesafes.access.facts import approvals
from fivesafes.access.models import AccessRequest, Grant, Project
from fivesafes.access.policy import AccessPolicy
from fivesafes.access.schemas import GrantOut, MemberOut, ProjectOut, RequestOut, ReviewOut


def project_out(project: Project) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        title=project.title,
        purpose=project.purpose,
        lay_summary=project.lay_summary,
        ethics_ref=project.ethics_ref,
        dsa_ref=project.dsa_ref,
        lawful_basis=project.lawful_basis,
        special_category_condition=project.special_category_condition,
        start_date=project.start_date,
        end_date=project.end_date,
        state=project.state,
        lead_id=project.lead_id,
        members=[
            MemberOut(
                user_id=m.user_id, username=m.user.username, is_lead=m.user_id == project.lead_id
            )
            for m in project.members
        ],
        created_at=project.created_at,
        decided_at=project.decided_at,
        decision_reason=project.decision_reason,
    )


def _terms(row: AccessRequest | Grant) -> dict[str, Any]:
    """What was asked for or granted, shown alike (a grant copies its request's terms)."""
    return {
        "dataset": row.dataset.name,
        "version": row.dataset_version or "latest",
        "columns": json.loads(row.columns),
        "row_filter": row.row_filter,
        "date_granularity": row.date_granularity,
    }


def request_out(policy: AccessPolicy, req: AccessRequest) -> RequestOut:
    """The request as shown. Reads only ``req`` and what hangs from it (reviews, dataset,
    grant): a list loaded by :func:`~fivesafes.access.service.list_requests` has those
    eagerly, so showing N requests costs no query per row, and no session is needed."""
    grant = req.grant
    return RequestOut(
        id=req.id,
        project_id=req.project_id,
        requester_id=req.requester_id,
        **_terms(req),
        sensitivity=req.sensitivity,
        justification=req.justification,
        requested_end=req.requested_end,
        state=req.state,
        approvals=len(approvals(req)),
        approvals_required=policy.approvers_needed(req.sensitivity),
        reviews=[ReviewOut.model_validate(r) for r in req.reviews],
        grant_id=grant.id if grant else None,
        created_at=req.created_at,
        decided_at=req.decided_at,
    )


def grant_out(grant: Grant, now: datetime) -> GrantOut:
    return GrantOut(
        id=grant.id,
        request_id=grant.request_id,
        project_id=grant.project_id,
        **_terms(grant),
        issued_at=grant.issued_at,
        expires_at=grant.expires_at,
        revoked_at=grant.revoked_at,
        revoke_reason=grant.revoke_reason,
        active=grants.grant_is_live(grant, now),
    )
