"""The attestation records the project's RO-Crate carries (``closeout.records``)."""

from __future__ import annotations

import uuid

from fivesafes.closeout.records import accepted_attestations, attestation_record
from fivesafes.closeout.rules import DECLARATION
from fivesafes.db import session_scope
from tests.factories.release_world import World
from tests.integration.closeout.helpers import attestation, close, released, today

KEYS = {
    "id",
    "release_id",
    "destroyed_by",
    "destroyed_on",
    "method",
    "copies",
    "declaration",
    "signed_name",
    "content_sha256",
    "submitted_by",
    "submitted_at",
    "state",
    "reviewed_by",
    "reviewed_at",
}


def test_accepted_attestations_and_their_records(world: World) -> None:
    _, r1 = released(world)
    _, r2 = released(world)
    assert close(world).status_code == 200
    project, lead = world.projects["a"], world.people["a"].auth
    made = world.client.post(
        f"/projects/{project}/attestations", json=attestation([r1, r2]), headers=lead
    ).json()
    officer = world.people["officer"].auth
    world.client.post(f"/attestations/{made[0]['id']}/accept", headers=officer)
    world.client.post(
        f"/attestations/{made[1]['id']}/reject", json={"reason": "Which laptop?"}, headers=officer
    )
    with session_scope(world.factory) as session:
        accepted = accepted_attestations(session, project)
        assert [a.id for a in accepted] == [made[0]["id"]]
        assert accepted_attestations(session, project, uuid.UUID(r2)) == []
        assert [a.id for a in accepted_attestations(session, project, uuid.UUID(r1))] == [
            made[0]["id"]
        ]
        assert accepted_attestations(session, world.projects["b"]) == []
        record = attestation_record(accepted[0])
    assert set(record) == KEYS
    assert record["release_id"] == r1
    assert record["copies"] == ["project share", "laptop LT-042"]
    assert record["declaration"] == DECLARATION
    assert record["destroyed_on"] == today().isoformat()
    assert record["submitted_by"] == world.people["a"].username
    assert record["reviewed_by"] == world.people["officer"].username
    assert record["state"] == "accepted"
    assert record["content_sha256"] == made[0]["content_sha256"]
