"""Liveness that means something: the database must answer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from fivesafes import __version__
from fivesafes.api.errors import error_body
from fivesafes.db import READ_ONLY

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Database-backed health check")
def healthz(request: Request) -> JSONResponse:
    engine: Engine = request.app.state.engine
    try:
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse(
            error_body("service_unavailable", "database unreachable"), status_code=503
        )
    return JSONResponse({"status": "ok", "database": engine.dialect.name, "version": __version__})
