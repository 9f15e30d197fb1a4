"""Governance reads a dataset's policy history in the browser: the versions, who loaded
each (the admin named with `policies load --as`), one version's text and a diff."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import Live, log_in, shot
from tests.e2e.server import environment, run_cli

DATASET = "ward-census"
V1 = """\
# Ward census: one row per patient per midnight.
dataset: ward-census
version: 1
columns:
  nhs_number: {type: nhs_number, role: patient_id}
  ward: {type: string, role: keep}
"""
V2 = """\
# Ward census: one row per patient per midnight, with the census date.
dataset: ward-census
version: 2
sensitivity: sensitive
columns:
  nhs_number: {type: nhs_number, role: patient_id}
  ward: {type: string, role: keep}
  census_date: {type: date, role: quasi_identifier, generalise: date_shift}
"""


@pytest.fixture(scope="module")
def two_versions(live: Live) -> str:
    """Two versions of a dataset's policy, loaded by the admin from the shell."""
    env = environment(f"sqlite:///{live.workdir / 'web.db'}", live.workdir)
    for number, text in enumerate((V1, V2), start=1):
        path = Path(live.workdir) / f"ward-census-{number}.yaml"
        path.write_text(text)
        done = run_cli("policies", "load", str(path), "--as", "admin", env=env, cwd=live.workdir)
        assert done.returncode == 0, done.stdout + done.stderr
    return DATASET


def test_governance_opens_the_policy_versions_and_a_diff(page: Page, two_versions: str) -> None:
    log_in(page, "gina")
    page.get_by_role("link", name="Dataset policies").click()
    expect(page.get_by_role("heading", name="Dataset policies")).to_be_visible()
    page.get_by_role("link", name=two_versions, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/web/governance/datasets/{two_versions}/policies$"))
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("v2")
    expect(rows.nth(0)).to_contain_text("sensitive")
    expect(rows.nth(0)).to_contain_text("admin")  # the admin named with --as, not os:...
    expect(rows.nth(1)).to_contain_text("standard")
    expect(page.locator("table")).not_to_contain_text("os:")
    shot(page, "policies-01-versions")

    page.get_by_role("link", name="v1", exact=True).click()
    expect(page.locator("pre.policy-text")).to_contain_text("one row per patient per midnight.")
    page.go_back()

    page.get_by_role("link", name="changes from v1").click()
    expect(page).to_have_url(re.compile(r"/policies/diff\?from=1&to=2$"))
    changes = page.get_by_role("list", name="Changes from v1 to v2")
    added = changes.locator("li.diff-line--added")
    removed = changes.locator("li.diff-line--removed")
    expect(added.filter(has_text="census_date")).to_have_count(1)
    expect(added.filter(has_text="+sensitivity: sensitive")).to_have_count(1)
    expect(removed.filter(has_text="-version: 1")).to_have_count(1)
    expect(page.get_by_text("lines added")).to_be_visible()
    shot(page, "policies-02-diff")

    # The compare form: the other way round, from the newest to the oldest.
    page.get_by_label("From", exact=True).select_option("2")
    page.get_by_label("To", exact=True).select_option("1")
    page.get_by_role("button", name="Show the changes").click()
    expect(page).to_have_url(re.compile(r"diff\?from=2&to=1$"))
    back = page.get_by_role("list", name="Changes from v2 to v1")
    expect(back.locator("li.diff-line--removed").filter(has_text="census_date")).to_have_count(1)


def test_a_researcher_cannot_open_the_policy_pages(page: Page, two_versions: str) -> None:
    log_in(page, "rita")
    response = page.goto(f"/web/governance/datasets/{two_versions}/policies")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_be_visible()
