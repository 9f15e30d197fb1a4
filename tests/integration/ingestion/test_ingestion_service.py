"""Ingestion into immutable, typed dataset versions, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.models import AuditEvent
from fivesafes.audit.verify import verify_chain
from fivesafes.datasets.models import DatasetVersion, Upload, UploadState
from fivesafes.datasets.service import load_policy_file
from fivesafes.datasets.version_tables import version_schema
from fivesafes.db import session_scope
from fivesafes.deid.plan import OutputColumn
from fivesafes.errors import ConflictError
from fivesafes.ingestion.optouts import load_optouts
from fivesafes.ingestion.recovery import recover_interrupted
from fivesafes.ingestion.service import create_upload, upload_table_name
from fivesafes.ingestion.spool import SpoolWriter
from fivesafes.ingestion.storage import data_table, qualified_name, table_exists
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.ingestion.conftest import TRAIL
from tests.integration.ingestion.extracts import dev_rows, policy_text, write_csv

Ingest = Callable[..., Any]


def _rows(engine: Engine, table: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        name = qualified_name(connection, table)
        return [dict(r._mapping) for r in connection.execute(text(f"SELECT * FROM {name}"))]


def _version(session_factory: sessionmaker[Session], number: int = 1) -> DatasetVersion:
    with session_factory() as session:
        return session.scalars(select(DatasetVersion).where(DatasetVersion.number == number)).one()


def test_upload_becomes_a_typed_version_without_raw_identifiers(
    load_policy: Callable[..., None],
    ingest: Ingest,
    engine: Engine,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy()
    rows = dev_rows(120)
    view = ingest(write_csv(tmp_path / "episodes.csv", rows))
    assert view.state == "succeeded", view.errors
    assert view.dataset_version == 1
    version = _version(session_factory)
    assert version.row_count == 120
    stored = _rows(engine, version.table_name)
    assert len(stored) == 120
    assert set(stored[0]) == {
        "nhs_number",
        "date_of_birth",
        "postcode",
        "sex",
        "ethnicity",
        "admission_date",
        "diagnosis_code",
    }
    everything = json.dumps(stored, default=str)
    for row in rows:
        assert row["nhs_number"] not in everything
        assert row["patient_name"] not in everything
        assert row["postcode"] not in everything  # only the district is kept
    assert all(isinstance(r["admission_date"], date | str) for r in stored)
    # typed columns: a date range filter runs in SQL
    with engine.connect() as connection:
        recent = connection.execute(
            text(
                f"SELECT count(*) FROM {qualified_name(connection, version.table_name)} "
                "WHERE admission_date >= :d"
            ),
            {"d": date(2023, 1, 1)},
        ).scalar_one()
    assert 0 < recent < 120
    report = json.loads(version.report)
    assert (report["rows_in"], report["rows_out"]) == (120, 120)
    with session_factory() as session:
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))
        assert actions[-2:] == ["upload.create", "dataset_version.create"]
        assert verify_chain(session).ok


def test_later_extracts_keep_each_patients_pseudonym(
    load_policy: Callable[..., None],
    ingest: Ingest,
    engine: Engine,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy()
    rows = dev_rows(60)
    assert ingest(write_csv(tmp_path / "a.csv", rows[:40])).state == "succeeded"
    assert ingest(write_csv(tmp_path / "b.csv", rows[20:])).state == "succeeded"
    first = _rows(engine, _version(session_factory, 1).table_name)
    second = _rows(engine, _version(session_factory, 2).table_name)
    shared_first = {r["nhs_number"] for r in first[20:40]}
    shared_second = {r["nhs_number"] for r in second[:20]}
    assert shared_first == shared_second
    assert len(shared_first) == len({r["nhs_number"] for r in rows[20:40]})
    # and date shifts are per patient, consistent across versions
    assert [r["admission_date"] for r in first[20:40]] == [r["admission_date"] for r in second[:20]]


def test_same_file_twice_is_refused_naming_the_version(
    load_policy: Callable[..., None], ingest: Ingest, tmp_path: Path
) -> None:
    load_policy()
    path = write_csv(tmp_path / "episodes.csv", dev_rows(10))
    assert ingest(path).state == "succeeded"
    with pytest.raises(ConflictError, match="episodes version 1"):
        ingest(path)


def test_a_bad_row_leaves_no_version_and_no_table(
    load_policy: Callable[..., None],
    ingest: Ingest,
    engine: Engine,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy()
    rows = dev_rows(30)
    rows[17]["nhs_number"] = rows[17]["nhs_number"][:-1] + str(
        (int(rows[17]["nhs_number"][-1]) + 1) % 10
    )
    view = ingest(write_csv(tmp_path / "episodes.csv", rows))
    assert view.state == "failed"
    error = view.errors[0]
    assert (Path(error.file or "").name, error.line, error.column) == (
        "episodes.csv",
        19,
        "nhs_number",
    )
    assert "modulus 11" in error.message
    assert rows[17]["nhs_number"] not in json.dumps([e.model_dump() for e in view.errors])
    with session_factory() as session:
        assert session.scalars(select(DatasetVersion)).all() == []
    assert not table_exists(engine, upload_table_name(view.id))


def test_reject_row_policy_keeps_the_rest_and_counts(
    load_policy: Callable[..., None], ingest: Ingest, tmp_path: Path
) -> None:
    load_policy(policy_text(on_invalid="reject_row"))
    rows = dev_rows(30)
    rows[3]["nhs_number"] = "123"
    view = ingest(write_csv(tmp_path / "episodes.csv", rows))
    assert view.state == "succeeded"
    assert (view.report["rows_out"], view.report["rows_rejected"]) == (29, 1)
    assert view.report["rejections"][0]["line"] == 5


def test_opted_out_patients_are_excluded_and_counted(
    load_policy: Callable[..., None],
    ingest: Ingest,
    engine: Engine,
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy()
    rows = dev_rows(50)
    opted = [rows[4]["nhs_number"], rows[9]["nhs_number"]]
    listing = tmp_path / "optouts.txt"
    listing.write_text("\n".join([opted[0], f"{opted[1][:3]} {opted[1][3:6]} {opted[1][6:]}"]))
    with session_scope(session_factory) as session:
        load_optouts(session, TRAIL, listing, keystore)
    with session_factory() as session:
        stored_lists = session.execute(text("SELECT digest FROM opt_outs")).scalars().all()
    assert len(stored_lists) == 2
    assert not set(opted) & set(stored_lists)  # only keyed digests are stored
    view = ingest(write_csv(tmp_path / "episodes.csv", rows))
    assert view.state == "succeeded"
    assert (view.report["opted_out_excluded"], view.report["rows_out"]) == (2, 48)
    assert view.report["rows_rejected"] == 0
    assert len(_rows(engine, _version(session_factory).table_name)) == 48


def test_exempt_datasets_keep_and_flag_opted_out_rows(
    load_policy: Callable[..., None],
    ingest: Ingest,
    engine: Engine,
    keystore: InMemoryKeyStore,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy(policy_text(exempt=True))
    rows = dev_rows(20)
    listing = tmp_path / "optouts.csv"
    listing.write_text("nhs_number\n" + rows[2]["nhs_number"] + "\n")
    with session_scope(session_factory) as session:
        load_optouts(session, TRAIL, listing, keystore)
    view = ingest(write_csv(tmp_path / "episodes.csv", rows))
    assert (view.report["rows_out"], view.report["opted_out_flagged"]) == (20, 1)
    stored = _rows(engine, _version(session_factory).table_name)
    flags = [bool(r["nddo_opted_out"]) for r in stored]
    assert flags.count(True) == 1
    assert flags[2] is True


def test_policy_versions_by_content(
    load_policy: Callable[..., None], session_factory: sessionmaker[Session]
) -> None:
    load_policy()
    load_policy(policy_text() + "\n# a comment changes nothing\n")
    load_policy(policy_text().replace("max_days: 30", "max_days: 60"))
    with session_factory() as session:
        versions = (
            session.execute(text("SELECT version FROM dataset_policy_versions ORDER BY version"))
            .scalars()
            .all()
        )
    assert versions == [1, 2]


def test_restart_fails_interrupted_uploads_and_removes_their_data(
    load_policy: Callable[..., None],
    engine: Engine,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy()
    with session_scope(session_factory) as session:
        upload = create_upload(
            session, TRAIL, "episodes", filename="x.csv", size=1, sha256="ab" * 32
        )
        upload.state = UploadState.RUNNING
        upload_id = upload.id
    orphan = upload_table_name(upload_id)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {qualified_name(connection, orphan)} (x TEXT)"))
    spool_dir = tmp_path / "spool"
    writer = SpoolWriter(spool_dir, upload_id)
    writer.write(b"nhs_number\n9434765919\n")
    writer.finish()
    assert b"9434765919" not in writer.spool.path.read_bytes()  # encrypted at rest
    assert recover_interrupted(session_factory, spool_dir) == 1
    with session_factory() as session:
        recovered = session.get(Upload, upload_id)
        assert recovered is not None
        assert recovered.state == "failed"
        assert "interrupted" in (recovered.errors or "")
    assert not table_exists(engine, orphan)
    assert list(spool_dir.iterdir()) == []


def test_datetime_columns_compare_in_sql_on_both_dialects(
    session_factory: sessionmaker[Session], engine: Engine, tmp_path: Path, ingest: Ingest
) -> None:
    policy = tmp_path / "visits.yaml"
    policy.write_text(
        "dataset: visits\nversion: 1\ncolumns:\n"
        "  seen_at: {type: datetime, role: keep}\n  ward: {type: string, role: keep}\n"
    )
    with session_scope(session_factory) as session:
        load_policy_file(session, TRAIL, policy)
    extract = tmp_path / "visits.csv"
    extract.write_text(
        "seen_at,ward\n2024-03-12T09:30:00,A\n2024-03-12 17:05:00,B\n2024-03-13T08:00:00Z,C\n"
    )
    assert ingest(extract, dataset="visits").state == "succeeded"
    with session_factory() as session:
        version = session.scalars(select(DatasetVersion)).one()
    table = data_table(
        version.table_name,
        [OutputColumn("seen_at", "datetime"), OutputColumn("ward", "string")],
        schema=version_schema(engine.dialect.name),
    )
    with engine.connect() as connection:
        wards = (
            connection.execute(
                select(table.c.ward)
                .where(table.c.seen_at >= datetime(2024, 3, 12, 12, 0))
                .order_by(table.c.ward)
            )
            .scalars()
            .all()
        )
    assert wards == ["B", "C"]
