"""Governance review of dataset versions through the API, on SQLite and PostgreSQL:
states after ingestion, the stored sample, who may decide, release gating, the audit."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select, text

from fivesafes.audit.models import AuditEvent
from fivesafes.audit.verify import verify_chain
from fivesafes.datasets.models import DatasetVersion
from fivesafes.datasets.review_models import ReviewCell, VersionReview
from fivesafes.db import session_scope
from tests.factories.extracts import BLANK_NOTES, SCRIPT_NOTE
from tests.factories.extracts import NOTE_PATIENTS as PATIENTS
from tests.integration.review.conftest import ALL_CELLS, REVIEWED, UNREVIEWED, World

REVIEW = "/datasets/{}/versions/{}/review"


def _get(world: World, who: str, dataset: str = REVIEWED, number: int = 1) -> Any:
    return world.client.get(REVIEW.format(dataset, number), headers=world.people[who].auth)


def _decide(
    world: World,
    who: str,
    decision: str = "approve",
    token: str | None = None,
    dataset: str = REVIEWED,
    number: int = 1,
) -> Any:
    body = {
        "decision": decision,
        "reason": "Sample read: every identifier tagged.",
        "view_token": token,
    }
    return world.client.post(
        REVIEW.format(dataset, number), json=body, headers=world.people[who].auth
    )


def _events(world: World, action: str) -> list[AuditEvent]:
    with world.factory() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def _details(event: AuditEvent) -> Any:
    return json.loads(event.details) if isinstance(event.details, str) else event.details


def _state(world: World, dataset: str, number: int = 1) -> str:
    with world.factory() as session:
        return session.scalars(
            select(DatasetVersion.state)
            .join(DatasetVersion.dataset)
            .where(DatasetVersion.number == number)
            .where(DatasetVersion.dataset.has(name=dataset))
        ).one()


def test_versions_needing_review_wait_others_are_available(world: World) -> None:
    reviewed = world.ingest(REVIEWED)
    plain = world.ingest(UNREVIEWED)
    assert reviewed.dataset_version_state == "pending_review"
    assert plain.dataset_version_state == "available"
    listed = world.client.get(f"/datasets/{REVIEWED}", headers=world.people["uploader"].auth)
    assert listed.json()["versions"][0]["state"] == "pending_review"
    queue = world.client.get("/reviews", headers=world.people["officer1"].auth)
    assert queue.status_code == 200
    assert [(r["dataset"], r["version"], r["state"]) for r in queue.json()] == [
        (REVIEWED, 1, "pending_review")
    ]
    pending = _events(world, "dataset_version.review_pending")
    assert len(pending) == 1
    assert pending[0].target_id == f"{REVIEWED}/1"
    assert _details(pending[0])["sample_size"] == 5


def test_sample_is_min_of_n_and_cells_and_stable_across_views(world: World) -> None:
    world.ingest(REVIEWED)
    world.ingest(ALL_CELLS)
    first = _get(world, "officer1").json()
    again = _get(world, "officer2").json()
    assert first["review"]["sample_size"] == 5
    assert first["review"]["cells_available"] == PATIENTS - BLANK_NOTES
    assert [(c["row_id"], c["column"]) for c in first["cells"]] == [
        (c["row_id"], c["column"]) for c in again["cells"]
    ]
    assert len({c["row_id"] for c in first["cells"]}) == 5
    assert first["view_token"] != again["view_token"]
    everything = _get(world, "officer1", ALL_CELLS).json()
    assert everything["review"]["sample_requested"] == 1000
    assert everything["review"]["sample_size"] == PATIENTS - BLANK_NOTES
    assert all(c["text"] and c["text"].strip() for c in everything["cells"])
    # Stored as positions only: no copy of any cell's text outside the version's table.
    with world.factory() as session:
        cells = session.scalars(select(ReviewCell)).all()
        assert {type(c.row_id) for c in cells} == {int}
        for table in ("version_reviews", "version_review_cells", "version_review_views"):
            dumped = str(session.execute(text(f"SELECT * FROM {table}")).all())
            assert "Reviewed in clinic" not in dumped
            assert "script" not in dumped


def test_segments_mark_every_replacement_tag(world: World) -> None:
    world.ingest(ALL_CELLS)
    cells = _get(world, "officer1", ALL_CELLS).json()["cells"]
    script = next(c for c in cells if "<script>" in (c["text"] or ""))
    assert "John Smith" not in script["text"]  # the scrubber did its work
    assert script["tags"] >= 1
    assert "".join(s["text"] for s in script["segments"]) == script["text"]
    for segment in script["segments"]:
        if segment["tag"]:
            assert re.fullmatch(r"\[[A-Z][A-Z_]*\]", segment["text"])
    assert SCRIPT_NOTE.split(" Seen")[0] in script["text"]


def test_only_governance_not_the_uploader_and_only_after_a_view(world: World) -> None:
    world.ingest(REVIEWED, by="officer2")  # an officer who uploaded (role since changed)
    assert _get(world, "researcher").status_code == 403
    assert _get(world, "uploader").status_code == 403
    own = _get(world, "officer2")
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "review_own_upload"
    assert _decide(world, "officer2").json()["error"]["code"] == "review_own_upload"
    unseen = _decide(world, "officer1")
    assert unseen.status_code == 403
    assert unseen.json()["error"]["code"] == "review_sample_not_viewed"
    forged = _decide(world, "officer1", token="not-a-token")
    assert forged.json()["error"]["code"] == "review_sample_not_viewed"
    assert _state(world, REVIEWED) == "pending_review"
    token = _get(world, "officer1").json()["view_token"]
    approved = _decide(world, "officer1", token=token)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "available"
    assert approved.json()["decision"] == "approved"
    again = _decide(world, "officer1", token=token)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "review_already_decided"

    denied = _events(world, "dataset_version.review.decide")
    codes = [_details(e)["code"] for e in denied if e.outcome == "denied"]
    assert codes.count("review_own_upload") == 1
    assert codes.count("review_sample_not_viewed") == 2
    views = [e for e in _events(world, "dataset_version.review.view") if e.outcome == "denied"]
    assert {_details(e)["code"] for e in views} == {"forbidden_role", "review_own_upload"}
    approval = _events(world, "dataset_version.approve")
    assert len(approval) == 1
    view = _events(world, "dataset_version.review_view")[0]
    assert _details(approval[0])["view_id"] == _details(view)["view_id"]


def test_a_view_by_another_officer_does_not_let_you_approve(world: World) -> None:
    world.ingest(REVIEWED)
    token = _get(world, "officer1").json()["view_token"]
    response = _decide(world, "officer2", token=token)
    assert response.json()["error"]["code"] == "review_sample_not_viewed"


def test_release_waits_for_approval_and_rejection_is_final(world: World) -> None:
    world.ingest(REVIEWED)
    grant = world.grant(REVIEWED)
    auth = world.people["researcher"].auth
    refused = world.client.get(f"/grants/{grant}/data", params={"format": "csv"}, headers=auth)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "version_pending_review"
    assert "pending_review" in refused.json()["error"]["message"]

    token = _get(world, "officer1").json()["view_token"]
    assert _decide(world, "officer1", token=token).status_code == 200
    released = world.client.get(f"/grants/{grant}/data", params={"format": "csv"}, headers=auth)
    assert released.status_code == 200, released.text
    assert int(released.headers["X-Release-Rows"]) == PATIENTS

    # Version 2 waits for review: "latest" still releases version 1.
    world.ingest(REVIEWED, seed=1)
    again = world.client.get(f"/grants/{grant}/data", params={"format": "csv"}, headers=auth)
    assert again.status_code == 200
    manifest = world.client.get(again.headers["X-Release-Manifest"], headers=auth).json()
    assert manifest["dataset"]["version"] == 1

    # A request fixed to the version waiting for review is refused, naming its state.
    body = {
        "dataset": REVIEWED,
        "version": 2,
        "columns": ["sex"],
        "justification": "Version 2 is the study's extract of record.",
    }
    fixed = world.client.post(f"/projects/{world.project}/requests", json=body, headers=auth)
    assert fixed.status_code == 409
    assert fixed.json()["error"]["code"] == "version_pending_review"

    rejected = _decide(world, "officer2", decision="reject", number=2)  # no view needed
    assert rejected.status_code == 200
    assert rejected.json()["state"] == "rejected"
    assert _state(world, REVIEWED, 2) == "rejected"
    fixed = world.client.post(f"/projects/{world.project}/requests", json=body, headers=auth)
    assert fixed.json()["error"]["code"] == "version_rejected"
    token = _get(world, "officer1", number=2).json()["view_token"]
    assert _decide(world, "officer1", token=token, number=2).status_code == 409


def test_audit_trail_has_every_step_without_text_and_verifies(world: World) -> None:
    world.ingest(REVIEWED)
    token = _get(world, "officer1").json()["view_token"]
    _decide(world, "officer2")  # denied: not viewed
    _decide(world, "officer1", token=token)
    actions = [
        "dataset_version.review_pending",
        "dataset_version.review_view",
        "dataset_version.approve",
    ]
    for action in actions:
        assert len(_events(world, action)) == 1, action
    with world.factory() as session:
        review = session.scalars(select(VersionReview)).one()
        details = str([e.details for e in session.scalars(select(AuditEvent))])
        assert verify_chain(session).ok
    assert "Reviewed in clinic" not in details
    assert "every identifier tagged" not in details  # the reason stays with the review
    assert review.reason == "Sample read: every identifier tagged."
    pending = _details(_events(world, "dataset_version.review_pending")[0])
    assert len(pending["cells"]) == 5
    assert pending["sample_sha256"] == review.sample_sha256
    with session_scope(world.factory) as session:
        assert session.get(VersionReview, review.id) is not None
