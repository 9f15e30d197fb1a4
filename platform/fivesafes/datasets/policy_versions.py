"""A dataset's policy versions as governance reads them, and who may load new ones.

Every policy version is kept verbatim (comments included), so governance can see what
each version said and what changed between two of them. Loading is an admin's act:
the policy load is recorded against the named admin, never against the shell account
that ran the command, so an auditor can tell which person put a set of rules in force.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets import service
from fivesafes.datasets.models import Dataset, DatasetPolicyVersion
from fivesafes.errors import NotFoundError, PermissionDeniedError
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role


class PolicyLoadRefusedError(PermissionDeniedError):
    """The named user may not load policies; the refusal's audit event is kept."""

    code = "policy_load_refused"
    keeps_audit = True


def load_policy_files_as(
    session: Session, trail: AuditTrail, username: str, files: Sequence[Path]
) -> list[service.LoadedPolicy]:
    """Load ``files`` (all or nothing) as the admin ``username``.

    The user must exist, be active and hold the admin role; otherwise nothing is loaded and
    a denied ``policy.load`` event records who tried (the operator's shell account, and
    the user named where there is one).
    """
    try:
        user = identity.get_user(session, username)
    except NotFoundError:
        _refuse(session, trail, "unknown_user")
        raise PolicyLoadRefusedError(
            f"no user {username!r}: policies are loaded as an existing admin (--as)"
        ) from None
    acting = trail.acting_as(identity.actor_of(user))
    if not user.is_active:
        _refuse(session, acting, "user_disabled")
        raise PolicyLoadRefusedError(f"user {username!r} is disabled: they may not load policies")
    if user.role != Role.ADMIN:
        _refuse(session, acting, "not_admin")
        raise PolicyLoadRefusedError(
            f"user {username!r} has the role {user.role.value!r}: only an admin loads policies"
        )
    return [service.load_policy_file(session, acting, path) for path in files]


def _refuse(session: Session, trail: AuditTrail, reason: str) -> None:
    trail.record(session, "policy.load", outcome="denied", details={"reason": reason})


@dataclass(frozen=True, slots=True)
class PolicyOverview:
    """A dataset and the policy version in force for it."""

    dataset: str
    current: DatasetPolicyVersion
    versions: int


def policy_overview(session: Session) -> list[PolicyOverview]:
    """Every dataset with a policy: its newest policy version and how many it has had."""
    newest = (
        select(
            DatasetPolicyVersion.dataset_id,
            func.max(DatasetPolicyVersion.version).label("newest"),
            func.count().label("versions"),
        )
        .group_by(DatasetPolicyVersion.dataset_id)
        .subquery()
    )
    rows = session.execute(
        select(Dataset.name, DatasetPolicyVersion, newest.c.versions)
        .join(newest, newest.c.dataset_id == Dataset.id)
        .join(
            DatasetPolicyVersion,
            (DatasetPolicyVersion.dataset_id == Dataset.id)
            & (DatasetPolicyVersion.version == newest.c.newest),
        )
        .order_by(Dataset.name)
    )
    return [PolicyOverview(name, current, count) for name, current, count in rows]


def list_policy_versions(session: Session, dataset_name: str) -> list[DatasetPolicyVersion]:
    """Every policy version of the dataset, oldest first (``dataset_not_found`` if none)."""
    dataset = service.get_dataset(session, dataset_name)
    return list(
        session.scalars(
            select(DatasetPolicyVersion)
            .where(DatasetPolicyVersion.dataset_id == dataset.id)
            .order_by(DatasetPolicyVersion.version)
        )
    )


def get_policy_version(session: Session, dataset_name: str, version: int) -> DatasetPolicyVersion:
    """One policy version of the dataset, or ``policy_version_not_found``."""
    dataset = service.get_dataset(session, dataset_name)
    stored = session.scalar(
        select(DatasetPolicyVersion).where(
            DatasetPolicyVersion.dataset_id == dataset.id,
            DatasetPolicyVersion.version == version,
        )
    )
    if stored is None:
        raise NotFoundError(
            f"dataset {dataset_name!r} has no policy version {version}",
            code="policy_version_not_found",
        )
    return stored


class DiffKind(StrEnum):
    """What a line of a unified diff is, so a page can mark it (and a reader can tell)."""

    FILE = "file"  # the ---/+++ lines naming the two versions
    HUNK = "hunk"  # @@ -a,b +c,d @@
    ADDED = "added"
    REMOVED = "removed"
    SAME = "same"


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: DiffKind
    text: str  # the line as difflib wrote it, marker included, without its newline


@dataclass(frozen=True, slots=True)
class PolicyDiff:
    dataset: str
    old: DatasetPolicyVersion
    new: DatasetPolicyVersion
    lines: tuple[DiffLine, ...]

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.kind == DiffKind.ADDED)

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.kind == DiffKind.REMOVED)


#: Unchanged lines shown around each change.
DIFF_CONTEXT = 3


def policy_diff(session: Session, dataset_name: str, old: int, new: int) -> PolicyDiff:
    """The unified diff of two stored policy texts (comments count: they are reviewed)."""
    before = get_policy_version(session, dataset_name, old)
    after = get_policy_version(session, dataset_name, new)
    return PolicyDiff(
        dataset_name, before, after, diff_lines(before.source_text, after.source_text, old, new)
    )


def diff_lines(old_text: str, new_text: str, old: int, new: int) -> tuple[DiffLine, ...]:
    """``difflib.unified_diff`` of two texts, each line classified."""
    raw = difflib.unified_diff(
        old_text.splitlines(),
        new_text.splitlines(),
        fromfile=f"policy v{old}",
        tofile=f"policy v{new}",
        n=DIFF_CONTEXT,
        lineterm="",
    )
    # The two file lines come first; after them a removed line reading "-- x" is content.
    return tuple(
        DiffLine(DiffKind.FILE if i < 2 else _kind(line), line) for i, line in enumerate(raw)
    )


def _kind(line: str) -> DiffKind:
    if line.startswith("@@"):
        return DiffKind.HUNK
    if line.startswith("+"):
        return DiffKind.ADDED
    if line.startswith("-"):
        return DiffKind.REMOVED
    return DiffKind.SAME
