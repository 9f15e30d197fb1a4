"""An unexpected exception is a 500 whose log line withholds the exception's message."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from fivesafes.app import create_app
from fivesafes.config import Settings

SECRET_VALUE = "9434765919"


def test_unexpected_error_is_500_and_its_message_never_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise ValueError(f"invalid input syntax for type date: {SECRET_VALUE!r}")

    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.ERROR):
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-request-id"] in response.json()["error"]["message"]
    assert SECRET_VALUE not in response.text
    assert "ValueError (message withheld)" in caplog.text
    assert SECRET_VALUE not in caplog.text
