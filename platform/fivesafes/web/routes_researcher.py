"""Researcher pages: my projects, my requests and grants (with downloads), and the
request form (columns from the dataset's policy, a row filter, a justification)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from pydantic import ValidationError
from starlette.responses import Response

from fivesafes.access import grants, service
from fivesafes.access.models import Granularity
from fivesafes.access.policy import Action
from fivesafes.access.schemas import RequestIn
from fivesafes.access.views import grant_out, project_out, request_out
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import VersionState
from fivesafes.db import utcnow
from fivesafes.errors import ConflictError, InvalidInputError, NotFoundError
from fivesafes.httpkit.deps import DbSession, require_role
from fivesafes.httpkit.errors import audit_refusal, status_for
from fivesafes.httpkit.params import PathId
from fivesafes.httpkit.permits import Permit, permit
from fivesafes.httpkit.previews import previewer
from fivesafes.identity.models import Role, User
from fivesafes.release import preview
from fivesafes.release.preview_views import preview_out
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
    versions: list[int] = []
    if dataset:
        terms = service.dataset_terms(session, dataset, None)
        columns = terms.columns
        versions = [
            v.number
            for v in datasets.dataset_versions(session, terms.dataset)
            if v.state is VersionState.AVAILABLE
        ]
    return {
        "project": project_out(ok.target.loaded_project),
        "datasets": [d.name for d in datasets.list_datasets(session)],
        "dataset": dataset,
        "columns": columns,
        "versions": versions,
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


FORM = "researcher/request_form.html"


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
    version: Annotated[str, Form(max_length=12)] = "latest",
    intent: Annotated[Literal["send", "preview"], Form()] = "send",
) -> Response:
    """Send the request, or (``intent=preview``) show its disclosure preview on the form.
    A request whose release would be refused is sent all the same, with a warning."""
    values = {
        "columns": columns or [],
        "row_filter": row_filter,
        "justification": justification,
        "date_granularity": date_granularity,
        "requested_end": requested_end,
        "version": version,
    }
    try:
        body = RequestIn(
            dataset=dataset,
            version=_version(version),
            columns=columns or [],
            row_filter=row_filter or None,
            justification=justification,
            date_granularity=Granularity(date_granularity)
            if date_granularity in {g.value for g in Granularity}
            else Granularity.DAY,
            requested_end=date.fromisoformat(requested_end) if requested_end else None,
        )
        if intent == "preview":
            shown = preview.preview_draft(previewer(request, ok), project_id=project_id, body=body)
            context = _form_context(session, ok, dataset, values)
            context["preview"] = preview_out(shown)
            return render(request, FORM, context)
        created = service.create_request(*ok.writing, project_id=project_id, body=body, now=ok.now)
    except (ValidationError, ValueError, InvalidInputError) as exc:
        session.rollback()
        code = exc.code if isinstance(exc, InvalidInputError) else "invalid_request"
        audit_refusal(request, 422, code, {})
        context = _form_context(session, ok, dataset, values)
        context["errors"] = _messages(exc)
        return render(request, FORM, context, 422)
    except (ConflictError, NotFoundError) as exc:  # a version not available, too many rows
        session.rollback()
        status = status_for(exc)
        audit_refusal(request, status, exc.code, {})
        context = _form_context(session, ok, dataset, values)
        lead = "No disclosure preview" if intent == "preview" else "Not sent"
        context["errors"] = [f"{lead}: {exc.message}"]
        return render(request, FORM, context, status)
    attempt = preview.attempt_preview(previewer(request, ok), request_id=created.id)
    notice = "request_sent_refused" if attempt.override_needed else "request_sent"
    return redirect(f"/web/research?notice={notice}")


def _version(value: str) -> int | Literal["latest"]:
    """The form's version choice: ``latest`` or a version number."""
    if value == "latest":
        return "latest"
    if value.isdigit():
        return int(value)
    raise InvalidInputError("Version: choose latest or one of the versions listed")


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
