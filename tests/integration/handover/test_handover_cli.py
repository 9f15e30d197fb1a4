"""`fivesafes ingest --deidentified OUT --dataset NAME`: verified, loaded, or refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.main import app
from fivesafes.config import load_settings
from fivesafes.datasets import service as datasets
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.deid.engine import RunOptions
from fivesafes.deid.handover_output import deidentify_to_directory
from fivesafes.deid.policy import load_policy
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.open import open_keystore
from tests.integration.ingestion.extracts import dev_rows, policy_text, write_csv

runner = CliRunner()


@pytest.fixture
def handover(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "keys"))
    monkeypatch.setenv("COLUMNS", "200")
    settings = load_settings(database_url=database_url, keystore_path=tmp_path / "keys")
    LocalFileKeyStore(settings.keystore_path).init()
    policy = tmp_path / "episodes.yaml"
    policy.write_text(policy_text())
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            datasets.load_policy_file(session, AuditTrail.for_operator(), policy)
    finally:
        engine.dispose()
    out = tmp_path / "out"
    deidentify_to_directory(
        write_csv(tmp_path / "episodes.csv", dev_rows(30)),
        load_policy(policy),
        out,
        keystore=open_keystore(settings),
        output_format="csv",
        options=RunOptions(workers=1),
    )
    return out


def test_a_hand_over_is_ingested(handover: Path) -> None:
    result = runner.invoke(
        app, ["ingest", "--deidentified", str(handover), "--dataset", "episodes"]
    )
    assert result.exit_code == 0, result.output
    assert "episodes version 1: 30 rows from the signed hand-over out" in result.output


def test_a_truncated_part_file_is_refused_by_name(handover: Path) -> None:
    part = handover / "part-00000.csv"
    part.write_bytes(part.read_bytes()[:-40])
    result = runner.invoke(
        app, ["ingest", "--deidentified", str(handover), "--dataset", "episodes"]
    )
    assert result.exit_code == 2
    assert "handover_altered_file" in result.output
    assert "part-00000.csv" in result.output


def test_file_and_directory_together_are_refused(handover: Path) -> None:
    result = runner.invoke(
        app, ["ingest", "x.csv", "--deidentified", str(handover), "--dataset", "episodes"]
    )
    assert result.exit_code == 2
    assert "either FILE or --deidentified" in result.output
