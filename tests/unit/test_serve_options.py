"""`fivesafes serve`'s HTTP options: the header deadline and the trusted proxies."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fivesafes.cli import web_commands
from fivesafes.cli.main import app
from fivesafes.config import get_settings, load_settings
from fivesafes.errors import ConfigurationError
from fivesafes.httpkit.http_protocol import HeaderTimeoutH11Protocol


def test_the_server_gets_the_header_deadline_and_no_proxy_handling_of_its_own() -> None:
    options = web_commands.server_options(
        load_settings(header_read_timeout_seconds=3.5), None, None
    )
    protocol = options["http"]
    assert issubclass(protocol, HeaderTimeoutH11Protocol)
    assert protocol.header_timeout == 3.5
    assert options["proxy_headers"] is False  # the app reads X-Forwarded-For itself
    assert options["server_header"] is False


def test_trusted_proxies_must_be_addresses_or_ranges() -> None:
    assert load_settings(forwarded_allow_ips="10.0.0.1, 10.1.0.0/16, ::1").trusted_proxies == [
        "10.0.0.1",
        "10.1.0.0/16",
        "::1",
    ]
    with pytest.raises(ConfigurationError, match="FIVESAFES_FORWARDED_ALLOW_IPS"):
        load_settings(forwarded_allow_ips="proxy.internal")


def test_serve_option_reaches_the_app_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIVESAFES_FORWARDED_ALLOW_IPS", "")  # restored after the test
    web_commands.trust_proxies("192.0.2.10")
    assert get_settings().trusted_proxies == ["192.0.2.10"]


def test_serve_refuses_a_bad_proxy_address_before_starting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIVESAFES_FORWARDED_ALLOW_IPS", "")
    started: list[object] = []
    monkeypatch.setattr(web_commands, "run_server", lambda *a: started.append(a))
    result = CliRunner().invoke(app, ["serve", "--forwarded-allow-ips", "not-an-ip"])
    assert result.exit_code != 0
    assert "FIVESAFES_FORWARDED_ALLOW_IPS" in result.output
    assert started == []
