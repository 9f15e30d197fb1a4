"""Who may see an upload: the person who sent it, and governance; nobody else.

An upload's state, errors and de-identification report describe one extract from one
part of the trust; another uploader has no business reading them. Someone who may not see
an upload is told it does not exist (404, the same words as for an id never issued), so
ids cannot be probed for existence. Deny by default: a role not named here sees nothing.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from fivesafes.datasets.models import Upload
from fivesafes.errors import NotFoundError
from fivesafes.identity.models import Role, User

# Roles that see every upload; an uploader sees only their own; every other role none.
SEES_ALL = frozenset({Role.GOVERNANCE})
#: Roles that may ask about uploads at all (the API's and the upload pages' gate).
READERS = frozenset({Role.UPLOADER, *SEES_ALL})


def _owner_key(user: User) -> str:
    """How ``Upload.uploaded_by`` names a user (their audit actor id)."""
    return str(user.id)


def may_see(user: User, upload: Upload) -> bool:
    if user.role in SEES_ALL:
        return True
    if user.role is Role.UPLOADER:
        return upload.uploaded_by is not None and upload.uploaded_by == _owner_key(user)
    return False


def visible_upload(session: Session, user: User, upload_id: uuid.UUID) -> Upload:
    """The upload if ``user`` may see it, else the same 404 as for an unknown id."""
    upload = session.get(Upload, upload_id)
    if upload is None or not may_see(user, upload):
        raise NotFoundError(f"no upload {upload_id}", code="upload_not_found")
    return upload


def _visible_query(user: User) -> Select[Upload]:
    query = select(Upload)
    if user.role in SEES_ALL:
        return query
    if user.role is Role.UPLOADER:
        return query.where(Upload.uploaded_by == _owner_key(user))
    return query.where(false())


def visible_uploads(session: Session, user: User, *, limit: int) -> list[Upload]:
    """The newest ``limit`` uploads ``user`` may see, newest first."""
    query = _visible_query(user).order_by(Upload.created_at.desc(), Upload.id).limit(limit)
    return list(session.scalars(query))
