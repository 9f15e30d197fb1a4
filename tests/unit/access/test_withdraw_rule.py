"""Who may withdraw or purge a dataset version: decide(), rule by rule (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fivesafes.access import decide as d
from fivesafes.access.decide import Resource, Subject, VersionFacts, decide
from fivesafes.access.policy import Action, load_access_policy
from fivesafes.identity.models import Role

POLICY = load_access_policy(Path(__file__).resolve().parents[3] / "policies" / "access.yaml")
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
WITHDRAW, PURGE = Action.DATASET_VERSION_WITHDRAW, Action.DATASET_VERSION_PURGE

UPLOADER = Subject("u1", Role.UPLOADER)
OTHER_UPLOADER = Subject("u2", Role.UPLOADER)
OFFICER = Subject("g1", Role.GOVERNANCE)
RESEARCHER = Subject("r1", Role.RESEARCHER)
ADMIN = Subject("a1", Role.ADMIN)
MINE = Resource(version=VersionFacts("notes", 2, uploaded_by="u1", released=False))
MINE_RELEASED = Resource(version=VersionFacts("notes", 2, uploaded_by="u1", released=True))
BY_OPERATOR = Resource(version=VersionFacts("notes", 2, uploaded_by="os:root", released=False))


@pytest.mark.parametrize(
    ("subject", "action", "resource", "allowed", "rule"),
    [
        (UPLOADER, WITHDRAW, MINE, True, "roles.uploader.dataset_version.withdraw"),
        (UPLOADER, WITHDRAW, MINE_RELEASED, False, d.VERSION_RELEASED),
        (OTHER_UPLOADER, WITHDRAW, MINE, False, d.NOT_UPLOADER),
        (UPLOADER, WITHDRAW, BY_OPERATOR, False, d.NOT_UPLOADER),
        (UPLOADER, WITHDRAW, Resource(), False, d.NO_VERSION),
        (UPLOADER, PURGE, MINE, False, d.NOT_PERMITTED),
        (OFFICER, WITHDRAW, MINE, True, "roles.governance.dataset_version.withdraw"),
        (OFFICER, WITHDRAW, MINE_RELEASED, True, "roles.governance.dataset_version.withdraw"),
        (OFFICER, PURGE, MINE_RELEASED, True, "roles.governance.dataset_version.purge"),
        (RESEARCHER, WITHDRAW, MINE, False, d.NOT_PERMITTED),
        (ADMIN, WITHDRAW, MINE, False, d.NOT_PERMITTED),
        (ADMIN, PURGE, MINE, False, d.NOT_PERMITTED),
        (Subject("u1", Role.UPLOADER, active=False), WITHDRAW, MINE, False, d.SUBJECT_DISABLED),
    ],
)
def test_withdraw_and_purge_rules(
    subject: Subject, action: Action, resource: Resource, allowed: bool, rule: str
) -> None:
    decision = decide(subject, action, resource, POLICY, NOW)
    assert (decision.allowed, decision.rule) == (allowed, rule)


def test_the_refusal_after_a_release_says_who_may_still_withdraw() -> None:
    decision = decide(UPLOADER, WITHDRAW, MINE_RELEASED, POLICY, NOW)
    assert "dataset 'notes' version 2" in decision.reason
    assert "only governance may withdraw it now" in decision.reason


@given(
    uploader=st.sampled_from(["u1", "u2", "os:root", None]),
    released=st.booleans(),
    role=st.sampled_from(list(Role)),
    user=st.sampled_from(["u1", "u2", "g1"]),
)
def test_an_uploader_withdraws_exactly_their_own_unreleased_versions(
    uploader: str | None, released: bool, role: Role, user: str
) -> None:
    """Deny by default: apart from governance, only the uploader, before any release."""
    resource = Resource(version=VersionFacts("ds", 1, uploaded_by=uploader, released=released))
    allowed = decide(Subject(user, role), WITHDRAW, resource, POLICY, NOW).allowed
    expected = role is Role.GOVERNANCE or (
        role is Role.UPLOADER and uploader == user and not released
    )
    assert allowed is expected
