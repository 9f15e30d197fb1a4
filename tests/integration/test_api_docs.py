"""/docs is Swagger UI served from the package: the page and everything it loads come from
this server, under a Content-Security-Policy that allows nothing else.

The suite blocks sockets to non-loopback addresses (pytest-socket, ``--allow-hosts``), so
these tests also prove the server needs no network to serve the page; the browser test
(tests/e2e/browser/test_docs_page.py) proves the browser needs none to render it.
"""

from __future__ import annotations

import hashlib
import re
import socket
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from pytest_socket import SocketConnectBlockedError

from fivesafes.api import docs
from fivesafes.app import create_app
from fivesafes.config import Settings

VENDORED = docs.STATIC_DIR / "swagger-ui"


class _Assets(HTMLParser):
    """Every URL the page makes a browser load (scripts, stylesheets, icons)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") if tag == "script" else found.get("href") if tag == "link" else None
        if url is not None:
            self.urls.append(url)


@pytest.fixture
def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings))


def test_sockets_beyond_loopback_are_blocked_here() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(SocketConnectBlockedError),
    ):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routable


def test_docs_page_loads_only_from_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"(https?:)?//", page.text), "the page names another host"
    assert "<script>" not in page.text, "an inline script (the CSP would block it)"
    parser = _Assets()
    parser.feed(page.text)
    served = [url for url in parser.urls if not url.startswith("data:")]
    assert len(served) == 3  # stylesheet, Swagger UI bundle, docs.js
    kinds = {}
    for url in served:
        assert url.startswith("/docs/static/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
        kinds[url.split("?")[0].rsplit(".", 1)[-1]] = asset.headers["content-type"]
    assert kinds["css"].startswith("text/css")
    assert kinds["js"].split(";")[0] in {"text/javascript", "application/javascript"}
    schema_url = re.search(r'data-openapi-url="([^"]+)"', page.text)
    assert schema_url is not None
    assert "/healthz" in client.get(schema_url.group(1)).json()["paths"]


def test_docs_page_allows_nothing_but_this_server(client: TestClient) -> None:
    policy = client.get("/docs").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    for name in ("default-src", "script-src", "style-src", "connect-src", "form-action"):
        assert directives[name] == "'self'", name
    assert directives["img-src"] == "'self' data:"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"


def test_the_start_up_script_never_calls_the_online_validator() -> None:
    script = (docs.STATIC_DIR / "docs.js").read_text()
    assert "validatorUrl: null" in script
    assert "http" not in script.replace("data-openapi-url", "")


@pytest.mark.parametrize("path", ["/redoc", "/docs/oauth2-redirect"])
def test_the_cdn_pages_fastapi_would_add_are_not_served(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_vendored_files_are_the_ones_the_readme_names() -> None:
    readme = (VENDORED / "README.md").read_text()
    assert f"`swagger-ui-dist` {docs.SWAGGER_UI_VERSION}" in readme
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        digest = hashlib.sha256((VENDORED / name).read_bytes()).hexdigest()
        assert f"| `{name}` | sha256 `{digest}` |" in readme, name
    for licence in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"):
        assert (VENDORED / licence).is_file()
