"""Withdrawing a dataset version and purging its data (issue 15), on SQLite and PostgreSQL.

Through the API where a person acts (withdraw), through the service where time must pass
(purge after the policy's retention), and through the shell for both commands.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from fivesafes.audit.models import AuditEvent
from fivesafes.cli.main import app
from fivesafes.config import reset_settings_cache
from fivesafes.datasets import service as datasets
from fivesafes.datasets.models import DatasetVersion, VersionState
from fivesafes.db import session_scope, utcnow
from fivesafes.errors import ConflictError, PermissionDeniedError
from fivesafes.identity.models import Role
from fivesafes.ingestion.storage import table_exists
from fivesafes.release import withdrawal
from fivesafes.release.models import Release, ReleaseFormat
from fivesafes.release.withdrawal_views import version_status_outs
from tests.factories.datasets import load_policies
from tests.factories.extracts import notes_policy
from tests.factories.people import person
from tests.integration.review.conftest import REVIEWED, UNREVIEWED, World

WITHDRAW = "/datasets/{}/versions/{}/withdraw"
REASON = "Wrong extract: March was sent instead of April."


def _withdraw(world: World, by: str, number: int, dataset: str = UNREVIEWED, **body: Any) -> Any:
    return world.client.post(
        WITHDRAW.format(dataset, number),
        json=body or {"reason": REASON},
        headers=world.people[by].auth,
    )


def _download(world: World, grant: int) -> Any:
    auth = world.people["researcher"].auth
    return world.client.get(f"/grants/{grant}/data", params={"format": "csv"}, headers=auth)


def _version(session: Session, dataset: str, number: int) -> DatasetVersion:
    return datasets.get_dataset_version(session, datasets.get_dataset(session, dataset), number)


def _no_retention(
    world: World, tmp_path: Path, dataset: str = UNREVIEWED, review: str = ""
) -> None:
    """A new policy version of ``dataset`` that keeps withdrawn data 0 days."""
    folder = tmp_path / f"policy-v2-{dataset}"
    folder.mkdir()
    with session_scope(world.factory) as session:
        policy = notes_policy(dataset, review) + "withdrawn_retention_days: 0\n"
        load_policies(session, folder, {dataset: policy})


def _events(world: World, action: str) -> list[AuditEvent]:
    with world.factory() as session:
        query = select(AuditEvent).where(AuditEvent.action == action)
        return list(session.scalars(query.order_by(AuditEvent.seq)))


def test_latest_skips_a_withdrawn_version_and_a_grant_fixed_to_it_is_refused(
    world: World,
) -> None:
    world.ingest(UNREVIEWED, seed=1)
    world.ingest(UNREVIEWED, seed=2)
    latest, fixed = world.grant(UNREVIEWED), world.grant(UNREVIEWED, version=2)

    response = _withdraw(world, "officer1", 2)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "withdrawn"
    assert body["withdrawal_reason"] == REASON
    assert body["withdrawn_by"] == world.people["officer1"].username
    assert body["data_kept"] is True
    assert body["retention_days"] == 90

    released = _download(world, latest)
    assert released.status_code == 200, released.text
    manifest = world.client.get(
        released.headers["X-Release-Manifest"], headers=world.people["researcher"].auth
    ).json()
    assert manifest["dataset"]["version"] == 1  # "latest" is now version 1

    refused = _download(world, fixed)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "version_withdrawn"
    assert f"{UNREVIEWED!r} version 2 was withdrawn" in error["message"]
    assert REASON in error["message"]

    listed = world.client.get(f"/datasets/{UNREVIEWED}", headers=world.people["researcher"].auth)
    states = {v["number"]: v for v in listed.json()["versions"]}
    assert states[1]["state"] == "available"
    assert states[2]["state"] == "withdrawn"
    assert states[2]["withdrawal_reason"] == REASON
    assert states[2]["purged_at"] is None
    # Data kept for the record: the table is still there.
    with world.factory() as session:
        version = _version(session, UNREVIEWED, 2)
        assert table_exists(session.connection(), version.table_name)

    again = _withdraw(world, "officer2", 2)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "version_already_withdrawn"


def test_when_every_version_is_withdrawn_latest_is_refused_with_the_reason(
    world: World,
) -> None:
    world.ingest(UNREVIEWED, seed=1)
    grant = world.grant(UNREVIEWED)
    assert _withdraw(world, "officer1", 1).status_code == 200
    refused = _download(world, grant)
    assert refused.status_code == 409
    assert REASON in refused.json()["error"]["message"]


def test_the_uploader_withdraws_their_own_version_only_before_any_release(
    world: World,
) -> None:
    world.ingest(UNREVIEWED, seed=1)  # by "uploader"
    world.ingest(UNREVIEWED, seed=2)
    with session_scope(world.factory) as session:
        world.people["other"] = person(session, Role.UPLOADER, "up2")

    denied = {who: _withdraw(world, who, 2) for who in ("other", "researcher")}
    assert denied["other"].status_code == 403
    assert "only the uploader of" in denied["other"].json()["error"]["message"]
    assert denied["researcher"].status_code == 403
    assert _withdraw(world, "uploader", 2).status_code == 200  # never released

    assert _download(world, world.grant(UNREVIEWED)).status_code == 200  # reads version 1
    after = _withdraw(world, "uploader", 1)
    assert after.status_code == 403
    assert after.json()["error"]["code"] == "denied_version_released"
    assert "only governance may withdraw it now" in after.json()["error"]["message"]
    refusals = [e for e in _events(world, "dataset_version.withdraw") if e.outcome == "denied"]
    assert len(refusals) == 3
    assert _withdraw(world, "officer1", 1).status_code == 200  # governance: always


def test_withdrawal_is_audited_without_its_reason(world: World) -> None:
    world.ingest(UNREVIEWED, seed=1)
    assert _withdraw(world, "uploader", 1).status_code == 200
    [event] = [e for e in _events(world, "dataset_version.withdraw") if e.outcome == "success"]
    details = json.loads(event.details) if isinstance(event.details, str) else event.details
    assert event.target_id == f"{UNREVIEWED}/1"
    assert event.actor_id == str(world.people["uploader"].user.id)
    assert details["state_before"] == "available"
    assert details["releases"] == 0
    assert details["reason_sha256"] == hashlib.sha256(REASON.encode()).hexdigest()
    assert REASON not in json.dumps(details)


def test_a_bad_reason_or_a_missing_version_is_refused_and_changes_nothing(
    world: World,
) -> None:
    world.ingest(UNREVIEWED, seed=1)
    short = _withdraw(world, "officer1", 1, reason="  x ")
    assert short.status_code == 422
    assert "reason" in short.json()["error"]["message"]
    missing = _withdraw(world, "officer1", 9)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "version_not_found"
    with world.factory() as session:
        assert _version(session, UNREVIEWED, 1).state == VersionState.AVAILABLE


def test_a_version_withdrawn_while_waiting_for_review_leaves_the_queue(world: World) -> None:
    world.ingest(REVIEWED, seed=1)
    officer = world.people["officer1"].auth
    assert [r["version"] for r in world.client.get("/reviews", headers=officer).json()] == [1]
    assert _withdraw(world, "uploader", 1, dataset=REVIEWED).status_code == 200
    assert world.client.get("/reviews", headers=officer).json() == []
    decided = world.client.post(
        f"/datasets/{REVIEWED}/versions/1/review",
        json={"decision": "reject", "reason": "Names left in."},
        headers=officer,
    )
    assert decided.status_code == 409
    with world.factory() as session:
        assert _version(session, REVIEWED, 1).state == VersionState.WITHDRAWN


def test_purge_is_refused_until_the_policy_allows_then_drops_only_the_table(
    world: World,
) -> None:
    world.ingest(UNREVIEWED, seed=1)
    world.ingest(UNREVIEWED, seed=2)
    fixed = world.grant(UNREVIEWED, version=1)
    assert _download(world, fixed).status_code == 200
    officer, now = world.people["officer1"].user, utcnow()
    trail = world.people["officer1"].trail

    def purge(number: int, when: Any) -> withdrawal.VersionRecord:
        with session_scope(world.factory) as session:
            return withdrawal.purge_version(
                session,
                trail,
                world.policy,
                session.merge(officer),
                dataset=UNREVIEWED,
                number=number,
                now=when,
            )

    with pytest.raises(ConflictError) as not_withdrawn:
        purge(1, now)
    assert not_withdrawn.value.code == "version_not_withdrawn"
    assert _withdraw(world, "officer1", 1).status_code == 200
    with pytest.raises(ConflictError) as too_early:
        purge(1, utcnow() + timedelta(days=89))
    assert too_early.value.code == "purge_not_yet_allowed"
    assert "withdrawn_retention_days" in too_early.value.message
    with world.factory() as session:
        version = _version(session, UNREVIEWED, 1)
        table = version.table_name
        assert table_exists(session.connection(), table)  # withdrawal alone drops nothing
    with (
        pytest.raises(PermissionDeniedError),  # only governance purges
        session_scope(world.factory) as session,
    ):
        withdrawal.purge_version(
            session,
            trail,
            world.policy,
            session.merge(world.people["uploader"].user),
            dataset=UNREVIEWED,
            number=1,
            now=utcnow() + timedelta(days=91),
        )

    record = purge(1, utcnow() + timedelta(days=91))
    assert record.version.purged_at is not None
    with world.factory() as session:
        version = _version(session, UNREVIEWED, 1)
        assert not table_exists(session.connection(), table)
        assert version.purged_by == str(officer.id)
        assert version.state == VersionState.WITHDRAWN
        assert version.report  # the record stays
        assert table_exists(session.connection(), _version(session, UNREVIEWED, 2).table_name)
    manifests = world.client.get(
        f"/grants/{fixed}/releases", headers=world.people["researcher"].auth
    )
    assert len(manifests.json()) == 1  # the release record of the purged version stays
    [event] = _events(world, "dataset_version.purge")
    assert event.actor_id == str(officer.id)
    refused = _download(world, fixed)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "version_withdrawn"
    with pytest.raises(ConflictError) as twice:
        purge(1, utcnow() + timedelta(days=92))
    assert twice.value.code == "version_already_purged"


def test_a_policy_with_no_retention_allows_an_immediate_purge(world: World, tmp_path: Path) -> None:
    world.ingest(UNREVIEWED, seed=1)
    assert _withdraw(world, "officer1", 1).status_code == 200
    _no_retention(world, tmp_path)
    officer = world.people["officer1"]
    with session_scope(world.factory) as session:
        record = withdrawal.purge_version(
            session,
            officer.trail,
            world.policy,
            session.merge(officer.user),
            dataset=UNREVIEWED,
            number=1,
            now=utcnow(),
        )
        assert record.retention_days == 0
        assert not table_exists(session.connection(), record.version.table_name)


def test_withdraw_and_purge_from_the_shell(
    world: World, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FIVESAFES_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    reset_settings_cache()  # the world's app read the settings before the variable was set
    world.ingest(UNREVIEWED, seed=1)
    officer = world.people["officer1"].username
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    code, out = run(
        "datasets",
        "withdraw",
        UNREVIEWED,
        "1",
        "--reason",
        REASON,
        "--as",
        world.people["researcher"].username,
    )
    assert code == 1
    assert "denied_not_permitted" in out
    code, out = run("datasets", "withdraw", UNREVIEWED, "1", "--reason", REASON, "--as", officer)
    assert code == 0, out
    assert f"{UNREVIEWED} version 1 withdrawn" in out
    assert "kept for 90 days" in out
    code, out = run("datasets", "list")
    [row] = [line for line in out.splitlines() if UNREVIEWED in line]
    assert "withdrawn" in row
    assert "none" in row  # no version left to release as "latest"
    code, out = run("datasets", "purge", UNREVIEWED, "1", "--as", officer)
    assert code == 1
    assert "may be purged from" in out
    _no_retention(world, tmp_path)
    code, out = run("datasets", "purge", UNREVIEWED, "1", "--as", officer)
    assert code == 0, out
    assert "dropped" in out
    with world.factory() as session:
        assert _version(session, UNREVIEWED, 1).purged_at is not None


@pytest.mark.postgres
@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_a_withdrawal_waits_for_a_release_being_recorded_and_then_counts_it(
    world: World,
) -> None:
    """PostgreSQL: the release holds the version row; the uploader's withdrawal waits,
    then sees the release and is refused (it may not take back released data)."""
    world.ingest(UNREVIEWED, seed=1)
    grant = world.grant(UNREVIEWED)
    uploader, researcher = world.people["uploader"], world.people["researcher"]
    outcome: list[BaseException | None] = []

    def withdraw() -> None:
        try:
            with session_scope(world.factory) as session:
                withdrawal.withdraw_version(
                    session,
                    uploader.trail,
                    world.policy,
                    session.merge(uploader.user),
                    dataset=UNREVIEWED,
                    number=1,
                    reason=REASON,
                    now=utcnow(),
                )
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    with session_scope(world.factory) as release:
        version = _version(release, UNREVIEWED, 1)
        withdrawal.hold_for_release(release, version)
        waiting = threading.Thread(target=withdraw)
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive(), "the withdrawal did not wait for the release"
        release.add(
            Release(
                grant_id=grant,
                project_id=world.project,
                dataset_version_id=version.id,
                user_id=researcher.user.id,
                file_format=ReleaseFormat.CSV,
                row_count=0,
                manifest="{}",
            )
        )
    waiting.join(timeout=30)
    [error] = outcome
    assert isinstance(error, PermissionDeniedError)
    assert error.code == "denied_version_released"


def test_a_purged_version_has_no_sample_left_to_show(world: World, tmp_path: Path) -> None:
    world.ingest(REVIEWED, seed=1)
    assert _withdraw(world, "officer1", 1, dataset=REVIEWED).status_code == 200
    _no_retention(world, tmp_path, REVIEWED, "review_sample: 5")
    officer = world.people["officer2"]
    with session_scope(world.factory) as session:
        withdrawal.purge_version(
            session,
            officer.trail,
            world.policy,
            session.merge(officer.user),
            dataset=REVIEWED,
            number=1,
            now=utcnow(),
        )
    shown = world.client.get(f"/datasets/{REVIEWED}/versions/1/review", headers=officer.auth)
    assert shown.status_code == 409
    assert shown.json()["error"]["code"] == "version_purged"


def test_a_request_for_a_withdrawn_version_is_refused_and_latest_one_is_not(
    world: World,
) -> None:
    world.ingest(UNREVIEWED, seed=1)
    world.ingest(UNREVIEWED, seed=2)
    assert _withdraw(world, "officer1", 2).status_code == 200
    auth = world.people["researcher"].auth
    body = {
        "dataset": UNREVIEWED,
        "columns": ["sex"],
        "justification": "Needed for the approved analysis plan.",
    }
    fixed = world.client.post(
        f"/projects/{world.project}/requests", json={**body, "version": 2}, headers=auth
    )
    assert fixed.status_code == 409
    assert fixed.json()["error"]["code"] == "version_withdrawn"
    assert REASON in fixed.json()["error"]["message"]
    latest = world.client.post(f"/projects/{world.project}/requests", json=body, headers=auth)
    assert latest.status_code == 201, latest.text


def _listing_statements(world: World) -> tuple[int, int]:
    """(versions listed, SQL statements it took) for the governance versions list."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    engine = world.factory.kw["bind"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        with world.factory() as session:
            records = withdrawal.version_records(session, UNREVIEWED)
            version_status_outs(session, records)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len(records), len(statements)


def test_the_versions_list_costs_the_same_statements_for_two_or_four_versions(
    world: World,
) -> None:
    """No query per version: releases are counted and users named once for the list."""
    counts = []
    for seed in range(4):
        world.ingest(UNREVIEWED, seed=seed)
        if seed == 1:
            assert _withdraw(world, "officer1", 1).status_code == 200
        if seed in (1, 3):
            listed, statements = _listing_statements(world)
            assert listed == seed + 1
            counts.append(statements)
    assert counts[0] == counts[1], counts
