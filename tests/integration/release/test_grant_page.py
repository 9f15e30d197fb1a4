"""The researcher's grant page and web downloads, in process, on both dialects: what each
column is, the grant's terms, the last release's counts and drivers from its manifest,
the manifest page, downloads through the page, and refusals shown on a page of their
own (with the reason and what to do), audited as before."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile

from fastapi.testclient import TestClient
from sqlalchemy import select

from fivesafes.audit.models import AuditEvent
from fivesafes.release.models import Release
from tests.factories.release_world import World
from tests.factories.web import logged_in

PAGE = "/web/research/grants/{}"
DOWNLOAD = "/web/research/grants/{}/download"


def _log_in(world: World, who: str) -> TestClient:
    return logged_in(world.client.app, world.people[who].token)  # type: ignore[arg-type]


def _text(html: str) -> str:
    """The page's text, tags dropped and spaces collapsed (what a reader sees)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).replace("&#39;", "'").split())


def _events(world: World, action: str) -> list[AuditEvent]:
    with world.factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_grant_page_says_what_each_column_is_and_what_the_last_release_held(
    world: World,
) -> None:
    grant = world.grant("a")
    client = _log_in(world, "a")
    home = client.get("/web/research")
    assert f'href="{PAGE.format(grant)}"' in home.text
    assert f'href="{DOWNLOAD.format(grant)}?format=csv"' in home.text
    assert "/data?format=" not in home.text  # no link to the API's JSON-refusing route
    page = client.get(PAGE.format(grant))
    assert page.status_code == 200, page.text
    text = _text(page.text)
    assert "Follows the latest released version (now version 1)" in text
    assert "Project pseudonym of the patient, made from their NHS number" in text
    assert "20-year age band (for example 40-59) on 1 January 2025" in text
    assert "ages 80 and over are shown as 80+" in text
    assert "Postcode district only" in text
    # max_days 30 at ingestion and again for the project: at most 60 days from the truth.
    assert "between 1 and 30 days earlier or later" in text
    assert "at most 60 days from the real one" in text
    assert "Decimal number as recorded" in text
    assert "Nothing has been released under this grant yet" in text
    assert "counted by the disclosure gate" in text

    download = client.get(DOWNLOAD.format(grant), params={"format": "csv"})
    assert download.status_code == 200, download.text
    assert download.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert len(rows) == 118  # patient 0, alone in ZE1, suppressed (2 rows)
    release_id = download.headers["X-Release-Id"]

    text = _text(client.get(PAGE.format(grant)).text)
    assert "Rows released 118 of 120 selected" in text
    assert "Rows suppressed 2" in text
    assert "postcode : without it, 0 rows would be suppressed" in text
    assert f'href="/web/research/releases/{release_id}"' in client.get(PAGE.format(grant)).text

    manifest_page = client.get(f"/web/research/releases/{release_id}")
    assert manifest_page.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() in manifest_page.text
    # The page offers the release package, which the same signed-in browser can fetch:
    # the released file as downloaded, with its record (docs/crates.md).
    assert f'href="/releases/{release_id}/crate"' in manifest_page.text
    package = client.get(f"/releases/{release_id}/crate")
    assert package.status_code == 200, package.text
    with zipfile.ZipFile(io.BytesIO(package.content)) as crate:
        names = set(crate.namelist())
        assert {"ro-crate-metadata.json", "ro-crate-signature.json"} < names
        (data,) = names - {"ro-crate-metadata.json", "ro-crate-signature.json"}
        assert crate.read(data) == download.content
    kept = client.get(f"/web/research/releases/{release_id}/manifest.json")
    assert kept.headers["content-disposition"].startswith("attachment;")
    api = world.client.get(f"/releases/{release_id}/manifest", headers=world.people["a"].auth)
    assert json.loads(kept.text) == api.json()
    # One source of truth: the manifest's columns are the notes the page and the API show.
    notes = world.client.get(f"/grants/{grant}/columns", headers=world.people["a"].auth)
    assert notes.status_code == 200
    assert [c["treatment"] for c in api.json()["columns"]] == [n["note"] for n in notes.json()]
    assert [n["method"] for n in notes.json()][:4] == [
        "project_pseudonym",
        "age_band",
        "postcode_district",
        "as_recorded",
    ]
    assert [e.outcome for e in _events(world, "release.download")] == ["success"]


def test_a_pinned_grant_by_month_says_so(world: World) -> None:
    grant = world.grant("a", version=1, date_granularity="month")
    text = _text(_log_in(world, "a").get(PAGE.format(grant)).text)
    assert "Pinned to version 1" in text
    assert "Released as its month only (YYYY-MM). Intervals between dates are approximate." in text


def test_a_refused_download_is_a_page_with_the_reason_and_is_audited(world: World) -> None:
    world.use_policy(small_classes="refuse")
    grant = world.grant("a")
    client = _log_in(world, "a")
    refused = client.get(DOWNLOAD.format(grant), params={"format": "parquet"})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("text/html")
    assert "content-disposition" not in refused.headers
    text = _text(refused.text)
    assert "This download was refused" in text
    assert "Driven by: postcode" in text
    assert "fewer quasi-identifiers, or coarser ones" in text
    assert "disclosure_refused" in text
    assert f'href="{PAGE.format(grant)}"' in refused.text
    [event] = _events(world, "web.grant_download")
    assert event.outcome == "failed"
    assert json.loads(event.details)["code"] == "disclosure_refused"
    with world.factory() as session:
        assert session.scalars(select(Release)).all() == []


def test_a_revoked_grant_shows_the_reason_and_refuses_on_a_page(world: World) -> None:
    grant = world.grant("a")
    revoked = world.client.post(
        f"/grants/{grant}/revoke",
        json={"reason": "Data sharing agreement suspended."},
        headers=world.people["officer"].auth,
    )
    assert revoked.status_code == 200
    client = _log_in(world, "a")
    page = _text(client.get(PAGE.format(grant)).text)
    assert "This grant was revoked" in page
    assert "Their reason: Data sharing agreement suspended." in page
    assert "No download is possible under this grant now" in page
    refused = client.get(DOWNLOAD.format(grant))
    assert refused.status_code == 403
    text = _text(refused.text)
    assert "You cannot download under this grant" in text
    assert "the grant page shows their reason" in text
    [event] = _events(world, "web.grant_download")
    assert event.outcome == "denied"


def test_outsiders_get_neither_the_page_nor_the_data(world: World) -> None:
    grant = world.grant("a")
    outsider = _log_in(world, "outsider")
    assert outsider.get(PAGE.format(grant)).status_code == 403
    refused = outsider.get(DOWNLOAD.format(grant))
    assert refused.status_code == 403
    assert "nhs_number" not in refused.text
    assert "Only members of the grant's project" in _text(refused.text)
    missing = outsider.get(DOWNLOAD.format(99999))
    assert missing.status_code == 404
    assert "Grant not found" in missing.text
    bad = _log_in(world, "a").get(DOWNLOAD.format(grant), params={"format": "xlsx"})
    assert bad.status_code == 422
    assert "format" in _text(bad.text)


def test_a_withdrawn_version_is_said_on_the_page_and_refuses_with_advice(world: World) -> None:
    pinned = world.grant("a", version=1)
    withdrawn = world.client.post(
        "/datasets/admissions/versions/1/withdraw",
        json={"reason": "The extract held a wrong month of admissions."},
        headers=world.people["officer"].auth,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    client = _log_in(world, "a")
    page = _text(client.get(PAGE.format(pinned)).text)
    assert "No data can be released under this grant now" in page
    assert "version_withdrawn" in page
    assert "The extract held a wrong month of admissions." in page  # governance's reason
    assert "Pinned to version 1" in page
    assert "No download is possible under this grant now" in page
    refused = client.get(DOWNLOAD.format(pinned))
    assert refused.status_code == 409
    text = _text(refused.text)
    assert "version_withdrawn" in text
    assert "The extract held a wrong month of admissions." in text
    assert "for a grant pinned to this version, ask the governance team" in text
    notes = world.client.get(f"/grants/{pinned}/columns", headers=world.people["a"].auth)
    assert notes.status_code == 409
    assert notes.json()["error"]["code"] == "version_withdrawn"
