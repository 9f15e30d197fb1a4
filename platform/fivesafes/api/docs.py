"""The API's documentation page, ``/docs``: Swagger UI served from the package itself.

FastAPI's default page loads Swagger UI's script and styles from a CDN. A trust's network
may be air-gapped, and the platform never touches the network, so the page must need
nothing but this server: the Swagger UI distribution (swagger-ui-dist, vendored under
``api/static/swagger-ui/``, see its README) and a start-up script of our own, so that the
page needs no inline script and carries the same strict Content-Security-Policy as the web
pages (everything from 'self'; images also from ``data:`` URIs, which the stylesheet's
icons are). ReDoc (another CDN script) and the OAuth2 redirect page (the API has no OAuth2
flow) are not served.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

STATIC_DIR = Path(__file__).with_name("static")
STATIC_PATH = "/docs/static"
SWAGGER_UI_VERSION = "5.35.0"

#: Swagger UI's React renders styles through the CSSOM, which ``style-src 'self'`` allows;
#: "Try it out" calls the API itself (``connect-src 'self'``).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def docs_page(title: str, openapi_url: str) -> str:
    """The page: Swagger UI's assets and ``docs.js``, which reads the schema's URL from
    the ``data-openapi-url`` attribute (no inline script)."""
    assets = f"{STATIC_PATH}/swagger-ui"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API documentation</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css?v={SWAGGER_UI_VERSION}">
<link rel="icon" href="data:,">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}"></script>
<script src="{STATIC_PATH}/docs.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets; build ``app`` with ``docs_url=None, redoc_url=None``."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise RuntimeError("create the app with docs_url=None and redoc_url=None")
    openapi_url = app.openapi_url or "/openapi.json"
    page = docs_page(app.title, openapi_url)

    @app.get("/docs", include_in_schema=False)
    def api_documentation() -> HTMLResponse:
        return HTMLResponse(page, headers=HEADERS)

    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="docs-static")
