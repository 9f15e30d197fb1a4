"""Datasets, policy versions, dataset versions, uploads and opt-outs.

Nothing here is edited in place once it describes data: a changed policy is a new policy
version, a new extract is a new dataset version. De-identified rows live in one table per
dataset version (``dsv_<id>``), created and filled in the same transaction that creates
the version row, so a failure at any point leaves neither visible.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fivesafes.db import Base, StrEnumText, UTCDateTime, utcnow

#: Prefix of the per-version data tables (Alembic's comparison ignores them).
DATA_TABLE_PREFIX = "dsv_"
#: A stable row id, in load order, in the tables of datasets whose policy asks for a
#: governance review: the review stores sampled cells by (row id, column), never their
#: text. It is never released (releases select the policy's columns by name).
ROW_ID_COLUMN = "__fivesafes_row"


class Sensitivity(StrEnum):
    STANDARD = "standard"
    SENSITIVE = "sensitive"


class UploadState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """Nothing more will happen to the upload (pages stop polling, clients waiting)."""
        return self in (UploadState.SUCCEEDED, UploadState.FAILED)


class VersionState(StrEnum):
    """Where a dataset version stands; only ``available`` versions can be released.

    ``pending_review`` -> ``available`` (a governance officer approved a sample of its
    scrubbed free text) or -> ``rejected`` (final). Versions of datasets whose policy asks
    for no review are ``available`` from the start. Any of them -> ``withdrawn`` (final):
    taken back with a reason (``release.withdrawal``); its data is kept for the record
    until a purge its policy allows (``purged_at``), the row itself for ever.
    """

    AVAILABLE = "available"
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    policy_versions: Mapped[list[DatasetPolicyVersion]] = relationship(
        back_populates="dataset", order_by="DatasetPolicyVersion.version"
    )


class DatasetPolicyVersion(Base):
    """One version of a dataset's policy, stored verbatim and by content hash."""

    __tablename__ = "dataset_policy_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        UniqueConstraint("dataset_id", "content_sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    sensitivity: Mapped[str] = mapped_column(String(32))
    source_text: Mapped[str] = mapped_column(Text)  # the YAML as reviewed, comments included
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    loaded_by: Mapped[str | None] = mapped_column(String(64))

    dataset: Mapped[Dataset] = relationship(back_populates="policy_versions")


class DatasetVersion(Base):
    """An immutable, de-identified version of a dataset."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "number"),
        UniqueConstraint("dataset_id", "source_sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_policy_versions.id"))
    source_sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(Integer)
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    report: Mapped[str] = mapped_column(Text)  # the de-identification report (JSON)
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[VersionState] = mapped_column(
        StrEnumText(VersionState, 16), default=VersionState.AVAILABLE, server_default="available"
    )
    # Withdrawal (state ``withdrawn``): when, by whom (a user id, as ``uploaded_by``), why.
    # The reason is shown to whoever a refused release concerns, never put in the audit
    # trail (it may describe what was wrong with the data; audit rows are kept for ever).
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(64))
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    # Purge: the data table was dropped (the row, its report and the trail stay).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_by: Mapped[str | None] = mapped_column(String(64))
    #: The pseudonym generation of every pseudonym in the data table (see
    #: :mod:`fivesafes.keys.remap`): 1 until a rotation re-maps it, which also sets this.
    pseudonym_generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    dataset: Mapped[Dataset] = relationship()
    policy_version: Mapped[DatasetPolicyVersion] = relationship()


class Upload(Base):
    """An extract on its way in: state, progress and outcome, never its content."""

    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    state: Mapped[UploadState] = mapped_column(
        StrEnumText(UploadState, 16), default=UploadState.QUEUED
    )
    filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    rows_processed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[str | None] = mapped_column(Text)  # JSON list of {file, line, column, message}
    report: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Renewed while a live process holds the upload (queued or running); the watchdog
    #: fails an unfinished upload whose heartbeat is older than the ingestion lease.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))

    dataset: Mapped[Dataset] = relationship()
    dataset_version: Mapped[DatasetVersion | None] = relationship()


class OptOutList(Base):
    """A load of the National Data Opt-out list; the newest load is in force."""

    __tablename__ = "opt_out_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entries: Mapped[int] = mapped_column(Integer)
    source_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    loaded_by: Mapped[str | None] = mapped_column(String(64))
    #: The generation of the list's digests (a rotation carries them forward one-way).
    pseudonym_generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class OptOut(Base):
    """One opted-out patient, as a keyed HMAC of the NHS number: never the number itself."""

    __tablename__ = "opt_outs"

    list_id: Mapped[int] = mapped_column(ForeignKey("opt_out_lists.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
