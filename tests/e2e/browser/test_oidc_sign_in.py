"""The web sign-in with an identity provider in Chromium, through the provider's own page.

A real `fivesafes serve` process of its own (the shared ``live`` server has no identity
policy): its public URL must be known before it starts, since the redirect URI registered
at the provider is built from it, never from the request. The provider is the test IdP
(in this process, on loopback) in interactive mode: a page with a "Continue" button, as a
real one asks the user. The browser is left to do what browsers do with the state cookie
(SameSite=Lax, sent on the provider's redirect back), the session cookie (SameSite=Strict,
sent from the moving-on page's same-site refresh) and the CSP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.e2e.browser.conftest import shot
from tests.e2e.server import environment, free_port, run_cli, server_process
from tests.oidc_idp.fixtures import identity_policy_file
from tests.oidc_idp.server import TestIdentityProvider

SESSION_COOKIE = "__Host-fivesafes-session"


def _note_csp(refused: list[str], message: ConsoleMessage) -> None:
    """Keep what the CSP blocked: the flow must work under it, with nothing refused."""
    if "Content Security Policy" in message.text:
        refused.append(message.text)


@pytest.fixture
def server(tmp_path: Path, oidc_idp: TestIdentityProvider) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(f"sqlite:///{tmp_path / 'oidc.db'}", tmp_path)
    env["FIVESAFES_IDENTITY_POLICY"] = str(identity_policy_file(tmp_path, oidc_idp))
    env["FIVESAFES_PUBLIC_URL"] = base
    env.update(oidc_idp.client_secret_env())
    done = run_cli("init", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    oidc_idp.redirect_uris.append(f"{base}/web/login/oidc/{oidc_idp.name}/callback")
    oidc_idp.interactive = True
    with server_process(env, tmp_path, port=port) as (base, _):
        yield base


def test_sign_in_with_the_provider_and_log_out_there(
    browser: Browser, server: str, oidc_idp: TestIdentityProvider
) -> None:
    oidc_idp.set_user("ada-0001", name="Ada Federated", roles=["FiveSafes.Researcher"])
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: _note_csp(refused, m))
    try:
        page.goto("/web/research")  # not logged in: to the log-in page, next kept
        expect(page).to_have_url(re.compile(r"/web/login\?next=/web/research"))
        shot(page, "oidc-01-login")
        page.get_by_role("link", name="Sign in with testidp").click()

        expect(page).to_have_url(re.compile(re.escape(oidc_idp.url("authorize"))))
        expect(page.get_by_text("Sign in as")).to_be_visible()
        page.get_by_role("button", name="Continue").click()

        expect(page).to_have_url(re.compile(r"/web/research$"))
        expect(page.get_by_text("Logged in as")).to_contain_text("Ada Federated")
        shot(page, "oidc-02-signed-in")
        cookie = next(c for c in context.cookies() if c["name"] == SESSION_COOKIE)
        assert cookie["sameSite"] == "Strict"
        assert cookie["httpOnly"]
        assert cookie["secure"]
        assert not [c for c in context.cookies() if c["name"] == "fivesafes_oidc_state"]

        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(re.compile(r"/web/login\?notice=logged_out$"))
        expect(page.get_by_role("status")).to_contain_text("You have logged out")
        assert len(oidc_idp.logout_calls) == 1
        assert not [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
        page.goto("/web/research")
        expect(page).to_have_url(re.compile(r"/web/login\?next="))
        assert refused == []
    finally:
        context.close()


def test_cancelling_at_the_provider_comes_back_refused(
    browser: Browser, server: str, oidc_idp: TestIdentityProvider
) -> None:
    context = browser.new_context(base_url=server)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/web/login")
        page.get_by_role("link", name="Sign in with testidp").click()
        page.get_by_role("button", name="Cancel").click()
        expect(page.get_by_role("alert")).to_contain_text("cancelled or refused there")
        assert not [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    finally:
        context.close()
