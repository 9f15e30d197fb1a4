"""The disclosure preview in the pages, in process, on both dialects: the request form's
Preview button and version choice, the warning when a refused request is sent, the
governance card's preview and the override reason an approval then needs."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from fivesafes.access.models import AccessRequest, RequestReview
from fivesafes.audit.models import AuditEvent
from tests.factories.extracts import ADMISSIONS
from tests.factories.release_world import World
from tests.factories.web import csrf_token, logged_in

JUSTIFICATION = "Readmissions by district are the protocol's primary outcome."


def _log_in(world: World, who: str) -> TestClient:
    return logged_in(world.client.app, world.people[who].token)


def _form_path(world: World) -> str:
    return f"/web/research/projects/{world.projects['a']}/request"


def _post_form(world: World, client: TestClient, intent: str, **fields: Any) -> Any:
    path = _form_path(world)
    data: dict[str, Any] = {
        "csrf_token": csrf_token(client, f"{path}?dataset={ADMISSIONS}"),
        "dataset": ADMISSIONS,
        "columns": ["nhs_number", "date_of_birth", "postcode", "admission_date", "sex"],
        "date_granularity": "day",
        "version": "latest",
        "justification": JUSTIFICATION,
        "intent": intent,
        **fields,
    }
    return client.post(path, data=data, follow_redirects=False)


def _requests(world: World) -> list[AccessRequest]:
    with world.factory() as session:
        return list(session.scalars(select(AccessRequest).order_by(AccessRequest.id)))


def test_the_form_previews_without_sending_and_offers_the_versions(world: World) -> None:
    researcher = _log_in(world, "a")
    form = researcher.get(f"{_form_path(world)}?dataset={ADMISSIONS}")
    assert '<option value="latest" selected>latest (now version 1)</option>' in form.text
    assert '<option value="1">version 1 only</option>' in form.text
    shown = _post_form(world, researcher, "preview", version="1")
    assert shown.status_code == 200, shown.text
    assert "Disclosure preview" in shown.text
    assert re.search(r'id="draft-rows">120 \(60 patients\)', shown.text)
    assert 'id="draft-suppressed">2 ' in shown.text
    assert 'id="draft-drivers">postcode' in shown.text
    assert '<option value="1" selected>version 1 only</option>' in shown.text
    assert _requests(world) == []  # a preview sends nothing


def test_most_rows_suppressed_comes_with_a_suggestion(world: World) -> None:
    researcher = _log_in(world, "a")
    shown = _post_form(world, researcher, "preview", date_granularity="month")
    assert shown.status_code == 200, shown.text
    # By month nearly every class is too small: most rows go, or so many that too few
    # would be left and the release is refused (the date shift keys decide which).
    assert ("Most rows would be suppressed" in shown.text) != (
        "A release of these terms would be refused" in shown.text
    )
    assert 'id="draft-suggestion"' in shown.text
    assert "dates by year instead of by month" in shown.text


def test_a_bad_version_is_named_on_the_page(world: World) -> None:
    researcher = _log_in(world, "a")
    shown = _post_form(world, researcher, "preview", version="seven")
    assert shown.status_code == 422
    assert "Version: choose latest or one of the versions listed" in shown.text
    missing = _post_form(world, researcher, "preview", version="9")
    assert missing.status_code == 404
    assert "No disclosure preview:" in missing.text


def test_sending_a_refused_request_warns_and_governance_must_override(world: World) -> None:
    world.use_policy(small_classes="refuse")
    researcher = _log_in(world, "a")
    preview = _post_form(world, researcher, "preview")
    assert "A release of these terms would be refused" in preview.text
    sent = _post_form(world, researcher, "send")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/web/research?notice=request_sent_refused"
    (request,) = _requests(world)
    assert request.dataset_version is None

    officer = _log_in(world, "officer")
    queue = officer.get("/web/governance/queue")
    assert queue.status_code == 200, queue.text
    assert f'id="req-{request.id}-preview-refused"' in queue.text
    assert f'id="override-{request.id}"' in queue.text
    csrf = csrf_token(officer, "/web/governance/queue")
    review = f"/web/governance/requests/{request.id}/review"
    decision = {"csrf_token": csrf, "decision": "approve", "reason": "Matches the protocol."}
    refused = officer.post(review, data=decision, follow_redirects=False)
    assert refused.status_code == 422
    assert "override_reason is required" in refused.text
    approved = officer.post(
        review,
        data={**decision, "override_reason": "Suppression at download is accepted."},
        follow_redirects=False,
    )
    assert approved.status_code == 303, approved.text
    with world.factory() as session:
        (row,) = session.scalars(select(RequestReview)).all()
        assert row.override_reason == "Suppression at download is accepted."


def test_a_card_without_refusal_asks_for_no_override(world: World) -> None:
    researcher = _log_in(world, "a")
    assert _post_form(world, researcher, "send").headers["location"].endswith("=request_sent")
    (request,) = _requests(world)
    queue = _log_in(world, "officer").get("/web/governance/queue")
    assert f'id="req-{request.id}-preview-suppressed">2 ' in queue.text
    assert f'id="override-{request.id}"' not in queue.text
    # Sending took one preview (for its warning), showing the card another: both audited.
    with world.factory() as session:
        previews = session.scalars(
            select(AuditEvent.target_id).where(AuditEvent.action == "release.preview")
        ).all()
    assert previews == [str(request.id)] * 2
