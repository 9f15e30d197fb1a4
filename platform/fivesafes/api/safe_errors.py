"""Unexpected exceptions become a bare 500, logged without their messages.

Left alone, uvicorn would log the traceback with the exception's message, which can quote
a raw value. Here the log gets the type and code path (``fivesafes.safe_logging``); the
client gets an error code and the request id to quote.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fivesafes.safe_logging import safe_traceback

log = logging.getLogger("fivesafes.api")


class SafeErrorMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
            log.error("unexpected error in request %s:\n%s", request_id, safe_traceback(exc))
            if started:
                return  # too late for a status code; the client sees a cut stream
            body = json.dumps(
                {
                    "error": {
                        "code": "internal_error",
                        "message": f"internal error (request id {request_id})",
                    }
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
