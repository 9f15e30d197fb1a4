"""A signed hand-over becomes a dataset version; every kind of tampering is refused.

The hand-overs are made by the local engine writing a directory
(:func:`fivesafes.deid.handover_output.deidentify_to_directory`), the same manifest the
Spark job writes, so these run without Spark, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.checkpoints import public_key_b64
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.trail import AuditTrail
from fivesafes.audit.verification import verify_chain
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import DatasetVersion, Upload
from fivesafes.db import session_scope
from fivesafes.deid.engine import RunOptions
from fivesafes.deid.handover_output import deidentify_to_directory
from fivesafes.deid.policy import load_policy
from fivesafes.errors import ConflictError
from fivesafes.handover.manifest import (
    MANIFEST_NAME,
    HandoverRefusedError,
    build_manifest,
    sha256_file,
    write_manifest,
)
from fivesafes.ingestion.deidentified import handover_provenance, ingest_deidentified
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.ingestion.storage import qualified_name, version_table_names
from fivesafes.keys.store import InMemoryKeyStore, public_key_fingerprint
from tests.integration.ingestion.extracts import dev_rows, policy_text, write_csv

TRAIL = AuditTrail.for_operator()

VISITS_POLICY = """\
dataset: visits
version: 1
columns:
  seen_at: {type: datetime, role: keep}
  ward: {type: string, role: keep}
  stay_days: {type: integer, role: keep}
  readmitted: {type: boolean, role: keep}
  cost: {type: decimal, role: keep}
"""
VISITS = (
    "seen_at,ward,stay_days,readmitted,cost\n"
    "2024-03-12T09:30:00Z,A,3,true,10.50\n"
    '2024-03-12T17:05:00Z,"B, east",,false,0.01\n'
    "2024-03-13T08:00:00Z,C,12,,\n"
)


@pytest.fixture
def keystore() -> InMemoryKeyStore:
    return InMemoryKeyStore.generate()


def _load_policy(session_factory: sessionmaker[Session], path: Path, body: str) -> Path:
    path.write_text(body)
    with session_scope(session_factory) as session:
        datasets.load_policy_file(session, TRAIL, path)
    return path


@pytest.fixture
def episodes(session_factory: sessionmaker[Session], tmp_path: Path) -> tuple[Path, Path]:
    """The episodes policy loaded, and an extract of 60 dev rows."""
    policy = _load_policy(session_factory, tmp_path / "episodes.yaml", policy_text())
    return policy, write_csv(tmp_path / "episodes.csv", dev_rows(60))


def _make(
    source: Path, policy: Path, out: Path, keystore: InMemoryKeyStore, fmt: str = "parquet"
) -> Path:
    deidentify_to_directory(
        source,
        load_policy(policy),
        out,
        keystore=keystore,
        output_format=fmt,
        options=RunOptions(workers=1),
    )
    return out


def _ingest(
    session_factory: sessionmaker[Session],
    keystore: InMemoryKeyStore,
    out: Path,
    dataset: str = "episodes",
    trusted: str | None = None,
) -> Any:
    return ingest_deidentified(
        session_factory, TRAIL, dataset, out, trusted or public_key_b64(keystore)
    )


def _rows(engine: Engine, table: str, order: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        name = qualified_name(connection, table)
        query = text(f"SELECT * FROM {name} ORDER BY {order}")
        return [dict(r._mapping) for r in connection.execute(query)]


def _nothing_written(session_factory: sessionmaker[Session], engine: Engine) -> None:
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(DatasetVersion)) == 0
        assert session.scalar(select(func.count()).select_from(Upload)) == 0
        refusals = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "handover.refuse")
        ).all()
        assert [e.outcome for e in refusals] == ["denied"]
        assert verify_chain(session).ok
    with engine.connect() as connection:
        assert version_table_names(connection) == []


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_a_hand_over_becomes_the_same_version_as_an_upload(
    fmt: str,
    episodes: tuple[Path, Path],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    engine: Engine,
    tmp_path: Path,
) -> None:
    policy, extract = episodes
    out = _make(extract, policy, tmp_path / "out", keystore, fmt)
    result = _ingest(session_factory, keystore, out)
    assert (result.version, result.rows) == (1, 60)
    ingestor = Ingestor(session_factory, keystore)
    try:
        assert ingest_file(ingestor, TRAIL, "episodes", extract).state == "succeeded"
    finally:
        ingestor.close()
    with session_factory() as session:
        handed, uploaded = session.scalars(
            select(DatasetVersion).order_by(DatasetVersion.number)
        ).all()
        provenance = handover_provenance(handed)
        assert handover_provenance(uploaded) is None
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
        handover_event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "dataset_version.handover")
        ).one()
        assert verify_chain(session).ok
    order = "nhs_number, admission_date, diagnosis_code"
    assert _rows(engine, handed.table_name, order) == _rows(engine, uploaded.table_name, order)
    assert handed.row_count == 60
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert provenance is not None
    assert provenance["files"] == manifest["manifest"]["files"]
    assert provenance["engine"] == "local"
    assert provenance["signature_fingerprint"] == public_key_fingerprint(
        keystore.verification_key()
    )
    first = actions.index("upload.create")
    assert actions[first : first + 3] == [
        "upload.create",
        "dataset_version.create",
        "dataset_version.handover",
    ]
    details = json.loads(handover_event.details)
    assert details["manifest_sha256"] == provenance["manifest_sha256"]
    assert details["files"] == provenance["files"]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_every_column_type_is_loaded_as_the_policy_types_it(
    fmt: str,
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    engine: Engine,
    tmp_path: Path,
) -> None:
    policy = _load_policy(session_factory, tmp_path / "visits.yaml", VISITS_POLICY)
    (tmp_path / "visits.csv").write_text(VISITS)
    out = _make(tmp_path / "visits.csv", policy, tmp_path / "out", keystore, fmt)
    _ingest(session_factory, keystore, out, dataset="visits")
    ingestor = Ingestor(session_factory, keystore)
    try:
        assert ingest_file(ingestor, TRAIL, "visits", tmp_path / "visits.csv").state == "succeeded"
    finally:
        ingestor.close()
    with session_factory() as session:
        handed, uploaded = session.scalars(
            select(DatasetVersion).order_by(DatasetVersion.number)
        ).all()
    handed_rows = _rows(engine, handed.table_name, "ward")
    assert handed_rows == _rows(engine, uploaded.table_name, "ward")
    assert [r["ward"] for r in handed_rows] == ["A", "B, east", "C"]
    assert handed_rows[1]["stay_days"] is None


def test_the_same_hand_over_twice_is_a_conflict(
    episodes: tuple[Path, Path],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    out = _make(episodes[1], episodes[0], tmp_path / "out", keystore)
    _ingest(session_factory, keystore, out)
    with pytest.raises(ConflictError, match="already ingested as episodes version 1"):
        _ingest(session_factory, keystore, out)


def _rewrite_manifest(out: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = out / MANIFEST_NAME
    envelope = json.loads(path.read_text())
    change(envelope)
    path.write_text(json.dumps(envelope))


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


REFUSALS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "unsigned": (lambda out: (out / MANIFEST_NAME).unlink(), "handover_unsigned", MANIFEST_NAME),
    "bad signature": (
        lambda out: _rewrite_manifest(
            out, lambda e: e["manifest"]["rows"].update(output=e["manifest"]["rows"]["output"] - 1)
        ),
        "handover_bad_signature",
        MANIFEST_NAME,
    ),
    "file altered": (
        lambda out: _flip_last_byte(out / "part-00000.parquet"),
        "handover_altered_file",
        "part-00000.parquet",
    ),
    "file truncated": (
        lambda out: (out / "part-00000.parquet").write_bytes(
            (out / "part-00000.parquet").read_bytes()[:100]
        ),
        "handover_altered_file",
        "part-00000.parquet",
    ),
    "extra file": (
        lambda out: (out / "part-00001.parquet").write_bytes(
            (out / "part-00000.parquet").read_bytes()
        ),
        "handover_extra_file",
        "part-00001.parquet",
    ),
    "missing file": (
        lambda out: (out / "part-00000.parquet").unlink(),
        "handover_missing_file",
        "part-00000.parquet",
    ),
}


def _refused(
    factory: sessionmaker[Session], keystore: InMemoryKeyStore, engine: Engine, out: Path, code: str
) -> str:
    """Ingest ``out``, expecting refusal ``code`` and nothing written; the message."""
    with pytest.raises(HandoverRefusedError) as caught:
        _ingest(factory, keystore, out)
    assert caught.value.code == code
    _nothing_written(factory, engine)
    return caught.value.message


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_each_refusal_names_the_problem_and_writes_nothing(
    case: str,
    episodes: tuple[Path, Path],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    engine: Engine,
    tmp_path: Path,
) -> None:
    change, code, named = REFUSALS[case]
    out = _make(episodes[1], episodes[0], tmp_path / "out", keystore)
    change(out)
    assert named in _refused(session_factory, keystore, engine, out, code)


def test_a_key_the_platform_does_not_trust_is_refused(
    episodes: tuple[Path, Path],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    engine: Engine,
    tmp_path: Path,
) -> None:
    out = _make(episodes[1], episodes[0], tmp_path / "out", InMemoryKeyStore.generate())
    _refused(session_factory, keystore, engine, out, "handover_bad_signature")


def test_another_policy_version_is_refused(
    episodes: tuple[Path, Path],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    engine: Engine,
    tmp_path: Path,
) -> None:
    policy, extract = episodes
    out = _make(extract, policy, tmp_path / "out", keystore)
    newer = (
        policy_text().replace("version: 1", "version: 2").replace("max_days: 30", "max_days: 20")
    )
    _load_policy(session_factory, tmp_path / "episodes.yaml", newer)
    message = _refused(session_factory, keystore, engine, out, "handover_policy_mismatch")
    assert "episodes v1" in message
    assert "episodes v2" in message


def _signed_parts(
    out: Path, keystore: InMemoryKeyStore, parts: dict[str, bytes], output_rows: int
) -> Path:
    """A hand-over of hand-made CSV part files, signed by ``keystore``."""
    policy = load_policy(Path("episodes.yaml").resolve())
    out.mkdir()
    for name, data in parts.items():
        (out / name).write_bytes(data)
    manifest = build_manifest(
        policy_name=policy.dataset,
        policy_version=policy.version,
        policy_sha256=policy.content_hash,
        input_rows=max(output_rows, 1),
        output_rows=output_rows,
        files={name: sha256_file(out / name) for name in parts},
        engine="spark",
        report_counts={},
        output_format="csv",
    )
    write_manifest(out, manifest, keystore)
    return out


HEADER = b"nhs_number,date_of_birth,postcode,sex,ethnicity,admission_date,diagnosis_code\r\n"
ROW = b"P1,40-44,AB1,F,A,2020-01-02,I10\r\n"

LOAD_REFUSALS: dict[str, tuple[dict[str, bytes], int, str, str]] = {
    "row count": ({"part-00000.csv": HEADER + ROW}, 2, "handover_row_count", "hold 1 rows"),
    "wrong columns": (
        {"part-00000.csv": HEADER.replace(b"sex,", b"gender,") + ROW},
        1,
        "handover_wrong_columns",
        "part-00000.csv",
    ),
    "bad value": (
        {
            "part-00000.csv": HEADER + ROW,
            "part-00001.csv": HEADER + ROW.replace(b"2020-01-02", b"soon"),
        },
        2,
        "handover_bad_value",
        "part-00001.csv",
    ),
}


@pytest.mark.parametrize("case", sorted(LOAD_REFUSALS))
def test_a_signed_hand_over_that_does_not_load_writes_nothing(
    case: str,
    episodes: tuple[Path, Path],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    engine: Engine,
    tmp_path: Path,
) -> None:
    parts, rows, code, named = LOAD_REFUSALS[case]
    out = _signed_parts(tmp_path / "out", keystore, parts, rows)
    message = _refused(session_factory, keystore, engine, out, code)
    assert named in message
    assert "soon" not in message


def test_the_version_records_the_pseudonym_generation_of_the_job(
    episodes: tuple[Path, Path],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    keystore.add_pseudonym_remap_key()
    out = _make(episodes[1], episodes[0], tmp_path / "out", keystore)
    assert json.loads((out / MANIFEST_NAME).read_text())["manifest"]["pseudonym_generation"] == 2
    result = _ingest(session_factory, keystore, out)
    with session_factory() as session:
        version = session.scalars(select(DatasetVersion)).one()
    assert version.pseudonym_generation == 2
    assert result.provenance["pseudonym_generation"] == 2
