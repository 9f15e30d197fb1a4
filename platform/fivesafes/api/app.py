"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI

from fivesafes import __version__
from fivesafes.api.errors import install_error_handlers
from fivesafes.api.routes import health, identity
from fivesafes.config import Settings, get_settings
from fivesafes.db import make_engine, make_session_factory


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app around ``settings`` (read from the environment when omitted)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="fivesafes",
        version=__version__,
        description="Secure research data platform: de-identified extracts, governed access, "
        "tamper-evident audit.",
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(identity.router)
    return app
