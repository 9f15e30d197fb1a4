from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets import service as datasets
from fivesafes.db import session_scope
from fivesafes.ingestion.service import IngestionJob, Ingestor, create_upload
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.ingestion.extracts import policy_text

TRAIL = AuditTrail.for_operator()


@pytest.fixture
def keystore() -> InMemoryKeyStore:
    return InMemoryKeyStore.generate()


@pytest.fixture
def load_policy(session_factory: sessionmaker[Session], tmp_path: Path) -> Callable[..., None]:
    def load(text: str | None = None, name: str = "episodes.yaml") -> None:
        path = tmp_path / name
        path.write_text(text or policy_text())
        with session_scope(session_factory) as session:
            datasets.load_policy_file(session, TRAIL, path)

    return load


@pytest.fixture
def ingestor(session_factory: sessionmaker[Session], keystore: InMemoryKeyStore) -> Ingestor:
    return Ingestor(session_factory, keystore, workers=1)


@pytest.fixture
def ingest(session_factory: sessionmaker[Session], ingestor: Ingestor) -> Callable[..., object]:
    """Ingest a file the way `fivesafes ingest` does; returns the upload view."""

    def run(path: Path, dataset: str = "episodes") -> object:
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        with session_scope(session_factory) as session:
            upload = create_upload(
                session, TRAIL, dataset, filename=path.name, size=path.stat().st_size, sha256=sha
            )
        return ingestor.run(IngestionJob(upload_id=upload.id, source=path, trail=TRAIL))

    return run
