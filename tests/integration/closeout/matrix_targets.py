"""Close-out's entries for the route matrix (tests/integration/access/test_route_matrix.py):
who may call each route, and how each call is built on the matrix's world.

Kept here, beside the close-out tests; the matrix merges them (``TARGETS.update(...)``)
and declares who may call each route in its own table. Closing is final and an
attestation is reviewed once, so every call acts on fresh objects: a project of the
side's lead with one release, closed by that lead (and, for reviews, an attestation the
lead submitted for it).
"""

from __future__ import annotations

from typing import Any

from fivesafes.access import service as access
from fivesafes.db import session_scope, utcnow
from tests.factories.access import approve
from tests.integration.access.helpers import TRAIL

CLOSE_REASON = {"reason": "The study finished early."}


def closing_with_release(world: Any, side: str) -> tuple[int, str]:
    """A new project led by ``side``'s lead, with one release, now closing."""
    project = world.fresh_project(side)
    with session_scope(world.factory) as session:
        lead_user = session.merge(world.user(world.lead[side]))
        request = access.create_request(
            session,
            TRAIL,
            world.policy,
            lead_user,
            project_id=project,
            body=world._request_body(),
            now=utcnow(),
        ).id
    with session_scope(world.factory) as session:
        grant = approve(session, world.policy, world.user("other_officer"), request, utcnow())
    lead = world.people[world.lead[side]]
    download = world.client.get(f"/grants/{grant}/data", headers=lead.bearer())
    assert download.status_code == 200, download.text
    closed = world.client.post(
        f"/projects/{project}/close", json=CLOSE_REASON, headers=lead.bearer()
    )
    assert closed.status_code == 200, closed.text
    return project, download.headers["X-Release-Id"]


def attestation_json(release_id: str) -> dict[str, Any]:
    return {
        "release_ids": [release_id],
        "destroyed_by": "The project lead",
        "destroyed_on": utcnow().date().isoformat(),
        "method": "Deleted from the project share; recycle bin emptied",
        "copies": ["project share"],
        "accept_declaration": True,
        "signed_name": "Project Lead",
    }


def fresh_attestation(world: Any, side: str) -> int:
    """An attestation submitted by ``side``'s lead, waiting for review."""
    project, release_id = closing_with_release(world, side)
    lead = world.people[world.lead[side]]
    made = world.client.post(
        f"/projects/{project}/attestations",
        json=attestation_json(release_id),
        headers=lead.bearer(),
    )
    assert made.status_code == 201, made.text
    return int(made.json()[0]["id"])


def target_entries(call: Any) -> dict[str, Any]:
    """``TARGETS`` entries: ``call`` is the matrix's ``Call`` class."""

    def submit(c: Any, web: bool) -> Any:
        project, release_id = closing_with_release(c.world, c.side)
        if not web:
            return call(
                f"/projects/{project}/attestations", json=attestation_json(release_id), status=201
            )
        body = attestation_json(release_id)
        form = {
            "release_id": release_id,
            "destroyed_by": body["destroyed_by"],
            "destroyed_on": body["destroyed_on"],
            "method": body["method"],
            "copies": "project share",
            "accept_declaration": "yes",
            "signed_name": body["signed_name"],
        }
        return call(f"/web/projects/{project}/attestations", data=form, location="/web/projects/")

    return {
        "POST /projects/{project_id}/close": lambda c: call(
            f"/projects/{c.world.fresh_project(c.side)}/close", json=CLOSE_REASON
        ),
        "GET /projects/{project_id}/closeout": lambda c: call(f"/projects/{c.s.project}/closeout"),
        "POST /projects/{project_id}/attestations": lambda c: submit(c, web=False),
        "GET /attestations": lambda c: call("/attestations"),
        "POST /attestations/{attestation_id}/accept": lambda c: call(
            f"/attestations/{fresh_attestation(c.world, c.side)}/accept"
        ),
        "POST /attestations/{attestation_id}/reject": lambda c: call(
            f"/attestations/{fresh_attestation(c.world, c.side)}/reject",
            json={"reason": "Name every copy."},
        ),
        "POST /web/projects/{project_id}/close": lambda c: call(
            f"/web/projects/{c.world.fresh_project(c.side)}/close",
            data=CLOSE_REASON,
            location="/web/projects/",
        ),
        "POST /web/projects/{project_id}/attestations": lambda c: submit(c, web=True),
        "GET /web/governance/closeout": lambda c: call("/web/governance/closeout"),
        "POST /web/governance/attestations/{attestation_id}/review": lambda c: call(
            f"/web/governance/attestations/{fresh_attestation(c.world, c.side)}/review",
            data={"decision": "accept", "reason": ""},
            location="/web/governance/closeout",
        ),
    }
