"""`fivesafes policies draft`: writes a reviewed-to-be policy, never overwrites by accident,
never opens the database, never prints a sampled value (loads spaCy: marked slow)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fivesafes.cli.main import app
from fivesafes.config import reset_settings_cache
from fivesafes.deid.policy import load_policy

pytestmark = pytest.mark.slow

EXTRACT = Path(__file__).resolve().parents[1] / "data" / "policy-draft-extract.csv"
runner = CliRunner()


@pytest.fixture
def no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A configured database that must never come to exist."""
    database = tmp_path / "never.db"
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings_cache()
    yield database
    reset_settings_cache()


def _values() -> set[str]:
    with EXTRACT.open() as handle:
        return {v for row in csv.DictReader(handle) for v in row.values() if len(v) >= 6}


def test_draft_writes_a_loadable_policy_and_refuses_to_overwrite_it(
    no_database: Path, tmp_path: Path
) -> None:
    out = tmp_path / "episodes.yaml"
    done = runner.invoke(
        app,
        [
            "policies",
            "draft",
            str(EXTRACT),
            "--out",
            str(out),
            "--dataset",
            "episodes",
            "--sample-rows",
            "25",
        ],
    )
    assert done.exit_code == 0, done.output
    policy = load_policy(out)
    assert policy.dataset == "episodes"
    assert policy.columns["patient_name"].role == "identifier"
    assert "25 rows" in out.read_text()
    assert "patient_id" in done.output
    assert "fivesafes policies load" in done.output
    assert not any(value in done.output for value in _values())
    assert not no_database.exists()

    first = out.read_text()
    again = runner.invoke(app, ["policies", "draft", str(EXTRACT), "--out", str(out)])
    assert again.exit_code == 2
    assert "already exists (use --force" in again.output
    assert out.read_text() == first

    forced = runner.invoke(app, ["policies", "draft", str(EXTRACT), "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert load_policy(out).dataset == "policy-draft-extract"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left


def test_draft_without_out_writes_the_yaml_to_standard_output(no_database: Path) -> None:
    done = runner.invoke(app, ["policies", "draft", str(EXTRACT), "--sample-rows", "10"])
    assert done.exit_code == 0, done.output
    assert "columns:" in done.stdout
    assert "# REVIEW: proposed" in done.stdout
    assert not any(value in done.output for value in _values())
    assert not no_database.exists()


def test_draft_of_a_missing_or_unreadable_extract_is_a_clear_error(
    no_database: Path, tmp_path: Path
) -> None:
    missing = runner.invoke(app, ["policies", "draft", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2
    assert "input file not found" in missing.output
    zero = runner.invoke(app, ["policies", "draft", str(EXTRACT), "--sample-rows", "0"])
    assert zero.exit_code == 2
    assert not (tmp_path / "nope.yaml").exists()
