"""A live `fivesafes serve` (SQLite) with users, a dataset and a project, and Debian's
Chromium driven by Playwright. Screenshots go to var/screenshots/ in the checkout."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from fivesafes.db import utcnow
from tests.e2e.server import FIVESAFES, environment, run_cli, server_process

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "var" / "screenshots"
SAMPLE = REPO / "platform" / "fivesafes" / "demo" / "sample-extract.csv"
SAMPLE_POLICY = REPO / "policies" / "datasets" / "sample-extract.yaml"
PASSWORD = "correct horse battery staple"
USERS = (
    ("ula", "uploader", "Ula Uploader"),
    ("rita", "researcher", "Rita Researcher"),
    ("gina", "governance", "Gina Governance"),
    # A second officer: a sensitive dataset's request needs two distinct approvers.
    ("gus", "governance", "Gus Governance"),
)
#: The two governance officers of the live server, in the order they review.
OFFICERS = ("gina", "gus")


@dataclass(frozen=True)
class Live:
    base: str
    workdir: Path
    project_id: int


def _cli(env: dict[str, str], cwd: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [FIVESAFES, *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"fivesafes {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("web")
    env = environment(f"sqlite:///{workdir / 'web.db'}", workdir)
    env["FIVESAFES_DEID_WORKERS"] = "1"
    assert run_cli("init", env=env, cwd=workdir).returncode == 0
    _cli(env, workdir, "policies", "load", str(SAMPLE_POLICY), "--as", "admin")
    for username, role, name in USERS:
        _cli(env, workdir, "users", "add", username, "--role", role, "--full-name", name)
        _cli(env, workdir, "users", "set-password", username, "--password-stdin", stdin=PASSWORD)
    issued = _cli(env, workdir, "tokens", "issue", "gina")
    token = next(w for w in issued.split() if w.startswith("fs_"))
    with server_process(env, workdir) as (base, _):
        today = utcnow().date()
        project = httpx.post(
            f"{base}/projects",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "title": "Readmissions after COPD exacerbation",
                "purpose": "Estimate 30-day readmission after COPD admissions in 2023.",
                "lay_summary": "How often people with COPD come back to hospital soon.",
                "ethics_ref": "REC 24/NW/0001",
                "dsa_ref": "DSA-2024-017",
                "lawful_basis": "6.1.e-public-task",
                "special_category_condition": "9.2.j-archiving-research-statistics",
                "start_date": (today - timedelta(days=10)).isoformat(),
                # Ends within 30 days, so its grant shows among those expiring soon.
                "end_date": (today + timedelta(days=20)).isoformat(),
                "lead": "rita",
            },
        )
        assert project.status_code == 201, project.text
        yield Live(base, workdir, project.json()["id"])


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs the chromium package")
        pytest.skip("needs Debian's chromium (apt-get install -y chromium chromium-driver)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser, live: Live) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=live.base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/web/login")
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()
