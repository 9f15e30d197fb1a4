"""HTTP-level guards that hold whatever the route: a request id, security headers on every
response, and a cap on request bodies.

The request id is returned as X-Request-ID and written to audit events, so a user's
complaint ("my download failed at 10:02") can be matched to the trail.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fivesafes.errors import PayloadTooLargeError

HEADER = b"x-request-id"


Headers = list[tuple[bytes, bytes]]


class HttpMiddleware:
    """The platform's ASGI middleware: HTTP requests go to :meth:`handle`; anything else
    (the lifespan messages) passes straight through, untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def editing_headers(send: Send, edit: Callable[[Headers], Headers]) -> Send:
    """``send``, with the response's headers passed through ``edit`` on the way out."""

    async def send_edited(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = edit(list(message.get("headers", [])))
        await send(message)

    return send_edited


class RequestIdMiddleware(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        stamp = (HEADER, request_id.encode())
        await self.app(scope, receive, editing_headers(send, lambda h: [*h, stamp]))


#: Sent on every response: nothing the platform serves (pseudonymised rows, audit pages,
#: tokens, error bodies) may be kept by a browser or shared cache, or content-sniffed.
BASE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


class SecurityHeadersMiddleware(HttpMiddleware):
    """``Cache-Control: no-store`` and ``nosniff`` on every response (API, releases, pages,
    errors), and HSTS when the public address is https. A header a route set itself (the
    pages' own set) is left as it is."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        super().__init__(app)
        self.headers = (*BASE_HEADERS, HSTS) if hsts else BASE_HEADERS

    def _add_missing(self, headers: Headers) -> Headers:
        present = {name.lower() for name, _ in headers}
        return [*headers, *(h for h in self.headers if h[0] not in present)]

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, editing_headers(send, self._add_missing))


#: The one route whose body may exceed ``form_max_bytes``: the upload, which streams into
#: the encrypted spool under its own limit (``upload_max_bytes``).
UPLOAD_ROUTE = re.compile(r"^/datasets/[^/]+/uploads/?$")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"request body exceeds the limit of {limit} bytes (FIVESAFES_FORM_MAX_BYTES); "
        "files are sent to the upload route only",
        code="body_too_large",
    )


class BodyLimitMiddleware(HttpMiddleware):
    """Cap every request body except an upload's, before and while it is read.

    A declared ``Content-Length`` over the cap is refused at once (413) without reading a
    byte; a chunked body is counted as it arrives and refused as soon as it crosses the
    cap, so nothing larger is ever buffered (Starlette keeps JSON and form bodies in
    memory, and would spool form file parts to disk in clear).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "POST" and UPLOAD_ROUTE.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await send_json_error(
                send,
                413,
                "body_too_large",
                _too_large(self.max_bytes).message,
                ((b"connection", b"close"),),
            )
            return
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _too_large(self.max_bytes)
            return message

        await self.app(scope, counted_receive, send)


async def send_json_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """The project's JSON error body, sent straight through ASGI (outside FastAPI)."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
