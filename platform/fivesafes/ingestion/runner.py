"""The background worker pool of the API server: uploads are ingested off the request.

One job at a time (each job already uses every core through the engine's worker
processes); a queue of accepted uploads waits its turn in state ``queued``.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from fivesafes.datasets.models import Upload
from fivesafes.datasets.schemas import UploadOut
from fivesafes.ingestion.service import IngestionJob, Ingestor

log = logging.getLogger("fivesafes.ingestion")


class IngestionRunner:
    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fivesafes-ingest")

    def submit(self, job: IngestionJob) -> Future[UploadOut]:
        return self._pool.submit(self.ingestor.run, job)

    def rows_processed(self, upload: Upload) -> int:
        """Live progress of a running upload (kept in memory, not written per chunk)."""
        return self.ingestor.progress.get(upload.id, upload.rows_processed)

    def shutdown(self) -> None:
        # Jobs still queued never start; a running one is abandoned with the process and
        # marked failed by recover_interrupted at the next start.
        self._pool.shutdown(wait=False, cancel_futures=True)
