"""The re-identification service on both databases: the path from a released project
pseudonym to the NHS number, every refusal the service owns, and the reversal after a
pseudonym rotation (project pinned at generation 1, version at 2)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.models import AuditEvent
from fivesafes.config import Settings
from fivesafes.datasets.models import Dataset, DatasetVersion
from fivesafes.db import session_scope, utcnow
from fivesafes.deid.nhs_number import normalise_nhs_number
from fivesafes.errors import FivesafesError
from fivesafes.identity.models import Role, User
from fivesafes.keys.pseudonym import Pseudonymiser
from fivesafes.keys.reid_blob import record_aad
from fivesafes.keys.remap import PseudonymChain
from fivesafes.reidentification import service
from fivesafes.reidentification.models import ReidentificationRecord, ReidState
from fivesafes.reidentification.report import csv_rows
from fivesafes.reidentification.reverse import resolve_subject
from fivesafes.release.models import Release
from fivesafes.release.pseudonym_rotation import rotate_pseudonyms
from fivesafes.release.pseudonyms import project_keys
from tests.factories.datasets import load_policies
from tests.factories.extracts import ADMISSIONS, ADMISSIONS_POLICY, admission_rows, nhs_numbers
from tests.factories.people import person
from tests.factories.release_world import World, build
from tests.integration.access.helpers import TRAIL
from tests.integration.release.test_release_api import _download

REID = "admissions-reid"
LIMIT = 6
REID_POLICY = ADMISSIONS_POLICY.replace(f"dataset: {ADMISSIONS}", f"dataset: {REID}") + (
    "reidentification: {allowed: true, purposes: [safety_critical_finding], "
    f"monthly_limit_per_project: {LIMIT}}}\n"
)
WHY = "Unreported mass on the chest CT of this patient needs a clinician."


@dataclass
class Reid:
    world: World
    numbers: dict[str, str]  # project pseudonym of project a's release -> NHS number
    release_a: uuid.UUID
    grant_a: int
    release_b: uuid.UUID
    pseudonym_b: str

    def user(self, session: Session, who: str) -> User:
        found = session.get(User, self.world.people[who].user.id)
        assert found is not None
        return found

    def call(self, fn: Callable[..., Any], who: str, *args: Any, **kwargs: Any) -> Any:
        """``fn(session, trail, ..., user, ...)`` in a committed transaction of its own."""
        with session_scope(self.world.factory) as session:
            user = self.user(session, who)
            result = fn(session, TRAIL, *_fill(args, user), **kwargs)
            return _detach(result)

    def new(self, *pseudonyms: str, **changes: Any) -> service.NewRequest:
        base = service.NewRequest(
            self.grant_a, self.release_a, pseudonyms, "safety_critical_finding", WHY
        )
        return replace(base, **changes)

    def create(self, new: service.NewRequest, who: str = "a") -> int:
        w = self.world
        with session_scope(w.factory) as session:
            request = service.create_request(
                session, TRAIL, w.policy, w.keystore, self.user(session, who), new, utcnow()
            )
            return request.id


class _User:
    """Where the acting user goes in :meth:`Reid.call`'s arguments."""


USER = _User()


def _fill(args: tuple[Any, ...], user: User) -> list[Any]:
    return [user if a is USER else a for a in args]


def _detach(result: Any) -> Any:
    if isinstance(result, list):
        return list(result)
    return getattr(result, "state", result)


def _refused(code: str, fn: Callable[[], Any]) -> FivesafesError:
    with pytest.raises(FivesafesError) as caught:
        fn()
    assert caught.value.code == code, caught.value
    return caught.value


def _release(world: World, grant: int, who: str) -> tuple[uuid.UUID, list[str]]:
    response = _download(world, grant, who)
    assert response.status_code == 200, response.text
    release_id = uuid.UUID(response.headers["X-Release-Manifest"].split("/")[2])
    rows = csv.DictReader(io.StringIO(response.content.decode("utf-8")))
    return release_id, sorted({r["nhs_number"] for r in rows})


def _stored(world: World, nhs: str, generation: int = 1) -> str:
    plain = Pseudonymiser(world.keystore.secret("pseudonym"), "nhs_number")(
        normalise_nhs_number(nhs)
    )
    if generation == 1:
        return plain
    return PseudonymChain(world.keystore.pseudonym_remap_keys()).move_hex([plain], 1, generation)[0]


def _project_pseudonym(world: World, project_id: int, stored: str) -> str:
    key = project_keys(
        world.keystore.secret("pseudonym"), world.keystore.secret("date_shift"), project_id
    )[0]
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return (encryptor.update(bytes.fromhex(stored)) + encryptor.finalize()).hex()


def _seed_records(world: World) -> None:
    """One sealed record per patient of the dataset (unless ingestion already made it)."""
    with session_scope(world.factory) as session:
        dataset_id, version_id = _dataset_version(session)
        have = set(session.scalars(select(ReidentificationRecord.pseudonym)))
        for nhs in nhs_numbers(60):
            stored = _stored(world, nhs)
            if stored in have:
                continue
            aad = record_aad(dataset_id, 1, stored)
            session.add(
                ReidentificationRecord(
                    dataset_id=dataset_id,
                    pseudonym=stored,
                    pseudonym_generation=1,
                    ciphertext=world.keystore.reidentification_seal(nhs.encode("ascii"), aad),
                    first_version_id=version_id,
                    created_at=utcnow(),
                )
            )


def _dataset_version(session: Session) -> tuple[int, int]:
    row = session.execute(
        select(Dataset.id, DatasetVersion.id)
        .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
        .where(Dataset.name == REID)
        .order_by(DatasetVersion.id)
    ).first()
    assert row is not None
    return row[0], row[1]


def _build(
    settings: Settings, factory: sessionmaker[Session], tmp: Path, *, rotate: bool = False
) -> Reid:
    world = build(settings, factory, tmp)
    with session_scope(factory) as session:
        load_policies(session, tmp, {REID: REID_POLICY})
        world.people["officer2"] = person(session, Role.GOVERNANCE, "gov2")
        world.people["guardian"] = person(session, Role.GOVERNANCE, "cg")
        world.people["reid"] = person(session, Role.REIDENTIFIER, "reid")
        world.people["reid2"] = person(session, Role.REIDENTIFIER, "reidb")
        guardian = session.get(User, world.people["guardian"].user.id)
        assert guardian is not None
        guardian.caldicott_guardian = True
    world.ingest(admission_rows(), dataset=REID)
    _seed_records(world)
    if rotate:
        outcome = rotate_pseudonyms(
            factory, world.keystore, TRAIL, reissue_projects=False, confirm=lambda _a, _b: True
        )
        assert outcome is not None
    grant_a = world.grant("a", dataset=REID)
    release_a, pseudonyms_a = _release(world, grant_a, "a")
    release_b, pseudonyms_b = _release(world, world.grant("b", requester="b", dataset=REID), "b")
    by_pp = {
        _project_pseudonym(world, world.projects["a"], _stored(world, n)): n
        for n in nhs_numbers(60)
    }
    assert set(pseudonyms_a) <= set(by_pp)  # the project is pinned at 1 either way
    return Reid(
        world, {p: by_pp[p] for p in pseudonyms_a}, release_a, grant_a, release_b, pseudonyms_b[0]
    )


@pytest.fixture
def reid(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> Reid:
    return _build(settings, session_factory, tmp_path)


def _audit(world: World) -> list[AuditEvent]:
    with world.factory() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_two_officers_one_a_guardian_then_one_execution_and_the_action(reid: Reid) -> None:
    first, second = sorted(reid.numbers)[:2]
    request_id = reid.create(reid.new(first, second))
    assert (
        reid.call(service.approve, "officer", True, USER, request_id, "ok", utcnow())
        is ReidState.PENDING
    )
    # The second approval needs a Caldicott Guardian (setting on): nothing is recorded.
    _refused(
        "caldicott_guardian_required",
        lambda: reid.call(service.approve, "officer2", True, USER, request_id, "ok", utcnow()),
    )
    _refused(
        "already_reviewed",
        lambda: reid.call(service.approve, "officer", True, USER, request_id, "again", utcnow()),
    )
    _refused(
        "reidentification_not_approved",
        lambda: reid.call(
            service.execute, "reid", reid.world.keystore, USER, request_id, utcnow(), "api"
        ),
    )
    assert (
        reid.call(service.approve, "guardian", True, USER, request_id, "ok", utcnow())
        is ReidState.APPROVED
    )
    _refused(
        "reidentification_not_pending",
        lambda: reid.call(service.reject, "officer2", USER, request_id, "no", utcnow()),
    )
    _refused(
        "reidentification_reidentifiers_only",
        lambda: reid.call(
            service.execute, "a", reid.world.keystore, USER, request_id, utcnow(), "api"
        ),
    )
    with reid.world.factory() as session:
        w = reid.world

        def listed(who: str) -> list[int]:
            return [r.id for r in service.list_requests(session, w.policy, reid.user(session, who))]

        assert listed("a") == listed("officer") == listed("reid") == [request_id]
        assert listed("b") == []
        with pytest.raises(FivesafesError) as caught:
            service.get_request(session, w.policy, reid.user(session, "b"), request_id)
        assert caught.value.code.startswith("denied_")
    revealed = reid.call(
        service.execute, "reid", reid.world.keystore, USER, request_id, utcnow(), "web"
    )
    assert [(s.project_pseudonym, s.nhs_number) for s in revealed] == [
        (first, reid.numbers[first]),
        (second, reid.numbers[second]),
    ]
    assert reid.numbers[first] not in repr(revealed)
    _refused(
        "reidentification_already_executed",
        lambda: reid.call(
            service.execute, "reid", reid.world.keystore, USER, request_id, utcnow(), "api"
        ),
    )
    _refused(
        "reidentification_executor_only",
        lambda: reid.call(service.record_action, "reid2", USER, request_id, "called GP", utcnow()),
    )
    assert (
        reid.call(
            service.record_action, "reid", USER, request_id, "Told the patient's GP.", utcnow()
        )
        is ReidState.ACTIONED
    )
    _refused(
        "reidentification_not_executed",
        lambda: reid.call(service.record_action, "reid", USER, request_id, "again", utcnow()),
    )

    with reid.world.factory() as session:
        rows = service.reversal_report(session, None, None)
        assert service.reversal_report(session, utcnow().date() + timedelta(1), None) == []
    assert [
        (r.request_id, r.subjects, r.executed_by, r.caldicott_guardian_approved) for r in rows
    ] == [(request_id, 2, reid.world.people["reid"].username, True)]
    assert rows[0].pseudonym_hashes == (
        service.pseudonym_hash(first),
        service.pseudonym_hash(second),
    )
    table = repr(csv_rows(rows))

    events = [e for e in _audit(reid.world) if e.action.startswith("reidentification.")]
    assert [e.action for e in events] == [
        "reidentification.request",
        "reidentification.approve",
        "reidentification.approve",
        "reidentification.execute",
        "reidentification.view",
        "reidentification.action",
    ]
    assert json.loads(events[0].details)["pseudonym_hashes"] == list(rows[0].pseudonym_hashes)
    assert json.loads(events[4].details)["channel"] == "web"
    text = table + "".join(e.details for e in events)
    for number in reid.numbers.values():
        assert number not in text
    assert WHY not in text
    assert first not in text


def test_every_way_of_raising_a_request_wrongly_is_refused(reid: Reid) -> None:
    ours = sorted(reid.numbers)
    unknown = "0" * 32
    refusals: list[tuple[str, Callable[[], Any]]] = [
        ("reidentification_researchers_only", lambda: reid.create(reid.new(ours[0]), "officer")),
        (
            "reidentification_release_not_found",
            lambda: reid.create(reid.new(ours[0], release_id=reid.release_b)),
        ),
        (
            "reidentification_purpose_not_allowed",
            lambda: reid.create(reid.new(ours[0], purpose="consent_to_contact")),
        ),
        ("reidentification_subject_count", lambda: reid.create(reid.new(*ours[:6]))),
        ("reidentification_subject_count", lambda: reid.create(reid.new())),
        ("reidentification_duplicate_subject", lambda: reid.create(reid.new(ours[0], ours[0]))),
        (
            "reidentification_justification_too_short",
            lambda: reid.create(reid.new(ours[0], justification="x" * 19)),
        ),
    ]
    for code, fn in refusals:
        _refused(code, fn)
    # Someone not on the project is refused by the access policy (its own rule's code).
    with pytest.raises(FivesafesError) as caught:
        reid.create(reid.new(ours[0]), "outsider")
    assert caught.value.code.startswith("denied_")
    # A pseudonym of another project, a guessed one, a malformed one, or one of ours next to
    # them: one message, naming none of them.
    messages = set()
    for values in ((reid.pseudonym_b,), (unknown,), ("XYZ",), (ours[0], reid.pseudonym_b)):
        error = _refused(
            "reidentification_subject_not_found", lambda v=values: reid.create(reid.new(*v))
        )
        messages.add(error.message)
        assert not any(v in error.message for v in values)
    assert len(messages) == 1
    # Nothing was recorded by any refusal.
    assert not [e for e in _audit(reid.world) if e.action == "reidentification.request"]


def test_a_dataset_without_the_flag_is_refused(reid: Reid) -> None:
    grant = reid.world.grant("a", dataset=ADMISSIONS)
    release_id, pseudonyms = _release(reid.world, grant, "a")
    _refused(
        "reidentification_not_allowed",
        lambda: reid.create(reid.new(pseudonyms[0], grant_id=grant, release_id=release_id)),
    )


def test_the_monthly_limit_counts_every_state_and_refuses_with_429(reid: Reid) -> None:
    ours = sorted(reid.numbers)
    first = reid.create(reid.new(*ours[:5]))
    reid.call(service.reject, "officer", USER, first, "not safety critical", utcnow())
    error = _refused("reidentification_limit_reached", lambda: reid.create(reid.new(*ours[5:7])))
    assert type(error).__name__ == "RateLimitedError"
    reid.create(reid.new(ours[5]))  # exactly at the limit
    _refused("reidentification_limit_reached", lambda: reid.create(reid.new(ours[6])))


def test_own_request_expiry_and_rejection(reid: Reid) -> None:
    ours = sorted(reid.numbers)
    request_id = reid.create(reid.new(ours[0]))
    # The requester, later made an officer, still cannot decide their own request.
    with session_scope(reid.world.factory) as session:
        reid.user(session, "a").role = Role.GOVERNANCE
    _refused(
        "reidentification_own_request",
        lambda: reid.call(service.approve, "a", False, USER, request_id, "ok", utcnow()),
    )
    later = utcnow() + service.REQUEST_LIFETIME + timedelta(seconds=1)
    _refused(
        "reidentification_expired",
        lambda: reid.call(service.approve, "officer", False, USER, request_id, "ok", later),
    )
    # Approved by two officers (setting off: no guardian needed), then left to expire.
    reid.call(service.approve, "officer", False, USER, request_id, "ok", utcnow())
    assert (
        reid.call(service.approve, "officer2", False, USER, request_id, "ok", utcnow())
        is ReidState.APPROVED
    )
    _refused(
        "reidentification_expired",
        lambda: reid.call(
            service.execute, "reid", reid.world.keystore, USER, request_id, later, "api"
        ),
    )
    with session_scope(reid.world.factory) as session:
        reid.user(session, "a").role = Role.RESEARCHER
    rejected = reid.create(reid.new(ours[1]))
    assert (
        reid.call(service.reject, "guardian", USER, rejected, "no", utcnow()) is ReidState.REJECTED
    )
    _refused(
        "reidentification_rejected",
        lambda: reid.call(
            service.execute, "reid", reid.world.keystore, USER, rejected, utcnow(), "api"
        ),
    )


def test_reversal_after_a_rotation_project_pinned_at_1_version_at_2(
    settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    reid = _build(settings, session_factory, tmp_path, rotate=True)
    pp, number = sorted(reid.numbers.items())[0]
    with reid.world.factory() as session:
        release = session.get(Release, reid.release_a)
        assert release is not None
        version = session.get(DatasetVersion, release.dataset_version_id)
        assert version is not None
        assert version.pseudonym_generation == 2
        record = resolve_subject(session, reid.world.keystore, release, version, pp)
        assert record is not None
        assert record.pseudonym_generation == 1
        assert record.pseudonym == _stored(reid.world, number)
        assert (
            resolve_subject(session, reid.world.keystore, release, version, reid.pseudonym_b)
            is None
        )
    request_id = reid.create(reid.new(pp))
    reid.call(service.approve, "officer", True, USER, request_id, "ok", utcnow())
    reid.call(service.approve, "guardian", True, USER, request_id, "ok", utcnow())
    revealed = reid.call(
        service.execute, "reid", reid.world.keystore, USER, request_id, utcnow(), "api"
    )
    assert [s.nhs_number for s in revealed] == [number]
