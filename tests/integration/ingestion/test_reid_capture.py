"""Ingestion keeps a sealed NHS number per patient only where the policy allows it."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.datasets import version_tables
from fivesafes.datasets.models import Dataset, DatasetVersion
from fivesafes.datasets.schemas import UploadOut
from fivesafes.db import session_scope
from fivesafes.errors import ConflictError
from fivesafes.ingestion import reid_capture
from fivesafes.ingestion.deidentified import ingest_deidentified
from fivesafes.ingestion.ingestor import Ingestor, IngestorOptions
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.ingestion.optouts import load_optouts
from fivesafes.keys.reid_blob import record_aad
from fivesafes.keys.store import KEY_NAMES, InMemoryKeyStore
from fivesafes.reidentification.models import ReidentificationRecord
from tests.integration.ingestion.conftest import TRAIL
from tests.integration.ingestion.extracts import STRUCTURED_POLICY, dev_rows, write_csv

Ingest = Callable[..., UploadOut]
REID = "reidentification: {allowed: true, purposes: [safety_critical_finding]}"


class CountingKeyStore(InMemoryKeyStore):
    """Counts seals: with the flag off there must be none at all."""

    seals = 0

    def reidentification_seal(self, plaintext: bytes, aad: bytes) -> bytes:
        type(self).seals += 1
        return super().reidentification_seal(plaintext, aad)


@pytest.fixture
def keystore() -> InMemoryKeyStore:
    CountingKeyStore.seals = 0
    return CountingKeyStore.generate()


def policy(extra: str = REID) -> str:
    # A bad admission date rejects its row (with a valid NHS number in it).
    return STRUCTURED_POLICY.format(name="episodes", on_invalid="reject_row", extra=extra).replace(
        "generalise: date_shift}", "generalise: date_shift, on_invalid: reject_row}"
    )


def records(session_factory: sessionmaker[Session]) -> list[ReidentificationRecord]:
    with session_factory() as session:
        return list(session.scalars(select(ReidentificationRecord)).all())


def versions(session_factory: sessionmaker[Session]) -> list[DatasetVersion]:
    with session_factory() as session:
        return list(session.scalars(select(DatasetVersion).order_by(DatasetVersion.id)).all())


def stored_pseudonyms(engine: Engine, version: DatasetVersion) -> set[str]:
    schema = version_tables.version_schema(engine.dialect.name)
    name = f'"{schema}"."{version.table_name}"' if schema else f'"{version.table_name}"'
    with engine.connect() as connection:
        return set(connection.execute(text(f"SELECT nhs_number FROM {name}")).scalars())


def opened(keystore: InMemoryKeyStore, record: ReidentificationRecord) -> str:
    aad = record_aad(record.dataset_id, record.pseudonym_generation, record.pseudonym)
    return keystore.reidentification_open(record.ciphertext, aad).decode()


def extract(tmp_path: Path, name: str = "episodes.csv") -> tuple[Path, list[dict[str, str]]]:
    """50 rows, 10 of them a second admission of an earlier patient; row 7 has a bad date."""
    rows = dev_rows(40)
    rows += [dict(rows[i], admission_date=f"2023-03-{i:02}") for i in range(10, 20)]
    rows[7]["admission_date"] = "not a date"
    return write_csv(tmp_path / name, rows), rows


def test_one_sealed_record_per_patient_kept(
    load_policy: Callable[..., None],
    ingest: Ingest,
    engine: Engine,
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy(policy())
    rows = dev_rows(40)
    opted = rows[4]["nhs_number"]
    listing = tmp_path / "optouts.txt"
    listing.write_text(opted)
    with session_scope(session_factory) as session:
        load_optouts(session, TRAIL, listing, keystore)
    path, written = extract(tmp_path)
    view = ingest(path)
    assert view.state == "succeeded", view.errors
    assert view.report["rows_rejected"] == 1
    assert view.report["opted_out_excluded"] >= 1
    [version] = versions(session_factory)
    found = records(session_factory)
    numbers = {opened(keystore, r): r for r in found}
    # Neither the rejected row (7) nor the opted-out patient's rows leave a record.
    expected = {r["nhs_number"] for i, r in enumerate(written) if i != 7} - {opted}
    assert written[7]["nhs_number"] not in expected
    assert set(numbers) == expected
    assert len(found) == len(expected) == CountingKeyStore.seals
    assert {r.pseudonym for r in found} == stored_pseudonyms(engine, version)
    with session_factory() as session:
        dataset_id = session.scalars(select(Dataset.id).where(Dataset.name == "episodes")).one()
    for record in found:
        assert record.dataset_id == dataset_id
        assert record.pseudonym_generation == version.pseudonym_generation == 1
        assert record.first_version_id == version.id
        assert record.ciphertext.startswith(b"FSR1")
        assert opened(keystore, record).encode() not in record.ciphertext


def test_flag_off_keeps_nothing_and_seals_nothing(
    load_policy: Callable[..., None],
    ingest: Ingest,
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy(policy(extra=""))
    view = ingest(extract(tmp_path)[0])
    assert view.state == "succeeded", view.errors
    assert records(session_factory) == []
    assert CountingKeyStore.seals == 0


def test_two_workers_and_a_second_version_add_nothing_new(
    load_policy: Callable[..., None],
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy(policy())
    ingestor = Ingestor(session_factory, keystore, IngestorOptions(workers=2))
    try:
        path, rows = extract(tmp_path)
        first = ingest_file(ingestor, TRAIL, "episodes", path)
        assert first.state == "succeeded", first.errors
        before = {(r.pseudonym, r.id, r.ciphertext) for r in records(session_factory)}
        assert len(before) == 39
        rows[0]["diagnosis_code"] = "Z99.9"  # another file, the same patients
        second = ingest_file(ingestor, TRAIL, "episodes", write_csv(tmp_path / "v2.csv", rows))
        assert second.state == "succeeded", second.errors
    finally:
        ingestor.close()
    v1, _ = versions(session_factory)
    after = records(session_factory)
    assert {(r.pseudonym, r.id, r.ciphertext) for r in after} == before
    assert {r.first_version_id for r in after} == {v1.id}
    kept = {r["nhs_number"] for i, r in enumerate(rows) if i != 7}
    assert {opened(keystore, r) for r in after} == kept


def test_a_failed_ingestion_leaves_no_records(
    load_policy: Callable[..., None],
    ingest: Ingest,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy(policy().replace("on_invalid: reject_row}", "on_invalid: reject_file}", 1))
    rows = dev_rows(40)
    rows[30]["nhs_number"] = "1234"
    view = ingest(write_csv(tmp_path / "bad.csv", rows))
    assert view.state == "failed"
    assert records(session_factory) == []


def test_nhs_numbers_appear_in_no_other_table(
    load_policy: Callable[..., None],
    ingest: Ingest,
    engine: Engine,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy(policy())
    path, _ = extract(tmp_path)
    assert ingest(path).state == "succeeded"
    numbers = {r["nhs_number"] for r in dev_rows(40)}
    forms = numbers | {f"{n[:3]} {n[3:6]} {n[6:]}" for n in numbers}
    pattern = re.compile("|".join(sorted(forms)))
    inspector = inspect(engine)
    schemas = [None] + [
        s
        for s in inspector.get_schema_names()
        if s not in ("information_schema", "public", "main") and not s.startswith("pg_")
    ]
    seen = 0
    with engine.connect() as connection:
        for schema in schemas:
            for table in inspector.get_table_names(schema=schema):
                name = f'"{schema}"."{table}"' if schema else f'"{table}"'
                for row in connection.execute(text(f"SELECT * FROM {name}")):
                    seen += 1
                    for cell in row:
                        value = cell.decode("latin-1") if isinstance(cell, bytes) else str(cell)
                        assert not pattern.search(value), f"an NHS number in {table}"
    assert seen > 40


def test_without_the_key_the_upload_fails_before_reading(
    load_policy: Callable[..., None],
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy(policy())
    keyless = InMemoryKeyStore({name: secrets.token_bytes(32) for name in KEY_NAMES})
    assert not keyless.has_reidentification_key()
    ingestor = Ingestor(session_factory, keyless)
    try:
        view = ingest_file(ingestor, TRAIL, "episodes", extract(tmp_path)[0])
    finally:
        ingestor.close()
    assert view.state == "failed"
    assert "keys init-reidentification" in str(view.errors)
    assert versions(session_factory) == []
    assert records(session_factory) == []


def test_a_hand_over_of_a_reidentifiable_dataset_is_refused(
    load_policy: Callable[..., None],
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy(policy())
    (tmp_path / "handover").mkdir()
    with pytest.raises(ConflictError) as caught:
        ingest_deidentified(session_factory, TRAIL, "episodes", tmp_path / "handover", "unused")
    assert caught.value.code == "reidentification_needs_ingestion"
    assert versions(session_factory) == []


def test_the_columns_written_are_the_models() -> None:
    model = ReidentificationRecord.__table__
    assert reid_capture._RECORDS.name == model.name
    for written in reid_capture._RECORDS.columns:
        assert type(written.type) is type(model.c[written.name].type)
