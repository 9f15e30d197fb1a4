"""Run `fivesafes` as a real process, as an operator would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

FIVESAFES = str(Path(sys.executable).with_name("fivesafes"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIVESAFES_")}
    env["FIVESAFES_DATABASE_URL"] = database_url
    env["FIVESAFES_KEYSTORE_PATH"] = str(workdir / "keys")
    env["COLUMNS"] = "200"
    return env


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FIVESAFES, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@contextmanager
def running_server(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """Start `fivesafes serve` on a free port; yield its base URL; stop it."""
    with server_process(env, cwd) as (base, _):
        yield base


@contextmanager
def server_process(
    env: dict[str, str], cwd: Path, *, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Like :func:`running_server`, also yielding the process (to kill it). ``port``:
    one chosen beforehand (a test that must name it in FIVESAFES_PUBLIC_URL).

    The server's output goes to a file, not a pipe: a pipe nobody reads fills up after
    some hundreds of access-log lines and then blocks the server mid-request.
    """
    port = port or free_port()
    log_path = cwd / f"server-{port}.log"
    log_file = log_path.open("w", encoding="utf-8")
    process = subprocess.Popen(
        [FIVESAFES, "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                output = log_path.read_text(encoding="utf-8")
                raise RuntimeError(f"server exited early:\n{output}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start within 60 s")
            time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()
