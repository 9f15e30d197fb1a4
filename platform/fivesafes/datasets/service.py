"""Datasets and their policy versions.

A dataset is declared by its policy file. Loading a file whose validated content (its
canonical hash: comments and layout do not count) is already stored does nothing; a
changed policy becomes the next policy version. Nothing is edited in place, so every
dataset version can be traced to the exact rules that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.models import Dataset, DatasetPolicyVersion, DatasetVersion
from fivesafes.deid.policy import Policy, load_policy, parse_policy
from fivesafes.errors import InvalidInputError, NotFoundError, PolicyError


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    dataset: str
    version: int
    content_sha256: str
    created: bool  # False when an identical policy was already stored


def policy_files(path: Path) -> list[Path]:
    """The policy files at ``path`` (a file, or every *.yaml / *.yml in a folder)."""
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            raise InvalidInputError(f"{path}: no policy files (*.yaml) in this folder")
        return files
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such policy file or folder")
    return [path]


def load_policy_file(session: Session, trail: AuditTrail, path: Path) -> LoadedPolicy:
    """Validate ``path`` and store it as a new policy version unless already stored."""
    policy = load_policy(path)  # PolicyError names the file and key
    text = path.read_text(encoding="utf-8")
    return store_policy(session, trail, policy, text)


def store_policy(
    session: Session, trail: AuditTrail, policy: Policy, source_text: str
) -> LoadedPolicy:
    dataset = session.scalar(select(Dataset).where(Dataset.name == policy.dataset))
    if dataset is None:
        dataset = Dataset(name=policy.dataset)
        session.add(dataset)
        session.flush()
        trail.record(session, "dataset.create", target_type="dataset", target_id=dataset.name)
    existing = session.scalar(
        select(DatasetPolicyVersion).where(
            DatasetPolicyVersion.dataset_id == dataset.id,
            DatasetPolicyVersion.content_sha256 == policy.content_hash,
        )
    )
    if existing is not None:
        return LoadedPolicy(dataset.name, existing.version, existing.content_sha256, False)
    latest = session.scalar(
        select(func.max(DatasetPolicyVersion.version)).where(
            DatasetPolicyVersion.dataset_id == dataset.id
        )
    )
    stored = DatasetPolicyVersion(
        dataset_id=dataset.id,
        version=(latest or 0) + 1,
        content_sha256=policy.content_hash,
        sensitivity=policy.sensitivity,
        source_text=source_text,
        loaded_by=trail.context.actor.id,
    )
    session.add(stored)
    session.flush()
    trail.record(
        session,
        "policy.load",
        target_type="dataset",
        target_id=dataset.name,
        details={
            "policy_version": stored.version,
            "content_sha256": stored.content_sha256,
            "sensitivity": stored.sensitivity,
        },
    )
    return LoadedPolicy(dataset.name, stored.version, stored.content_sha256, True)


def get_dataset(session: Session, name: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is None:
        raise NotFoundError(
            f"no dataset {name!r} (load its policy with `fivesafes policies load`)",
            code="dataset_not_found",
        )
    return dataset


def list_datasets(session: Session) -> list[Dataset]:
    return list(session.scalars(select(Dataset).order_by(Dataset.name)))


def current_policy_version(session: Session, dataset: Dataset) -> DatasetPolicyVersion:
    stored = session.scalar(
        select(DatasetPolicyVersion)
        .where(DatasetPolicyVersion.dataset_id == dataset.id)
        .order_by(DatasetPolicyVersion.version.desc())
        .limit(1)
    )
    if stored is None:
        raise NotFoundError(f"dataset {dataset.name!r} has no policy", code="policy_not_found")
    return stored


def dataset_with_policy(session: Session, name: str) -> tuple[Dataset, DatasetPolicyVersion]:
    """The dataset called ``name`` and the policy in force for it.

    The one way every entry point asks "which dataset, under which rules": an unknown
    name is ``dataset_not_found``, a dataset without a policy ``policy_not_found``, from
    the upload route as from an access request.
    """
    dataset = get_dataset(session, name)
    return dataset, current_policy_version(session, dataset)


def parsed_policy(stored: DatasetPolicyVersion) -> Policy:
    """The validated policy of a stored version (validated again: stored text is the truth)."""
    source = f"{stored.dataset.name} policy v{stored.version}"
    try:
        data = yaml.safe_load(stored.source_text)
    except yaml.YAMLError as exc:  # pragma: no cover - it parsed when it was stored
        raise PolicyError(f"{source}: stored policy no longer parses: {exc}") from None
    return parse_policy(data, source)


def dataset_versions(session: Session, dataset: Dataset) -> list[DatasetVersion]:
    return list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset.id)
            .order_by(DatasetVersion.number)
        )
    )


def get_dataset_version(session: Session, dataset: Dataset, number: int | None) -> DatasetVersion:
    """A fixed version, or the latest when ``number`` is None."""
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
    if number is None:
        query = query.order_by(DatasetVersion.number.desc()).limit(1)
    else:
        query = query.where(DatasetVersion.number == number)
    version = session.scalar(query)
    if version is None:
        which = "any version" if number is None else f"version {number}"
        raise NotFoundError(f"dataset {dataset.name!r} has no {which}", code="version_not_found")
    return version
