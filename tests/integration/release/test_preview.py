"""Disclosure previews on both dialects: the numbers a real release of the same terms gets,
audited, no release made; suggestions; counts of few patients hidden; approval of a
request whose release would be refused needs an override reason."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select

from fivesafes.access.models import RequestReview
from fivesafes.audit.models import AuditEvent
from fivesafes.release.models import Release
from tests.factories.extracts import ADMISSION_OUTPUT, ADMISSIONS
from tests.factories.release_world import EXEMPT_DATASET, World

JUSTIFICATION = "Readmissions by district are the protocol's primary outcome."


def _draft(**overrides: Any) -> dict[str, Any]:
    return {
        "dataset": ADMISSIONS,
        "columns": ADMISSION_OUTPUT,
        "date_granularity": "day",
        "justification": JUSTIFICATION,
        **overrides,
    }


def _submit(world: World, who: str = "a", **overrides: Any) -> int:
    response = world.client.post(
        f"/projects/{world.projects[who]}/requests",
        json=_draft(**overrides),
        headers=world.people[who].auth,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _preview(world: World, request_id: int, who: str = "a") -> Any:
    return world.client.get(f"/requests/{request_id}/preview", headers=world.people[who].auth)


def _draft_preview(world: World, who: str = "a", **overrides: Any) -> Any:
    """A draft's preview on project a's request form, asked by ``who``."""
    return world.client.post(
        f"/projects/{world.projects['a']}/requests/preview",
        json=_draft(**overrides),
        headers=world.people[who].auth,
    )


def _releases(world: World) -> int:
    with world.factory() as session:
        return int(session.scalar(select(func.count()).select_from(Release)) or 0)


def _events(world: World, action: str) -> list[AuditEvent]:
    with world.factory() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        return list(session.scalars(query))


def _approve(world: World, request_id: int, **body: Any) -> Any:
    return world.client.post(
        f"/requests/{request_id}/approve",
        json={"reason": "Matches the protocol.", **body},
        headers=world.people["officer"].auth,
    )


def _manifest_gate(world: World, grant_id: int) -> dict[str, Any]:
    response = world.client.get(f"/grants/{grant_id}/data", headers=world.people["a"].auth)
    assert response.status_code == 200, response.text
    manifest = world.client.get(
        response.headers["X-Release-Manifest"], headers=world.people["a"].auth
    ).json()
    gate: dict[str, Any] = manifest["disclosure"]
    return gate


def test_preview_gives_the_numbers_of_the_release_audited_and_releases_nothing(
    world: World,
) -> None:
    request_id = _submit(world)
    shown = _preview(world, request_id)
    assert shown.status_code == 200, shown.text
    preview = shown.json()
    # 60 patients x 2 rows; patient 0 alone in district ZE1 (k=5): 2 rows suppressed.
    assert (preview["rows_in_scope"], preview["rows_suppressed"]) == (120, 2)
    assert preview["refused"] is False
    assert preview["refusal"] is None
    assert preview["version"] == 1
    assert preview["version_requested"] == "latest"
    assert [d["quasi_identifier"] for d in preview["drivers"]] == ["postcode"]
    assert preview["most_rows_suppressed"] is False
    assert preview["suggestion"] is None
    # Governance sees the same preview; previews are no releases.
    assert _preview(world, request_id, "officer").json()["rows_suppressed"] == 2
    assert _releases(world) == 0
    events = _events(world, "release.preview")
    assert [(e.target_type, e.target_id) for e in events] == [("request", str(request_id))] * 2
    assert json.loads(events[0].details)["rows_suppressed"] == 2
    assert "ZE1" not in events[0].details  # counts only, never a value

    approved = _approve(world, request_id)
    assert approved.status_code == 200, approved.text
    gate = _manifest_gate(world, approved.json()["grant_id"])
    for key in ("rows_in_scope", "patients_in_scope", "rows_suppressed", "k_achieved"):
        assert preview[key] == gate[key], key
    assert preview["classes_suppressed"] == gate["classes_suppressed"]
    assert preview["quasi_identifiers"] == gate["quasi_identifiers"]
    assert preview["drivers"] == gate["suppression_drivers"]
    assert _releases(world) == 1


def test_a_draft_preview_suggests_coarser_dates_and_its_numbers_hold(world: World) -> None:
    project = world.projects["a"]
    response = _draft_preview(world, date_granularity="month")
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["request_id"] is None
    # By month the shifted admission date is counted: nearly every class is too small.
    assert "admission_date" in preview["quasi_identifiers"]
    assert preview["most_rows_suppressed"] is True
    by_year = [
        a for a in preview["alternatives"] if a["change"] == "dates by year instead of by month"
    ]
    assert len(by_year) == 1
    assert by_year[0]["rows_suppressed"] < preview["rows_suppressed"]
    assert "Suggested:" in preview["suggestion"]
    assert "without admission_date" in preview["suggestion"] or "by year" in preview["suggestion"]
    events = _events(world, "release.preview")
    assert [(e.target_type, e.target_id) for e in events] == [("project", str(project))]
    assert json.loads(events[0].details)["draft"] is True
    assert _releases(world) == 0

    # The suggestion's numbers are the numbers of that release.
    grant = world.grant("a", date_granularity="year")
    gate = _manifest_gate(world, grant)
    assert gate["rows_suppressed"] == by_year[0]["rows_suppressed"]
    without = {a["without"]: a for a in preview["alternatives"] if a["date_granularity"] == "month"}
    grant = world.grant(
        "a",
        date_granularity="month",
        columns=[c for c in ADMISSION_OUTPUT if c != "admission_date"],
    )
    assert (
        _manifest_gate(world, grant)["rows_suppressed"]
        == (without["admission_date"]["rows_suppressed"])
    )


def test_a_draft_is_checked_as_its_submission_would_be(world: World) -> None:
    response = _draft_preview(world, columns=["nhs_number", "patient_name"])
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_column"
    assert "patient_name" in response.json()["error"]["message"]
    assert _events(world, "release.preview") == []


def test_counts_of_fewer_patients_than_the_threshold_are_not_shown(world: World) -> None:
    response = _draft_preview(world, row_filter="postcode = 'ZE1'")
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["refused"] is True
    assert preview["refusal_code"] == "few_patients"
    assert preview["counts_hidden"] is True
    assert preview["rows_in_scope"] is None
    assert preview["patients_in_scope"] is None
    assert "fewer patients than the small-number threshold of 10" in preview["refusal"]
    assert "widen the row filter" in preview["suggestion"]
    assert json.loads(_events(world, "release.preview")[0].details)["rows_in_scope"] is None


def test_an_outsider_may_not_preview_a_project_request(world: World) -> None:
    request_id = _submit(world)
    assert _preview(world, request_id, "outsider").status_code == 403
    assert _preview(world, request_id, "b").status_code == 403
    response = _draft_preview(world, who="b")
    assert response.status_code == 403
    assert _events(world, "release.preview") == []


def test_approving_a_refused_release_needs_an_override_reason(world: World) -> None:
    world.use_policy(small_classes="refuse")
    request_id = _submit(world)
    preview = _preview(world, request_id).json()
    assert preview["refused"] is True
    assert preview["refusal_code"] == "small_classes"
    assert "Driven by: postcode" in preview["refusal"]
    assert any(a["without"] == "postcode" and not a["refused"] for a in preview["alternatives"])

    refused = _approve(world, request_id)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "override_reason_required"
    assert "override_reason" in refused.json()["error"]["message"]
    blank = _approve(world, request_id, override_reason="  ")
    assert blank.status_code == 422
    with world.factory() as session:
        assert session.scalar(select(func.count()).select_from(RequestReview)) == 0

    reason = "The single ZE1 patient is suppressed at download; the rest is needed."
    approved = _approve(world, request_id, override_reason=reason)
    assert approved.status_code == 200, approved.text
    review = approved.json()["reviews"][0]
    assert review["override_reason"] == reason
    event = _events(world, "request.approve")[-1]
    assert json.loads(event.details)["disclosure_refused"] is True
    # The reason stays on the review; the event holds its digest.
    digest = hashlib.sha256(reason.encode()).hexdigest()
    assert json.loads(event.details)["override_reason_sha256"] == digest
    assert reason not in event.details
    # The gate still applies at the download: refused, as the preview said.
    download = world.client.get(
        f"/grants/{approved.json()['grant_id']}/data", headers=world.people["a"].auth
    )
    assert download.status_code == 409
    assert download.json()["error"]["code"] == "disclosure_refused"


def test_an_override_reason_is_not_recorded_when_nothing_is_overridden(world: World) -> None:
    request_id = _submit(world)
    approved = _approve(world, request_id, override_reason="Not needed here.")
    assert approved.status_code == 200, approved.text
    assert approved.json()["reviews"][0]["override_reason"] is None
    event = _events(world, "request.approve")[-1]
    assert json.loads(event.details)["disclosure_refused"] is False
    assert "Not needed here." not in event.details


def test_rejecting_takes_no_preview(world: World) -> None:
    request_id = _submit(world)
    response = world.client.post(
        f"/requests/{request_id}/reject",
        json={"reason": "Outside the protocol."},
        headers=world.people["officer"].auth,
    )
    assert response.status_code == 200, response.text
    assert _events(world, "release.preview") == []


def test_more_rows_than_a_release_may_hold_is_a_refusal_to_override(world: World) -> None:
    app: Any = world.client.app
    app.state.settings = app.state.settings.model_copy(update={"release_max_rows": 100})
    request_id = _submit(world)
    shown = _preview(world, request_id)
    assert shown.status_code == 409
    assert shown.json()["error"]["code"] == "release_too_large"
    assert "request " + str(request_id) + " selects more than 100 rows" in shown.text
    refused = _approve(world, request_id)
    assert refused.status_code == 422
    assert "more than 100 rows" in refused.json()["error"]["message"]
    assert _approve(world, request_id, override_reason="Split by year later.").status_code == 200


def test_with_no_version_yet_there_is_nothing_to_preview_or_override(world: World) -> None:
    # The exempt twin has its policy loaded but no version ingested.
    request_id = _submit(world, dataset=EXEMPT_DATASET)
    shown = _preview(world, request_id)
    assert shown.status_code == 404
    approved = _approve(world, request_id)
    assert approved.status_code == 200, approved.text
    assert "disclosure_refused" not in _events(world, "request.approve")[-1].details
