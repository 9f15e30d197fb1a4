"""The one place where the exception tree becomes HTTP.

Every error body is ``{"error": {"code", "message"}}``. Unexpected exceptions are not
caught here: they surface as 500s (and in logs) rather than being dressed up as 4xx.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from fivesafes import errors
from fivesafes.audit.entry import AuditEntry
from fivesafes.audit.recorder import AuditRecorder
from fivesafes.db import session_scope
from fivesafes.httpkit.deps import request_context
from fivesafes.validation_messages import describe_problems

STATUS_BY_ERROR: dict[type[errors.FivesafesError], int] = {
    errors.AuthenticationError: 401,
    errors.PermissionDeniedError: 403,
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.PayloadTooLargeError: 413,
    errors.UnsupportedMediaTypeError: 415,
    errors.InvalidInputError: 422,
    errors.RateLimitedError: 429,
    errors.ServiceUnavailableError: 503,
    errors.ConfigurationError: 500,
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    """The body of every refusal and failure (documented on every operation)."""

    error: ErrorDetail


#: Every operation may answer these; the OpenAPI document says so (and schemathesis checks).
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    "4XX": {"model": ErrorOut, "description": "Refused: the error's code and message say why"},
    "5XX": {"model": ErrorOut, "description": "Database unavailable (503) or internal error"},
}


def status_for(exc: errors.FivesafesError) -> int:
    """The HTTP status of the nearest mapped ancestor class."""
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def _action_of(request: Request) -> str:
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    return str(name) if name else f"http.{request.method.lower()}"


def _storable(params: dict[str, object]) -> dict[str, object]:
    """Path parameters as the trail can store them: a NUL (refused with 422, but still
    on the trail) would make PostgreSQL refuse the audit row itself."""
    return {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in params.items()}


def _integer_id(value: str) -> str | None:
    return str(int(value)) if value.isascii() and value.isdigit() and len(value) <= 19 else None


def _uuid_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


#: Path parameters naming what a refused attempt was for, most specific first, with how
#: their ids are written in events: a refused download is recorded against its grant, as
#: a successful one is, so the grant's history (``target_type=grant&target_id=7``) shows
#: the refusals too.
TARGET_PARAMS: tuple[tuple[str, str, Callable[[str], str | None]], ...] = (
    ("grant_id", "grant", _integer_id),
    ("release_id", "release", _uuid_id),
    ("request_id", "request", _integer_id),
    ("project_id", "project", _integer_id),
)


def refusal_target(request: Request) -> tuple[str, str | None]:
    """The target of a refused attempt: the grant, release, request or project in the
    path (its id written as successful events write it), else the route itself (also for
    an id too malformed to name anything: it stays in the details' ``path_params``)."""
    for param, target_type, normalise in TARGET_PARAMS:
        value = request.path_params.get(param)
        target_id = normalise(str(value)) if value is not None else None
        if target_id is not None:
            return target_type, target_id
    return "route", getattr(request.scope.get("route"), "path", None)


def audit_refusal(request: Request, status: int, code: str, extra: dict[str, object]) -> None:
    """Record a denied or failed attempt in its own transaction.

    The request's own transaction has been rolled back with whatever it tried to do; the
    attempt itself must still be on the trail (a bad token, a forbidden download).
    """
    recorder: AuditRecorder = request.app.state.audit_recorder
    outcome = "denied" if status in (401, 403) else "failed"
    route_path = getattr(request.scope.get("route"), "path", None)
    target_type, target_id = refusal_target(request)
    with session_scope(request.app.state.session_factory) as session:
        entry = AuditEntry(
            _action_of(request),
            outcome=outcome,
            target_type=target_type,
            target_id=target_id,
            details={
                "status": status,
                "code": code,
                "route": route_path,
                "path_params": _storable(dict(request.path_params)),
                **extra,
            },
        )
        recorder(session, request_context(request), entry)


def close_after_response(request: Request) -> None:
    """Mark a request refused before its body was read: its error response says
    ``Connection: close``, so the server closes the connection after the answer instead of
    reading (and discarding) the rest of a large upload, and the client stops sending.
    Browsers, curl and httpx read an answer that arrives while they are still sending."""
    request.state.close_after_response = True


def install_error_handlers(app: FastAPI) -> None:
    async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.FivesafesError)
        status = status_for(exc)
        extra: dict[str, object] = {}
        if isinstance(exc, errors.InputFileError):
            extra = {"file": exc.file, "line": exc.line, "column": exc.column}
        await run_in_threadpool(audit_refusal, request, status, exc.code, extra)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        if getattr(request.state, "close_after_response", False):
            headers["Connection"] = "close"
        return JSONResponse(error_body(exc.code, exc.message), status_code=status, headers=headers)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        await run_in_threadpool(audit_refusal, request, 422, "invalid_request", {"fields": fields})
        return JSONResponse(
            error_body("invalid_request", describe_problems(exc.errors(), skip=("body",))),
            status_code=422,
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    app.add_exception_handler(errors.FivesafesError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
