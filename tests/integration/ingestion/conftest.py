from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets import service as datasets
from fivesafes.datasets.schemas import UploadOut
from fivesafes.db import session_scope
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.ingestion.local_file import ingest_file
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
def ingestor(
    session_factory: sessionmaker[Session], keystore: InMemoryKeyStore
) -> Iterator[Ingestor]:
    made = Ingestor(session_factory, keystore)
    yield made
    made.close()


@pytest.fixture
def ingest(ingestor: Ingestor) -> Callable[..., UploadOut]:
    """Ingest a file the way `fivesafes ingest` does; returns the upload view."""

    def run(path: Path, dataset: str = "episodes") -> UploadOut:
        return ingest_file(ingestor, TRAIL, dataset, path)

    return run
