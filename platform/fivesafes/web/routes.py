"""The web pages' router and static files, installed into the API's app."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from fivesafes.web import (
    routes_auth,
    routes_closeout,
    routes_governance,
    routes_grants,
    routes_oidc,
    routes_policies,
    routes_projects,
    routes_register,
    routes_reidentification,
    routes_researcher,
    routes_uploader,
    routes_versions,
)
from fivesafes.web.rendering import STATIC_DIR, install_error_pages

ROUTERS = (
    routes_auth,
    routes_oidc,
    routes_uploader,
    routes_researcher,
    routes_grants,
    routes_governance,
    routes_projects,
    routes_policies,
    routes_versions,
    routes_register,
    routes_reidentification,
    routes_closeout,
)


def install(app: FastAPI) -> None:
    """Serve the pages under /web and their CSS and scripts under /web/static."""
    for module in ROUTERS:
        app.include_router(module.router)
    install_error_pages(app)
    app.mount("/web/static", StaticFiles(directory=STATIC_DIR), name="web-static")
