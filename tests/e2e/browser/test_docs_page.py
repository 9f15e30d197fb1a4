"""/docs renders Swagger UI in a real browser that can reach nothing but the server.

Chromium is started with every host name resolving to nothing except 127.0.0.1 (its own
"sockets to non-loopback addresses blocked"), and every request the page makes is
recorded: all of them must be to the server itself, none refused, and the page must show
the API's operations, not Swagger UI's "failed to load" box. Console errors (a
Content-Security-Policy violation among them) fail the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Request, Route, expect

from tests.e2e.browser.conftest import CHROMIUM, CHROMIUM_ARGS, shot
from tests.e2e.server import environment, run_cli, running_server

#: No name resolves (so no CDN is reachable) except the server's own address.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own: the page needs an initialised database and nothing else."""
    workdir = tmp_path_factory.mktemp("docs")
    env = environment(f"sqlite:///{workdir / 'docs.db'}", workdir)
    assert run_cli("init", env=env, cwd=workdir).returncode == 0
    with running_server(env, workdir) as base:
        yield base


@pytest.fixture(scope="module")
def offline_browser(browser: Browser) -> Iterator[Browser]:
    """A Chromium of its own (the package's one has no resolver rules), launched by the
    package's Playwright: a machine without Chromium skips or fails as everywhere."""
    launched = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, OFFLINE])
    yield launched
    launched.close()


def test_docs_renders_swagger_ui_with_every_request_to_the_server(
    offline_browser: Browser, docs_server: str
) -> None:
    server = urlsplit(docs_server)
    assert server.hostname == "127.0.0.1"
    context = offline_browser.new_context(base_url=docs_server)
    requested: list[str] = []
    refused: list[str] = []
    problems: list[str] = []

    def only_the_server(route: Route, request: Request) -> None:
        url = urlsplit(request.url)
        if url.scheme == "data" or (url.hostname, url.port) == (server.hostname, server.port):
            route.continue_()
        else:
            refused.append(request.url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    context.route("**/*", only_the_server)
    page = context.new_page()
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        response = page.goto("/docs")
        assert response is not None
        assert response.status == 200
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("fivesafes")
        # The operations come from /openapi.json: the schema loaded and rendered.
        expect(page.locator(".opblock-tag-section").first).to_be_visible()
        expect(page.get_by_text("/healthz", exact=True)).to_be_visible()
        expect(page.locator(".swagger-ui .errors-wrapper")).to_have_count(0)
        page.wait_for_load_state("networkidle")
        shot(page, "docs-swagger-ui")
    finally:
        context.close()
    assert refused == []
    assert problems == []
    pages = {urlsplit(url).path for url in requested if not url.startswith("data:")}
    assert {"/docs", "/openapi.json"} <= pages
    assert any(path.endswith("/swagger-ui-bundle.js") for path in pages)
    others = [url for url in requested if not url.startswith(("data:", f"{docs_server}/"))]
    assert others == []
