"""The CLI's set-up and identity commands against a real database."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from fivesafes.cli.main import app

runner = CliRunner()
TOKEN = re.compile(r"fs_[A-Za-z0-9_-]{43}")


@pytest.fixture
def cli_env(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables fold to the terminal width
    return empty_database_url


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_init_creates_schema_and_prints_admin_token_once(cli_env: str) -> None:
    code, out = _run("db", "current")
    assert code == 0
    assert "(empty)" in out
    code, out = _run("init")
    assert code == 0, out
    assert len(TOKEN.findall(out)) == 1
    code, out = _run("db", "current")
    assert "up to date" in out
    code, out = _run("init")
    assert code == 1
    assert "already initialised" in out
    code, out = _run("tokens", "list")
    assert TOKEN.search(out) is None  # secrets are never shown again


def test_users_and_tokens_lifecycle(cli_env: str) -> None:
    assert _run("init")[0] == 0
    code, out = _run("users", "add", "alice", "--role", "researcher", "--full-name", "Alice A")
    assert code == 0, out
    code, out = _run("users", "list")
    assert "alice" in out
    assert "researcher" in out
    code, out = _run("tokens", "issue", "alice", "--name", "laptop", "--days", "3")
    assert code == 0, out
    assert TOKEN.search(out)
    code, out = _run("tokens", "list", "alice")
    assert "laptop" in out
    token_id = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", out)
    assert token_id, out
    code, out = _run("tokens", "revoke", token_id.group(0))
    assert code == 0, out
    code, out = _run("users", "disable", "alice")
    assert code == 0
    code, out = _run("users", "list")
    assert "disabled" in out


@pytest.mark.parametrize(
    ("args", "exit_code", "fragment"),
    [
        (("users", "add", "Bad Name", "--role", "admin"), 2, "username"),
        (("users", "add", "zed", "--role", "wizard"), 2, "wizard"),
        (("users", "disable", "nobody"), 1, "no user"),
        (("tokens", "issue", "nobody"), 1, "no user"),
        (("tokens", "revoke", "not-a-uuid"), 2, "not a token id"),
        (("tokens", "issue", "admin", "--days", "0"), 2, "--days"),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(
    cli_env: str, args: tuple[str, ...], exit_code: int, fragment: str
) -> None:
    assert _run("init")[0] == 0
    code, out = _run(*args)
    assert code == exit_code, out
    assert fragment in out
