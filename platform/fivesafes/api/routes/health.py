"""Health that means something: the database answers, and the app's role holds the
rights the app uses (``api.db_rights``). 503 otherwise, so a load balancer takes the
server out of service before users meet the failure."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from fivesafes import __version__
from fivesafes.httpkit.db_rights import missing_rights
from fivesafes.httpkit.errors import error_body

router = APIRouter(tags=["health"])
log = logging.getLogger("fivesafes.api")


@router.get(
    "/healthz",
    summary="Database-backed health check",
    responses={503: {"description": "Database unreachable, or the app's role lacks rights"}},
)
def healthz(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            try:
                connection.execute(text("SELECT 1"))
                problems = missing_rights(connection)
            finally:
                connection.rollback()  # the probe writes nothing; never keep anything
    except SQLAlchemyError as exc:
        log.error("health check: database unreachable (%s)", type(exc).__name__)
        return JSONResponse(
            error_body("service_unavailable", "database unreachable"), status_code=503
        )
    if problems:
        # The details are for the operator's log; an anonymous caller learns only the fact.
        log.error("health check: the database role lacks: %s", "; ".join(problems))
        return JSONResponse(
            error_body(
                "service_unavailable",
                "the database role lacks rights the platform needs (see the server log)",
            ),
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": engine.dialect.name, "version": __version__})
