"""Re-identification records: each patient's NHS number, sealed as its chunk arrives.

Only a dataset whose policy sets ``reidentification.allowed`` gets a :class:`PatientCapture`;
without one the engine does no extra work per row. The workers hand each chunk's
(stored pseudonym, NHS number) pairs to the parent; :meth:`PatientCapture.tap` seals every
new patient's number under the re-identification key (in the HSM where there is one) and
drops the pairs before the chunk goes on to the loader, so a raw number lives in memory for
one chunk and is never written anywhere. The sealed blobs wait in memory until
:meth:`PatientCapture.store` inserts them in the version's own transaction: an ingestion
that fails leaves no records behind.

Each ciphertext's associated data names its dataset, generation and pseudonym
(:func:`fivesafes.keys.reid_blob.record_aad`), so a blob copied onto another row does not open.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Integer, LargeBinary, String, column, table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from fivesafes.datasets.models import DatasetVersion
from fivesafes.db import UTCDateTime, utcnow
from fivesafes.deid.policy import Policy
from fivesafes.deid.worker import ChunkResult
from fivesafes.errors import ConfigurationError
from fivesafes.keys.reid_blob import record_aad
from fivesafes.keys.store import KeyStore

#: Rows per INSERT (six parameters each: well inside SQLite's and PostgreSQL's limits).
STORE_BATCH_ROWS = 1000

#: The columns of :class:`fivesafes.reidentification.models.ReidentificationRecord` this
#: module writes. Named here rather than imported: the model's package sits above
#: ingestion in the layers (it also holds the requests, which use access), and ingestion
#: only ever inserts. The integration tests read what it writes through the model.
_RECORDS = table(
    "reidentification_records",
    column("dataset_id", Integer),
    column("pseudonym", String),
    column("pseudonym_generation", Integer),
    column("ciphertext", LargeBinary),
    column("first_version_id", Integer),
    column("created_at", UTCDateTime),
)


class PatientCapture:
    """The sealed NHS numbers of one ingestion run, keyed by stored pseudonym."""

    def __init__(self, keystore: KeyStore, dataset_id: int) -> None:
        self.keystore = keystore
        self.dataset_id = dataset_id
        self.generation: int | None = None
        self._sealed: dict[str, bytes] = {}

    @classmethod
    def for_policy(
        cls, policy: Policy, keystore: KeyStore, dataset_id: int
    ) -> PatientCapture | None:
        """A capture if the policy allows re-identification, else None (nothing is kept).

        Refused before any row is read when the key store has no re-identification key:
        a dataset that promises reversibility must not be ingested without it.
        """
        if not policy.reidentification.allowed:
            return None
        if not keystore.has_reidentification_key():
            raise ConfigurationError(
                f"dataset {policy.dataset!r} allows re-identification but the key store has "
                "no re-identification key: run `fivesafes keys init-reidentification`"
            )
        return cls(keystore, dataset_id)

    @property
    def patients(self) -> int:
        """Distinct patients sealed so far."""
        return len(self._sealed)

    def tap(self, results: Iterator[ChunkResult], generation: int) -> Iterator[ChunkResult]:
        """Pass the results through, sealing each new patient's number and dropping the pairs.

        ``generation`` is the one every pseudonym of the run was made at (the plan's), which
        the record keeps beside the pseudonym.
        """
        self.generation = generation
        sealed = self._sealed
        seal = self.keystore.reidentification_seal
        dataset_id = self.dataset_id
        for result in results:
            patients = result.patients
            if patients is None:
                raise RuntimeError("the engine ran without capturing patients")
            result.patients = None
            for pseudonym, number in patients:
                if pseudonym not in sealed:
                    sealed[pseudonym] = seal(
                        number.encode("ascii"), record_aad(dataset_id, generation, pseudonym)
                    )
            del patients
            yield result

    def store(self, session: Session, version: DatasetVersion) -> int:
        """Insert the records this run sealed; patients already on record are left as they are.

        Returns how many records were new. Runs in the caller's transaction, which is the
        version's.
        """
        if version.dataset_id != self.dataset_id:
            raise RuntimeError("re-identification records captured for another dataset")
        if not self._sealed:
            return 0
        assert self.generation is not None
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {
                "dataset_id": self.dataset_id,
                "pseudonym": pseudonym,
                "pseudonym_generation": self.generation,
                "ciphertext": blob,
                "first_version_id": version.id,
                "created_at": now,
            }
            for pseudonym, blob in self._sealed.items()
        ]
        added = 0
        for start in range(0, len(rows), STORE_BATCH_ROWS):
            statement = (
                insert(_RECORDS)
                .values(rows[start : start + STORE_BATCH_ROWS])
                .on_conflict_do_nothing(
                    index_elements=["dataset_id", "pseudonym_generation", "pseudonym"]
                )
            )
            added += session.execute(statement).rowcount  # type: ignore[attr-defined]
        self._sealed.clear()
        return added
