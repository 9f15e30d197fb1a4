"""Page sessions for in-process web tests: a client logged in with a person's API token."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def logged_in(app: Any, token: str) -> TestClient:
    """A client of ``app`` holding a web session opened with ``token`` (the token log-in
    form, CSRF cookie and field as a browser sends them)."""
    client = TestClient(app, base_url="https://testserver")
    page = client.get("/web/login")
    found = CSRF.search(page.text)
    assert found
    response = client.post(
        "/web/login/token",
        data={"csrf_token": found.group(1), "token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def csrf_token(client: TestClient, path: str) -> str:
    """The CSRF token of the form on the page at ``path``."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found
    return found.group(1)
