"""The register of data held (SATRE 3.1.08): governance reads it as JSON or exports CSV.

A thin route over :func:`fivesafes.access.register.view_register`, which the web page
calls too: the decision (``register.view``), the audit event and the 404s are its.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from fivesafes.access import register, register_csv
from fivesafes.access.policy import Action
from fivesafes.httpkit.params import MAX_ID
from fivesafes.httpkit.permits import Permit, permit

router = APIRouter(tags=["access"])
RegisterPermit = Annotated[Permit, permit(Action.REGISTER_VIEW)]


@router.get(
    "/register",
    name="register.view",
    response_model=register.Register,
    summary="The register of data held: every dataset version and the live grants on it "
    "(governance; ?format=csv for a CSV export)",
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"},
        404: {"description": "No such dataset or project"},
    },
)
def view_register(
    ok: RegisterPermit,
    dataset: Annotated[str | None, Query(max_length=63, description="Only this dataset")] = None,
    project: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only what this project holds a live grant on"),
    ] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> register.Register | Response:
    """Each version: when received, from which upload, rows, policy version and hash,
    sensitivity, the opt-out list applied and its age, withdrawal or purge, and every
    project holding a live grant on it (a grant on "the latest" counts against the newest
    available version) with the grant's expiry and the project's end date."""
    held = register.view_register(ok, dataset=dataset, project_id=project, shown_as=format)
    if format == "json":
        return held
    stamp = held.generated_at.strftime("%Y%m%dT%H%M%SZ")
    return Response(
        register_csv.csv_text(held),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="register-{stamp}.csv"'},
    )
