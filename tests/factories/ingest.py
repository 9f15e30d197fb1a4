"""Ingested versions: rows written as a CSV extract, ingested through ``ingest_file()``.

The same path as `fivesafes ingest` (upload recorded and audited, duplicate refused, the
engine run, the version committed), so a world's versions are made as production makes
them, by the person named as their uploader.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.schemas import UploadOut
from fivesafes.ingestion.ingestor import Ingestor
from fivesafes.ingestion.local_file import ingest_file
from fivesafes.keys.store import KeyStore
from tests.factories.extracts import ADMISSION_COLUMNS, write_csv
from tests.integration.access.helpers import TRAIL


@contextmanager
def ingestor(session_factory: sessionmaker[Session], keystore: KeyStore) -> Iterator[Ingestor]:
    """An in-process ingestor with one engine worker, closed (its leases) afterwards."""
    made = Ingestor(session_factory, keystore)
    try:
        yield made
    finally:
        made.close()


class Extracts:
    """Writes numbered extracts into ``folder`` and ingests them with ``ingestor``."""

    def __init__(self, ingestor: Ingestor, folder: Path) -> None:
        self.ingestor = ingestor
        self.folder = folder
        self.count = 0

    def ingest(
        self,
        dataset: str,
        rows: list[dict[str, str]],
        *,
        columns: Sequence[str] = ADMISSION_COLUMNS,
        trail: AuditTrail = TRAIL,
    ) -> UploadOut:
        """Ingest ``rows`` into ``dataset`` as ``trail``'s actor; the upload's view."""
        self.count += 1
        path = write_csv(self.folder / f"extract-{self.count}.csv", rows, columns)
        return ingest_file(self.ingestor, trail, dataset, path)

    def ingested(
        self,
        dataset: str,
        rows: list[dict[str, str]],
        *,
        columns: Sequence[str] = ADMISSION_COLUMNS,
        trail: AuditTrail = TRAIL,
    ) -> UploadOut:
        """As :meth:`ingest`, for a world that needs the version: a failure stops the test."""
        view = self.ingest(dataset, rows, columns=columns, trail=trail)
        assert view.state == "succeeded", view.errors
        assert view.dataset_version is not None
        return view
