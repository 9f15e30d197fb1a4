"""Response bodies for datasets and uploads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ColumnOut(BaseModel):
    name: str
    type: str


class DatasetVersionOut(BaseModel):
    number: int
    row_count: int
    source_sha256: str
    policy_version: int
    created_at: datetime
    state: str  # available | pending_review | rejected | withdrawn: only available ones released
    withdrawn_at: datetime | None = None
    withdrawal_reason: str | None = None  # why it was withdrawn (refused releases say it too)
    purged_at: datetime | None = None  # its data table was dropped (the record stays)


class DatasetOut(BaseModel):
    name: str
    sensitivity: str
    policy_version: int
    policy_sha256: str
    columns: list[ColumnOut]
    versions: list[DatasetVersionOut]


class UploadAccepted(BaseModel):
    id: uuid.UUID
    dataset: str
    state: str
    filename: str
    size_bytes: int
    source_sha256: str | None
    href: str


class UploadError(BaseModel):
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    column: str | None = None


class UploadOut(BaseModel):
    id: uuid.UUID
    dataset: str
    state: str
    filename: str
    file_format: str
    size_bytes: int
    source_sha256: str | None
    rows_processed: int
    errors: list[UploadError]
    report: dict[str, Any] | None
    dataset_version: int | None
    dataset_version_state: str | None = None  # pending_review: waiting for governance
    dataset_version_withdrawn_at: datetime | None = None
    dataset_version_withdrawal_reason: str | None = None
    dataset_version_purged_at: datetime | None = None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
