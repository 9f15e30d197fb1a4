"""The access API end to end, in process, on both dialects: projects, requests, reviews,
grants, revocation, expiry, explanations, and the audit trail of every step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.models import Grant
from fivesafes.audit.models import AuditEvent
from fivesafes.db import utcnow
from tests.integration.access.conftest import Person
from tests.integration.access.helpers import make_dataset, project_body


def _project(client: TestClient, officer: Person, lead: Person, *members: Person, **kw: Any) -> int:
    body = project_body(lead.user, [m.user for m in members], **kw).model_dump(mode="json")
    response = client.post("/projects", json=body, headers=officer.auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def _dataset(factory: sessionmaker[Session], sensitivity: str = "standard") -> str:
    with factory() as session:
        name = make_dataset(session, sensitivity).name
        session.commit()
    return name


def _request(client: TestClient, who: Person, project: int, dataset: str, **kw: Any) -> Any:
    body = {
        "dataset": dataset,
        "columns": ["nhs_number", "admission_date", "sex"],
        "row_filter": "admission_date between 2023-01-01 and 2023-12-31",
        "date_granularity": "month",
        "justification": "The study period of the approved protocol is 2023.",
        **kw,
    }
    return client.post(f"/projects/{project}/requests", json=body, headers=who.auth)


def _review(client: TestClient, who: Person, request_id: int, verb: str = "approve") -> Any:
    reason = {"reason": "Checked against the protocol."}
    return client.post(f"/requests/{request_id}/{verb}", json=reason, headers=who.auth)


def _actions(factory: sessionmaker[Session], outcome: str | None = None) -> list[str]:
    with factory() as session:
        query = select(AuditEvent.action).order_by(AuditEvent.seq)
        if outcome:
            query = query.where(AuditEvent.outcome == outcome)
        return list(session.scalars(query))


def test_standard_request_one_approval_issues_a_grant_and_every_step_is_audited(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    lead, officer = people["lead"], people["officer1"]
    project = _project(client, officer, lead, people["member"])
    dataset = _dataset(session_factory)
    created = _request(client, people["member"], project, dataset)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["state"] == "pending"
    assert body["approvals_required"] == 1
    assert body["row_filter"] == "admission_date between 2023-01-01 and 2023-12-31"

    own = client.post(
        f"/requests/{body['id']}/approve", json={"reason": "fine"}, headers=people["member"].auth
    )
    assert own.status_code == 403  # researchers do not review at all
    approved = client.post(
        f"/requests/{body['id']}/approve",
        json={"reason": "Protocol matches."},
        headers=officer.auth,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    grant_id = approved.json()["grant_id"]
    grant = client.get(f"/grants/{grant_id}", headers=people["member"].auth).json()
    assert grant["active"] is True
    assert grant["columns"] == ["nhs_number", "admission_date", "sex"]
    assert client.get(f"/grants/{grant_id}/check", headers=people["member"].auth).status_code == 200
    assert (
        client.get(f"/grants/{grant_id}/check", headers=people["outsider"].auth).status_code == 403
    )

    revoked = client.post(
        f"/grants/{grant_id}/revoke", json={"reason": "DSA suspended"}, headers=officer.auth
    )
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False
    refused = client.get(f"/grants/{grant_id}/check", headers=people["member"].auth)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "denied_grant_revoked"

    actions = _actions(session_factory, "success")
    for step in (
        "project.create",
        "request.create",
        "request.approve",
        "grant.issue",
        "grant.revoke",
    ):
        assert step in actions
    denied = _actions(session_factory, "denied")
    assert denied.count("grant.use") == 2
    assert "request.approve" in denied


def test_sensitive_data_needs_two_distinct_officers(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    project = _project(client, people["officer1"], people["lead"])
    dataset = _dataset(session_factory, "sensitive")
    request_id = _request(client, people["lead"], project, dataset).json()["id"]
    first = _review(client, people["officer1"], request_id, "approve")
    assert first.json()["state"] == "pending"
    assert (first.json()["approvals"], first.json()["approvals_required"]) == (1, 2)
    again = _review(client, people["officer1"], request_id, "approve")
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "denied_already_reviewed"
    second = _review(client, people["officer2"], request_id, "approve")
    assert second.json()["state"] == "approved"
    assert second.json()["grant_id"] is not None
    assert len(second.json()["reviews"]) == 2


def test_rejection_ends_a_request(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    project = _project(client, people["officer1"], people["lead"])
    request_id = _request(client, people["lead"], project, _dataset(session_factory)).json()["id"]
    rejected = client.post(
        f"/requests/{request_id}/reject",
        json={"reason": "Too many columns."},
        headers=people["officer1"].auth,
    )
    assert rejected.json()["state"] == "rejected"
    late = _review(client, people["officer2"], request_id, "approve")
    assert late.status_code == 403
    assert late.json()["error"]["code"] == "denied_request_not_pending"
    assert "request.reject" in _actions(session_factory, "success")


def test_bad_columns_and_filters_are_422_naming_the_problem(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    project = _project(client, people["officer1"], people["lead"])
    dataset = _dataset(session_factory)
    dropped = _request(client, people["lead"], project, dataset, columns=["patient_name"])
    assert dropped.status_code == 422
    assert dropped.json()["error"]["code"] == "unknown_column"
    assert "'patient_name'" in dropped.json()["error"]["message"]
    bad = _request(client, people["lead"], project, dataset, row_filter="sex = 'F' and los > 3")
    assert bad.status_code == 422
    assert bad.json()["error"] == {
        "code": "invalid_filter",
        "message": "row filter, position 15: unknown column 'los' (columns: admission_date, "
        "date_of_birth, diagnosis_code, length_of_stay, nhs_number, sex)",
    }
    typed = _request(client, people["lead"], project, dataset, row_filter="length_of_stay > '3'")
    assert "is integer" in typed.json()["error"]["message"]
    missing = _request(client, people["lead"], project, "no-such-dataset")
    assert missing.status_code == 404
    version = _request(client, people["lead"], project, dataset, version=7)
    assert version.json()["error"]["code"] == "version_not_found"


def test_proposed_project_needs_governance_approval(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    body = project_body(None, [people["member"].user]).model_dump(mode="json")
    proposed = client.post("/projects/proposals", json=body, headers=people["lead"].auth)
    assert proposed.status_code == 201, proposed.text
    project = proposed.json()
    assert project["state"] == "proposed"
    assert project["lead_id"] == str(people["lead"].user.id)
    dataset = _dataset(session_factory)
    early = _request(client, people["lead"], project["id"], dataset)
    assert early.status_code == 403
    assert early.json()["error"]["code"] == "denied_project_not_active"
    approve = client.post(
        f"/projects/{project['id']}/approve",
        json={"reason": "REC approved"},
        headers=people["officer1"].auth,
    )
    assert approve.json()["state"] == "active"
    assert _request(client, people["lead"], project["id"], dataset).status_code == 201
    assert {"project.propose", "project.approve"} <= set(_actions(session_factory, "success"))


def test_expired_grant_is_refused_and_expiry_is_audited_once(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    project = _project(client, people["officer1"], people["lead"])
    request_id = _request(client, people["lead"], project, _dataset(session_factory)).json()["id"]
    grant_id = _review(client, people["officer1"], request_id, "approve").json()["grant_id"]
    with session_factory() as session:
        grant = session.get(Grant, grant_id)
        assert grant is not None
        grant.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    for _ in range(2):
        refused = client.get(f"/grants/{grant_id}/check", headers=people["lead"].auth)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "denied_grant_expired"
    assert _actions(session_factory).count("grant.expired") == 1
    assert _actions(session_factory, "denied").count("grant.use") == 2


def test_grant_expiry_is_capped_by_project_end_policy_and_requested_end(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    today = utcnow().date()
    project = _project(client, people["officer1"], people["lead"], end=today + timedelta(days=10))
    dataset = _dataset(session_factory)
    first = _request(client, people["lead"], project, dataset).json()["id"]
    second = _request(
        client, people["lead"], project, dataset, requested_end=str(today + timedelta(days=3))
    ).json()["id"]
    expiries = []
    for request_id in (first, second):
        grant_id = client.post(
            f"/requests/{request_id}/approve",
            json={"reason": "approved"},
            headers=people["officer1"].auth,
        ).json()["grant_id"]
        expiries.append(
            client.get(f"/grants/{grant_id}", headers=people["lead"].auth).json()["expires_at"]
        )
    assert expiries[0].startswith(str(today + timedelta(days=11)) + "T00:00:00")
    assert expiries[1].startswith(str(today + timedelta(days=4)) + "T00:00:00")


def test_removing_a_member_stops_their_use_of_grants_at_once(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    project = _project(client, people["officer1"], people["lead"], people["member"])
    request_id = _request(client, people["member"], project, _dataset(session_factory)).json()["id"]
    grant_id = _review(client, people["officer1"], request_id, "approve").json()["grant_id"]
    assert client.get(f"/grants/{grant_id}/check", headers=people["member"].auth).status_code == 200
    removed = client.delete(
        f"/projects/{project}/members/{people['member'].username}", headers=people["officer1"].auth
    )
    assert removed.status_code == 200
    refused = client.get(f"/grants/{grant_id}/check", headers=people["member"].auth)
    assert refused.json()["error"]["code"] == "denied_not_member"
    assert client.get(f"/grants/{grant_id}/check", headers=people["lead"].auth).status_code == 200


def test_explain_says_which_rule_decided(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    project = _project(client, people["officer1"], people["lead"])
    request_id = _request(client, people["lead"], project, _dataset(session_factory)).json()["id"]
    grant_id = _review(client, people["officer1"], request_id, "approve").json()["grant_id"]

    def explain(**params: Any) -> Any:
        response = client.get("/access/explain", params=params, headers=people["officer2"].auth)
        assert response.status_code == 200, response.text
        return response.json()

    ok = explain(user=people["lead"].username, action="grant.use", grant=grant_id)
    assert (ok["allowed"], ok["rule"]) == (True, "roles.researcher.grant.use")
    no = explain(user=people["outsider"].username, action="grant.use", grant=grant_id)
    assert (no["allowed"], no["rule"]) == (False, "not_member")
    sod = explain(user=people["lead"].username, action="request.approve", request=request_id)
    assert (sod["allowed"], sod["rule"]) == (False, "not_permitted")
    officer = explain(user=people["officer1"].username, action="grant.revoke", grant=grant_id)
    assert officer["allowed"] is True
    assert (
        client.get(
            "/access/explain",
            params={"user": "x", "action": "grant.use"},
            headers=people["lead"].auth,
        ).status_code
        == 403
    )
    assert "access.explain" in _actions(session_factory, "success")


def test_lists_show_only_what_the_caller_may_see(
    client: TestClient, session_factory: sessionmaker[Session], people: dict[str, Person]
) -> None:
    mine = _project(client, people["officer1"], people["lead"])
    _project(client, people["officer1"], people["outsider"])
    seen = [p["id"] for p in client.get("/projects", headers=people["lead"].auth).json()]
    assert seen == [mine]
    assert len(client.get("/projects", headers=people["officer2"].auth).json()) == 2
    assert client.get("/projects", headers=people["admin"].auth).status_code == 403
    dataset = _dataset(session_factory)
    _request(client, people["lead"], mine, dataset)
    queue = client.get("/requests", params={"state": "pending"}, headers=people["officer2"].auth)
    assert [r["project_id"] for r in queue.json()] == [mine]
