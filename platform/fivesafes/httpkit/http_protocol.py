"""uvicorn's h11 protocol with a deadline for request headers (against slowloris).

uvicorn bounds only the idle time between requests (``timeout_keep_alive``), and even that
timer is cancelled by the first byte of the next request: a client that opens a
connection and sends a header line every few seconds holds a connection, and its buffer,
for ever, and a few hundred such clients exhaust the server. Here every request's headers
must arrive in full within ``header_timeout`` seconds of the connection opening (first
request) or of the request's first byte (later requests on a kept-alive connection; the
idle wait before that is ``timeout_keep_alive``'s), else the connection is closed.
The size of incomplete headers is bounded separately by h11 (16 KB, uvicorn's default).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutH11Protocol(H11Protocol):
    """H11Protocol that closes a connection whose request headers are not in by the deadline."""

    #: Seconds allowed for a request's headers; set by :func:`with_header_timeout`.
    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._header_timer is None:
            self._arm_header_timer()  # a new request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm_header_timer()  # its headers are complete

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The idle wait for the next request is the keep-alive timer's; the clock for its
        # headers starts at its first byte at the latest (data_received).
        self._disarm_header_timer()

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.warning("request headers not received within %.1fs", self.header_timeout)
            self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderTimeoutH11Protocol]:
    """A protocol class (uvicorn's ``http=``) whose header deadline is ``seconds``."""
    return type(
        "HeaderTimeoutH11Protocol", (HeaderTimeoutH11Protocol,), {"header_timeout": seconds}
    )
