"""The response body of a dataset version's withdrawal record (API and pages alike)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from fivesafes.identity.directory import usernames
from fivesafes.release.withdrawal import REASON_MAX, REASON_MIN, VersionRecord


class WithdrawIn(BaseModel):
    reason: str = Field(
        min_length=REASON_MIN,
        max_length=REASON_MAX,
        description="Why the version is withdrawn; shown to researchers whose grants are "
        "fixed to it. Do not quote patient data.",
    )


class VersionStatusOut(BaseModel):
    dataset: str
    number: int
    state: str  # withdrawn after a withdrawal
    row_count: int
    uploaded_by: str | None  # username (or the operator's label)
    releases: int  # releases that read this version
    withdrawn_at: datetime | None
    withdrawn_by: str | None
    withdrawal_reason: str | None
    retention_days: int  # withdrawn_retention_days of the dataset's policy in force
    purge_allowed_from: datetime | None  # withdrawn_at + retention_days
    data_kept: bool  # False once purged: the version's data table was dropped
    purged_at: datetime | None
    purged_by: str | None


def version_status_out(session: Session, record: VersionRecord) -> VersionStatusOut:
    [out] = version_status_outs(session, [record])
    return out


def version_status_outs(session: Session, records: list[VersionRecord]) -> list[VersionStatusOut]:
    """The records' bodies, with every user id named in one query (a page lists them all)."""
    ids = [
        i
        for r in records
        for i in (r.version.uploaded_by, r.version.withdrawn_by, r.version.purged_by)
        if i
    ]
    names = usernames(session, ids)
    return [_out(record, names) for record in records]


def _out(record: VersionRecord, names: dict[str, str]) -> VersionStatusOut:
    version = record.version

    def name(user_id: str | None) -> str | None:
        return names.get(user_id, user_id) if user_id else None

    return VersionStatusOut(
        dataset=version.dataset.name,
        number=version.number,
        state=version.state,
        row_count=version.row_count,
        uploaded_by=name(version.uploaded_by),
        releases=record.releases,
        withdrawn_at=version.withdrawn_at,
        withdrawn_by=name(version.withdrawn_by),
        withdrawal_reason=version.withdrawal_reason,
        retention_days=record.retention_days,
        purge_allowed_from=record.purge_from,
        data_kept=version.purged_at is None,
        purged_at=version.purged_at,
        purged_by=name(version.purged_by),
    )
