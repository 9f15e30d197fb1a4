"""Crates for the API: who may have one, what is audited, and the signed zip stream.

A release crate holds the released data, so it is given only to whoever could download
that data now: a member of the release's project whose grant is still live (``decide``
on ``grant.use``, through ``access.grants.active_grant_for`` like the download itself).
A release that does not exist and one of another project are the same 404 for a
researcher, so a crate URL does not tell them which releases exist; a role that may not
see releases at all (uploader, admin) or may not take data (governance) gets the 403
naming the rule. The crate's data comes from
the release's retained copy (``release.retained``); without one it is a 409
``release_copy_unavailable`` saying why (project closed, stream interrupted...).

A project crate holds no data: the project's members and governance (``project.view``).
Both are audited (``release.crate`` / ``project.crate``) with the signed hashes, in the
request's transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from fivesafes.access.decide import NOT_MEMBER
from fivesafes.access.facts import authorize, load_target
from fivesafes.access.grants import active_grant_for
from fivesafes.access.models import Project
from fivesafes.access.policy import AccessPolicy, Action
from fivesafes.audit.trail import AuditTrail
from fivesafes.crate import facts, package
from fivesafes.errors import NotFoundError, PermissionDeniedError
from fivesafes.identity.models import User
from fivesafes.keys.store import KeyStore
from fivesafes.release.models import Release
from fivesafes.release.retained import open_retained_copy

TRE_NAME = "fivesafes trusted research environment"


def release_crate(
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    user: User,
    keystore: KeyStore,
    copies: Path,
    release_id: uuid.UUID,
    now: datetime,
) -> package.CratePackage:
    """The signed crate of a release, for a member who may use its grant now."""
    release = session.get(Release, release_id)
    unknown = NotFoundError(f"no release {release_id}", code="release_not_found")
    if release is None:
        raise unknown
    try:  # a researcher of another project: as if there were no such release
        authorize(
            policy, user, Action.GRANT_VIEW, load_target(session, grant_id=release.grant_id), now
        )
    except PermissionDeniedError as exc:
        if exc.code == f"denied_{NOT_MEMBER}":
            raise unknown from None
        raise
    active_grant_for(session, release.grant_id, user, now, policy=policy, trail=trail)
    copy = open_retained_copy(session, copies, keystore, release.id)
    crate = package.release_crate(
        facts.release_crate_facts(session, release, TRE_NAME), keystore, copy
    )
    trail.record(
        session,
        "release.crate",
        target_type="release",
        target_id=str(release.id),
        details={"project_id": release.project_id, "grant_id": release.grant_id, **crate.signed},
    )
    return crate


def project_crate(
    session: Session, trail: AuditTrail, keystore: KeyStore, project: Project, now: datetime
) -> package.CratePackage:
    """The signed crate of a project (the caller checked ``project.view``)."""
    crate = package.project_crate(
        facts.project_crate_facts(session, project, TRE_NAME), keystore, now
    )
    trail.record(
        session,
        "project.crate",
        target_type="project",
        target_id=str(project.id),
        details=dict(crate.signed),
    )
    return crate
