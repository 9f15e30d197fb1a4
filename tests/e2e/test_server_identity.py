"""A real `fivesafes serve` process answering real HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.server import environment, run_cli, running_server

TOKEN = re.compile(r"fs_[A-Za-z0-9_-]{43}")


def test_init_serve_authenticate(empty_database_url: str, tmp_path: Path) -> None:
    env = environment(empty_database_url, tmp_path)
    init = run_cli("init", env=env, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    admin = TOKEN.search(init.stdout)
    assert admin
    with running_server(env, tmp_path) as base:
        health = httpx.get(f"{base}/healthz")
        assert health.status_code == 200
        auth = {"Authorization": f"Bearer {admin.group(0)}"}
        assert httpx.get(f"{base}/me", headers=auth).json()["role"] == "admin"
        created = httpx.post(
            f"{base}/users", json={"username": "rita", "role": "researcher"}, headers=auth
        )
        assert created.status_code == 201
        denied = httpx.get(f"{base}/users", headers={"Authorization": "Bearer fs_wrong"})
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "invalid_token"
        assert httpx.get(f"{base}/docs").status_code == 200
