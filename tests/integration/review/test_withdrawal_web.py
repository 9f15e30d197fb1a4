"""The withdraw forms on the pages, in process, on both dialects: offered only to whoever
may withdraw, errors shown on the page with what was typed, the version then shown as
withdrawn with its reason, and refusals audited."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from fivesafes.audit.models import AuditEvent
from fivesafes.datasets.models import DatasetVersion, VersionState
from fivesafes.db import session_scope
from fivesafes.identity.models import Role
from tests.factories.people import person
from tests.integration.review.conftest import REVIEWED, UNREVIEWED, World

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REASON = "Wrong extract: March instead of April."


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


def _csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    token = CSRF.search(page.text)
    assert token
    return token.group(1)


def _state(world: World, dataset: str, number: int = 1) -> VersionState:
    with world.factory() as session:
        query = select(DatasetVersion.state).where(
            DatasetVersion.dataset.has(name=dataset), DatasetVersion.number == number
        )
        return session.scalars(query).one()


def _outcomes(world: World, action: str) -> list[str]:
    with world.factory() as session:
        query = select(AuditEvent.outcome).where(AuditEvent.action == action)
        return list(session.scalars(query.order_by(AuditEvent.seq)))


def test_the_uploader_withdraws_from_the_upload_page(world: World) -> None:
    upload = world.ingest(UNREVIEWED)
    page_path = f"/web/uploads/{upload.id}"
    client = _log_in(world, "uploader")
    page = client.get(page_path)
    assert 'id="withdraw"' in page.text
    assert f'action="/web/uploads/{upload.id}/withdraw"' in page.text
    token = _csrf(client, page_path)

    blank = client.post(f"{page_path}/withdraw", data={"csrf_token": token, "reason": " <b "})
    assert blank.status_code == 422
    assert "a reason of 3 to 5000 characters is required" in blank.text
    assert "> &lt;b </textarea>" in blank.text  # what was typed comes back, escaped
    assert _state(world, UNREVIEWED) == VersionState.AVAILABLE
    assert _outcomes(world, "web.upload_withdraw") == ["failed"]

    done = client.post(
        f"{page_path}/withdraw",
        data={"csrf_token": token, "reason": REASON},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{page_path}?notice=version_withdrawn"
    shown = client.get(done.headers["location"])
    assert "The dataset version was withdrawn" in shown.text
    assert f'<span id="withdrawal-reason">{REASON}</span>' in shown.text
    assert 'id="withdraw"' not in shown.text
    assert _state(world, UNREVIEWED) == VersionState.WITHDRAWN
    assert _outcomes(world, "dataset_version.withdraw") == ["success"]


def test_no_form_once_released_and_a_post_is_refused(world: World) -> None:
    upload = world.ingest(UNREVIEWED)
    auth = world.people["researcher"].auth
    released = world.client.get(f"/grants/{world.grant(UNREVIEWED)}/data", headers=auth)
    assert released.status_code == 200
    client = _log_in(world, "uploader")
    page_path = f"/web/uploads/{upload.id}"
    assert 'id="withdraw"' not in client.get(page_path).text
    token = _csrf(client, page_path)
    refused = client.post(f"{page_path}/withdraw", data={"csrf_token": token, "reason": REASON})
    assert refused.status_code == 403
    assert "only governance may withdraw it now" in refused.text
    assert _state(world, UNREVIEWED) == VersionState.AVAILABLE
    assert _outcomes(world, "web.upload_withdraw") == ["denied"]


def test_another_uploader_is_told_the_upload_does_not_exist(world: World) -> None:
    upload = world.ingest(UNREVIEWED)
    with session_scope(world.factory) as session:
        world.people["other"] = person(session, Role.UPLOADER, "up2")
    client = _log_in(world, "other")
    token = _csrf(client, "/web/upload")
    refused = client.post(
        f"/web/uploads/{upload.id}/withdraw", data={"csrf_token": token, "reason": REASON}
    )
    assert refused.status_code == 404
    assert _state(world, UNREVIEWED) == VersionState.AVAILABLE


def test_governance_withdraws_from_the_review_page(world: World) -> None:
    world.ingest(REVIEWED)
    client = _log_in(world, "officer1")
    review = f"/web/governance/versions/{REVIEWED}/1/review"
    page = client.get(review)
    assert f'action="/web/governance/versions/{REVIEWED}/1/withdraw"' in page.text
    token = _csrf(client, review)
    missing = client.post(
        f"/web/governance/versions/{REVIEWED}/1/withdraw", data={"csrf_token": token}
    )
    assert missing.status_code == 422
    assert "a reason of 3 to 5000 characters is required" in missing.text
    done = client.post(
        f"/web/governance/versions/{REVIEWED}/1/withdraw",
        data={"csrf_token": token, "reason": REASON},
    )
    assert done.status_code == 200  # followed back to the review page
    assert 'is <span class="tag tag--withdrawn">withdrawn</span>' in done.text
    assert REASON in done.text
    assert 'value="approve"' not in done.text  # nothing left to decide
    again = client.post(
        f"/web/governance/versions/{REVIEWED}/1/withdraw",
        data={"csrf_token": token, "reason": REASON},
    )
    assert again.status_code == 409
    assert "was already withdrawn" in again.text


def test_governance_lists_versions_and_withdraws_one_without_a_review(world: World) -> None:
    world.ingest(UNREVIEWED, seed=1)
    world.ingest(UNREVIEWED, seed=2)
    client = _log_in(world, "officer1")
    policies = client.get("/web/governance/policies")
    assert f'href="/web/governance/datasets/{UNREVIEWED}/versions"' in policies.text
    listed = client.get(f"/web/governance/datasets/{UNREVIEWED}/versions")
    assert listed.status_code == 200
    assert listed.text.count('<span class="tag tag--available">available</span>') >= 2
    page_path = f"/web/governance/datasets/{UNREVIEWED}/versions/2"
    page = client.get(page_path)
    assert f'action="{page_path}/withdraw"' in page.text
    assert "The governance review of this version" not in page.text  # none was asked for
    token = _csrf(client, page_path)
    blank = client.post(f"{page_path}/withdraw", data={"csrf_token": token, "reason": ""})
    assert blank.status_code == 422
    assert "a reason of 3 to 5000 characters is required" in blank.text
    done = client.post(
        f"{page_path}/withdraw",
        data={"csrf_token": token, "reason": REASON},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"{page_path}?notice=version_withdrawn"
    shown = client.get(done.headers["location"])
    assert f'<span id="withdrawal-reason">{REASON}</span>' in shown.text
    assert "may be purged from" in shown.text
    listed = client.get(f"/web/governance/datasets/{UNREVIEWED}/versions")
    assert '<span class="tag tag--withdrawn">withdrawn</span>' in listed.text
    assert REASON in listed.text
    assert _state(world, UNREVIEWED, 2) == VersionState.WITHDRAWN
    assert _state(world, UNREVIEWED, 1) == VersionState.AVAILABLE
    researcher = _log_in(world, "researcher")
    assert researcher.get(page_path).status_code == 403
