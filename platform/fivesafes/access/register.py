"""The register of data held (SATRE 3.1.08): every dataset, each version, who holds it.

For each dataset version: when it was received, from which upload (its id, the source
file's SHA-256 and who sent it: never the file name, which may itself identify someone),
its rows, the policy version and hash it was made under, its sensitivity, the National
Data Opt-out list applied (and how old that list was when the version was received), its
withdrawal or purge, and every project holding a *live* grant on it with the grant's and
the project's end dates.

It lives in ``access`` because it reads both ``datasets`` (below) and the grants and
projects of ``access`` itself: the lowest layer that sees both (``datasets`` may not
import ``access``). "Live" is :func:`fivesafes.access.grants.grant_is_live`, the same
rule (``decide.grant_refusal``) that stops a download, so the register cannot claim a
grant works when a release would refuse it, or the other way round.

A grant on "the latest" version (``dataset_version`` None) is listed against the version
a release under it would read now: the newest *available* version
(``datasets.review.releasable_version``'s rule); a researcher with such a grant receives
that version's rows. When the dataset has no available version, such grants are listed
on the dataset (``latest_without_version``): live, but nothing can be released under them.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from fivesafes.access.acting import Acting
from fivesafes.access.facts import Target, authorize
from fivesafes.access.grants import grant_is_live
from fivesafes.access.models import Grant, Project
from fivesafes.access.policy import Action
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import (
    Dataset,
    DatasetVersion,
    OptOutList,
    Upload,
    VersionState,
)
from fivesafes.errors import NotFoundError
from fivesafes.identity.directory import usernames

AUDIT_ACTION = "register.view"


class RegisterGrant(BaseModel):
    """A live grant on a version: the project holding it and when each ends."""

    grant_id: int
    project_id: int
    project_title: str
    project_end_date: date
    grant_expires_at: datetime
    on_latest: bool  # granted on "the latest" version (this is the one it reads now)


class OptOutApplied(BaseModel):
    """The National Data Opt-out list a version was made with, if any."""

    applied: bool  # a list was checked against the version's patients
    exempt: bool  # the policy is exempt: opted-out rows were kept and flagged
    list_id: int | None
    list_loaded_at: datetime | None
    list_age_days: int | None  # days between the list's loading and the version's receipt
    rows_excluded: int
    rows_flagged: int
    note: str  # in words, for the page and the CSV


class RegisterVersion(BaseModel):
    number: int
    state: str
    received_at: datetime
    upload_id: uuid.UUID | None  # None for a version made before uploads were linked
    source_sha256: str
    uploaded_by: str | None  # username (or the operator's label)
    rows: int
    policy_version: int
    policy_sha256: str
    sensitivity: str
    opt_out: OptOutApplied
    withdrawn_at: datetime | None
    withdrawal_reason: str | None
    purged_at: datetime | None
    grants: list[RegisterGrant]


class RegisterDataset(BaseModel):
    name: str
    created_at: datetime
    versions: list[RegisterVersion]
    #: Live grants on "the latest" when no version is available to be the latest.
    latest_without_version: list[RegisterGrant]


class Register(BaseModel):
    generated_at: datetime
    dataset: str | None  # the filters applied
    project_id: int | None
    datasets: list[RegisterDataset]


def build_register(
    session: Session, now: datetime, *, dataset: str | None = None, project_id: int | None = None
) -> Register:
    """The register at ``now``, optionally of one dataset and/or one project's holdings.

    With ``project_id``, only the datasets and versions on which that project holds a live
    grant are listed (what the project holds); without it every dataset appears, with or
    without versions. Unknown names and ids are 404s naming them.
    """
    query = select(Dataset).order_by(Dataset.name)
    if dataset is not None:
        query = query.where(Dataset.id == datasets.get_dataset(session, dataset).id)
    if project_id is not None and session.get(Project, project_id) is None:
        raise NotFoundError(f"no project {project_id}", code="project_not_found")
    found = list(session.scalars(query))
    ids = [d.id for d in found]
    versions = _versions(session, ids)
    live = _live_grants(session, ids, now, project_id)
    uploads = _uploads(session, [v.id for v in versions])
    names = usernames(session, [u for v in versions if (u := v.uploaded_by)])
    lists = {o.id: o for o in session.scalars(select(OptOutList))}
    exempt: dict[int, bool] = {}
    out = []
    for ds in found:
        own = [v for v in versions if v.dataset_id == ds.id]
        available = [v.number for v in own if v.state == VersionState.AVAILABLE]
        latest = max(available) if available else None
        held: dict[int | None, list[RegisterGrant]] = {}
        for grant in live.get(ds.id, []):
            number = grant.dataset_version if grant.dataset_version is not None else latest
            held.setdefault(number, []).append(_grant(grant))
        rows = []
        for version in own:
            grants = held.get(version.number, [])
            if project_id is not None and not grants:
                continue
            if version.policy_version_id not in exempt:
                policy = datasets.parsed_policy(version.policy_version)
                exempt[version.policy_version_id] = policy.national_data_opt_out.exempt
            rows.append(
                _version(
                    version,
                    uploads.get(version.id),
                    names,
                    lists,
                    exempt[version.policy_version_id],
                    grants,
                )
            )
        orphans = [g for g in live.get(ds.id, []) if g.dataset_version is None and latest is None]
        if project_id is not None and not rows and not orphans:
            continue
        out.append(
            RegisterDataset(
                name=ds.name,
                created_at=ds.created_at,
                versions=rows,
                latest_without_version=[_grant(g) for g in orphans],
            )
        )
    return Register(generated_at=now, dataset=dataset, project_id=project_id, datasets=out)


def view_register(
    acting: Acting, *, dataset: str | None, project_id: int | None, shown_as: str
) -> Register:
    """:func:`build_register` for a governance officer, audited as ``register.view``.

    Decided by ``decide(register.view)`` (governance in the shipped policy); ``shown_as``
    (``json``, ``csv`` or ``page``) goes into the event with the filters.
    """
    authorize(acting.policy, acting.user, Action.REGISTER_VIEW, Target(), acting.now)
    register = build_register(acting.session, acting.now, dataset=dataset, project_id=project_id)
    acting.trail.record(
        acting.session,
        AUDIT_ACTION,
        target_type="register",
        details={
            "dataset": dataset,
            "project_id": project_id,
            "format": shown_as,
            "datasets": len(register.datasets),
            "versions": sum(len(d.versions) for d in register.datasets),
        },
    )
    return register


# ---------------------------------------------------------------------------- loading


def _versions(session: Session, dataset_ids: list[int]) -> list[DatasetVersion]:
    if not dataset_ids:
        return []
    query = (
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id.in_(dataset_ids))
        .options(joinedload(DatasetVersion.policy_version))
        .order_by(DatasetVersion.dataset_id, DatasetVersion.number)
    )
    return list(session.scalars(query))


def _live_grants(
    session: Session, dataset_ids: list[int], now: datetime, project_id: int | None
) -> dict[int, list[Grant]]:
    """Live grants by dataset id, decided one by one by ``grant_refusal``'s rule (no
    pre-filter in SQL of its own: the one rule decides, so the two cannot drift)."""
    if not dataset_ids:
        return {}
    query = (
        select(Grant)
        .where(Grant.dataset_id.in_(dataset_ids))
        .options(joinedload(Grant.project).selectinload(Project.members))
        .order_by(Grant.id)
    )
    if project_id is not None:
        query = query.where(Grant.project_id == project_id)
    live: dict[int, list[Grant]] = {}
    for grant in session.scalars(query):
        if grant_is_live(grant, now):
            live.setdefault(grant.dataset_id, []).append(grant)
    return live


def _uploads(session: Session, version_ids: list[int]) -> dict[int, Upload]:
    if not version_ids:
        return {}
    query = select(Upload).where(Upload.dataset_version_id.in_(version_ids))
    return {u.dataset_version_id: u for u in session.scalars(query) if u.dataset_version_id}


def _grant(grant: Grant) -> RegisterGrant:
    return RegisterGrant(
        grant_id=grant.id,
        project_id=grant.project_id,
        project_title=grant.project.title,
        project_end_date=grant.project.end_date,
        grant_expires_at=grant.expires_at,
        on_latest=grant.dataset_version is None,
    )


def _version(
    version: DatasetVersion,
    upload: Upload | None,
    names: dict[str, str],
    lists: dict[int, OptOutList],
    exempt: bool,
    grants: list[RegisterGrant],
) -> RegisterVersion:
    stored = version.policy_version
    uploader = version.uploaded_by
    return RegisterVersion(
        number=version.number,
        state=version.state,
        received_at=version.created_at,
        upload_id=upload.id if upload is not None else None,
        source_sha256=version.source_sha256,
        uploaded_by=names.get(uploader, uploader) if uploader else None,
        rows=version.row_count,
        policy_version=stored.version,
        policy_sha256=stored.content_sha256,
        sensitivity=stored.sensitivity,
        opt_out=opt_out_applied(_report(version), lists, version.created_at, exempt),
        withdrawn_at=version.withdrawn_at,
        withdrawal_reason=version.withdrawal_reason,
        purged_at=version.purged_at,
        grants=grants,
    )


def _report(version: DatasetVersion) -> dict[str, Any]:
    try:
        report = json.loads(version.report or "{}")
    except ValueError:  # pragma: no cover - written by the platform as JSON
        return {}
    return report if isinstance(report, dict) else {}


def opt_out_applied(
    report: dict[str, Any], lists: dict[int, OptOutList], received: datetime, exempt: bool
) -> OptOutApplied:
    """The opt-out facts of a version, from its de-identification report.

    The report records whether a list was checked (``opt_out_list_applied``) and which
    (``opt_out_list_id``); the list's row gives its loading time, hence its age when the
    version was received (a stale list excludes too few patients).
    """
    applied = bool(report.get("opt_out_list_applied"))
    raw_id = report.get("opt_out_list_id")
    list_id = raw_id if isinstance(raw_id, int) else None
    listed = lists.get(list_id) if list_id is not None else None
    loaded_at = listed.loaded_at if listed is not None else None
    age = (received - loaded_at).days if loaded_at is not None else None
    excluded = int(report.get("opted_out_excluded") or 0)
    flagged = int(report.get("opted_out_flagged") or 0)
    if not applied:
        note = (
            "no opt-out list was applied (exempt policy: opted-out status unknown)"
            if exempt
            else "no opt-out list was applied (none was loaded when it was made)"
        )
    else:
        which = f"list {list_id}" if list_id is not None else "a list"
        aged = f", {age} days old" if age is not None else ""
        done = f"{flagged} rows flagged (exempt)" if exempt else f"{excluded} rows excluded"
        note = f"{which}{aged}: {done}"
    return OptOutApplied(
        applied=applied,
        exempt=exempt,
        list_id=list_id,
        list_loaded_at=loaded_at,
        list_age_days=age,
        rows_excluded=excluded,
        rows_flagged=flagged,
        note=note,
    )
