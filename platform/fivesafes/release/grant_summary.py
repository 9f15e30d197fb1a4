"""What a grant gives and what it last gave: the grant page's account of a grant's data.

A researcher reads here, before and after downloading, what each column is
(:mod:`fivesafes.release.column_notes`, planned exactly as a download would plan it),
whether a download could be released at all now (a version withdrawn or waiting for
review refuses it: said before anyone clicks), and what the last release held: rows
released and suppressed, and which quasi-identifiers drove the suppression, read from
that release's own manifest (the record of what left, not a recomputation).

The caller has checked ``grant.view``; nothing here writes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from fivesafes.access.models import Grant
from fivesafes.errors import ConflictError, NotFoundError
from fivesafes.release import service
from fivesafes.release.column_notes import ColumnNote, column_notes
from fivesafes.release.manifest import manifest_view
from fivesafes.release.models import Release, ReleaseFormat, ReleaseState
from fivesafes.release.query import ReleaseTerms, build_plan


@dataclass(frozen=True, slots=True)
class Driver:
    """A quasi-identifier that drove suppression: the rows left out were it not released."""

    quasi_identifier: str
    rows_suppressed_without_it: int


@dataclass(frozen=True, slots=True)
class ReleaseSummary:
    """One release as its manifest records it."""

    id: uuid.UUID
    created_at: datetime
    file_format: ReleaseFormat
    state: ReleaseState
    recipient: str
    dataset_version: int | None
    rows_released: int
    rows_suppressed: int
    rows_in_scope: int | None
    classes_suppressed: int | None
    k_required: int | None
    k_achieved: int | None
    quasi_identifiers: list[str] = field(default_factory=list)
    drivers: list[Driver] = field(default_factory=list)
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class GrantSummary:
    """The columns a download of the grant would hold, whether one can be released now,
    and the grant's releases so far."""

    notes: list[ColumnNote]
    version: int | None  # the dataset version a download reads now (None: none can)
    unavailable: str | None  # why no release can be made now (None: one can be tried)
    unavailable_code: str | None
    releases: int
    last: ReleaseSummary | None


def summarise_release(release: Release) -> ReleaseSummary:
    """A release's counts and drivers, from its manifest."""
    manifest: dict[str, Any] = manifest_view(release)
    gate: dict[str, Any] = manifest.get("disclosure") or {}
    recipient: dict[str, Any] = manifest.get("recipient") or {}
    dataset: dict[str, Any] = manifest.get("dataset") or {}
    return ReleaseSummary(
        id=release.id,
        created_at=release.created_at,
        file_format=release.file_format,
        state=release.state,
        recipient=str(recipient.get("username", "")),
        dataset_version=dataset.get("version"),
        rows_released=release.row_count,
        rows_suppressed=release.rows_suppressed,
        rows_in_scope=gate.get("rows_in_scope"),
        classes_suppressed=gate.get("classes_suppressed"),
        k_required=gate.get("k_required"),
        k_achieved=gate.get("k_achieved"),
        quasi_identifiers=list(gate.get("quasi_identifiers") or []),
        drivers=[
            Driver(d["quasi_identifier"], int(d["rows_suppressed_without_it"]))
            for d in gate.get("suppression_drivers") or []
        ],
        sha256=release.content_sha256,
    )


def grant_notes(session: Session, grant: Grant) -> tuple[int, list[ColumnNote]]:
    """The dataset version a download of ``grant`` reads now and the notes of its columns,
    planned as that download would be (409 or 404 when no release can be made now)."""
    plan = build_plan(session, ReleaseTerms.of(grant))
    return plan.version.number, column_notes(plan)


def summarise(session: Session, grant: Grant) -> GrantSummary:
    """What ``grant`` gives now and what it last gave (the caller checked ``grant.view``)."""
    notes: list[ColumnNote] = []
    version: int | None = None
    unavailable = code = None
    try:
        version, notes = grant_notes(session, grant)
    except (ConflictError, NotFoundError) as exc:
        unavailable, code = exc.message, exc.code
    releases = service.list_releases(session, grant.id)
    return GrantSummary(
        notes=notes,
        version=version,
        unavailable=unavailable,
        unavailable_code=code,
        releases=len(releases),
        last=summarise_release(releases[-1]) if releases else None,
    )
