"""Withdrawing a dataset version from the pages (issue 15): the uploader from their upload's
page, a governance officer from the version's review page; a reason is required, and the
version is then shown as withdrawn with it.

Runs on datasets of its own, so the shared server's sample-extract path is untouched.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import SAMPLE, SAMPLE_POLICY, Live, _cli, log_in, shot
from tests.e2e.server import environment

PLAIN, REVIEWED = "withdraw-plain", "withdraw-reviewed"
REASON = "Wrong extract: the March file was sent instead of April."


def _load_policies(live: Live) -> None:
    text = SAMPLE_POLICY.read_text(encoding="utf-8")
    env = environment(f"sqlite:///{live.workdir / 'web.db'}", live.workdir)
    for name, extra in ((PLAIN, ""), (REVIEWED, "review_sample: 3\n")):
        path = live.workdir / f"{name}.yaml"
        path.write_text(text.replace("dataset: sample-extract", f"dataset: {name}") + extra)
        _cli(env, live.workdir, "policies", "load", str(path), "--as", "admin")


def _upload(page: Page, dataset: str, extract: Path) -> None:
    page.goto("/web/upload")
    page.get_by_label("Dataset").select_option(dataset)
    page.get_by_label("Extract file").set_input_files(str(extract))
    page.get_by_role("button", name="Upload").click()
    expect(page).to_have_url(re.compile(r"/web/uploads/[0-9a-f-]+$"))
    expect(page.locator("#upload-state-value")).to_have_text("succeeded", timeout=120_000)


def test_the_uploader_withdraws_their_own_version_with_a_reason(page: Page, live: Live) -> None:
    _load_policies(live)
    log_in(page, "ula")
    _upload(page, PLAIN, SAMPLE)
    form = page.locator("#withdraw")
    expect(form.get_by_role("heading", name=f"Withdraw {PLAIN} version 1")).to_be_visible()
    # Blanks pass the browser's own checks; the server refuses them on the page.
    form.get_by_label("Reason for withdrawing").fill("    ")
    form.get_by_role("button", name="Withdraw this version").click()
    expect(page.get_by_role("alert")).to_contain_text("a reason of 3 to 5000 characters")
    expect(page.locator("#withdrawal-state")).to_have_count(0)
    shot(page, "withdraw-01-uploader-reason-missing")

    form.get_by_label("Reason for withdrawing").fill(REASON)
    form.get_by_role("button", name="Withdraw this version").click()
    expect(page).to_have_url(re.compile(r"/web/uploads/[0-9a-f-]+\?notice=version_withdrawn$"))
    expect(page.get_by_text("The dataset version was withdrawn")).to_be_visible()
    state = page.locator("#withdrawal-state")
    expect(state).to_contain_text(f"{PLAIN} version 1 is withdrawn")
    expect(page.locator("#withdrawal-reason")).to_have_text(REASON)
    expect(page.locator("#withdraw")).to_have_count(0)  # final: no second form
    shot(page, "withdraw-02-uploader-withdrawn")


def test_governance_withdraws_a_version_from_its_review_page(
    page: Page, live: Live, tmp_path: Path
) -> None:
    log_in(page, "ula")
    _upload(page, REVIEWED, SAMPLE)
    expect(page.locator("#review-state")).to_contain_text("awaiting governance review")
    page.get_by_role("button", name="Log out").click()

    log_in(page, "gina")
    page.goto("/web/governance/queue")
    sample = page.get_by_role("link", name=f"Read the sample of {REVIEWED} version 1")
    sample.click()
    expect(page).to_have_url(re.compile(rf"/web/governance/versions/{REVIEWED}/1/review$"))
    form = page.locator("#withdraw")
    form.get_by_label("Reason for withdrawing").fill(REASON)
    shot(page, "withdraw-03-governance-form")
    form.get_by_role("button", name="Withdraw this version").click()
    expect(page).to_have_url(re.compile(r"/review\?notice=version_withdrawn$"))
    expect(page.locator("#withdrawal-state")).to_contain_text(f"{REVIEWED} version 1 is withdrawn")
    expect(page.locator("#withdrawal-reason")).to_have_text(REASON)
    # Nothing left to decide: no decision buttons, and the queue no longer lists it.
    expect(page.get_by_role("button", name=re.compile("^Approve"))).to_have_count(0)
    shot(page, "withdraw-04-governance-withdrawn")
    page.goto("/web/governance/queue")
    expect(sample).to_have_count(0)


def test_governance_lists_a_datasets_versions_and_withdraws_one(
    page: Page, live: Live, tmp_path: Path
) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    shorter = tmp_path / "sample-shorter.csv"
    shorter.write_text("".join(lines[:-1]), encoding="utf-8")  # another file: version 2
    env = environment(f"sqlite:///{live.workdir / 'web.db'}", live.workdir)
    _cli(env, live.workdir, "ingest", str(shorter), "--dataset", PLAIN)

    log_in(page, "gina")
    page.goto("/web/governance/policies")
    page.get_by_role("link", name=f"Dataset versions of {PLAIN}").click()
    expect(page.get_by_role("heading", name=f"Versions of {PLAIN}")).to_be_visible()
    rows = page.get_by_role("row")
    expect(rows.filter(has_text=REASON)).to_have_count(1)  # version 1, withdrawn earlier
    shot(page, "withdraw-05-governance-versions")
    page.get_by_role("link", name=f"2 of {PLAIN}").click()
    expect(page.locator("#version-state")).to_have_text("available")
    form = page.locator("#withdraw")
    form.get_by_label("Reason for withdrawing").fill(REASON)
    form.get_by_role("button", name="Withdraw this version").click()
    expect(page).to_have_url(re.compile(r"/versions/2\?notice=version_withdrawn$"))
    expect(page.locator("#version-state")).to_have_text("withdrawn")
    expect(page.locator("#withdrawal-reason")).to_have_text(REASON)
    expect(page.get_by_text("may be purged from")).to_be_visible()
    shot(page, "withdraw-06-governance-version-withdrawn")
