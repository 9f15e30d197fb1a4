"""Database faults mid-ingest, orphaned uploads and the watchdog, on SQLite and PostgreSQL.

Faults are injected with a ``before_cursor_execute`` listener that raises the driver's own
``OperationalError`` (what a dropped connection or a restarting server raises), so
SQLAlchemy handles them exactly as it would a real outage.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.models import AuditEvent
from fivesafes.datasets.models import DatasetVersion, Upload, UploadState
from fivesafes.datasets.schemas import UploadOut
from fivesafes.db import session_scope, utcnow
from fivesafes.deid.engine import ProgressUpdate
from fivesafes.ingestion.failures import Retry, with_retries
from fivesafes.ingestion.ingestor import IngestionJob, Ingestor, IngestorOptions
from fivesafes.ingestion.leases import LeaseKeeper
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.ingestion.service import create_upload
from fivesafes.ingestion.watchdog import LEASE_EXPIRED, fail_orphaned
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.ingestion.conftest import TRAIL
from tests.integration.ingestion.extracts import dev_rows, synthetic_rows, write_csv

FAST_RETRY = Retry(attempts=4, backoff=0.01, max_backoff=0.05)
LEASE = 300.0


class Outage:
    """From the ``after``-th statement containing ``trigger``, the next ``length`` fail.

    Every statement counts, whichever connection runs it (a fresh one included): the
    database itself is unavailable for that long.
    """

    def __init__(self, engine: Engine, trigger: Callable[[str], bool], length: int) -> None:
        self.engine = engine
        self.trigger = trigger
        self.length = length
        self.remaining = 0
        self.started = False
        self.failed = 0
        self._error = engine.dialect.loaded_dbapi.OperationalError

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not self.started and self.trigger(statement):
            self.started = True
            self.remaining = self.length
        if self.remaining > 0:
            self.remaining -= 1
            self.failed += 1
            raise self._error("server closed the connection unexpectedly (simulated outage)")

    def __enter__(self) -> Outage:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


def _data_insert(statement: str) -> bool:
    return statement.startswith("INSERT INTO") and "dsv_" in statement


def _version_insert(statement: str) -> bool:
    return statement.startswith("INSERT INTO dataset_versions")


@pytest.fixture
def fault_ingestor(
    session_factory: sessionmaker[Session], keystore: InMemoryKeyStore
) -> Iterator[Ingestor]:
    ingestor = Ingestor(
        session_factory, keystore, IngestorOptions(fail_retry=FAST_RETRY, lease_seconds=LEASE)
    )
    yield ingestor
    ingestor.close()


def _queue(session_factory: sessionmaker[Session], path: Path) -> IngestionJob:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with session_scope(session_factory) as session:
        upload = create_upload(
            session, TRAIL, "episodes", filename=path.name, size=path.stat().st_size, sha256=sha
        )
    return IngestionJob(upload_id=upload.id, source=path, trail=TRAIL)


def _upload(session_factory: sessionmaker[Session], upload_id: uuid.UUID) -> Upload:
    with session_factory() as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        return upload


def _fail_events(session_factory: sessionmaker[Session], upload_id: uuid.UUID) -> list[Any]:
    with session_factory() as session:
        return [
            json.loads(e.details)
            for e in session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "upload.fail", AuditEvent.target_id == str(upload_id)
                )
            )
        ]


def _data_tables(engine: Engine) -> list[str]:
    """Every version-data table, in whichever schema the dialect keeps them."""
    found = inspect(engine)
    schemas = found.get_schema_names() if engine.dialect.name == "postgresql" else [None]
    return [t for s in schemas for t in found.get_table_names(schema=s) if t.startswith("dsv_")]


def _reupload_succeeds(ingestor: Ingestor, path: Path) -> UploadOut:
    """The same file again: accepted (not "already being ingested") and ingested."""
    view = ingest_file(ingestor, TRAIL, "episodes", path)
    assert view.state == "succeeded", view.errors
    assert view.dataset_version == 1
    return view


@pytest.mark.parametrize(
    "trigger",
    [_data_insert, _version_insert],
    ids=["while-loading-rows", "while-committing-the-version"],
)
def test_a_database_fault_mid_ingest_fails_the_upload_and_the_file_can_come_again(
    load_policy: Callable[..., None],
    engine: Engine,
    session_factory: sessionmaker[Session],
    fault_ingestor: Ingestor,
    tmp_path: Path,
    trigger: Callable[[str], bool],
) -> None:
    if trigger is _data_insert and engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL loads rows with COPY, not INSERT")
    load_policy()
    path = write_csv(tmp_path / "episodes.csv", dev_rows(60))
    job = _queue(session_factory, path)
    # The outage outlasts the failed statement: the first attempts to record the
    # failure meet it too (recording it once, on the same footing, left it `running`).
    with Outage(engine, trigger, length=3) as outage:
        view = fault_ingestor.run(job)
    assert outage.failed == 3
    assert view.state == "failed"
    assert view.errors[0].code == "internal_error"
    assert "simulated" not in view.errors[0].message  # the driver's text is not shown
    upload = _upload(session_factory, job.upload_id)
    assert upload.finished_at is not None
    assert upload.dataset_version_id is None
    assert len(_fail_events(session_factory, job.upload_id)) == 1
    assert _data_tables(engine) == []
    assert job.upload_id not in fault_ingestor.leases.held()
    _reupload_succeeds(fault_ingestor, path)


def test_a_failure_that_cannot_be_recorded_is_failed_by_the_watchdog_when_its_lease_expires(
    load_policy: Callable[..., None],
    engine: Engine,
    session_factory: sessionmaker[Session],
    fault_ingestor: Ingestor,
    tmp_path: Path,
) -> None:
    load_policy()
    path = write_csv(tmp_path / "episodes.csv", dev_rows(60))
    job = _queue(session_factory, path)
    # Longer than every retry; the final read of the upload fails too.
    with Outage(engine, _version_insert, length=1000), pytest.raises(OperationalError):
        fault_ingestor.run(job)
    stuck = _upload(session_factory, job.upload_id)
    assert stuck.state == "running"  # the database never heard of the failure...
    assert job.upload_id not in fault_ingestor.leases.held()  # ...and nobody renews it
    with pytest.raises(Exception, match="already being ingested"):
        _queue(session_factory, path)
    assert stuck.heartbeat_at is not None
    # Within its lease the watchdog waits (the worker might still be alive)...
    assert fail_orphaned(session_factory, lease_seconds=LEASE) == 0
    # ...and fails it once the lease has expired.
    later = stuck.heartbeat_at + timedelta(seconds=LEASE + 1)
    if engine.dialect.name == "sqlite":
        assert len(_data_tables(engine)) == 1  # its rows went in before the outage
    assert fail_orphaned(session_factory, lease_seconds=LEASE, now=later) == 1
    assert _data_tables(engine) == []
    failed = _upload(session_factory, job.upload_id)
    assert failed.state == "failed"
    errors = json.loads(failed.errors or "[]")
    assert errors[0]["code"] == LEASE_EXPIRED
    assert "upload it again" in errors[0]["message"]
    assert _fail_events(session_factory, job.upload_id) == [{"errors": [{"code": LEASE_EXPIRED}]}]
    assert fail_orphaned(session_factory, lease_seconds=LEASE, now=later) == 0  # once only
    _reupload_succeeds(fault_ingestor, path)


def test_the_watchdog_spares_renewed_and_held_uploads_and_removes_an_orphans_spool(
    load_policy: Callable[..., None],
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy()
    ids = []
    with session_scope(session_factory) as session:
        for n in range(3):
            upload = create_upload(
                session, TRAIL, "episodes", filename=f"{n}.csv", size=1, sha256=f"{n:064x}"
            )
            upload.state = UploadState.RUNNING
            upload.heartbeat_at = utcnow() - timedelta(seconds=LEASE * 2)
            ids.append(upload.id)
    renewed, held, orphan = ids
    keeper = LeaseKeeper(session_factory, lease_seconds=LEASE)
    keeper.hold(renewed)
    try:
        assert keeper.beat() == 1
    finally:
        keeper.stop()
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / f"{orphan}.spool").write_bytes(b"ciphertext")
    assert fail_orphaned(session_factory, lease_seconds=LEASE, held={held}, spool_dir=spool) == 1
    states = {i: _upload(session_factory, i).state for i in ids}
    assert states == {renewed: "running", held: "running", orphan: "failed"}
    assert list(spool.iterdir()) == []


def test_an_upload_failed_by_the_watchdog_while_it_runs_commits_no_version(
    load_policy: Callable[..., None],
    engine: Engine,
    session_factory: sessionmaker[Session],
    fault_ingestor: Ingestor,
    tmp_path: Path,
) -> None:
    """A worker that lost its lease (say the database was away) must not commit later."""
    load_policy()
    path = write_csv(tmp_path / "episodes.csv", dev_rows(60))
    job = _queue(session_factory, path)
    calls: list[int] = []

    def another_process_watchdog(update: ProgressUpdate) -> None:
        if not calls:
            later = utcnow() + timedelta(seconds=LEASE + 1)
            calls.append(fail_orphaned(session_factory, lease_seconds=LEASE, now=later))

    view = fault_ingestor.run(job, another_process_watchdog)
    assert calls == [1]
    assert view.state == "failed"
    assert view.errors[0].code == LEASE_EXPIRED  # the watchdog's reason is kept
    with session_factory() as session:
        assert session.scalars(select(DatasetVersion)).all() == []
    assert _data_tables(engine) == []
    _reupload_succeeds(fault_ingestor, path)


def test_heartbeats_renew_in_the_background_while_an_upload_is_held(
    load_policy: Callable[..., None], session_factory: sessionmaker[Session]
) -> None:
    load_policy()
    with session_scope(session_factory) as session:
        upload = create_upload(
            session, TRAIL, "episodes", filename="x.csv", size=1, sha256="cd" * 32
        )
        upload.heartbeat_at = before = utcnow() - timedelta(hours=1)
        upload_id = upload.id
    keeper = LeaseKeeper(session_factory, lease_seconds=0.2)  # a beat every 0.05 s
    beaten = threading.Event()

    def renewed() -> bool:
        stamp = _upload(session_factory, upload_id).heartbeat_at
        return stamp is not None and stamp > before

    keeper.hold(upload_id)
    try:
        for _ in range(100):
            if renewed():
                beaten.set()
                break
            threading.Event().wait(0.05)
    finally:
        keeper.stop()
    assert beaten.is_set()
    keeper.release(upload_id)
    assert keeper.held() == frozenset()


@pytest.mark.postgres
def test_a_connection_killed_mid_copy_fails_the_upload_and_the_file_can_come_again(
    load_policy: Callable[..., None],
    engine: Engine,
    session_factory: sessionmaker[Session],
    fault_ingestor: Ingestor,
    tmp_path: Path,
) -> None:
    """A real disconnect: the server ends the ingesting backend while COPY streams.

    Coverage of the real thing rather than a regression test: the pool's pre-ping already
    gave the one-shot mark a live connection here; the outage tests above are the ones
    a single attempt fails.
    """
    if engine.dialect.name != "postgresql":
        pytest.skip("terminating a backend is PostgreSQL's")
    load_policy()
    path = write_csv(tmp_path / "episodes.csv", synthetic_rows(12_000))
    job = _queue(session_factory, path)
    backends: list[int] = []

    def note_backend(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("CREATE TABLE") and "dsv_" in statement:
            backends.append(conn.connection.dbapi_connection.info.backend_pid)

    killed: list[bool] = []

    def kill_it(_update: ProgressUpdate) -> None:
        if backends and not killed:
            with engine.connect() as other:
                killed.append(
                    other.execute(
                        text("SELECT pg_terminate_backend(:pid)"), {"pid": backends[0]}
                    ).scalar_one()
                )

    event.listen(engine, "before_cursor_execute", note_backend)
    try:
        view = fault_ingestor.run(job, kill_it)
    finally:
        event.remove(engine, "before_cursor_execute", note_backend)
    assert killed == [True]
    assert view.state == "failed"
    assert view.errors[0].code == "internal_error"
    assert _upload(session_factory, job.upload_id).state == "failed"
    assert _data_tables(engine) == []
    _reupload_succeeds(fault_ingestor, path)


def test_each_retry_runs_on_a_fresh_connection_with_growing_bounded_waits(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    error = engine.dialect.loaded_dbapi.OperationalError
    seen: list[Any] = []  # the DBAPI connections themselves (ids could be reused)
    waits: list[float] = []

    def flaky(session: Session) -> bool:
        seen.append(session.connection().connection.dbapi_connection)
        if len(seen) < 4:
            session.execute(text("SELECT 1"))  # the connection works; the fault is ours
            raise OperationalError("SELECT 1", {}, error("connection lost"))
        return True

    retry = Retry(attempts=5, backoff=0.1, max_backoff=0.3)
    assert with_retries(session_factory, flaky, retry=retry, what="t", sleep=waits.append)
    assert len(seen) == 4
    assert len({id(c) for c in seen}) == 4  # a failed connection is never handed back
    assert waits == [0.1, 0.2, 0.3]
    seen.clear()
    with pytest.raises(OperationalError):
        with_retries(session_factory, flaky, retry=Retry(attempts=2), what="t", sleep=waits.append)
    assert len(seen) == 2
