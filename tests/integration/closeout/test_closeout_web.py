"""Close-out in the pages: the project page's status and forms, closing early, the
lead's attestation form, governance's queue and review, the overdue flag on the
governance home page."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from fivesafes.access.models import Project
from fivesafes.closeout.sweep import sweep, system_trail
from fivesafes.config import Settings
from fivesafes.db import session_scope, utcnow
from tests.factories.release_world import World
from tests.factories.web import csrf_token, logged_in
from tests.integration.closeout.helpers import close, events, released, today


def _page(world: World, who: str) -> TestClient:
    return logged_in(world.client.app, world.people[who].token)


def test_close_attest_review_in_the_pages(world: World) -> None:
    _, release_id = released(world)
    project = world.projects["a"]
    lead = _page(world, "a")
    page = lead.get(f"/web/projects/{project}")
    assert "Close project" in page.text
    assert "Sign and submit" not in page.text  # nothing to attest while active
    token = csrf_token(lead, f"/web/projects/{project}")
    blank = lead.post(f"/web/projects/{project}/close", data={"csrf_token": token, "reason": ""})
    assert blank.status_code == 422
    assert "Reason" in blank.text
    closed = lead.post(
        f"/web/projects/{project}/close",
        data={"csrf_token": token, "reason": "Study finished early."},
        follow_redirects=False,
    )
    assert closed.status_code == 303, closed.text
    page = lead.get(f"/web/projects/{project}")
    assert "Closing since" in page.text
    assert "Close project" not in page.text
    assert release_id in page.text
    assert "Sign and submit" in page.text
    form = {
        "csrf_token": token,
        "release_id": release_id,
        "destroyed_by": "Dr R A",
        "destroyed_on": today().isoformat(),
        "method": "Deleted and bin emptied",
        "copies": "project share\nlaptop LT-042\n",
        "signed_name": "R A",
    }
    unsigned = lead.post(f"/web/projects/{project}/attestations", data=form)
    assert unsigned.status_code == 422
    assert "Declaration" in unsigned.text
    sent = lead.post(
        f"/web/projects/{project}/attestations",
        data={**form, "accept_declaration": "yes"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    assert len(events(world, "attestation.submitted")) == 1

    officer = _page(world, "officer")
    queue = officer.get("/web/governance/closeout")
    assert queue.status_code == 200
    assert "laptop LT-042" in queue.text
    attestation_id = events(world, "attestation.submitted")[0].target_id
    token = csrf_token(officer, "/web/governance/closeout")
    no_reason = officer.post(
        f"/web/governance/attestations/{attestation_id}/review",
        data={"csrf_token": token, "decision": "reject", "reason": ""},
    )
    assert no_reason.status_code == 422
    accepted = officer.post(
        f"/web/governance/attestations/{attestation_id}/review",
        data={"csrf_token": token, "decision": "accept", "reason": ""},
        follow_redirects=False,
    )
    assert accepted.status_code == 303, accepted.text
    assert "Closed on" in officer.get(f"/web/projects/{project}").text
    # A researcher has no queue.
    assert lead.get("/web/governance/closeout").status_code == 403


def test_overdue_projects_flagged_on_the_governance_home(world: World, settings: Settings) -> None:
    released(world)
    assert close(world).status_code == 200
    officer = _page(world, "officer")
    assert "overdue for destruction attestations" not in officer.get("/web/governance/queue").text
    # The page reads the clock; move the project's closing back instead of the clock.
    with session_scope(world.factory) as session:
        project = session.get(Project, world.projects["a"])
        assert project is not None
        assert project.closing_at is not None
        project.closing_at -= timedelta(days=settings.closeout_attestation_days + 3)
    home = officer.get("/web/governance/queue").text
    assert "overdue for destruction attestations" in home
    assert "overdue by 3 days" in home
    with session_scope(world.factory) as session:
        sweep(
            session,
            system_trail(),
            utcnow(),
            days=settings.closeout_attestation_days,
            copies_folder=settings.release_copies_path,
        )
    assert len(events(world, "project.attestation_overdue")) == 1
