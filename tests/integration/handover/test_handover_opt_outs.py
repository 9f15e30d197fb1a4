"""A hand-over must have been made with the National Data Opt-out list in force.

A job outside the server applies the list it reads from the platform database when it
starts (:func:`fivesafes.ingestion.optouts.filter_in_force`) and records the list's id in
the signed manifest; ingestion refuses output made with no list, or with an older one,
while a list is in force. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from fivesafes.audit.checkpoints import public_key_b64
from fivesafes.audit.trail import AuditTrail
from fivesafes.cli.main import app
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import DatasetVersion
from fivesafes.db import session_scope
from fivesafes.deid.engine import RunOptions
from fivesafes.deid.handover_output import deidentify_to_directory
from fivesafes.deid.optout import OptOutFilter
from fivesafes.deid.policy import load_policy
from fivesafes.handover.manifest import MANIFEST_NAME, HandoverRefusedError
from fivesafes.ingestion.deidentified import ingest_deidentified
from fivesafes.ingestion.optouts import filter_in_force, load_optouts
from fivesafes.ingestion.storage import qualified_name
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.ingestion.extracts import dev_rows, policy_text, write_csv

TRAIL = AuditTrail.for_operator()


@pytest.fixture
def keystore() -> InMemoryKeyStore:
    return InMemoryKeyStore.generate()


@pytest.fixture
def setup(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> tuple[Path, Path, list[dict[str, str]]]:
    """The episodes policy loaded; an extract of 40 dev rows; its rows."""
    policy = tmp_path / "episodes.yaml"
    policy.write_text(policy_text())
    with session_scope(session_factory) as session:
        datasets.load_policy_file(session, TRAIL, policy)
    rows = dev_rows(40)
    return policy, write_csv(tmp_path / "episodes.csv", rows), rows


def _load_list(
    session_factory: sessionmaker[Session],
    keystore: InMemoryKeyStore,
    path: Path,
    numbers: list[str],
) -> int:
    path.write_text("\n".join(numbers) + "\n")
    with session_scope(session_factory) as session:
        return load_optouts(session, TRAIL, path, keystore).list_id


def _make(
    extract: Path, policy: Path, out: Path, keystore: InMemoryKeyStore, optouts: OptOutFilter | None
) -> Path:
    deidentify_to_directory(
        extract,
        load_policy(policy),
        out,
        keystore=keystore,
        options=RunOptions(workers=1, optouts=optouts),
    )
    return out


def test_the_list_in_force_is_applied_recorded_and_accepted(
    setup: tuple[Path, Path, list[dict[str, str]]],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    engine: Engine,
    database_url: str,
    tmp_path: Path,
) -> None:
    policy, extract, rows = setup
    list_id = _load_list(
        session_factory,
        keystore,
        tmp_path / "optouts.txt",
        [rows[3]["nhs_number"], rows[17]["nhs_number"]],
    )
    optouts = filter_in_force(database_url, keystore)
    assert optouts is not None
    assert optouts.list_id == list_id
    out = _make(extract, policy, tmp_path / "out", keystore, optouts)
    result = ingest_deidentified(session_factory, TRAIL, "episodes", out, public_key_b64(keystore))
    assert result.rows == 38  # the two opted-out patients are not in the version
    assert result.provenance["opt_out_list"] == list_id
    with session_factory() as session:
        table = session.scalars(select(DatasetVersion.table_name)).one()
    with engine.connect() as connection:
        name = qualified_name(connection, table)
        count = connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
    assert count == 38


def test_output_made_without_the_list_in_force_is_refused(
    setup: tuple[Path, Path, list[dict[str, str]]],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    policy, extract, rows = setup
    out = _make(extract, policy, tmp_path / "out", keystore, None)  # made before any list
    list_id = _load_list(
        session_factory, keystore, tmp_path / "optouts.txt", [rows[3]["nhs_number"]]
    )
    with pytest.raises(HandoverRefusedError) as refused:
        ingest_deidentified(session_factory, TRAIL, "episodes", out, public_key_b64(keystore))
    assert refused.value.code == "handover_opt_out_mismatch"
    message = str(refused.value)
    assert MANIFEST_NAME in message
    assert f"list {list_id} is in force" in message
    assert "no opt-out list" in message
    assert rows[3]["nhs_number"] not in message


def test_output_made_with_an_older_list_is_refused(
    setup: tuple[Path, Path, list[dict[str, str]]],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
) -> None:
    policy, extract, rows = setup
    first = _load_list(session_factory, keystore, tmp_path / "a.txt", [rows[3]["nhs_number"]])
    out = _make(
        extract, policy, tmp_path / "out", keystore, filter_in_force(database_url, keystore)
    )
    second = _load_list(session_factory, keystore, tmp_path / "b.txt", [rows[5]["nhs_number"]])
    with pytest.raises(HandoverRefusedError, match=f"with opt-out list {first}, but list {second}"):
        ingest_deidentified(session_factory, TRAIL, "episodes", out, public_key_b64(keystore))


def test_a_database_without_a_list_gives_none_and_is_not_created(
    keystore: InMemoryKeyStore, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "fivesafes.db"
    assert filter_in_force(f"sqlite:///{missing}", keystore) is None
    assert not missing.exists()
    assert not missing.parent.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert filter_in_force(f"sqlite:///{empty}", keystore) is None  # no schema: no list


def test_an_unreadable_database_is_an_error_not_no_list(
    keystore: InMemoryKeyStore, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not an SQLite database" * 200)
    with pytest.raises(Exception, match="cannot read the National Data Opt-out list"):
        filter_in_force(f"sqlite:///{broken}", keystore)


def test_the_deidentify_command_applies_the_database_list(
    setup: tuple[Path, Path, list[dict[str, str]]],
    session_factory: sessionmaker[Session],
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy, extract, rows = setup
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("FIVESAFES_KEYSTORE_PATH", str(tmp_path / "keys"))
    monkeypatch.setenv("COLUMNS", "200")
    store = LocalFileKeyStore(tmp_path / "keys")
    store.init()
    runner = CliRunner()
    command = ["deidentify", str(extract), "--policy", str(policy)]
    before = runner.invoke(app, [*command, "--out", str(tmp_path / "before.csv")])
    assert before.exit_code == 0, before.output
    assert "no National Data Opt-out list is loaded" in before.output
    list_id = _load_list(session_factory, store, tmp_path / "o.txt", [rows[1]["nhs_number"]])
    after = runner.invoke(app, [*command, "--out", str(tmp_path / "after.csv")])
    assert after.exit_code == 0, after.output
    assert f"National Data Opt-out (list {list_id}): 1 rows excluded" in after.output
    lines = (tmp_path / "after.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + 39
