"""No sequence of calls yields a usable grant without enough distinct approvers other than
the requester, or after expiry, revocation, the project's end or the user's removal.

A hypothesis state machine drives the services in process on SQLite (the same services
the API calls after its ``decide`` dependency), keeps its own model of what should be
allowed, and checks every answer and every grant row against that model.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes import schema
from fivesafes.access import grants as grant_service
from fivesafes.access import service
from fivesafes.access.acting import Acting
from fivesafes.access.models import (
    AccessRequest,
    Grant,
    RequestReview,
    RequestState,
    ReviewDecision,
)
from fivesafes.access.policy import AccessPolicy, Action, Scope
from fivesafes.db import make_engine, make_session_factory, session_scope
from fivesafes.errors import PermissionDeniedError
from fivesafes.identity.models import Role, User
from tests.integration.access.helpers import (
    TRAIL,
    make_dataset,
    make_project,
    make_user,
    request_body,
    shipped_policy,
)

START = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class ModelRequest:
    requester: str
    sensitivity: str
    requested_end: date | None = None
    state: str = "pending"
    reviewers: set[str] = field(default_factory=set)
    approvers: set[str] = field(default_factory=set)


@dataclass
class ModelGrant:
    request_id: int
    expires_at: datetime
    revoked: bool = False


def _end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


class GrantMachine(RuleBasedStateMachine):
    factory: sessionmaker[Session]
    policy: AccessPolicy
    datasets: dict[str, str]

    @initialize()
    def setup(self) -> None:
        self.now = START
        self.requests: dict[int, ModelRequest] = {}
        self.grants: dict[int, ModelGrant] = {}
        with session_scope(self.factory) as session:
            researchers = [make_user(session, Role.RESEARCHER, f"r{i}") for i in range(3)]
            officers = [make_user(session, Role.GOVERNANCE, f"g{i}") for i in range(3)]
            admin = make_user(session, Role.ADMIN, "a")
            project = make_project(
                session,
                self.policy,
                officers[0],
                researchers[0],
                [researchers[1]],
                now=self.now,
                start=START.date() - timedelta(days=10),
                end=START.date() + timedelta(days=500),  # longer than a grant may last
            )
            self.project_id = project.id
            self.end_date = project.end_date
            self.start_date = project.start_date
            everyone = [*researchers, *officers, admin]
            self.user_order = [str(u.id) for u in everyone]  # creation order: reproducible
            self.users = {str(u.id): u.role for u in everyone}
            self.names = {str(u.id): u.username for u in everyone}
            self.researchers = [str(u.id) for u in researchers]
            self.members = set(self.researchers[:2])

    # ----------------------------------------------------------------- helpers

    def _user(self, session: Session, user_id: str) -> User:
        user = session.get(User, uuid.UUID(user_id))
        assert user is not None
        return user

    def _live(self) -> bool:
        return self.now.date() <= self.end_date

    # ------------------------------------------------------------------- rules

    @rule(
        who=st.integers(0, 2),
        sensitive=st.booleans(),
        requested_days=st.none() | st.integers(0, 60),
    )
    def create_request(self, who: int, sensitive: bool, requested_days: int | None) -> None:
        requester = self.researchers[who]
        requested_end = (
            None if requested_days is None else self.now.date() + timedelta(days=requested_days)
        )
        sensitivity = "sensitive" if sensitive else "standard"
        expected = requester in self.members and self._live()
        try:
            with session_scope(self.factory) as session:
                created = service.create_request(
                    session,
                    TRAIL,
                    self.policy,
                    self._user(session, requester),
                    project_id=self.project_id,
                    body=request_body_for(self.datasets[sensitivity], requested_end),
                    now=self.now,
                )
                request_id = created.id
        except PermissionDeniedError:
            assert not expected
            return
        assert expected
        self.requests[request_id] = ModelRequest(requester, sensitivity, requested_end)

    def _may_review(self, user_id: str) -> bool:
        return self.policy.scope_of(self.users[user_id], Action.REQUEST_APPROVE) is not None

    @precondition(lambda self: bool(self.requests))
    @rule(data=st.data(), approve=st.sampled_from([True, True, True, False]))
    def review_by_anyone(self, data: st.DataObject, approve: bool) -> None:
        self._review(data, data.draw(st.sampled_from(self.user_order)), approve)

    @precondition(lambda self: bool(self.requests))
    @rule(data=st.data(), approve=st.sampled_from([True, True, True, False]))
    def review_by_an_officer(self, data: st.DataObject, approve: bool) -> None:
        officers = [u for u in self.user_order if self.users[u] is Role.GOVERNANCE]
        self._review(data, data.draw(st.sampled_from(officers)), approve)

    def _review(self, data: st.DataObject, reviewer: str, approve: bool) -> None:
        request_id = data.draw(st.sampled_from(sorted(self.requests)))
        model = self.requests[request_id]
        expected = (
            self._may_review(reviewer)
            and reviewer != model.requester
            and reviewer not in model.reviewers
            and model.state == "pending"
            and self._live()
        )
        try:
            with session_scope(self.factory) as session:
                service.review_request(
                    session,
                    TRAIL,
                    self.policy,
                    self._user(session, reviewer),
                    request_id=request_id,
                    approve=approve,
                    reason="Reviewed against the protocol.",
                    now=self.now,
                )
                grant = session.scalar(select(Grant).where(Grant.request_id == request_id))
                grant_id = grant.id if grant else None
                expires_at = grant.expires_at if grant else None
        except PermissionDeniedError:
            assert not expected
            return
        assert expected
        model.reviewers.add(reviewer)
        if not approve:
            model.state = "rejected"
            assert grant_id is None
            return
        model.approvers.add(reviewer)
        needed = self.policy.approvers_needed(model.sensitivity)
        if len(model.approvers) >= needed:
            model.state = "approved"
            assert grant_id is not None
            assert expires_at is not None
            limits = [
                _end_of(self.end_date),
                self.now + timedelta(days=self.policy.grants.max_duration_days),
            ]
            if model.requested_end is not None:
                limits.append(_end_of(model.requested_end))
            assert expires_at == min(limits)
            self.grants[grant_id] = ModelGrant(request_id, expires_at)
        else:
            assert grant_id is None

    @precondition(lambda self: bool(self.grants))
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        grant_id = data.draw(st.sampled_from(sorted(self.grants)))
        who = data.draw(st.sampled_from(self.user_order))
        try:
            with session_scope(self.factory) as session:
                grant_service.revoke_grant(
                    session,
                    TRAIL,
                    self.policy,
                    self._user(session, who),
                    grant_id=grant_id,
                    reason="Suspended pending review.",
                    now=self.now,
                )
        except PermissionDeniedError:
            assert self.users[who] is not Role.GOVERNANCE
            return
        assert self.users[who] is Role.GOVERNANCE
        self.grants[grant_id].revoked = True

    @rule(days=st.sampled_from([0, 1, 2, 7, 30, 90, 200]), hours=st.integers(0, 23))
    def tick(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)

    @precondition(lambda self: self.researchers[1] in self.members)
    @rule()
    def remove_member(self) -> None:
        member = self.researchers[1]
        with session_scope(self.factory) as session:
            officer = next(u for u, r in self.users.items() if r is Role.GOVERNANCE)
            service.remove_member(
                Acting(session, TRAIL, self.policy, self._user(session, officer), self.now),
                project_id=self.project_id,
                username=self.names[member],
            )
        self.members.discard(member)

    @precondition(lambda self: bool(self.grants))
    @rule(data=st.data())
    def use_by_anyone(self, data: st.DataObject) -> None:
        self._use(data, data.draw(st.sampled_from(self.user_order)))

    @precondition(lambda self: bool(self.grants))
    @rule(data=st.data())
    def use_by_a_member(self, data: st.DataObject) -> None:
        self._use(data, data.draw(st.sampled_from(self.researchers[:2])))

    def _use(self, data: st.DataObject, who: str) -> None:
        grant_id = data.draw(st.sampled_from(sorted(self.grants)))
        model = self.grants[grant_id]
        expected = (
            self.users[who] is Role.RESEARCHER
            and who in self.members
            and not model.revoked
            and self.now < model.expires_at
            and self.start_date <= self.now.date() <= self.end_date
        )
        try:
            # The transaction's owner keeps a refusal's grant.expired event, as in the API.
            with session_scope(self.factory) as session:
                grant_service.active_grant_for(
                    session,
                    grant_id,
                    self._user(session, who),
                    self.now,
                    policy=self.policy,
                    trail=TRAIL,
                )
            allowed = True
        except grant_service.GrantUnavailableError:
            allowed = False
        assert allowed == expected
        if allowed:
            request = self.requests[model.request_id]
            needed = self.policy.approvers_needed(request.sensitivity)
            assert len(request.approvers - {request.requester}) >= needed

    # -------------------------------------------------------------- invariants

    @invariant()
    def every_grant_row_is_justified(self) -> None:
        if not hasattr(self, "project_id"):
            return
        with self.factory() as session:
            rows = session.scalars(select(Grant).where(Grant.project_id == self.project_id))
            for grant in rows:
                request = session.get(AccessRequest, grant.request_id)
                assert request is not None
                assert request.state is RequestState.APPROVED
                approvers = {
                    review.reviewer_id
                    for review in session.scalars(
                        select(RequestReview).where(
                            RequestReview.request_id == request.id,
                            RequestReview.decision == ReviewDecision.APPROVE,
                        )
                    )
                    if review.reviewer_id != request.requester_id
                    and self._may_review(str(review.reviewer_id))
                }
                assert len(approvers) >= self.policy.approvers_needed(request.sensitivity)
                assert request.requester_id not in approvers
                assert grant.expires_at <= _end_of(self.end_date)
                assert grant.expires_at <= grant.issued_at + timedelta(
                    days=self.policy.grants.max_duration_days
                )
                assert (grant.revoked_at is not None) == self.grants[grant.id].revoked


def request_body_for(dataset: str, requested_end: date | None) -> object:
    class _Named:
        name = dataset

    return request_body(_Named(), requested_end=requested_end)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def machine_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    folder: Path = tmp_path_factory.mktemp("machine")
    url = f"sqlite:///{folder / 'machine.db'}"
    schema.upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def _lax_policy() -> AccessPolicy:
    """Researchers may review too: only separation of duties then stops self-approval."""
    policy = shipped_policy()
    roles = dict(policy.roles)
    roles[Role.RESEARCHER] = {
        **roles[Role.RESEARCHER],
        Action.REQUEST_APPROVE: Scope.ANY,
        Action.REQUEST_REJECT: Scope.ANY,
    }
    return policy.model_copy(update={"roles": roles})


@pytest.mark.parametrize("policy_name", ["shipped", "researchers_review_too"])
def test_no_sequence_of_calls_yields_an_unjustified_usable_grant(
    machine_db: sessionmaker[Session], policy_name: str
) -> None:
    GrantMachine.factory = machine_db
    GrantMachine.policy = shipped_policy() if policy_name == "shipped" else _lax_policy()
    with session_scope(machine_db) as session:
        GrantMachine.datasets = {
            s: make_dataset(session, s).name for s in ("standard", "sensitive")
        }
    run_state_machine_as_test(
        GrantMachine,
        settings=settings(
            max_examples=60,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
