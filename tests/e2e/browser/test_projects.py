"""Projects in a real browser: the researcher proposes one (a refused form first), the
officer approves it from the Projects page, adds and removes a member, and revokes a
grant with a reason that the researcher then reads on the project page and at home.

Runs against the package's live server; what it needs beyond the conftest's people (a
second researcher, API tokens, a grant to revoke) it makes itself, through the CLI and
the API as an operator and the users would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from fivesafes.db import utcnow
from tests.e2e.browser.conftest import Live, log_in, shot
from tests.e2e.server import environment, run_cli

TITLE = "Falls within 90 days of discharge"
MEMBER = "ravi-projects"  # a second researcher, this file's own
REVOKE_REASON = "The data sharing agreement was suspended pending audit."


@dataclass(frozen=True)
class Tokens:
    rita: str
    gina: str


def _cli(live: Live, *args: str) -> str:
    """The operator's CLI on the live server's database (the conftest's environment)."""
    env = environment(f"sqlite:///{live.workdir / 'web.db'}", live.workdir)
    done = run_cli(*args, env=env, cwd=live.workdir)
    assert done.returncode == 0, f"fivesafes {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def tokens(live: Live) -> Tokens:
    """A second researcher to add and remove, and the API tokens the grant is set up with."""
    _cli(live, "users", "add", MEMBER, "--role", "researcher", "--full-name", "Ravi Member")

    def token(username: str) -> str:
        issued = _cli(live, "tokens", "issue", username)
        return next(w for w in issued.split() if w.startswith("fs_"))

    return Tokens(rita=token("rita"), gina=token("gina"))


def _api(live: Live, token: str, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method, f"{live.base}{path}", headers={"Authorization": f"Bearer {token}"}, json=body
    )
    assert response.status_code < 300, f"{method} {path}: {response.text}"
    return response.json()


def _project_id(live: Live, tokens: Tokens) -> int:
    found = [p for p in _api(live, tokens.gina, "GET", "/projects") if p["title"] == TITLE]
    assert len(found) == 1, found
    return int(found[0]["id"])


def test_researcher_proposes_and_governance_approves_and_changes_members(
    page: Page, live: Live, tokens: Tokens
) -> None:
    log_in(page, "rita")
    page.get_by_role("link", name="Propose a project").click()
    expect(page.get_by_role("heading", name="Propose a project")).to_be_visible()
    today = utcnow().date()
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Purpose").fill("short")
    page.get_by_label("Lay summary").fill("How often older people fall soon after going home.")
    page.get_by_label("Ethics approval reference").fill("REC 25/LO/0042")
    page.get_by_label("Data sharing agreement reference").fill("DSA-2025-003")
    page.get_by_label("Lawful basis").select_option("6.1.e-public-task")
    page.get_by_label("Special category condition").select_option(
        label="Article 9(2)(j): archiving research statistics"
    )
    page.get_by_label("Start date").fill(today.isoformat())
    page.get_by_label("End date").fill((today + timedelta(days=300)).isoformat())
    page.get_by_role("button", name="Send the proposal").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("There is a problem")
    expect(alert).to_contain_text("Purpose: String should have at least 10 characters")
    expect(page.get_by_label("Title")).to_have_value(TITLE)  # what was typed is kept
    shot(page, "projects-01-proposal-refused")
    page.get_by_label("Purpose").fill("Estimate falls within 90 days of discharge in over-75s.")
    page.get_by_role("button", name="Send the proposal").click()
    expect(page).to_have_url(re.compile(r"/web/projects/\d+\?notice=project_proposed$"))
    expect(page.get_by_role("status")).to_contain_text("Your project was proposed")
    expect(page.get_by_text("waits for the governance team")).to_be_visible()
    project_id = _project_id(live, tokens)
    page.goto("/web/research")
    expect(page.get_by_role("link", name=TITLE)).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    log_in(page, "gina")
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Projects").click()
    card = page.locator(f"#project-{project_id}")
    expect(card.get_by_role("heading", name=re.compile(TITLE))).to_be_visible()
    expect(card).to_contain_text("Article 6(1)(e): public task")
    shot(page, "projects-02-governance-proposals")
    card.get_by_label(re.compile("Reason for your decision")).fill("Ethics and DSA checked.")
    card.get_by_role("button", name=f"Approve proposal {project_id}").click()
    expect(page.get_by_role("status")).to_contain_text("The project was approved")
    expect(page.locator(f"#project-{project_id}")).to_have_count(0)

    page.get_by_role("link", name=TITLE).click()
    expect(page).to_have_url(re.compile(rf"/web/projects/{project_id}$"))
    expect(page.get_by_role("heading", name=re.compile(TITLE))).to_contain_text("active")
    page.get_by_label("Add a researcher").fill(MEMBER)
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_contain_text("was added to the project")
    members = page.get_by_role("table", name="Members")
    expect(members.get_by_role("cell", name=MEMBER, exact=True)).to_be_visible()
    page.get_by_label("Add a researcher").fill(MEMBER)
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("alert")).to_contain_text("is already a member")
    shot(page, "projects-03-members")
    page.get_by_role("button", name=f"Remove {MEMBER}").click()
    expect(page.get_by_role("status")).to_contain_text("was removed")
    members = page.get_by_role("table", name="Members")
    expect(members.get_by_role("cell", name=MEMBER, exact=True)).to_have_count(0)
    expect(members.get_by_role("cell", name="rita", exact=True)).to_be_visible()


def test_governance_revokes_a_grant_and_the_researcher_reads_why(
    page: Page, live: Live, tokens: Tokens
) -> None:
    project_id = _project_id(live, tokens)
    request = _api(
        live,
        tokens.rita,
        "POST",
        f"/projects/{project_id}/requests",
        {
            "dataset": "sample-extract",
            "columns": ["sex", "admission_date"],
            "justification": "Falls are counted from admission dates.",
        },
    )
    approved = _api(
        live,
        tokens.gina,
        "POST",
        f"/requests/{request['id']}/approve",
        # The preview may find no releasable rows in this server's data: approved anyway,
        # with the reason recorded, since this grant only exists to be revoked.
        {"reason": "Within the protocol.", "override_reason": "Set up to be revoked."},
    )
    grant_id = approved["grant_id"]
    assert grant_id is not None

    log_in(page, "gina")
    page.goto(f"/web/projects/{project_id}")
    grants = page.get_by_role("table", name="Grants")
    row = grants.locator(f"#grant-{grant_id}")
    expect(row).to_contain_text("live")
    page.get_by_label(f"Reason for revoking grant #{grant_id}").fill(REVOKE_REASON)
    shot(page, "projects-04-revoke")
    page.get_by_role("button", name=f"Revoke grant #{grant_id}").click()
    expect(page.get_by_role("status")).to_contain_text("The grant was revoked")
    expect(row).to_contain_text("revoked")
    expect(row.get_by_text(f"Reason: {REVOKE_REASON}")).to_be_visible()
    expect(page.get_by_role("button", name=f"Revoke grant #{grant_id}")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()

    log_in(page, "rita")
    page.goto(f"/web/projects/{project_id}")
    row = page.get_by_role("table", name="Grants").locator(f"#grant-{grant_id}")
    expect(row.get_by_text(f"Reason: {REVOKE_REASON}")).to_be_visible()
    expect(row).to_contain_text(re.compile(r"Revoked on .* UTC by gina\."))
    shot(page, "projects-05-researcher-reads-revocation")
    page.goto("/web/research")
    expect(page.get_by_text(f"Reason: {REVOKE_REASON}")).to_be_visible()
    check = httpx.get(
        f"{live.base}/grants/{grant_id}/check", headers={"Authorization": f"Bearer {tokens.rita}"}
    )
    assert check.status_code == 403
