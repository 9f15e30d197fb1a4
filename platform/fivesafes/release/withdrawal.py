"""Withdrawing a dataset version, and purging a withdrawn version's data.

Why here: who may withdraw depends on whether any data has left the version (an uploader
may take back their own upload only before its first release), and releases are this
package's record. The rule itself is the access policy's (``dataset_version.withdraw``,
``dataset_version.purge``), decided by ``access.decide`` like every other action.

A withdrawal is final: the version leaves "latest" (``datasets.review.releasable_version``
reads only ``available`` versions), grants fixed to it are refused at release with a 409
naming the version and the reason, a review still waiting for it leaves the queue. Its
data table is kept for the record until a purge, which the dataset's policy in force
allows ``withdrawn_retention_days`` after the withdrawal (``fivesafes datasets purge``).
A purge drops the table only: the version row, its de-identification report, the release
records and manifests made from it, and the audit trail all stay.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from fivesafes.access.decide import decide
from fivesafes.access.facts import Target, authorize, subject_of
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import DatasetVersion, VersionState
from fivesafes.datasets.review import ensure_releasable
from fivesafes.errors import ConflictError, InvalidInputError
from fivesafes.identity.models import User
from fivesafes.ingestion.storage import qualified_name, table_exists
from fivesafes.release.models import Release

REASON_MIN, REASON_MAX = 3, 5000


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """A version with the facts its pages and responses show about withdrawal."""

    version: DatasetVersion
    releases: int  # how many releases read it (any outcome)
    retention_days: int  # the policy in force: days kept after a withdrawal
    purge_from: datetime | None  # when a purge becomes allowed (withdrawn versions only)


def releases_of(session: Session, version: DatasetVersion) -> int:
    """How many releases read ``version`` (streaming, completed or interrupted: each one
    is data that may have left)."""
    query = select(func.count()).select_from(Release)
    return int(session.scalar(query.where(Release.dataset_version_id == version.id)) or 0)


def version_target(session: Session, dataset: str, number: int, *, lock: bool = False) -> Target:
    """The version named by the path and whether any data has left it; 404 if missing.

    ``lock`` (the writers below) takes the row for update (PostgreSQL) before releases
    are counted, so two officers acting at once are serialised and a release recorded
    meanwhile is counted.
    """
    found = datasets.get_dataset(session, dataset)
    version = datasets.get_dataset_version(session, found, number)
    if lock:
        session.refresh(version, with_for_update=True)
    return Target(version=version, version_released=releases_of(session, version) > 0)


def hold_for_release(session: Session, version: DatasetVersion) -> None:
    """Keep a withdrawal and a release from crossing: a share lock on the version row
    until the release's transaction commits (PostgreSQL; SQLite serialises writers), and
    its state read again under the lock, so a withdrawal committed meanwhile refuses the
    release (409) and a withdrawal waiting for the lock counts the release once recorded.
    """
    session.refresh(version, with_for_update={"read": True})
    ensure_releasable(version)


def retention_days(session: Session, version: DatasetVersion) -> int:
    """The dataset policy in force now decides how long withdrawn data is kept."""
    stored = datasets.current_policy_version(session, version.dataset)
    return datasets.parsed_policy(stored).withdrawn_retention_days


def version_record(session: Session, version: DatasetVersion) -> VersionRecord:
    days = retention_days(session, version)
    purge_from = (
        version.withdrawn_at + timedelta(days=days) if version.withdrawn_at is not None else None
    )
    return VersionRecord(version, releases_of(session, version), days, purge_from)


def version_records(session: Session, dataset: str) -> list[VersionRecord]:
    """Every version of ``dataset`` with its withdrawal facts, oldest first, in three
    queries whatever the number of versions (the governance page lists them all)."""
    found = datasets.get_dataset(session, dataset)
    versions = datasets.dataset_versions(session, found)
    counted = session.execute(
        select(Release.dataset_version_id, func.count())
        .where(Release.dataset_version_id.in_([v.id for v in versions]))
        .group_by(Release.dataset_version_id)
    )
    releases = {version_id: int(n) for version_id, n in counted}
    days = datasets.parsed_policy(datasets.current_policy_version(session, found))
    keep = timedelta(days=days.withdrawn_retention_days)
    return [
        VersionRecord(
            v,
            releases.get(v.id, 0),
            days.withdrawn_retention_days,
            v.withdrawn_at + keep if v.withdrawn_at is not None else None,
        )
        for v in versions
    ]


def may_withdraw(
    session: Session, policy: AccessPolicy, user: User, dataset: str, number: int, now: datetime
) -> bool:
    """Whether a page should offer ``user`` the withdraw form for that version (the same
    decision the withdrawal itself takes; a version already withdrawn offers none)."""
    target = version_target(session, dataset, number)
    if target.loaded_version.state == VersionState.WITHDRAWN:
        return False
    action = Action.DATASET_VERSION_WITHDRAW
    return decide(subject_of(user), action, target.resource, policy, now).allowed


def _reason(value: str) -> str:
    reason = value.strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise InvalidInputError(
            f"reason: a reason of {REASON_MIN} to {REASON_MAX} characters is required",
            code="invalid_reason",
        )
    return reason


def _label(version: DatasetVersion) -> str:
    return f"dataset {version.dataset.name!r} version {version.number}"


def withdraw_version(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    user: User,
    *,
    dataset: str,
    number: int,
    reason: str,
    now: datetime,
) -> VersionRecord:
    """Withdraw a version (governance; its uploader before any release), audited."""
    reason = _reason(reason)
    target = version_target(session, dataset, number, lock=True)
    authorize(policy, user, Action.DATASET_VERSION_WITHDRAW, target, now)
    version = target.loaded_version
    if version.state == VersionState.WITHDRAWN:
        raise ConflictError(
            f"{_label(version)} was already withdrawn on {version.withdrawn_at:%Y-%m-%d}",
            code="version_already_withdrawn",
        )
    before = version.state
    version.state = VersionState.WITHDRAWN
    version.withdrawn_at, version.withdrawn_by = now, str(user.id)
    version.withdrawal_reason = reason
    session.flush()
    record = version_record(session, version)
    trail.record(
        session,
        "dataset_version.withdraw",
        target_type="dataset_version",
        target_id=f"{version.dataset.name}/{version.number}",
        details={
            "state_before": before.value,
            "releases": record.releases,
            # The reason is kept with the version, not here: it may describe what was wrong
            # with the data, and audit rows are kept for ever. Its digest ties the two.
            "reason_chars": len(reason),
            "reason_sha256": hashlib.sha256(reason.encode("utf-8")).hexdigest(),
            "retention_days": record.retention_days,
        },
    )
    return record


def purge_version(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    user: User,
    *,
    dataset: str,
    number: int,
    now: datetime,
) -> VersionRecord:
    """Drop a withdrawn version's data table once its retention has passed, audited.

    Refused (409, with the reason) unless the version is withdrawn, not yet purged, and
    ``withdrawn_retention_days`` of the dataset's policy have passed since.
    """
    target = version_target(session, dataset, number, lock=True)
    authorize(policy, user, Action.DATASET_VERSION_PURGE, target, now)
    version = target.loaded_version
    if version.state != VersionState.WITHDRAWN or version.withdrawn_at is None:
        raise ConflictError(
            f"{_label(version)} is {version.state}: only a withdrawn version's data may be "
            "purged (withdraw it first, with a reason)",
            code="version_not_withdrawn",
        )
    if version.purged_at is not None:
        raise ConflictError(
            f"{_label(version)}'s data was already purged on {version.purged_at:%Y-%m-%d}",
            code="version_already_purged",
        )
    record = version_record(session, version)
    assert record.purge_from is not None
    if now < record.purge_from:
        raise ConflictError(
            f"{_label(version)} was withdrawn on {version.withdrawn_at:%Y-%m-%d %H:%M} UTC; "
            f"its dataset's policy keeps withdrawn data for {record.retention_days} days "
            f"(withdrawn_retention_days), so it may be purged from "
            f"{record.purge_from:%Y-%m-%d %H:%M} UTC",
            code="purge_not_yet_allowed",
        )
    connection = session.connection()
    existed = table_exists(connection, version.table_name)
    if existed:
        connection.execute(text(f"DROP TABLE {qualified_name(connection, version.table_name)}"))
    version.purged_at, version.purged_by = now, str(user.id)
    session.flush()
    trail.record(
        session,
        "dataset_version.purge",
        target_type="dataset_version",
        target_id=f"{version.dataset.name}/{version.number}",
        details={
            "table": version.table_name,
            "table_existed": existed,
            "rows": version.row_count,
            "releases": record.releases,
            "withdrawn_at": version.withdrawn_at.isoformat(),
            "retention_days": record.retention_days,
        },
    )
    return record
