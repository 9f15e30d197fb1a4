"""The access policy (``policies/access.yaml``): pydantic models and the loader.

Governance officers review this file like code, so it is short, commented, and fails
closed: unknown keys, unknown roles or actions, a missing tier or a scope an action cannot
have all stop start-up with a message naming the key (``roles.researcher.grant.use``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fivesafes.errors import PolicyError
from fivesafes.identity.models import Role
from fivesafes.policy_yaml import PolicyKind, key_path, problem_message, read_policy_yaml

#: The setting's default; only this relative path falls back to the checkout's copy.
DEFAULT_POLICY_PATH = Path("policies/access.yaml")
_CHECKOUT_ROOT = Path(__file__).resolve().parents[3]


class Action(StrEnum):
    """Everything the access layer can allow or deny (stable: audit and policy key on it)."""

    PROJECT_CREATE = "project.create"
    PROJECT_PROPOSE = "project.propose"
    PROJECT_LIST = "project.list"
    PROJECT_VIEW = "project.view"
    PROJECT_APPROVE = "project.approve"
    PROJECT_REJECT = "project.reject"
    PROJECT_MEMBERS = "project.members"
    REQUEST_CREATE = "request.create"
    REQUEST_LIST = "request.list"
    REQUEST_QUEUE = "request.queue"
    REQUEST_VIEW = "request.view"
    REQUEST_APPROVE = "request.approve"
    REQUEST_REJECT = "request.reject"
    GRANT_LIST = "grant.list"
    GRANT_VIEW = "grant.view"
    GRANT_REVOKE = "grant.revoke"
    GRANT_USE = "grant.use"
    ACCESS_EXPLAIN = "access.explain"
    DATASET_VERSION_WITHDRAW = "dataset_version.withdraw"
    DATASET_VERSION_PURGE = "dataset_version.purge"
    REGISTER_VIEW = "register.view"  # the register of data held (SATRE 3.1.08)
    # Project close-out (docs/closeout.md).
    PROJECT_CLOSE = "project.close"  # start closing before the end date, with a reason
    ATTESTATION_SUBMIT = "attestation.submit"  # sign that a release's copies are destroyed
    ATTESTATION_REVIEW = "attestation.review"  # accept or reject an attestation
    ATTESTATION_QUEUE = "attestation.queue"  # list attestations awaiting review


class Scope(StrEnum):
    """How far a permission reaches: any resource, only projects the subject is in, or
    only dataset versions the subject uploaded."""

    ANY = "any"
    MEMBER = "member"  # the subject is a member (or the lead) of the resource's project
    LEAD = "lead"  # the subject leads the resource's project
    # The subject uploaded the dataset version, and none of its data has been released
    # yet: once data has left, taking it back is governance's decision, not the uploader's.
    UPLOADED_UNRELEASED = "uploaded_unreleased"


#: Actions that concern no particular project: only ``any`` makes sense for them.
UNSCOPED_ACTIONS = frozenset(
    {
        Action.PROJECT_CREATE,
        Action.PROJECT_PROPOSE,
        Action.PROJECT_LIST,
        Action.REQUEST_QUEUE,
        Action.GRANT_LIST,
        Action.ACCESS_EXPLAIN,
        Action.REGISTER_VIEW,
        Action.ATTESTATION_QUEUE,
    }
)
#: Actions on a dataset version: ``any`` or ``uploaded_unreleased``, never a project scope.
VERSION_ACTIONS = frozenset({Action.DATASET_VERSION_WITHDRAW, Action.DATASET_VERSION_PURGE})
PROJECT_SCOPES = frozenset({Scope.MEMBER, Scope.LEAD})
SENSITIVITIES = ("standard", "sensitive")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Strict):
    """A sensitivity tier: how many distinct officers (never the requester) must approve."""

    approvers: int = Field(ge=1, le=10)


class GrantRules(_Strict):
    max_duration_days: int = Field(ge=1, le=3650)


class SmallClassAction(StrEnum):
    """What a release does with quasi-identifier classes of fewer than ``min_k`` patients."""

    SUPPRESS = "suppress"  # leave those rows out, and say so in the manifest
    REFUSE = "refuse"  # refuse the whole release (409), naming the quasi-identifiers


class ReleaseRules(_Strict):
    """Disclosure control values release applies (issue 7)."""

    min_k: int = Field(ge=2, le=1000)
    small_number_threshold: int = Field(ge=1, le=1000)
    small_classes: SmallClassAction


class AccessPolicy(_Strict):
    """The validated access policy."""

    version: int = Field(ge=1)
    roles: dict[Role, dict[Action, Scope]]
    sensitivity_tiers: dict[str, Tier]
    grants: GrantRules
    release: ReleaseRules

    def scope_of(self, role: Role, action: Action) -> Scope | None:
        """The scope ``role`` holds ``action`` with, or None when it does not hold it."""
        return self.roles.get(role, {}).get(action)

    def approvers_needed(self, sensitivity: str) -> int:
        """Distinct approvers a request for data of ``sensitivity`` needs."""
        tier = self.sensitivity_tiers.get(sensitivity)
        if tier is None:
            # Fail closed: data of a tier nobody described cannot be approved.
            raise PolicyError(f"access policy has no sensitivity tier {sensitivity!r}")
        return tier.approvers


def _semantic_problems(policy: AccessPolicy) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for role in Role:
        if role not in policy.roles:
            problems.append((f"roles.{role.value}", "every role must be listed ({} for none)"))
    for role, grants in policy.roles.items():
        for action, scope in grants.items():
            at = f"roles.{role.value}.{action.value}"
            if action in UNSCOPED_ACTIONS and scope is not Scope.ANY:
                problems.append((at, f"{action.value} only takes scope any"))
            elif action in VERSION_ACTIONS and scope in PROJECT_SCOPES:
                problems.append((at, f"{action.value} takes scope any or uploaded_unreleased"))
            elif action not in VERSION_ACTIONS and scope is Scope.UPLOADED_UNRELEASED:
                problems.append((at, "uploaded_unreleased applies to dataset version actions"))
    for sensitivity in SENSITIVITIES:
        if sensitivity not in policy.sensitivity_tiers:
            problems.append((f"sensitivity_tiers.{sensitivity}", "required tier is missing"))
    for sensitivity in policy.sensitivity_tiers:
        if sensitivity not in SENSITIVITIES:
            problems.append(
                (f"sensitivity_tiers.{sensitivity}", f"unknown tier (known: {SENSITIVITIES})")
            )
    return problems


_ACCESS_POLICY = PolicyKind(
    AccessPolicy, "access policy", key_path, problem_message, _semantic_problems
)


def parse_access_policy(data: Any, source: str = "<access policy>") -> AccessPolicy:
    """Validate loaded YAML; :class:`PolicyError` names every bad key."""
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: the access policy must be a mapping of keys to values")
    # `researcher: {}` and `researcher:` (null) both mean "no permissions".
    roles = data.get("roles")
    if isinstance(roles, dict):
        data = {**data, "roles": {k: (v if v is not None else {}) for k, v in roles.items()}}
    return _ACCESS_POLICY.validate(data, source)


def resolve_policy_path(path: Path) -> Path:
    """Where the policy is: as given, or (for the unset default only) the checkout's copy."""
    if path.is_file() or path.is_absolute() or path != DEFAULT_POLICY_PATH:
        return path
    fallback = _CHECKOUT_ROOT / DEFAULT_POLICY_PATH
    return fallback if fallback.is_file() else path


def load_access_policy(path: Path) -> AccessPolicy:
    """Read and validate the access policy file (called once at start-up)."""
    resolved = resolve_policy_path(Path(path))
    data = read_policy_yaml(resolved, "access policy")
    return parse_access_policy(data, str(resolved))
