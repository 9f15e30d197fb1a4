"""Know before you approve, in a real browser: the researcher previews a request's
disclosure, sees it would be refused and why, sends it anyway and is warned; each of two
governance officers sees the preview on the request's card, and approving needs an
override reason (refused without one, on a page naming the field).

This file runs its own server over its own world (an admissions extract of sensitive data,
so two distinct officers must approve, under an access policy that refuses small classes
rather than suppressing them), so it depends on no other browser test's order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from fivesafes import schema
from fivesafes.access import service as access
from fivesafes.audit.trail import AuditTrail
from fivesafes.db import session_scope, utcnow
from fivesafes.identity.models import Role
from tests.e2e.browser.conftest import OFFICERS, PASSWORD, REPO, Live, log_in, shot
from tests.e2e.server import environment, server_process
from tests.e2e.worlds import add_people, admissions_world
from tests.factories.extracts import ADMISSIONS, ADMISSIONS_POLICY
from tests.integration.access.helpers import project_body, shipped_policy

TRAIL = AuditTrail.for_operator()
SENSITIVE = ADMISSIONS_POLICY.replace("sensitivity: standard", "sensitivity: sensitive")
OVERRIDE = "The lone ZE1 patient's rows are the protocol's known exception; agreed at IG board."


@dataclass(frozen=True)
class PreviewWorld:
    base: str
    project_id: int


def _build(workdir: Path) -> int:
    url = f"sqlite:///{workdir / 'preview.db'}"
    schema.upgrade(url)
    with (
        admissions_world(url, workdir, policy=SENSITIVE) as factory,
        session_scope(factory) as session,
    ):
        people = add_people(
            session,
            {"pia": Role.RESEARCHER, "olga": Role.GOVERNANCE, "otto": Role.GOVERNANCE},
            password=PASSWORD,
        )
        project = access.create_project(
            session,
            TRAIL,
            shipped_policy(),
            people["olga"],
            body=project_body(people["pia"]),
            now=utcnow(),
        )
        return project.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PreviewWorld]:
    workdir = tmp_path_factory.mktemp("preview")
    project_id = _build(workdir)
    refusing = workdir / "access.yaml"
    shipped = (REPO / "policies" / "access.yaml").read_text(encoding="utf-8")
    refusing.write_text(
        shipped.replace("small_classes: suppress", "small_classes: refuse"), encoding="utf-8"
    )
    env = environment(f"sqlite:///{workdir / 'preview.db'}", workdir)
    env["FIVESAFES_ACCESS_POLICY_PATH"] = str(refusing)
    with server_process(env, workdir) as (base, _):
        yield PreviewWorld(base, project_id)


@pytest.fixture
def new_page(browser: Browser, world: PreviewWorld) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        base_url=world.base, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _request_form(page: Page, world: PreviewWorld) -> None:
    page.goto(f"/web/research/projects/{world.project_id}/request")
    page.get_by_label("Dataset").select_option(ADMISSIONS)
    page.get_by_role("button", name="Choose dataset").click()
    for column in ("nhs_number", "date_of_birth", "postcode", "sex"):
        page.locator(f'input[name="columns"][value="{column}"]').check()
    page.get_by_label("Justification").fill("Readmissions by district are the primary outcome.")


def test_researcher_previews_sends_and_two_officers_approve_with_an_override(
    new_page: Page, world: PreviewWorld, browser: Browser
) -> None:
    page = new_page
    log_in(page, "pia")
    _request_form(page, world)
    version = page.get_by_label("Dataset version")
    expect(version).to_have_value("latest")
    expect(version.locator("option")).to_have_text(["latest (now version 1)", "version 1 only"])
    page.get_by_role("button", name="Preview disclosure").click()

    preview = page.locator("#preview")
    expect(preview.get_by_role("alert")).to_contain_text(
        "A release of these terms would be refused"
    )
    expect(preview.get_by_role("alert")).to_contain_text("Driven by: postcode")
    expect(page.locator("#draft-rows")).to_have_text("120 (60 patients)")
    expect(page.locator("#draft-suppressed")).to_contain_text("2 ")
    expect(page.locator("#draft-suggestion")).to_contain_text(
        "without postcode: 0 row(s) suppressed, 120 released"
    )
    # The form kept what was typed and chosen.
    expect(page.locator('input[name="columns"][value="postcode"]')).to_be_checked()
    expect(page.get_by_label("Justification")).to_have_value(
        "Readmissions by district are the primary outcome."
    )
    shot(page, "preview-01-researcher-refused")

    page.get_by_role("button", name="Send request").click()
    expect(page).to_have_url(re.compile(r"/web/research\?notice=request_sent_refused$"))
    expect(page.get_by_role("status")).to_contain_text("would be refused")
    shot(page, "preview-02-researcher-warned")

    for number, officer in enumerate(("olga", "otto"), start=1):
        context = browser.new_context(base_url=world.base, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        try:
            review = context.new_page()
            log_in(review, officer)
            expect(review).to_have_url(re.compile(r"/web/governance/queue$"))
            card = review.locator("section.request").filter(has_text="Request #1")
            expect(card.get_by_role("alert")).to_contain_text(
                "A release of these terms would be refused"
            )
            expect(card.locator("#req-1-preview-suggestion")).to_contain_text("without postcode")
            card.get_by_label("Reason for your decision").fill("Matches the approved protocol.")
            override = card.get_by_label("Override reason (needed to approve)")
            expect(override).to_be_visible()
            if number == 1:
                shot(review, "preview-03-governance-card")
                card.get_by_role("button", name="Approve request 1").click()
                expect(review.get_by_text("override_reason is required")).to_be_visible()
                shot(review, "preview-04-override-required")
                review.goto("/web/governance/queue")
                card = review.locator("section.request").filter(has_text="Request #1")
                card.get_by_label("Reason for your decision").fill("Matches the protocol.")
                override = card.get_by_label("Override reason (needed to approve)")
            override.fill(OVERRIDE)
            card.get_by_role("button", name="Approve request 1").click()
            expect(review.get_by_role("status")).to_contain_text("approval was recorded")
            if number == 1:  # sensitive data: it waits for the second officer
                expect(review.get_by_text("You have reviewed this request")).to_be_visible()
            else:
                expect(review.get_by_text("No requests are waiting")).to_be_visible()
        finally:
            context.close()

    page.goto("/web/research")
    expect(page.get_by_role("cell", name="approved")).to_be_visible()


def test_the_live_server_has_two_officers(page: Page, live: Live) -> None:
    for officer in OFFICERS:
        log_in(page, officer)
        expect(page).to_have_url(re.compile(r"/web/governance/queue$"))
        page.get_by_role("button", name="Log out").click()
