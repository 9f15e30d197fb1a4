"""`fivesafes audit ...` from the shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.db import make_engine
from tests.integration.audit.helpers import triggers_disabled

runner = CliRunner()


@pytest.fixture
def initialised(empty_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "keys"))
    monkeypatch.setenv("COLUMNS", "200")
    assert runner.invoke(app, ["init"]).exit_code == 0
    for name in ("amy", "ben", "cat"):
        assert runner.invoke(app, ["users", "add", name, "--role", "researcher"]).exit_code == 0
    return empty_database_url


def test_show_lists_and_filters(initialised: str) -> None:
    result = runner.invoke(app, ["audit", "show", "--action", "user.create"])
    assert result.exit_code == 0
    assert result.output.count("user.create") == 4
    as_csv = runner.invoke(app, ["audit", "show", "--action", "keys.", "--csv"])
    assert as_csv.output.splitlines()[0].startswith("seq,occurred_at")
    assert len(as_csv.output.splitlines()) == 2


def test_verify_with_an_exported_checkpoint_catches_truncation(
    initialised: str, tmp_path: Path
) -> None:
    out = tmp_path / "cp.json"
    assert runner.invoke(app, ["audit", "checkpoint", "--out", str(out)]).exit_code == 0
    ok = runner.invoke(app, ["audit", "verify", "--checkpoint", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "events verified" in ok.output
    engine = make_engine(initialised)
    try:
        with triggers_disabled(engine) as connection:
            connection.execute(text("DELETE FROM audit_events WHERE seq >= 5"))
    finally:
        engine.dispose()
    bad = runner.invoke(app, ["audit", "verify", "--checkpoint", str(out)])
    assert bad.exit_code == 1
    assert "truncated at seq 5" in bad.output


def test_verify_rejects_a_file_that_is_not_a_checkpoint(initialised: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    result = runner.invoke(app, ["audit", "verify", "--checkpoint", str(junk)])
    assert result.exit_code == 2
    assert "not a checkpoint file" in result.output
