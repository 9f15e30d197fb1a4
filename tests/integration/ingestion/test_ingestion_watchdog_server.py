"""The API server runs the watchdog itself: an orphaned upload is failed while it serves."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.app import create_app
from fivesafes.config import load_settings
from fivesafes.datasets.models import Upload, UploadState
from fivesafes.db import session_scope, utcnow
from fivesafes.ingestion.service import create_upload
from fivesafes.ingestion.watchdog import LEASE_EXPIRED
from fivesafes.keys.local import LocalFileKeyStore
from tests.integration.ingestion.conftest import TRAIL

LEASE = 5  # the shortest the setting allows: the watchdog runs every 2.5 s


def test_the_servers_watchdog_fails_an_upload_whose_lease_expired(
    load_policy: Callable[..., None],
    database_url: str,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    load_policy()
    settings = load_settings(
        database_url=database_url,
        keystore_path=tmp_path / "keys",
        ingest_lease_seconds=LEASE,
        spool_path=tmp_path / "spool",
    )
    LocalFileKeyStore(settings.keystore_path).init()
    with TestClient(create_app(settings)):
        # Orphaned after start-up (so start-up recovery is not what fails it): a worker
        # elsewhere stopped renewing it a minute ago.
        with session_scope(session_factory) as session:
            upload = create_upload(
                session, TRAIL, "episodes", filename="x.csv", size=1, sha256="ef" * 32
            )
            upload.state = UploadState.RUNNING
            upload.started_at = upload.heartbeat_at = utcnow() - timedelta(minutes=1)
            upload_id = upload.id
        deadline = time.monotonic() + 4 * LEASE
        state = "running"
        while state == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
            with session_factory() as session:
                found = session.get(Upload, upload_id)
                assert found is not None
                state, errors = found.state, found.errors
    assert state == "failed"
    assert json.loads(errors or "[]")[0]["code"] == LEASE_EXPIRED
