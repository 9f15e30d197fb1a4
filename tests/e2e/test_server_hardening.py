"""A real `fivesafes serve` against slow clients, over raw sockets (SQLite suffices)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e.server import environment, run_cli, running_server

TIMEOUT = 2.0


def _connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=15)
    return sock


def _closed_after(sock: socket.socket, dribble: bytes) -> float:
    """Send ``dribble`` a byte every 0.3 s; seconds until the server closed the socket."""
    start = time.monotonic()
    for byte in dribble:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
        sock.settimeout(0.3)
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
    sock.settimeout(15)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = environment(f"sqlite:///{tmp_path / 'e2e.db'}", tmp_path)
    env["FIVESAFES_HEADER_READ_TIMEOUT_SECONDS"] = str(TIMEOUT)
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    with running_server(env, tmp_path) as base:
        yield base


def test_a_client_sending_headers_slowly_is_cut_off(server: str) -> None:
    # Headers that never end: one byte every 0.3 s, for far longer than the deadline.
    endless = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
    with _connect(server) as sock:
        elapsed = _closed_after(sock, endless)
    assert elapsed < TIMEOUT + 2, f"server held a slowloris connection for {elapsed:.1f}s"


def test_a_silent_connection_is_cut_off(server: str) -> None:
    with _connect(server) as sock:
        start = time.monotonic()
        sock.settimeout(TIMEOUT + 5)
        assert sock.recv(4096) == b""
        assert time.monotonic() - start < TIMEOUT + 2


def test_slow_headers_on_a_kept_alive_connection_are_cut_off_too(server: str) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:100]
        elapsed = _closed_after(sock, b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 200)
    assert elapsed < TIMEOUT + 2


def test_prompt_clients_are_served(server: str) -> None:
    with httpx.Client() as client:
        for _ in range(3):  # on one kept-alive connection
            response = client.get(f"{server}/healthz")
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-store"
            assert "server" not in response.headers
