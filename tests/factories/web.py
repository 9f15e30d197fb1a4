"""A browser's session in process: a test client logged in to the pages with a token."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def logged_in(app: FastAPI, token: str) -> TestClient:
    """A client holding a web session opened with ``token`` (the log-in page's token
    form, CSRF token included), over https so the session cookie is sent back."""
    client = TestClient(app, base_url="https://testserver")
    form = CSRF.search(client.get("/web/login").text)
    assert form, "the log-in page has no CSRF token"
    response = client.post(
        "/web/login/token",
        data={"csrf_token": form.group(1), "token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client
