"""The governance review pages, in process, on both dialects: the queue lists versions
waiting, the sample page escapes cell text and highlights tags, the form needs its CSRF
token and the view's secret, the uploader's pages say the version waits."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from fivesafes.audit.models import AuditEvent
from fivesafes.datasets.models import DatasetVersion
from tests.integration.review.conftest import ALL_CELLS, REVIEWED, World

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SAMPLE_VIEW = re.compile(r'name="sample_view" value="([^"]+)"')
PAGE = "/web/governance/versions/{}/1/review"
DECISION = "/web/governance/versions/{}/1/decision"


def _log_in(world: World, who: str) -> TestClient:
    client = TestClient(world.client.app, base_url="https://testserver")
    page = client.get("/web/login")
    token = CSRF.search(page.text)
    assert token
    response = client.post(
        "/web/login/token",
        data={"csrf_token": token.group(1), "token": world.people[who].token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def _form(client: TestClient, dataset: str = REVIEWED) -> tuple[Any, str, str]:
    page = client.get(PAGE.format(dataset))
    assert page.status_code == 200, page.text
    csrf, view = CSRF.search(page.text), SAMPLE_VIEW.search(page.text)
    assert csrf
    assert view
    return page, csrf.group(1), view.group(1)


def _state(world: World, dataset: str) -> str:
    with world.factory() as session:
        return session.scalars(
            select(DatasetVersion.state).where(DatasetVersion.dataset.has(name=dataset))
        ).one()


def test_queue_lists_versions_waiting_and_uploader_sees_it_waits(world: World) -> None:
    upload = world.ingest(REVIEWED)
    officer = _log_in(world, "officer1")
    queue = officer.get("/web/governance/queue")
    assert "Dataset versions waiting for review" in queue.text
    assert f'href="{PAGE.format(REVIEWED)}"' in queue.text
    uploader = _log_in(world, "uploader")
    assert "awaiting governance review" in uploader.get(f"/web/uploads/{upload.id}").text
    assert "awaiting governance review" in uploader.get("/web/upload").text


def test_sample_page_escapes_text_and_highlights_tags(world: World) -> None:
    world.ingest(ALL_CELLS)
    page, _, _ = _form(_log_in(world, "officer1"), ALL_CELLS)
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(" in page.text
    assert re.search(
        r'<mark class="review-tag review-tag--[a-z_]+">\[[A-Z][A-Z_]*\]</mark>', page.text
    )
    assert "John Smith" not in page.text
    with world.factory() as session:
        views = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "dataset_version.review_view")
        ).all()
    assert len(views) == 1


def test_approve_needs_csrf_and_the_views_secret(world: World) -> None:
    world.ingest(REVIEWED)
    officer = _log_in(world, "officer1")
    _, csrf, view = _form(officer)
    body = {"decision": "approve", "reason": "Sample read, all tagged.", "sample_view": view}
    no_csrf = officer.post(DECISION.format(REVIEWED), data=body, follow_redirects=False)
    assert no_csrf.status_code == 403
    no_view = officer.post(
        DECISION.format(REVIEWED),
        data={**body, "csrf_token": csrf, "sample_view": ""},
        follow_redirects=False,
    )
    assert no_view.status_code == 403
    assert "review_sample_not_viewed" in no_view.text
    assert _state(world, REVIEWED) == "pending_review"
    done = officer.post(
        DECISION.format(REVIEWED), data={**body, "csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/web/governance/queue?notice=version_approved"
    assert _state(world, REVIEWED) == "available"
    with world.factory() as session:
        denied = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "web.governance.version_decision",
                AuditEvent.outcome == "denied",
            )
        ).all()
    assert len(denied) == 2  # the CSRF refusal and the approval without a view


def test_reject_from_the_page_and_researcher_is_refused(world: World) -> None:
    world.ingest(REVIEWED)
    researcher = _log_in(world, "researcher")
    assert researcher.get(PAGE.format(REVIEWED)).status_code == 403
    officer = _log_in(world, "officer2")
    _, csrf, _ = _form(officer)
    done = officer.post(
        DECISION.format(REVIEWED),
        data={"decision": "reject", "reason": "Cell 3 keeps a name.", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _state(world, REVIEWED) == "rejected"
    assert "will never be released" in officer.get(done.headers["location"]).text
