"""A wrong header row is refused as soon as it arrives, not after the whole file is sent.

A real server process; the body is far larger than what is ever sent or read. Over a raw
socket the answer must come while the client has sent only the header and a few rows;
through httpx (which reads an answer that arrives mid-send, like browsers and curl) the
generator feeding the body must have been asked for a small part of it. Nothing is left
behind: no upload row, an empty spool, the refusal on the audit trail.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from fivesafes.db import make_engine
from tests.e2e.server import environment, run_cli, running_server
from tests.integration.ingestion.extracts import COLUMNS, policy_text

TOKEN = re.compile(r"fs_[A-Za-z0-9_-]{43}")
#: What the client claims it will send: never sent, never read.
DECLARED = 1024**3
WRONG_HEADER = ",".join([*COLUMNS[:-1], "surname"]) + "\r\n"
ROW = "9434765919,Ann Example,1970-01-01,LS1 4AP,F,A,2023-01-05,J44\r\n"


@dataclass(frozen=True)
class Server:
    base: str
    token: str
    workdir: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("header")
    env = environment(f"sqlite:///{workdir / 'header.db'}", workdir)
    env["FIVESAFES_UPLOAD_MAX_BYTES"] = str(4 * DECLARED)
    assert run_cli("init", env=env, cwd=workdir).returncode == 0
    policy = workdir / "episodes.yaml"
    policy.write_text(policy_text())
    loaded = run_cli("policies", "load", str(policy), "--as", "admin", env=env, cwd=workdir)
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert (
        run_cli("users", "add", "ula", "--role", "uploader", env=env, cwd=workdir).returncode == 0
    )
    issued = run_cli("tokens", "issue", "ula", env=env, cwd=workdir)
    match = TOKEN.search(issued.stdout)
    assert match, issued.stdout + issued.stderr
    with running_server(env, workdir) as base:
        yield Server(base, match.group(0), workdir, env)


def _preamble(boundary: str, filename: str) -> bytes:
    return (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()


def _nothing_left(server: Server) -> None:
    uploads = httpx.get(
        f"{server.base}/uploads", headers={"Authorization": f"Bearer {server.token}"}
    )
    assert uploads.status_code == 200
    assert uploads.json() == []
    spool = server.workdir / "var" / "spool"
    assert not spool.exists() or not any(p.is_file() for p in spool.rglob("*"))


def _check_refusal(status: int, body: bytes, filename: str) -> None:
    assert status == 422
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_file"
    message = error["message"]
    assert filename in message
    assert "line 1" in message
    assert "not declared in policy 'episodes'" in message
    assert "1 column(s) not declared" in message
    assert "missing: 'diagnosis_code'" in message
    assert "Ann Example" not in message  # no cell value


def test_a_wrong_header_is_refused_before_the_body_is_sent(server: Server) -> None:
    boundary = uuid.uuid4().hex
    host, port = server.base.removeprefix("http://").split(":")
    head = (
        f"POST /datasets/episodes/uploads HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {server.token}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {DECLARED}\r\n\r\n"
    ).encode()
    sent = _preamble(boundary, "wrong-header.csv") + (WRONG_HEADER + ROW * 50).encode()
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head + sent)
        reply = b""
        while more := sock.recv(65536):  # the server closes after its answer
            reply += more
    headers, _, body = reply.partition(b"\r\n\r\n")
    status = int(headers.split(b" ", 2)[1])
    assert len(sent) < 10_000 < DECLARED  # the answer came with next to nothing sent
    assert b"connection: close" in headers.lower()
    _check_refusal(status, body, "wrong-header.csv")
    _nothing_left(server)


def test_httpx_stops_sending_and_reads_the_refusal(server: Server) -> None:
    boundary = uuid.uuid4().hex
    chunk = (ROW * 16_000).encode()  # about 1 MiB
    consumed = 0

    def body() -> Iterator[bytes]:
        nonlocal consumed
        for piece in (_preamble(boundary, "big-wrong.csv"), WRONG_HEADER.encode()):
            consumed += len(piece)
            yield piece
        while consumed < DECLARED:
            consumed += len(chunk)
            yield chunk

    response = httpx.post(
        f"{server.base}/datasets/episodes/uploads",
        content=body(),
        headers={
            "Authorization": f"Bearer {server.token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        timeout=60,
    )
    # Measured: about 5 MB (socket buffers) of the 1 GiB; the bound leaves room for CI.
    assert consumed < 64 * 1024**2, f"{consumed} bytes were asked for before the answer"
    _check_refusal(response.status_code, response.content, "big-wrong.csv")
    _nothing_left(server)


def test_an_unknown_dataset_is_refused_before_the_body(server: Server) -> None:
    response = httpx.post(
        f"{server.base}/datasets/nope/uploads",
        files={"file": ("x.csv", (WRONG_HEADER + ROW).encode(), "text/csv")},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "dataset_not_found"


def test_the_refusals_are_on_the_audit_trail(server: Server) -> None:
    engine = make_engine(server.env["FIVESAFES_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT outcome, details FROM audit_events WHERE action = 'upload.create'")
            ).all()
    finally:
        engine.dispose()
    refused = [json.loads(details) for outcome, details in rows if outcome == "failed"]
    files = {d["file"] for d in refused if d["code"] == "invalid_file"}
    assert {"wrong-header.csv", "big-wrong.csv"} <= files
    assert all(d["line"] == 1 for d in refused if d["code"] == "invalid_file")
