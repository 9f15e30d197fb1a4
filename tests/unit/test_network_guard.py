"""The suite itself must prove the platform needs no network: non-loopback is blocked."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError


def test_connecting_beyond_loopback_is_blocked() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(SocketConnectBlockedError),
    ):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routable
