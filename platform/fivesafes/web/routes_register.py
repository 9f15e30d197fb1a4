"""The governance page of the register of data held (SATRE 3.1.08).

It calls :func:`fivesafes.access.register.view_register` like ``GET /register`` does, so
the decision (``register.view``), the audit event (one per view, with the filters) and
the 404s are the same; the page links to that route's CSV export of the same filters.
A form's empty field means "no filter"; a project that is not a number is refused (422).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from fivesafes.access import register
from fivesafes.access.policy import Action
from fivesafes.datasets import service as datasets
from fivesafes.errors import InvalidInputError
from fivesafes.httpkit.params import MAX_ID
from fivesafes.httpkit.permits import Permit, permit
from fivesafes.web.rendering import WebRoute, render

router = APIRouter(route_class=WebRoute, include_in_schema=False)
RegisterPermit = Annotated[Permit, permit(Action.REGISTER_VIEW)]


def _project_id(text: str) -> int | None:
    typed = text.strip()
    if not typed:
        return None
    if not typed.isdigit() or not 1 <= int(typed) <= MAX_ID:
        raise InvalidInputError(
            "project must be a project number (e.g. 12)", code="invalid_project_filter"
        )
    return int(typed)


@router.get("/web/governance/register", name="web.governance.register")
def register_page(
    request: Request,
    ok: RegisterPermit,
    dataset: Annotated[str, Query(max_length=63)] = "",
    project: Annotated[str, Query(max_length=12)] = "",
) -> Response:
    """Every dataset, its versions and the projects holding live grants on them."""
    name = dataset.strip() or None
    project_id = _project_id(project)
    held = register.view_register(ok, dataset=name, project_id=project_id, shown_as="page")
    query = {"format": "csv"} | ({"dataset": name} if name else {})
    if project_id is not None:
        query["project"] = str(project_id)
    return render(
        request,
        "governance/register.html",
        {
            "register": held,
            "names": [d.name for d in datasets.list_datasets(ok.session)],
            "filters": {"dataset": name or "", "project": "" if project_id is None else project_id},
            "csv_url": f"/register?{urlencode(query)}",
        },
    )
