"""One demo at a time: `fivesafes demo` refuses, before touching anything, while another runs.

A second `make demo` used to reset every demo password (locking out the browser sessions
of the demo already running) and then crash on the port the first one holds. Two checks
run before the database is opened:

- a lock file beside the database (``<database>.demo.lock``), held with ``flock`` for as
  long as the demo process lives: the kernel releases it when the process ends however it
  ends, so a crashed demo leaves no stale lock to clean up by hand;
- the demo's address (``FIVESAFES_HOST``:``FIVESAFES_PORT``) must be free to listen on:
  a `fivesafes serve` started by hand holds it without the lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from fivesafes.config import Settings
from fivesafes.db import create_private_file
from fivesafes.errors import ConflictError

STOP_HINT = "stop it first (Ctrl-C in its terminal), or use that one"


def lock_path(settings: Settings) -> Path:
    database = make_url(settings.database_url).database or "fivesafes.db"
    return Path(f"{database}.demo.lock")


def address_in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (binding is how uvicorn fails).

    ``SO_REUSEADDR`` as uvicorn sets it: a port left in TIME_WAIT by a demo that just
    stopped is free, not in use.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


@contextmanager
def only_demo(settings: Settings, *, serving: bool) -> Iterator[None]:
    """Hold the demo lock for the block, or raise :class:`ConflictError` at once.

    ``serving``: the demo will listen on the configured address, which must be free.
    """
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    create_private_file(path)
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError(
                f"a demo is already running on this database ({path} is locked): "
                f"{STOP_HINT}; nothing was changed",
                code="demo_running",
            ) from None
        if serving and address_in_use(settings.host, settings.port):
            raise ConflictError(
                f"http://{settings.host}:{settings.port} is already in use (a demo or "
                f"`fivesafes serve` is running there): {STOP_HINT}, or set FIVESAFES_PORT; "
                "nothing was changed",
                code="demo_running",
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for a person looking: the lock is flock
        yield
    finally:
        os.close(fd)  # releases the lock
