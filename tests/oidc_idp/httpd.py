"""HTTP plumbing for the test identity provider: a ThreadingHTTPServer on 127.0.0.1.

The standard library's server starts in about a millisecond and stops cleanly (shutdown
then close), so a test module can own a provider without paying for an event loop.
Endpoint logic lives in :mod:`tests.oidc_idp.endpoints`; this module only turns bytes
into a :class:`Request` and a :class:`Reply` back into bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: dict[str, str]  # lower-cased names


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Reply]


class _RequestHandler(BaseHTTPRequestHandler):
    server_version = "fivesafes-test-idp"
    # One request per connection: no keep-alive thread outlives stop(), so a stopped
    # provider really refuses the next request instead of serving an old connection.
    protocol_version = "HTTP/1.0"
    handle_request: Handler  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request line carries codes and states, which are not logged."""

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._send(Reply(400, b'{"error":"invalid_request"}'))
            return
        body = self.rfile.read(length) if length else b""
        form: list[tuple[str, str]] = []
        content_type = self.headers.get("Content-Type", "")
        if body and content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            form=form,
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        try:
            reply = type(self).handle_request(request)
        except Exception as exc:  # a bug in the test IdP: answer 500, say what broke
            reply = Reply(
                500, f"test IdP error: {type(exc).__name__}: {exc}".encode(), "text/plain"
            )
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_HEAD = _dispatch  # noqa: N815 (http.server's names)


class IdpHttpServer:
    """Serves ``handle`` on 127.0.0.1 at a free port, in a daemon thread, until close()."""

    def __init__(self, handle: Handler) -> None:
        handler_class = type(
            "IdpRequestHandler", (_RequestHandler,), {"handle_request": staticmethod(handle)}
        )
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"oidc-idp-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
