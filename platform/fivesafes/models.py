"""Imports every domain's models so ``Base.metadata`` describes the whole schema.

Alembic's autogenerate comparison (and the drift test) read the metadata from here.
"""

from fivesafes.access.models import AccessRequest, Grant, Project, ProjectMember, RequestReview
from fivesafes.audit.models import AuditCheckpoint, AuditEvent
from fivesafes.closeout.models import DestructionAttestation
from fivesafes.datasets.models import (
    Dataset,
    DatasetPolicyVersion,
    DatasetVersion,
    OptOut,
    OptOutList,
    Upload,
)
from fivesafes.datasets.review_models import ReviewCell, ReviewView, VersionReview
from fivesafes.db import Base
from fivesafes.identity.models import ApiToken, User
from fivesafes.identity.oidc.models import FederatedIdentity, OidcLoginAttempt
from fivesafes.identity.web_models import LoginFailure, WebSession
from fivesafes.reidentification.models import (
    ReidentificationApproval,
    ReidentificationRecord,
    ReidentificationRequest,
    ReidentificationSubject,
)
from fivesafes.release.models import Release
from fivesafes.release.retained_models import ReleaseCopy

__all__ = [
    "AccessRequest",
    "ApiToken",
    "AuditCheckpoint",
    "AuditEvent",
    "Base",
    "Dataset",
    "DatasetPolicyVersion",
    "DatasetVersion",
    "DestructionAttestation",
    "FederatedIdentity",
    "Grant",
    "LoginFailure",
    "OidcLoginAttempt",
    "OptOut",
    "OptOutList",
    "Project",
    "ProjectMember",
    "ReidentificationApproval",
    "ReidentificationRecord",
    "ReidentificationRequest",
    "ReidentificationSubject",
    "Release",
    "ReleaseCopy",
    "RequestReview",
    "ReviewCell",
    "ReviewView",
    "Upload",
    "User",
    "VersionReview",
    "WebSession",
]
