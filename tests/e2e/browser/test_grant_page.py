"""The researcher's grant page in a real browser: what each column is, a download, the
last release and its manifest; a refused download shows its reason on a page, and a
revoked grant its revocation's reason. Also the README's way of reading a refusal's reason
from a 409 the way pandas fetches a URL (urllib).

This file runs its own server over its own world (an admissions extract, one project,
three grants), so it depends on no other browser test's order or leftovers.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from fivesafes import schema
from fivesafes.access import grants as access_grants
from fivesafes.access import service as access
from fivesafes.access.schemas import RequestIn
from fivesafes.audit.trail import AuditTrail
from fivesafes.db import make_engine, make_session_factory, session_scope, utcnow
from fivesafes.identity import passwords
from fivesafes.identity import service as identity
from fivesafes.identity.models import Role
from fivesafes.keys.local import LocalFileKeyStore
from tests.e2e.browser.conftest import PASSWORD, log_in, shot
from tests.e2e.server import environment, server_process
from tests.factories import ingest
from tests.factories.access import approved_grant
from tests.factories.datasets import load_policies
from tests.factories.extracts import ADMISSION_OUTPUT, ADMISSIONS, ADMISSIONS_POLICY, admission_rows
from tests.integration.access.helpers import project_body, shipped_policy

TRAIL = AuditTrail.for_operator()
REVOKE_REASON = "The data sharing agreement is suspended pending its annual review."


@dataclass(frozen=True)
class GrantWorld:
    base: str
    token: str  # the researcher's API token
    released: int  # a grant whose download goes through (2 rows suppressed)
    refused: int  # a grant the disclosure gate refuses (one patient selected)
    revoked: int


def _build(workdir: Path) -> tuple[str, int, int, int]:
    url = f"sqlite:///{workdir / 'grants.db'}"
    schema.upgrade(url)
    keystore = LocalFileKeyStore(workdir / "keys")
    keystore.init()
    engine = make_engine(url)
    factory = make_session_factory(engine)
    policy = shipped_policy()
    try:
        with session_scope(factory) as session:
            load_policies(session, workdir, {ADMISSIONS: ADMISSIONS_POLICY})
        with ingest.ingestor(factory, keystore) as ingestor:
            ingest.Extracts(ingestor, workdir).ingested(ADMISSIONS, admission_rows())
        now = utcnow()
        with session_scope(factory) as session:
            officer = identity.create_user(session, TRAIL, "gwen", Role.GOVERNANCE)
            rae = identity.create_user(session, TRAIL, "rae", Role.RESEARCHER)
            passwords.set_password(session, TRAIL, rae, PASSWORD)
            token = identity.issue_token(session, TRAIL, rae, "t", timedelta(days=1)).secret
            project = access.create_project(
                session, TRAIL, policy, officer, body=project_body(rae), now=now
            )

            def grant(**terms: object) -> int:
                body = RequestIn.model_validate(
                    {
                        "dataset": ADMISSIONS,
                        "columns": ADMISSION_OUTPUT,
                        "justification": "The study needs these admissions.",
                        **terms,
                    }
                )
                return approved_grant(session, policy, rae, officer, project.id, body, now)

            released = grant()
            refused = grant(row_filter="postcode = 'ZE1'")
            revoked = grant(version=1, date_granularity="month")
            access_grants.revoke_grant(
                session, TRAIL, policy, officer, grant_id=revoked, reason=REVOKE_REASON, now=now
            )
        return token, released, refused, revoked
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GrantWorld]:
    workdir = tmp_path_factory.mktemp("grant-page")
    token, released, refused, revoked = _build(workdir)
    env = environment(f"sqlite:///{workdir / 'grants.db'}", workdir)
    with server_process(env, workdir) as (base, _):
        yield GrantWorld(base, token, released, refused, revoked)


@pytest.fixture
def grant_page(browser: Browser, world: GrantWorld) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        base_url=world.base, viewport={"width": 1280, "height": 900}, accept_downloads=True
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, "rae")
    expect(page).to_have_url(re.compile(r"/web/research$"))
    yield page
    context.close()


def test_researcher_reads_the_grant_page_and_downloads(grant_page: Page, world: GrantWorld) -> None:
    page = grant_page
    page.get_by_role("link", name=re.compile(rf"what grant {world.released} gives")).click()
    expect(page.get_by_role("heading", name=f"Grant #{world.released}: admissions")).to_be_visible()
    terms = page.get_by_role("definition").filter(has_text="Follows the latest released version")
    expect(terms).to_contain_text("now version 1")
    columns = page.get_by_role("table", name="What each column is")
    pseudonym = columns.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name="nhs_number")
    )
    expect(pseudonym).to_contain_text("Project pseudonym of the patient")
    expect(columns.get_by_role("row").filter(has_text="date_of_birth")).to_contain_text(
        "20-year age band"
    )
    expect(columns.get_by_role("row").filter(has_text="postcode")).to_contain_text(
        "Postcode district only"
    )
    expect(columns.get_by_role("row").filter(has_text="admission_date")).to_contain_text(
        "at most 60 days from the real one"
    )
    expect(page.get_by_text("Nothing has been released under this grant yet")).to_be_visible()
    shot(page, "grant-01-page")

    with page.expect_download() as download:
        page.get_by_role("link", name=f"Download CSV of grant {world.released}").click()
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert len(rows) == 118
    assert {len(r["nhs_number"]) for r in rows} == {32}

    page.reload()
    last = page.get_by_role("definition").filter(has_text="of 120 selected")
    expect(last).to_contain_text("118")
    expect(page.get_by_role("definition").filter(has_text="without it")).to_contain_text("postcode")
    shot(page, "grant-02-last-release")
    page.get_by_role("link", name=re.compile("View the manifest of release")).click()
    expect(page.get_by_role("heading", name=re.compile("Manifest of release"))).to_be_visible()
    expect(page.get_by_role("table", name="Columns as released")).to_contain_text(
        "Project pseudonym of the patient"
    )
    shot(page, "grant-03-manifest")


def test_a_refused_download_shows_the_reason_on_a_page(grant_page: Page, world: GrantWorld) -> None:
    page = grant_page
    page.goto(f"/web/research/grants/{world.refused}")
    expect(page.get_by_role("definition").filter(has_text="Only rows where")).to_contain_text(
        "postcode = 'ZE1'"
    )
    with page.expect_response(re.compile(r"/download\?format=csv$")) as answer:
        page.get_by_role("link", name=f"Download CSV of grant {world.refused}").click()
    assert answer.value.status == 409
    expect(page.get_by_role("heading", name="This download was refused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("small-number threshold")
    expect(page.get_by_role("alert")).to_contain_text("disclosure_refused")
    expect(page.get_by_role("list", name="What you can do")).to_contain_text("quasi-identifiers")
    shot(page, "grant-04-refused")
    page.get_by_role("link", name=f"Back to grant #{world.refused}").click()
    expect(page.get_by_text("Nothing has been released under this grant yet")).to_be_visible()


def test_a_revoked_grant_shows_why_and_refuses_downloads(
    grant_page: Page, world: GrantWorld
) -> None:
    page = grant_page
    page.goto(f"/web/research/grants/{world.revoked}")
    expect(page.get_by_role("alert")).to_contain_text("This grant was revoked")
    expect(page.get_by_role("alert")).to_contain_text(REVOKE_REASON)
    expect(page.get_by_role("definition").filter(has_text="Pinned to version 1")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Download CSV"))).to_have_count(0)
    shot(page, "grant-05-revoked")
    response = page.goto(f"/web/research/grants/{world.revoked}/download?format=csv")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="You cannot download under this grant")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("revoked")


def test_the_readme_reads_a_refusals_reason_as_pandas_fetches_a_url(world: GrantWorld) -> None:
    """pandas.read_csv(url, storage_options=auth) opens the URL with urllib, so a refusal
    arrives as urllib's HTTPError, whose body is the JSON error."""
    request = urllib.request.Request(
        f"{world.base}/grants/{world.refused}/data?format=csv",
        headers={"Authorization": f"Bearer {world.token}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 409
    error = json.load(refused.value)["error"]
    assert error["code"] == "disclosure_refused"
    assert "small-number threshold" in error["message"]
