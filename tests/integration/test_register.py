"""The register of data held (SATRE 3.1.08), on real SQLite and PostgreSQL databases.

Built on the release world (an ingested admissions dataset, an exempt twin never
ingested, two projects): grants live, expired, revoked and on an ended or inactive
project, on a fixed version and on "the latest"; read as JSON, CSV and the web page.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.models import Grant, Project, ProjectState
from fivesafes.access.register_csv import CSV_COLUMNS
from fivesafes.audit.models import AuditEvent
from fivesafes.config import Settings
from fivesafes.datasets.models import DatasetVersion, OptOutList, Upload, VersionState
from fivesafes.db import session_scope, utcnow
from fivesafes.identity.models import Role
from fivesafes.ingestion.optouts import load_optouts
from fivesafes.web.rendering import NAV
from tests.factories.extracts import ADMISSIONS, admission_rows
from tests.factories.people import person
from tests.factories.release_world import EXEMPT_DATASET, World, build
from tests.factories.web import logged_in
from tests.integration.access.helpers import TRAIL, make_project


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    return build(settings, session_factory, tmp_path)


def _register(world: World, **params: Any) -> dict[str, Any]:
    response = world.client.get("/register", params=params, headers=world.people["officer"].auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _dataset(body: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [d for d in body["datasets"] if d["name"] == name]
    return found


def _grants_on(body: dict[str, Any], number: int) -> set[int]:
    [version] = [v for v in _dataset(body, ADMISSIONS)["versions"] if v["number"] == number]
    return {g["grant_id"] for g in version["grants"]}


def _third_project(world: World) -> int:
    with session_scope(world.factory) as session:
        officer = session.merge(world.people["officer"].user)
        lead = session.merge(world.people["outsider"].user)
        return make_project(session, world.policy, officer, lead, now=utcnow()).id


def test_register_lists_versions_uploads_and_only_live_grants(world: World) -> None:
    world.projects["c"] = _third_project(world)
    fixed = world.grant("a", version=1)
    latest = world.grant("b", requester="b")
    expired = world.grant("a", version=1)
    revoked = world.grant("b", requester="b", version=1)
    ended = world.grant("c", requester="outsider", version=1)
    inactive = world.grant("c", requester="outsider")
    with session_scope(world.factory) as session:
        past = utcnow() - timedelta(minutes=1)
        session.execute(update(Grant).where(Grant.id == expired).values(expires_at=past))
        session.execute(update(Grant).where(Grant.id == revoked).values(revoked_at=past))
        # An ended project stops its grants (today is after its end date) ...
        c = session.get(Project, world.projects["c"])
        assert c is not None
        c.end_date = date.today() - timedelta(days=1)
    body = _register(world)
    assert _grants_on(body, 1) == {fixed, latest}
    with session_scope(world.factory) as session:
        c = session.get(Project, world.projects["c"])
        assert c is not None
        c.end_date = date.today() + timedelta(days=30)
        c.state = ProjectState.REJECTED  # ... and so does one that is not active
    assert _grants_on(_register(world), 1) == {fixed, latest}
    with session_scope(world.factory) as session:
        c = session.get(Project, world.projects["c"])
        assert c is not None
        c.state = ProjectState.ACTIVE
    assert _grants_on(_register(world), 1) == {fixed, latest, ended, inactive}

    [v1] = _dataset(body, ADMISSIONS)["versions"]
    with world.factory() as session:
        upload = session.scalar(select(Upload).where(Upload.dataset_version_id.is_not(None)))
        assert upload is not None
    assert v1["upload_id"] == str(upload.id)
    assert v1["source_sha256"] == upload.source_sha256
    assert v1["rows"] == 120
    assert v1["state"] == "available"
    assert v1["policy_version"] == 1
    assert len(v1["policy_sha256"]) == 64
    assert v1["sensitivity"] == "standard"
    assert v1["opt_out"]["applied"] is False
    assert v1["opt_out"]["note"].startswith("no opt-out list was applied")
    by_id = {g["grant_id"]: g for g in v1["grants"]}
    assert by_id[latest]["on_latest"] is True
    assert by_id[fixed]["on_latest"] is False
    assert by_id[fixed]["project_id"] == world.projects["a"]
    assert by_id[fixed]["project_end_date"]
    assert by_id[fixed]["grant_expires_at"]
    assert "filename" not in json.dumps(v1)  # a file name may itself identify someone
    # A dataset with no version still appears.
    assert _dataset(body, EXEMPT_DATASET)["versions"] == []


def test_latest_follows_the_newest_available_version_and_the_opt_out_list(world: World) -> None:
    fixed = world.grant("a", version=1)
    latest = world.grant("b", requester="b")
    rows = admission_rows(seed=9)
    listing = world.tmp / "optouts.txt"
    listing.write_text(rows[0]["nhs_number"] + "\n")
    with session_scope(world.factory) as session:
        list_id = load_optouts(session, TRAIL, listing, world.keystore).list_id
        session.execute(
            update(OptOutList)
            .where(OptOutList.id == list_id)
            .values(loaded_at=utcnow() - timedelta(days=10, hours=1))
        )
    world.ingest(rows)
    body = _register(world)
    assert _grants_on(body, 1) == {fixed}
    assert _grants_on(body, 2) == {latest}
    [v2] = [v for v in _dataset(body, ADMISSIONS)["versions"] if v["number"] == 2]
    opt_out = v2["opt_out"]
    assert opt_out["applied"] is True
    assert opt_out["list_id"] == list_id
    assert opt_out["list_age_days"] == 10
    assert opt_out["rows_excluded"] == 2  # the patient's two admissions
    assert opt_out["note"] == f"list {list_id}, 10 days old: 2 rows excluded"
    assert v2["rows"] == 118


def test_latest_grant_without_an_available_version_is_listed_on_the_dataset(
    world: World,
) -> None:
    latest = world.grant("a")
    with session_scope(world.factory) as session:
        # Withdrawn (a fixture shortcut: the withdrawal itself is tested in release/).
        session.execute(update(DatasetVersion).values(state=VersionState.WITHDRAWN))
    dataset = _dataset(_register(world), ADMISSIONS)
    assert dataset["versions"][0]["grants"] == []
    assert [g["grant_id"] for g in dataset["latest_without_version"]] == [latest]


def test_filters_by_dataset_and_project(world: World) -> None:
    a = world.grant("a", version=1)
    world.grant("b", requester="b")
    only_a = _register(world, project=world.projects["a"])
    assert [d["name"] for d in only_a["datasets"]] == [ADMISSIONS]
    assert _grants_on(only_a, 1) == {a}
    assert only_a["project_id"] == world.projects["a"]
    only_exempt = _register(world, dataset=EXEMPT_DATASET)
    assert [d["name"] for d in only_exempt["datasets"]] == [EXEMPT_DATASET]
    officer = world.people["officer"].auth
    unknown = world.client.get("/register", params={"dataset": "nope"}, headers=officer)
    assert unknown.status_code == 404
    assert "'nope'" in unknown.json()["error"]["message"]
    missing = world.client.get("/register", params={"project": 999999}, headers=officer)
    assert missing.status_code == 404
    assert "project 999999" in missing.json()["error"]["message"]
    for bad in ("x", "0", "-3"):
        refused = world.client.get("/register", params={"project": bad}, headers=officer)
        assert refused.status_code == 422, bad
        assert "project" in refused.text


def test_csv_export_has_a_row_per_version_and_grant(world: World) -> None:
    a = world.grant("a", version=1)
    b = world.grant("b", requester="b")
    response = world.client.get(
        "/register", params={"format": "csv"}, headers=world.people["officer"].auth
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == list(CSV_COLUMNS)
    assert {len(r) for r in rows} == {len(CSV_COLUMNS)}
    records = [dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]]
    admissions = [r for r in records if r["dataset"] == ADMISSIONS]
    assert {int(r["grant_id"]) for r in admissions} == {a, b}
    assert {r["version"] for r in admissions} == {"1"}
    [exempt] = [r for r in records if r["dataset"] == EXEMPT_DATASET]
    assert exempt["version"] == ""
    assert exempt["grant_id"] == ""
    # A free-text cell a spreadsheet would run as a formula is written as text.
    with session_scope(world.factory) as session:
        project = session.get(Project, world.projects["a"])
        assert project is not None
        project.title = '=HYPERLINK("http://x")'
    again = world.client.get(
        "/register", params={"format": "csv"}, headers=world.people["officer"].auth
    )
    titles = {r[CSV_COLUMNS.index("project_title")] for r in csv.reader(io.StringIO(again.text))}
    assert '\'=HYPERLINK("http://x")' in titles
    # A version without grants is one row with empty grant cells.
    filtered = world.client.get(
        "/register",
        params={"format": "csv", "project": world.projects["a"]},
        headers=world.people["officer"].auth,
    )
    assert len(list(csv.reader(io.StringIO(filtered.text)))) == 2


def test_only_governance_reads_the_register_and_each_view_is_audited(world: World) -> None:
    with session_scope(world.factory) as session:
        uploader = person(session, Role.UPLOADER, "up")
    for who in (world.people["a"].auth, uploader.auth):
        refused = world.client.get("/register", headers=who)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "denied_not_permitted"
    _register(world, dataset=ADMISSIONS, project=world.projects["a"])
    world.client.get("/register", params={"format": "csv"}, headers=world.people["officer"].auth)
    with world.factory() as session:
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "register.view")
                .order_by(AuditEvent.seq)
            )
        )
    denied = [e for e in events if e.outcome == "denied"]
    viewed = [json.loads(e.details) for e in events if e.outcome == "success"]
    assert len(denied) == 2
    assert [(d["dataset"], d["project_id"], d["format"]) for d in viewed] == [
        (ADMISSIONS, world.projects["a"], "json"),
        (None, None, "csv"),
    ]
    assert all(e.actor_id == str(world.people["officer"].user.id) for e in events[2:])


def test_the_governance_page_shows_the_register_with_its_filters(world: World) -> None:
    assert ("/web/governance/register", "Register of data held") in NAV[Role.GOVERNANCE]
    grant = world.grant("a", version=1)
    browser = logged_in(world.client.app, world.people["officer"].token)
    page = browser.get("/web/governance/register", params={"project": world.projects["a"]})
    assert page.status_code == 200, page.text
    assert f"grant #{grant}" in page.text
    assert f"/register?format=csv&amp;project={world.projects['a']}" in page.text
    everything = browser.get("/web/governance/register", params={"dataset": "", "project": ""})
    assert everything.status_code == 200
    assert EXEMPT_DATASET in everything.text
    bad = browser.get("/web/governance/register", params={"project": "x"})
    assert bad.status_code == 422
    assert "project must be a project number" in bad.text
    researcher = logged_in(world.client.app, world.people["a"].token)
    assert researcher.get("/web/governance/register").status_code == 403
