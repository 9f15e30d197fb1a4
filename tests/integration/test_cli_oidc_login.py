"""``fivesafes login`` / ``logout`` and ``fetch`` with a stored sign-in (issue 16).

The identity provider is the real test provider (tests/oidc_idp) over loopback HTTP, and
the server is the real application served by uvicorn in a thread, so the CLI speaks HTTP
to both exactly as from a researcher's laptop: ``GET /auth/providers``, discovery, the
device authorization grant, ``GET /me``. A few token-endpoint answers no provider can be
made to give on cue (a timeout) go through an httpx MockTransport instead.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from fivesafes import schema
from fivesafes.app import create_app
from fivesafes.cli import device_login, stored_credentials
from fivesafes.cli.main import app as cli
from fivesafes.config import Settings, load_settings
from fivesafes.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from tests.oidc_idp import TestIdentityProvider
from tests.oidc_idp.fixtures import identity_policy_file

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _serving(settings: Settings) -> Iterator[str]:
    """The real application on a loopback port, in a thread; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fivesafes-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fivesafes server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


def _settings(folder: Path, *idps: TestIdentityProvider) -> Settings:
    database_url = f"sqlite:///{folder / 'fivesafes.db'}"
    schema.upgrade(database_url)
    return load_settings(
        database_url=database_url,
        keystore_path=folder / "keys",
        identity_policy=identity_policy_file(folder / "identity.yaml", *idps),
        # Each test's provider has a fresh key: the server must look at once.
        oidc_jwks_min_refresh_seconds=0,
    )


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, oidc_idp_server: TestIdentityProvider
) -> Iterator[str]:
    """A server whose only identity provider is ``oidc_idp``."""
    with _serving(_settings(tmp_path_factory.mktemp("one"), oidc_idp_server)) as base:
        yield base


@pytest.fixture(scope="module")
def two_provider_server(
    tmp_path_factory: pytest.TempPathFactory,
    oidc_idp_server: TestIdentityProvider,
    second_oidc_idp_server: TestIdentityProvider,
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("two")
    with _serving(_settings(folder, oidc_idp_server, second_oidc_idp_server)) as base:
        yield base


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def _credentials(config_home: Path) -> Path:
    return config_home / "fivesafes" / "credentials.json"


@contextmanager
def _approving(idp: TestIdentityProvider, *, after_polls: int = 0) -> Iterator[list[str]]:
    """Approve the next device sign-in at ``idp`` as a person would, from another thread,
    once the CLI has polled ``after_polls`` times; yields (then holds) the user code."""
    codes: list[str] = []

    def approve() -> None:
        code = idp.wait_for_device_request(timeout=20)
        codes.append(code)
        deadline = time.monotonic() + 20
        while len(idp.token_requests) < after_polls and time.monotonic() < deadline:
            time.sleep(0.02)
        idp.approve_device(code)

    thread = threading.Thread(target=approve, daemon=True)
    thread.start()
    try:
        yield codes
    finally:
        thread.join(25)


def _login(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["login", *args])
    return result.exit_code, result.output


def _payload(jwt: str) -> dict[str, Any]:
    part = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def test_login_stores_the_token_privately_and_never_prints_it(
    server: str, oidc_idp: TestIdentityProvider, config_home: Path
) -> None:
    # Approved after two polls: the provider checks the second came no sooner than the
    # interval (else it answers slow_down).
    with _approving(oidc_idp, after_polls=2) as codes:
        code, out = _login("--url", server + "/")
    assert code == 0, out
    assert codes
    assert codes[0] in out
    assert oidc_idp.url("device") in out
    assert "ada-0001 (researcher)" in out  # the server's view of the new token

    path = _credentials(config_home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert list(stored) == [server]  # keyed by the URL, trailing slash or not
    entry = stored[server]
    assert entry["provider"] == oidc_idp.name
    assert entry["issuer"] == oidc_idp.issuer
    assert entry["client_id"] == oidc_idp.cli_client_id
    assert entry["token_endpoint"] == oidc_idp.url("token")
    assert entry["refresh_token"]  # offline_access was asked for: the provider offers it
    assert datetime.fromisoformat(entry["expires_at"]) > datetime.now(UTC) + timedelta(minutes=3)
    claims = _payload(entry["access_token"])
    assert (claims["iss"], claims["aud"]) == (oidc_idp.issuer, oidc_idp.audience)
    assert oidc_idp.audience + "/.default" in claims["scp"].split()  # the API scope
    # No secret reached the terminal: not the tokens, not the device code.
    for secret in (entry["access_token"], entry["refresh_token"], *oidc_idp._devices):
        assert secret not in out
    # The public client, polling no faster than the interval: never told to slow down.
    polls = [r for r in oidc_idp.token_requests if r["grant_type"] == device_login.DEVICE_GRANT]
    assert {r["client_id"] for r in polls} == {oidc_idp.cli_client_id}
    assert {r["auth_method"] for r in polls} == {"none"}
    assert [r["error"] for r in polls] == ["authorization_pending"] * 2 + [None]
    # The stored token is what the server accepts.
    me = httpx.get(f"{server}/me", headers={"Authorization": f"Bearer {entry['access_token']}"})
    assert me.json()["role"] == "researcher"


def test_a_second_login_keeps_other_servers_and_tightens_the_folder(
    server: str, oidc_idp: TestIdentityProvider, config_home: Path
) -> None:
    folder = config_home / "fivesafes"
    folder.mkdir(parents=True, mode=0o755)
    os.chmod(folder, 0o755)
    other = _credential("other-token")
    stored_credentials.save("https://other.example", other)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    with _approving(oidc_idp):
        code, out = _login("--url", server)
    assert code == 0, out
    stored = stored_credentials.load_all()
    assert set(stored) == {"https://other.example", server}
    assert stored["https://other.example"].access_token == "other-token"
    assert not [p.name for p in folder.iterdir() if p.name != "credentials.json"]  # no temp


def test_several_providers_need_a_choice(
    two_provider_server: str,
    oidc_idp: TestIdentityProvider,
    second_oidc_idp: TestIdentityProvider,
    config_home: Path,
) -> None:
    code, out = _login("--url", two_provider_server)
    assert code == 2
    assert "--provider" in out
    assert f"{oidc_idp.name}, {second_oidc_idp.name}" in out
    code, out = _login("--url", two_provider_server, "--provider", "elsewhere")
    assert code == 2
    assert "'elsewhere'" in out
    assert f"{oidc_idp.name}, {second_oidc_idp.name}" in out
    assert not _credentials(config_home).exists()
    assert oidc_idp.token_requests == second_oidc_idp.token_requests == []

    with _approving(second_oidc_idp):
        code, out = _login("--url", two_provider_server, "--provider", second_oidc_idp.name)
    assert code == 0, out
    entry = stored_credentials.load_all()[two_provider_server]
    assert (entry.provider, entry.issuer) == (second_oidc_idp.name, second_oidc_idp.issuer)
    assert entry.client_id == second_oidc_idp.cli_client_id
    assert oidc_idp.token_requests == []


def test_a_denied_sign_in_stores_nothing(
    server: str, oidc_idp: TestIdentityProvider, config_home: Path
) -> None:
    oidc_idp.device_script = ["authorization_pending", "access_denied"]
    code, out = _login("--url", server)
    assert code == 1
    assert "access_denied" in out
    assert "denied" in out
    assert not _credentials(config_home).exists()
    errors = [r["error"] for r in oidc_idp.token_requests]
    assert errors == ["authorization_pending", "access_denied"]  # and no poll after


def test_an_expired_code_stores_nothing(
    server: str, oidc_idp: TestIdentityProvider, config_home: Path
) -> None:
    oidc_idp.device_script = ["expired_token"]
    code, out = _login("--url", server)
    assert code == 1
    assert "expired_token" in out
    assert "fivesafes login" in out
    assert not _credentials(config_home).exists()
    assert [r["error"] for r in oidc_idp.token_requests] == ["expired_token"]


def test_the_client_gives_up_when_the_code_expires_whatever_the_provider_says(
    server: str, oidc_idp: TestIdentityProvider, config_home: Path
) -> None:
    oidc_idp.device_expires_in = 2
    oidc_idp.device_script = ["authorization_pending"] * 5  # a provider that never says
    code, out = _login("--url", server)
    assert code == 1
    assert "expired_token" in out
    assert len(oidc_idp.token_requests) == 1  # the next poll would be past expires_in


def test_a_role_the_server_does_not_map_is_reported_and_not_stored(
    server: str, oidc_idp: TestIdentityProvider, config_home: Path
) -> None:
    oidc_idp.set_user("nobody-0002", roles=["Somewhere.Else"])
    with _approving(oidc_idp):
        code, out = _login("--url", server)
    assert code == 1
    assert "403" in out
    assert "no_role" in out
    assert not _credentials(config_home).exists()


def test_logout_forgets_only_that_server(
    server: str, oidc_idp: TestIdentityProvider, config_home: Path
) -> None:
    with _approving(oidc_idp):
        assert _login("--url", server)[0] == 0
    stored_credentials.save("https://other.example", _credential("other-token"))
    result = runner.invoke(cli, ["logout", "--url", server])
    assert result.exit_code == 0, result.output
    assert "Signed out" in result.output
    assert set(stored_credentials.load_all()) == {"https://other.example"}
    assert stat.S_IMODE(_credentials(config_home).stat().st_mode) == 0o600
    again = runner.invoke(cli, ["logout", "--url", server])
    assert again.exit_code == 0
    assert "No stored sign-in" in again.output


def test_login_to_a_server_that_is_not_there_says_so(config_home: Path) -> None:
    code, out = _login("--url", f"http://127.0.0.1:{_free_port()}")
    assert code == 1
    assert "cannot reach the fivesafes server" in out
    assert not _credentials(config_home).exists()


def test_a_server_without_providers_is_told_apart() -> None:
    with pytest.raises(NotFoundError) as refused:
        device_login.choose_provider([], None, "https://tre.example")
    assert refused.value.code == "no_provider"
    assert "--token" in refused.value.message


# -- fetch with the stored sign-in --------------------------------------------------------


def _credential(token: str, **changes: Any) -> stored_credentials.StoredCredential:
    base = stored_credentials.StoredCredential(
        provider="other",
        issuer="https://idp.other.example",
        access_token=token,
        refresh_token=None,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
        token_endpoint="https://idp.other.example/token",
        client_id="cli",
    )
    return replace(base, **changes)


def _fetch(server: str, tmp_path: Path) -> tuple[int, str]:
    result = runner.invoke(
        cli, ["fetch", "987654", "--out", str(tmp_path / "out.csv"), "--url", server]
    )
    return result.exit_code, result.output


def test_fetch_renews_an_expired_stored_token_and_sends_it(
    server: str, oidc_idp: TestIdentityProvider, config_home: Path, tmp_path: Path
) -> None:
    with _approving(oidc_idp):
        assert _login("--url", server)[0] == 0
    before = stored_credentials.get(server)
    assert before is not None
    assert before.refresh_token
    stored_credentials.save(
        server, replace(before, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    )
    code, out = _fetch(server, tmp_path)
    # The server authenticated the renewed token and answered about the grant itself.
    assert code == 1
    assert "HTTP 401" not in out
    assert "HTTP 404" in out, out  # grant_not_found: the server knew who asked
    assert [r["grant_type"] for r in oidc_idp.token_requests][-1] == "refresh_token"
    assert oidc_idp.token_requests[-1]["error"] is None
    after = stored_credentials.get(server)
    assert after is not None
    assert after.access_token != before.access_token
    assert after.refresh_token not in (None, before.refresh_token)  # rotated, and kept
    assert after.expires_at is not None
    assert after.expires_at > datetime.now(UTC)
    assert after.access_token not in out
    # Still fresh: the next fetch sends it as it is, without asking the provider.
    asked = len(oidc_idp.token_requests)
    assert "HTTP 401" not in _fetch(server, tmp_path)[1]
    assert len(oidc_idp.token_requests) == asked


def test_fetch_without_any_token_names_login(
    server: str, config_home: Path, tmp_path: Path
) -> None:
    code, out = _fetch(server, tmp_path)
    assert code == 1
    assert f"fivesafes login --url {server}" in out
    assert "not_signed_in" in out


def test_fetch_with_an_expired_token_and_no_refresh_token_names_login(
    server: str, config_home: Path, tmp_path: Path
) -> None:
    stored_credentials.save(
        server, _credential("stale", expires_at=datetime.now(UTC) - timedelta(hours=1))
    )
    code, out = _fetch(server, tmp_path)
    assert code == 1
    assert "sign_in_expired" in out
    assert f"fivesafes login --url {server}" in out


def test_fetch_with_a_refused_refresh_names_login(
    server: str, oidc_idp: TestIdentityProvider, config_home: Path, tmp_path: Path
) -> None:
    stored_credentials.save(
        server,
        _credential(
            "stale",
            refresh_token="not-a-refresh-token",
            expires_at=datetime.now(UTC) - timedelta(hours=1),
            token_endpoint=oidc_idp.url("token"),
            client_id=oidc_idp.cli_client_id,
        ),
    )
    code, out = _fetch(server, tmp_path)
    assert code == 1
    assert "invalid_grant" in out
    assert f"fivesafes login --url {server}" in out
    assert "not-a-refresh-token" not in out


def test_a_stored_token_the_server_refuses_says_to_sign_in_again(
    server: str, config_home: Path, tmp_path: Path
) -> None:
    stored_credentials.save(server, _credential("fs_not_a_real_token"))
    code, out = _fetch(server, tmp_path)
    assert code == 1
    assert "HTTP 401" in out
    assert f"fivesafes login --url {server}" in out


def test_a_credentials_file_others_may_read_is_refused(
    server: str, config_home: Path, tmp_path: Path
) -> None:
    path = stored_credentials.save(server, _credential("secret-token"))
    os.chmod(path, 0o644)
    code, out = _fetch(server, tmp_path)
    assert code == 1
    assert "credentials_not_private" in out
    assert "secret-token" not in out
    with pytest.raises(ConfigurationError):
        stored_credentials.load_all()


def test_the_credentials_path_follows_xdg(tmp_path: Path) -> None:
    home = Path.home()
    default = home / ".config" / "fivesafes" / "credentials.json"
    assert stored_credentials.credentials_path({}) == default
    assert stored_credentials.credentials_path({"XDG_CONFIG_HOME": "relative"}) == default
    assert stored_credentials.credentials_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "fivesafes" / "credentials.json"
    )


# -- the token endpoint's answers, one by one -----------------------------------------------


def _endpoints(idp: TestIdentityProvider) -> device_login.ProviderEndpoints:
    return device_login.ProviderEndpoints(
        issuer=idp.issuer,
        token_endpoint=idp.url("token"),
        device_authorization_endpoint=idp.url("devicecode"),
        scopes_supported=("openid",),
    )


def test_slow_down_adds_five_seconds_to_this_and_every_later_poll(
    oidc_idp: TestIdentityProvider,
) -> None:
    oidc_idp.device_script = ["authorization_pending", "slow_down", "authorization_pending",
                              "slow_down", "approved"]  # fmt: skip
    endpoints = _endpoints(oidc_idp)
    slept: list[float] = []
    with httpx.Client() as http:
        authorization = device_login.start(http, endpoints, oidc_idp.cli_client_id, "openid")
        tokens = device_login.poll(
            http, endpoints, oidc_idp.cli_client_id, authorization, sleep=slept.append
        )
    assert authorization.interval == 1
    assert slept == [1, 1, 6, 6, 11]
    assert _payload(tokens.access_token)["sub"] == oidc_idp.user.subject


def test_polling_waits_the_default_five_seconds_when_no_interval_is_given() -> None:
    answers = iter([{"error": "authorization_pending"}, _token_answer()])
    slept: list[float] = []
    tokens = _mock_poll(lambda: next(answers), slept, interval=None)
    assert slept == [5, 5]
    assert tokens.refresh_token is None


def _token_answer() -> dict[str, Any]:
    return {"access_token": "opaque", "token_type": "Bearer", "expires_in": 60}


def _mock_poll(
    answer: Callable[[], dict[str, Any] | Exception],
    slept: list[float],
    *,
    interval: int | None = 1,
) -> device_login.TokenSet:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        reply = answer()
        if isinstance(reply, Exception):
            raise reply
        return httpx.Response(200 if "access_token" in reply else 400, json=reply)

    authorization = device_login.DeviceAuthorization(
        device_code="dc", user_code="ABCD-EFGH", verification_uri="https://idp.example/device",
        verification_uri_complete=None, expires_in=600,
        interval=interval or device_login.DEFAULT_INTERVAL,
    )  # fmt: skip
    endpoints = device_login.ProviderEndpoints(
        issuer="https://idp.example",
        token_endpoint="https://idp.example/token",
        device_authorization_endpoint="https://idp.example/device",
        scopes_supported=(),
    )
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        try:
            return device_login.poll(http, endpoints, "cli", authorization, sleep=slept.append)
        finally:
            for request in requests:
                form = dict(parse_qsl(request.content.decode()))
                assert form == {"grant_type": device_login.DEVICE_GRANT,
                                "device_code": "dc", "client_id": "cli"}  # fmt: skip


def test_a_timeout_doubles_the_interval() -> None:
    answers: Iterator[dict[str, Any] | Exception] = iter(
        [httpx.ReadTimeout("slow"), {"error": "authorization_pending"}, _token_answer()]
    )
    slept: list[float] = []
    _mock_poll(lambda: next(answers), slept)
    assert slept == [1, 2, 2]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("invalid_grant", AuthenticationError),
        ("invalid_client", PermissionDeniedError),
        ("unsupported_grant_type", AuthenticationError),
    ],
)
def test_any_other_error_stops_and_is_named(error: str, kind: type[Exception]) -> None:
    slept: list[float] = []
    with pytest.raises(kind) as refused:
        _mock_poll(lambda: {"error": error, "error_description": "because"}, slept)
    assert slept == [1]
    assert error in str(refused.value)
    assert "because" in str(refused.value)


def test_an_answer_without_a_bearer_token_is_refused() -> None:
    with pytest.raises(ServiceUnavailableError, match="Bearer"):
        _mock_poll(lambda: {"access_token": "x", "token_type": "mac"}, [])


def _discovering(doc: dict[str, Any]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json=doc)))


def test_discovery_must_name_the_issuer_the_server_named() -> None:
    provider = device_login.ServerProvider(
        name="trust", label="Trust", issuer="https://idp.example/tenant", client_id="cli",
        audience="api://fivesafes", scopes=("openid",), api_scope=None,
    )  # fmt: skip
    endpoints = {"token_endpoint": "https://idp.example/tenant/token",
                 "device_authorization_endpoint": "https://idp.example/tenant/device"}  # fmt: skip
    with _discovering({"issuer": "https://evil.example/tenant", **endpoints}) as http:
        with pytest.raises(ServiceUnavailableError) as refused:
            device_login.discover(http, provider)
        assert refused.value.code == "wrong_issuer"
    with _discovering({"issuer": provider.issuer, "token_endpoint": "x"}) as http:
        with pytest.raises(ServiceUnavailableError) as refused:
            device_login.discover(http, provider)
        assert refused.value.code == "device_flow_unsupported"
    plain = {**endpoints, "token_endpoint": "http://idp.example/tenant/token"}
    with _discovering({"issuer": provider.issuer, **plain}) as http:
        with pytest.raises(ServiceUnavailableError) as refused:
            device_login.discover(http, provider)
        assert refused.value.code == "insecure_provider"
    with _discovering({"issuer": provider.issuer, **endpoints}) as http:
        found = device_login.discover(http, provider)
    assert found.token_endpoint == endpoints["token_endpoint"]
    insecure = replace(provider, issuer="http://idp.example")
    with _discovering({}) as http, pytest.raises(ServiceUnavailableError, match="https"):
        device_login.discover(http, insecure)
