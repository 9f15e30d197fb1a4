"""Close-out over the API, on SQLite and PostgreSQL: early close, grants refused while
closing, attestations submitted, rejected, resubmitted and accepted, the project closed
(and the platform's retained copies destroyed) on the last acceptance."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from fivesafes.access.models import Project, ProjectState
from fivesafes.closeout import rules
from fivesafes.db import session_scope
from fivesafes.release.retained_models import ReleaseCopy
from tests.factories.release_world import World
from tests.integration.closeout.helpers import (
    attestation,
    close,
    details,
    events,
    released,
    today,
)


def _state(world: World, project: str = "a") -> ProjectState:
    with session_scope(world.factory) as session:
        found = session.get(Project, world.projects[project])
        assert found is not None
        return found.state


def test_early_close_stops_grants_and_says_what_to_do(world: World) -> None:
    grant, _ = released(world)
    response = close(world)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "closing"
    assert response.json()["closing_reason"] == "The study finished early."
    assert _state(world) is ProjectState.CLOSING
    refused = world.client.get(
        f"/grants/{grant}/data", params={"format": "csv"}, headers=world.people["a"].auth
    )
    assert refused.status_code == 403
    body = refused.json()
    assert body["error"]["code"] == "denied_project_not_active", body
    assert "closing" in body["error"]["message"]
    assert "destruction attestation" in body["error"]["message"]
    (event,) = events(world, "project.closing")
    assert details(event)["trigger"] == "request"
    assert details(event)["releases_outstanding"] == 1
    assert "finished early" not in event.details  # free text is never audited
    # Closing is final: a second close is refused with the stable rule.
    again = close(world, who="officer")
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "denied_project_not_active"


def test_only_the_lead_or_governance_closes(world: World) -> None:
    refused = close(world, project="a", who="b")  # rb leads project b, not a
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "denied_not_lead"
    blank = world.client.post(
        f"/projects/{world.projects['a']}/close",
        json={"reason": ""},
        headers=world.people["a"].auth,
    )
    assert blank.status_code == 422
    assert "reason" in blank.text
    assert _state(world) is ProjectState.ACTIVE
    by_officer = close(world, project="b", who="officer")
    assert by_officer.status_code == 200
    # Project b has no releases: nothing to attest, so it closes at once.
    assert by_officer.json()["state"] == "closed"
    assert _state(world, "b") is ProjectState.CLOSED
    assert len(events(world, "project.closed")) == 1


def test_submit_reject_resubmit_accept_closes(world: World) -> None:
    _, release_id = released(world)
    assert close(world).status_code == 200
    project = world.projects["a"]
    lead, officer = world.people["a"].auth, world.people["officer"].auth

    submitted = world.client.post(
        f"/projects/{project}/attestations", json=attestation([release_id]), headers=lead
    )
    assert submitted.status_code == 201, submitted.text
    (first,) = submitted.json()
    assert first["state"] == "submitted"
    assert first["declaration"] == rules.DECLARATION
    content = rules.AttestationContent(
        first["destroyed_by"],
        today(),
        first["method"],
        tuple(first["copies"]),
        first["signed_name"],
    )
    document = rules.attested_document(content, project_id=project, release_id=first["release_id"])
    assert first["content_sha256"] == rules.content_sha256(document)
    (event,) = events(world, "attestation.submitted")
    assert details(event) == {
        "project_id": project,
        "release_id": release_id,
        "content_sha256": first["content_sha256"],
    }
    # One pending at a time per release.
    twice = world.client.post(
        f"/projects/{project}/attestations", json=attestation([release_id]), headers=lead
    )
    assert twice.status_code == 409

    queue = world.client.get("/attestations", params={"state": "submitted"}, headers=officer)
    assert [a["id"] for a in queue.json()] == [first["id"]]
    assert world.client.get("/attestations", headers=lead).status_code == 403

    no_reason = world.client.post(
        f"/attestations/{first['id']}/reject", json={"reason": ""}, headers=officer
    )
    assert no_reason.status_code == 422
    rejected = world.client.post(
        f"/attestations/{first['id']}/reject",
        json={"reason": "Name the backup drive too."},
        headers=officer,
    )
    assert rejected.status_code == 200
    assert rejected.json()["state"] == "rejected"
    status = world.client.get(f"/projects/{project}/closeout", headers=lead).json()
    assert status["releases"][0]["status"] == "rejected"
    assert status["state"] == "closing"

    again = world.client.post(
        f"/projects/{project}/attestations",
        json=attestation([release_id], copies=["project share", "laptop", "backup drive"]),
        headers=lead,
    )
    assert again.status_code == 201, again.text
    second = again.json()[0]
    assert second["content_sha256"] != first["content_sha256"]
    with session_scope(world.factory) as session:
        copy = session.scalars(select(ReleaseCopy)).one()  # the tee kept one
        assert copy.destroyed_at is None
    accepted = world.client.post(f"/attestations/{second['id']}/accept", headers=officer)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["reviewed_by"] == world.people["officer"].username
    assert _state(world) is ProjectState.CLOSED
    (closed,) = events(world, "project.closed")
    assert details(closed) == {"attestations_accepted": 1}
    with session_scope(world.factory) as session:
        copy = session.scalars(select(ReleaseCopy)).one()
        assert copy.destroyed_at is not None
        assert copy.destroyed_by == "system"
    final = world.client.get(f"/projects/{project}/closeout", headers=officer).json()
    assert final["state"] == "closed"
    assert final["closed_at"] is not None
    assert final["releases"][0]["status"] == "accepted"
    # Closed is final: nothing more is submitted.
    late = world.client.post(
        f"/projects/{project}/attestations", json=attestation([release_id]), headers=lead
    )
    assert late.status_code == 403
    assert late.json()["error"]["code"] == "denied_project_not_closing"


def test_two_releases_close_only_after_both_are_accepted(world: World) -> None:
    _, r1 = released(world)
    _, r2 = released(world)
    assert close(world).status_code == 200
    project, lead = world.projects["a"], world.people["a"].auth
    made = world.client.post(
        f"/projects/{project}/attestations", json=attestation([r1, r2]), headers=lead
    )
    assert made.status_code == 201, made.text
    first, second = made.json()
    officer = world.people["officer"].auth
    assert world.client.post(f"/attestations/{first['id']}/accept", headers=officer).is_success
    assert _state(world) is ProjectState.CLOSING
    assert world.client.post(f"/attestations/{second['id']}/accept", headers=officer).is_success
    assert _state(world) is ProjectState.CLOSED


def test_bad_attestations_name_the_field(world: World) -> None:
    _, release_id = released(world)
    _, other = released(world, project="b", who="b")
    project, lead = world.projects["a"], world.people["a"].auth
    assert (
        world.client.post(
            f"/projects/{project}/attestations", json=attestation([release_id]), headers=lead
        ).status_code
        == 403
    )  # not closing yet
    assert close(world).status_code == 200
    cases = {
        "destroyed_on": attestation(
            [release_id], destroyed_on=(today() + timedelta(days=1)).isoformat()
        ),
        "copies": attestation([release_id], copies=[]),
        "accept_declaration": attestation([release_id], accept_declaration=False),
        "signed_name": attestation([release_id], signed_name=" "),
        "release_ids": attestation([other]),
    }
    for field, body in cases.items():
        response = world.client.post(f"/projects/{project}/attestations", json=body, headers=lead)
        assert response.status_code == 422, (field, response.text)
        assert field in response.text, (field, response.text)
    before = attestation([release_id], destroyed_on=(today() - timedelta(days=400)).isoformat())
    response = world.client.post(f"/projects/{project}/attestations", json=before, headers=lead)
    assert response.status_code == 422
    assert "before the release" in response.text


def test_non_lead_cannot_attest_and_researchers_cannot_review(world: World) -> None:
    _, release_id = released(world)
    assert close(world).status_code == 200
    project = world.projects["a"]
    outsider = world.client.post(
        f"/projects/{project}/attestations",
        json=attestation([release_id]),
        headers=world.people["b"].auth,
    )
    assert outsider.status_code == 403
    assert outsider.json()["error"]["code"] == "denied_not_lead"
    made = world.client.post(
        f"/projects/{project}/attestations",
        json=attestation([release_id]),
        headers=world.people["a"].auth,
    ).json()[0]
    by_lead = world.client.post(
        f"/attestations/{made['id']}/accept", headers=world.people["a"].auth
    )
    assert by_lead.status_code == 403
    assert by_lead.json()["error"]["code"] == "denied_not_permitted"
    missing = world.client.post("/attestations/999999/accept", headers=world.people["officer"].auth)
    assert missing.status_code == 404


def test_nobody_reviews_an_attestation_they_submitted(world: World) -> None:
    """A site whose policy lets officers submit too: the submitter still cannot review."""
    _, release_id = released(world)
    assert close(world).status_code == 200
    data = world.policy.model_dump(mode="json")
    data["roles"]["governance"]["attestation.submit"] = "any"
    world.client.app.state.access_policy = type(world.policy).model_validate(data)  # type: ignore[attr-defined]
    made = world.client.post(
        f"/projects/{world.projects['a']}/attestations",
        json=attestation([release_id]),
        headers=world.people["officer"].auth,
    )
    assert made.status_code == 201, made.text
    attestation_id = made.json()[0]["id"]
    own = world.client.post(
        f"/attestations/{attestation_id}/accept", headers=world.people["officer"].auth
    )
    assert own.status_code == 403
    assert own.json()["error"]["code"] == "denied_separation_of_duties"
    other = world.client.post(
        f"/attestations/{attestation_id}/accept", headers=world.people["officer2"].auth
    )
    assert other.status_code == 200
    twice = world.client.post(
        f"/attestations/{attestation_id}/reject",
        json={"reason": "Second thoughts."},
        headers=world.people["officer2"].auth,
    )
    assert twice.status_code == 403  # the project is closed now
