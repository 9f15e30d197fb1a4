"""Researcher pages: my projects, my requests and grants (with downloads), and the
request form (columns from the dataset's policy, a row filter, a justification)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from fivesafes.access import grants, service
from fivesafes.access.models import Granularity
from fivesafes.access.policy import Action
from fivesafes.access.schemas import RequestIn
from fivesafes.access.views import grant_out, project_out, request_out
from fivesafes.datasets import service as datasets
from fivesafes.db import utcnow
from fivesafes.errors import InvalidInputError, NotFoundError
from fivesafes.httpkit.deps import DbSession, require_role
from fivesafes.httpkit.errors import audit_refusal
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import Permit, permit
from fivesafes.identity.models import Role, User
from fivesafes.validation_messages import problem_messages
from fivesafes.web.rendering import WebRoute, redirect, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
Researcher = Annotated[User, Depends(require_role(Role.RESEARCHER))]
#: The formats the release route (issue 7) streams: /grants/{id}/data?format=...
DOWNLOAD_FORMATS = (("csv", "CSV"), ("jsonl", "JSON Lines"), ("parquet", "Parquet"))


@router.get("/web/research", name="web.research")
def research_home(request: Request, session: DbSession, user: Researcher) -> Response:
    policy = request.app.state.access_policy
    now = utcnow()
    projects = service.list_projects(session, policy, user, now)
    requests = [
        request_out(policy, r)
        for r in service.list_requests_of_projects(session, policy, user, now, projects)
    ]
    titles = {p.id: p.title for p in projects}
    held = [grant_out(g, now) for g in grants.list_grants(session, policy, user, now)]
    return render(
        request,
        "researcher/home.html",
        {
            "projects": [project_out(p) for p in projects],
            "requests": sorted(requests, key=lambda r: r.created_at, reverse=True),
            "grants": held,
            "titles": titles,
            "today": now.date(),
            "now": now,
            "formats": DOWNLOAD_FORMATS,
        },
    )


def _form_context(
    session: DbSession, ok: Permit, dataset: str | None, values: dict[str, Any]
) -> dict[str, Any]:
    columns: Mapping[str, str] = {}
    if dataset:
        columns = service.dataset_terms(session, dataset, None).columns
    return {
        "project": project_out(ok.target.loaded_project),
        "datasets": [d.name for d in datasets.list_datasets(session)],
        "dataset": dataset,
        "columns": columns,
        "granularities": [g.value for g in Granularity],
        "values": values,
    }


RequestPermit = Annotated[Permit, permit(Action.REQUEST_CREATE, "project")]


@router.get("/web/research/projects/{project_id}/request", name="web.request_form")
def request_form(
    *,
    project_id: PathId,
    request: Request,
    session: DbSession,
    user: Researcher,
    ok: RequestPermit,
    dataset: str | None = None,
) -> Response:
    try:
        context = _form_context(session, ok, dataset or None, {})
    except NotFoundError as exc:
        context = _form_context(session, ok, None, {})
        context["errors"] = [exc.message]
    return render(request, "researcher/request_form.html", context)


@router.post("/web/research/projects/{project_id}/request", name="web.request_create")
def request_create(
    *,
    project_id: PathId,
    request: Request,
    session: DbSession,
    user: Researcher,
    ok: RequestPermit,
    dataset: Annotated[str, Form(max_length=63)],
    columns: Annotated[list[str] | None, Form()] = None,
    row_filter: Annotated[str, Form(max_length=2000)] = "",
    justification: Annotated[str, Form(max_length=10_000)] = "",
    date_granularity: Annotated[str, Form(max_length=8)] = Granularity.DAY.value,
    requested_end: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    values = {
        "columns": columns or [],
        "row_filter": row_filter,
        "justification": justification,
        "date_granularity": date_granularity,
        "requested_end": requested_end,
    }
    try:
        body = RequestIn(
            dataset=dataset,
            columns=columns or [],
            row_filter=row_filter or None,
            justification=justification,
            date_granularity=Granularity(date_granularity)
            if date_granularity in {g.value for g in Granularity}
            else Granularity.DAY,
            requested_end=date.fromisoformat(requested_end) if requested_end else None,
        )
        service.create_request(*ok.writing, project_id=project_id, body=body, now=ok.now)
    except (ValidationError, ValueError, InvalidInputError) as exc:
        session.rollback()
        code = exc.code if isinstance(exc, InvalidInputError) else "invalid_request"
        audit_refusal(request, 422, code, {})
        context = _form_context(session, ok, dataset, values)
        context["errors"] = _messages(exc)
        return render(request, "researcher/request_form.html", context, 422)
    return redirect("/web/research?notice=request_sent")


_FIELD_NAMES = {
    "columns": "Columns",
    "justification": "Justification",
    "row_filter": "Row filter",
    "requested_end": "End date",
}


def _messages(exc: Exception) -> list[str]:
    if isinstance(exc, InvalidInputError):
        return [exc.message]
    if isinstance(exc, ValidationError):
        return problem_messages(exc.errors(), whole="form", labels=_FIELD_NAMES)
    return [f"End date: {exc}"]
