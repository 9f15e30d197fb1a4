"""Building the API's dataset and upload views from models (shared by API and web pages)."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from fivesafes.datasets import service
from fivesafes.datasets.models import Dataset, Upload
from fivesafes.datasets.schemas import (
    ColumnOut,
    DatasetOut,
    DatasetVersionOut,
    UploadError,
    UploadOut,
)
from fivesafes.deid.plan import output_columns


def dataset_view(session: Session, dataset: Dataset) -> DatasetOut:
    stored = service.current_policy_version(session, dataset)
    policy = service.parsed_policy(stored)
    columns = [ColumnOut(name=n, type=k) for n, k in output_columns(policy).items()]
    return DatasetOut(
        name=dataset.name,
        sensitivity=stored.sensitivity,
        policy_version=stored.version,
        policy_sha256=stored.content_sha256,
        columns=columns,
        versions=[
            DatasetVersionOut(
                number=v.number,
                row_count=v.row_count,
                source_sha256=v.source_sha256,
                policy_version=v.policy_version.version,
                created_at=v.created_at,
                state=v.state,
                withdrawn_at=v.withdrawn_at,
                withdrawal_reason=v.withdrawal_reason,
                purged_at=v.purged_at,
            )
            for v in service.dataset_versions(session, dataset)
        ],
    )


def upload_view(upload: Upload, rows_processed: int | None = None) -> UploadOut:
    version = upload.dataset_version
    return UploadOut(
        id=upload.id,
        dataset=upload.dataset.name,
        state=upload.state,
        filename=upload.filename,
        file_format=upload.file_format,
        size_bytes=upload.size_bytes,
        source_sha256=upload.source_sha256,
        rows_processed=upload.rows_processed if rows_processed is None else rows_processed,
        errors=[UploadError(**e) for e in json.loads(upload.errors or "[]")],
        report=json.loads(upload.report) if upload.report else None,
        dataset_version=upload.dataset_version.number if upload.dataset_version else None,
        dataset_version_state=upload.dataset_version.state if upload.dataset_version else None,
        dataset_version_withdrawn_at=version.withdrawn_at if version else None,
        dataset_version_withdrawal_reason=version.withdrawal_reason if version else None,
        dataset_version_purged_at=version.purged_at if version else None,
        created_at=upload.created_at,
        started_at=upload.started_at,
        finished_at=upload.finished_at,
    )
