"""Governance review of a new dataset version's scrubbed free text, and release gating.

Why: the scrubber is good but not perfect (see ``docs/benchmarks.md``), and a dataset
policy may ask that people read a sample of what it left before anything is released.
The state machine of a version (``datasets.models.VersionState``)::

    ingestion ──► pending_review ──approve──► available ──► requested, granted, released
                        └──────────reject───► rejected (final: never released)
    (policy without review_sample: ingestion ──► available)

Rules, all checked here so that the API, the web pages and tests cannot differ:

- the sample (``review_sample`` cells, or all there are) is drawn once, at ingestion, in
  the transaction that creates the version, and stored as positions;
- only an active governance officer who did not upload the version may see the sample or
  decide (separation of duties);
- every showing is recorded (a view, with a one-time secret whose SHA-256 is stored) and
  audited; an approval must bring back the secret of a view of *this* officer, made
  within :data:`VIEW_VALID_FOR`, so nobody approves what they were not shown. Rejecting
  needs no view (it can only make things safer);
- one decision per version; the officer's reason is stored with the review but never put
  in the audit trail (it may quote what the scrubber missed, and audit rows are forever);
- releases and requests only ever reach ``available`` versions (:func:`releasable_version`);
  a version withdrawn while waiting leaves the queue and can no longer be decided.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.models import Dataset, DatasetVersion, VersionState
from fivesafes.datasets.review_models import ReviewCell, ReviewDecision, ReviewView, VersionReview
from fivesafes.datasets.sampling import (
    CellPosition,
    draw_sample,
    read_cells,
    review_table,
    sample_digest,
)
from fivesafes.datasets.service import get_dataset, get_dataset_version
from fivesafes.datasets.version_tables import version_schema
from fivesafes.db import utcnow
from fivesafes.deid.policy import Policy
from fivesafes.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from fivesafes.identity.models import Role, User

#: A replacement tag left by the scrubber: ``[PERSON]``, ``[DATE]``, ``[NHS_NUMBER]`` ...
TAG = re.compile(r"\[[A-Z][A-Z_]*\]")
#: How long after being shown the sample an officer may approve it.
VIEW_VALID_FOR = timedelta(hours=12)
REASON_MIN, REASON_MAX = 3, 5000


class VersionNotReleasableError(ConflictError):
    """A version that is not ``available``: waiting for review, or rejected (409)."""

    def __init__(self, version: DatasetVersion) -> None:
        why = {
            VersionState.PENDING_REVIEW: "is waiting for a governance review of its "
            "scrubbed free text",
            VersionState.REJECTED: "was rejected by governance review",
            VersionState.WITHDRAWN: withdrawn_because(version),
        }.get(version.state, f"is {version.state}")
        super().__init__(
            f"dataset {version.dataset.name!r} version {version.number} {why} "
            f"(state: {version.state}); it cannot be requested or released",
            code=f"version_{version.state}",
        )


def withdrawn_because(version: DatasetVersion) -> str:
    """How a refusal names a withdrawal: when, and the reason given (shown to whoever
    the refusal concerns, so a researcher whose grant is pinned to it learns why)."""
    when = f" on {version.withdrawn_at:%Y-%m-%d}" if version.withdrawn_at else ""
    return f"was withdrawn{when} (reason: {version.withdrawal_reason or 'none recorded'})"


# ---------------------------------------------------------------------------- gating


def ensure_releasable(version: DatasetVersion) -> DatasetVersion:
    """``version`` if it is available, else :class:`VersionNotReleasableError`."""
    if version.state != VersionState.AVAILABLE:
        raise VersionNotReleasableError(version)
    return version


def releasable_version(session: Session, dataset: Dataset, number: int | None) -> DatasetVersion:
    """The version a grant or request reads: a fixed one (refused unless available) or,
    for "the latest", the newest *available* one: a version waiting for review never
    becomes the current version, one withdrawn stops being it, and the one available
    before it stays releasable."""
    if number is not None:
        return ensure_releasable(get_dataset_version(session, dataset, number))
    version = session.scalar(
        select(DatasetVersion)
        .where(
            DatasetVersion.dataset_id == dataset.id,
            DatasetVersion.state == VersionState.AVAILABLE,
        )
        .order_by(DatasetVersion.number.desc())
        .limit(1)
    )
    if version is None:
        latest = get_dataset_version(session, dataset, None)  # 404 when there is none at all
        raise VersionNotReleasableError(latest)
    return version


# ---------------------------------------------------------------------------- highlighting


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of a cell's text; ``tag`` when it is a scrubber's replacement tag."""

    text: str
    tag: bool


def highlight(text: str) -> list[Segment]:
    """Split a scrubbed cell into plain text and replacement tags (escaping is the page's)."""
    segments: list[Segment] = []
    last = 0
    for match in TAG.finditer(text):
        if match.start() > last:
            segments.append(Segment(text[last : match.start()], False))
        segments.append(Segment(match.group(), True))
        last = match.end()
    if last < len(text):
        segments.append(Segment(text[last:], False))
    return segments


# ---------------------------------------------------------------------------- opening


def _schema(session: Session) -> str | None:
    """Where the version tables are on this database (their own schema on PostgreSQL)."""
    return version_schema(session.get_bind().dialect.name)


def _positions(review: VersionReview) -> list[CellPosition]:
    return [CellPosition(c.row_id, c.column_name) for c in review.cells]


def _record(
    session: Session,
    trail: AuditTrail,
    action: str,
    version: DatasetVersion,
    review: VersionReview,
    details: dict[str, object],
) -> None:
    """Audit a step of a review: every one names the version, the review and its sample's
    digest (so the trail shows each officer saw and decided on the same cells)."""
    trail.record(
        session,
        action,
        target_type="dataset_version",
        target_id=f"{version.dataset.name}/{version.number}",
        details={"review_id": review.id, "sample_sha256": review.sample_sha256, **details},
    )


def open_review(
    session: Session, trail: AuditTrail, version: DatasetVersion, policy: Policy
) -> VersionReview:
    """Put a just-ingested version in ``pending_review`` and draw its sample, once."""
    assert policy.review_sample is not None
    columns = policy.free_text_columns
    table = review_table(version.table_name, columns, _schema(session))
    positions, available = draw_sample(session, table, columns, policy.review_sample)
    review = VersionReview(
        dataset_version_id=version.id,
        sample_requested=policy.review_sample,
        cells_available=available,
        sample_sha256=sample_digest(positions),
    )
    session.add(review)
    session.flush()
    session.add_all(
        ReviewCell(review_id=review.id, position=i, row_id=p.row_id, column_name=p.column)
        for i, p in enumerate(positions, start=1)
    )
    version.state = VersionState.PENDING_REVIEW
    session.flush()
    _record(
        session,
        trail,
        "dataset_version.review_pending",
        version,
        review,
        {
            "sample_requested": review.sample_requested,
            "sample_size": len(positions),
            "cells_available": available,
            "columns": columns,
            # Positions only (row id, column): which cells, never what they say.
            "cells": [[p.row_id, p.column] for p in positions],
        },
    )
    return review


# ---------------------------------------------------------------------------- reviewing


def check_reviewer(actor: User, version: DatasetVersion) -> None:
    """Only an active governance officer who is not the version's uploader reviews it."""
    if not actor.is_active or actor.role != Role.GOVERNANCE:
        raise PermissionDeniedError(
            "only a governance officer may review a dataset version", code="forbidden_role"
        )
    if version.uploaded_by == str(actor.id):
        raise PermissionDeniedError(
            "you uploaded this version, so another officer must review it "
            "(rule: separation_of_duties)",
            code="review_own_upload",
        )


def get_review(
    session: Session, dataset_name: str, number: int, *, lock: bool = False
) -> VersionReview:
    """The review of a version (404 if the version has none: its policy asked for none)."""
    version = get_dataset_version(session, get_dataset(session, dataset_name), number)
    query = select(VersionReview).where(VersionReview.dataset_version_id == version.id)
    if lock:  # PostgreSQL: two officers deciding at once are serialised (SQLite already is)
        query = query.with_for_update()
    review = session.scalar(query)
    if review is None:
        raise NotFoundError(
            f"dataset {dataset_name!r} version {number} has no governance review "
            "(its policy sets no review_sample)",
            code="review_not_found",
        )
    return review


def pending_reviews(session: Session, actor: User) -> list[VersionReview]:
    """Reviews waiting for a decision, oldest first (what a governance queue shows)."""
    if actor.role != Role.GOVERNANCE:
        raise PermissionDeniedError(
            "only a governance officer may list reviews", code="forbidden_role"
        )
    return list(
        session.scalars(
            select(VersionReview)
            .join(DatasetVersion, DatasetVersion.id == VersionReview.dataset_version_id)
            .where(
                VersionReview.decision.is_(None),
                # A version withdrawn while waiting needs no decision any more.
                DatasetVersion.state == VersionState.PENDING_REVIEW,
            )
            .order_by(VersionReview.created_at, VersionReview.id)
        )
    )


def review_of_version(session: Session, version: DatasetVersion) -> VersionReview | None:
    return session.scalar(
        select(VersionReview).where(VersionReview.dataset_version_id == version.id)
    )


@dataclass(frozen=True, slots=True)
class SampleCell:
    position: int
    row_id: int
    column: str
    text: str | None
    segments: list[Segment]

    @property
    def tags(self) -> int:
        return sum(s.tag for s in self.segments)


@dataclass(frozen=True, slots=True)
class ShownSample:
    """The sample as shown to one officer, and the secret their decision must return."""

    review: VersionReview
    cells: list[SampleCell]
    view_id: str
    view_secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def show_sample(
    session: Session, trail: AuditTrail, actor: User, *, dataset: str, number: int
) -> ShownSample:
    """Read the stored sample for ``actor``, record the view and audit it."""
    review = get_review(session, dataset, number)
    version = review.version
    check_reviewer(actor, version)
    if version.purged_at is not None:
        raise ConflictError(
            f"dataset {dataset!r} version {number} was withdrawn and its data purged on "
            f"{version.purged_at:%Y-%m-%d}: there is no sample left to show",
            code="version_purged",
        )
    positions = _positions(review)
    columns = sorted({p.column for p in positions})
    table = review_table(version.table_name, columns, _schema(session))
    texts = read_cells(session, table, positions)
    cells = [
        SampleCell(i, p.row_id, p.column, texts[p], highlight(texts[p] or ""))
        for i, p in enumerate(positions, start=1)
    ]
    secret = secrets.token_urlsafe(32)
    view = ReviewView(review_id=review.id, viewer_id=actor.id, secret_sha256=_digest(secret))
    session.add(view)
    session.flush()
    _record(
        session,
        trail,
        "dataset_version.review_view",
        version,
        review,
        {
            "view_id": str(view.id),
            "sample_size": len(cells),
            "decided": review.decision is not None,
        },
    )
    return ShownSample(review, cells, str(view.id), secret)


def _valid_view(
    session: Session, review: VersionReview, actor: User, secret: str | None, now: datetime
) -> ReviewView | None:
    if not secret:
        return None
    view = session.scalar(
        select(ReviewView).where(
            ReviewView.review_id == review.id, ReviewView.secret_sha256 == _digest(secret)
        )
    )
    if view is None or view.viewer_id != actor.id or view.viewed_at < now - VIEW_VALID_FOR:
        return None
    return view


@dataclass(frozen=True, slots=True)
class VersionDecision:
    """An officer's decision on one version, as posted by the API or the review page.

    ``view_secret`` is the secret of the page that showed them the sample: an approval is
    refused without one of theirs (a rejection needs none).
    """

    dataset: str
    number: int
    approve: bool
    reason: str
    view_secret: str | None = None


def decide(
    session: Session,
    trail: AuditTrail,
    actor: User,
    chosen: VersionDecision,
    *,
    now: datetime | None = None,
) -> VersionReview:
    """Approve (the version becomes ``available``) or reject it (``rejected``, final)."""
    now = now or utcnow()
    dataset, number, approve = chosen.dataset, chosen.number, chosen.approve
    reason = chosen.reason.strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise InvalidInputError(
            f"a reason of {REASON_MIN} to {REASON_MAX} characters is required",
            code="invalid_reason",
        )
    review = get_review(session, dataset, number, lock=True)
    version = review.version
    check_reviewer(actor, version)
    if review.decision is not None:
        raise ConflictError(
            f"dataset {dataset!r} version {number} was already {review.decision}",
            code="review_already_decided",
        )
    if version.state != VersionState.PENDING_REVIEW:
        raise VersionNotReleasableError(version)  # withdrawn while waiting: nothing to decide
    view = _valid_view(session, review, actor, chosen.view_secret, now)
    if approve and view is None:
        raise PermissionDeniedError(
            "open the review page and read the sample before approving: an approval is "
            f"accepted only with the page's sample token, within {VIEW_VALID_FOR} of viewing",
            code="review_sample_not_viewed",
        )
    decision = ReviewDecision.APPROVED if approve else ReviewDecision.REJECTED
    review.decision, review.decided_by, review.decided_at = decision, actor.id, now
    review.reason = reason
    version.state = VersionState.AVAILABLE if approve else VersionState.REJECTED
    session.flush()
    _record(
        session,
        trail,
        "dataset_version.approve" if approve else "dataset_version.reject",
        version,
        review,
        {
            "view_id": str(view.id) if view is not None else None,
            "sample_size": len(review.cells),
            "reason_chars": len(reason),
        },
    )
    return review
