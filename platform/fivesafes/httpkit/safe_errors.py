"""Unexpected exceptions become a bare 500, logged without their messages.

Left alone, uvicorn would log the traceback with the exception's message, which can quote
a raw value. Here the log gets the type and code path (``fivesafes.safe_logging``); the
client gets an error code and the request id to quote.

A database that cannot be reached (down, restarting, out of connections, locked) is not
a bug in the request: it is answered 503 with ``Retry-After``, on every route, so a
load balancer or a script knows to come back rather than report a server fault.
"""

from __future__ import annotations

import logging

from sqlalchemy import exc as sa_exc
from starlette.types import Message, Receive, Scope, Send

from fivesafes.httpkit.middleware import HttpMiddleware, send_json_error
from fivesafes.safe_logging import safe_traceback

log = logging.getLogger("fivesafes.api")

#: Errors meaning "the database is not there right now", not "this request is wrong".
UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # the connection pool is exhausted
)
RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps) says the database cannot be reached."""
    if isinstance(exc, UNAVAILABLE):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and isinstance(cause, UNAVAILABLE)


class SafeErrorMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request_id = scope.get("state", {}).get("request_id")
            unavailable = database_unavailable(exc)
            if unavailable:
                log.error("database unavailable in request %s (%s)", request_id, type(exc).__name__)
            else:
                log.error("unexpected error in request %s:\n%s", request_id, safe_traceback(exc))
            if started:
                return  # too late for a status code; the client sees a cut stream
            if unavailable:
                status, code = 503, "service_unavailable"
                message = (
                    f"the database is unavailable: try again shortly (request id {request_id})"
                )
                extra: tuple[tuple[bytes, bytes], ...] = (
                    (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
                )
            else:
                status, code = 500, "internal_error"
                message = f"internal error (request id {request_id})"
                extra = ()
            await send_json_error(send, status, code, message, extra)
