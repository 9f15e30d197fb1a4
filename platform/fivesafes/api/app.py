"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from fivesafes import __version__
from fivesafes.access.policy import load_access_policy
from fivesafes.api.errors import ERROR_RESPONSES, install_error_handlers
from fivesafes.api.input_guard import reject_nul
from fivesafes.api.lifespan import lifespan
from fivesafes.api.middleware import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from fivesafes.api.routes import access, audit, datasets, health, identity, releases, reviews
from fivesafes.api.safe_errors import SafeErrorMiddleware
from fivesafes.audit.recorder import AuditRecorder, record
from fivesafes.config import Settings, get_settings
from fivesafes.db import make_engine, make_session_factory
from fivesafes.keys.local import LocalFileKeyStore
from fivesafes.web.routes import install as install_web_pages


def create_app(
    settings: Settings | None = None, *, audit_recorder: AuditRecorder = record
) -> FastAPI:
    """Build the app around ``settings`` (read from the environment when omitted).

    ``audit_recorder`` is replaceable for one reason only: the audit benchmark measures the
    same endpoint with recording switched off. It is not a setting, so no deployment can
    turn auditing off.
    """
    settings = settings or get_settings()
    app = FastAPI(
        title="fivesafes",
        version=__version__,
        description="Secure research data platform: de-identified extracts, governed access, "
        "tamper-evident audit.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        dependencies=[Depends(reject_nul)],  # no NUL in any text, on every route
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.audit_recorder = audit_recorder
    app.state.keystore = LocalFileKeyStore(settings.keystore_path)
    app.state.access_policy = load_access_policy(settings.access_policy_path)
    # Outermost last: request id, security headers, the proxy's client address, the body
    # cap, then the catch-all that turns a crash into a bare 500 (or 503: database down).
    app.add_middleware(SafeErrorMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.form_max_bytes)
    if settings.trusted_proxies:
        # X-Forwarded-For is believed from these peers only, so the log-in throttle sees
        # each user's own address behind the proxy, and a client elsewhere cannot pick one.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.is_https)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(identity.router)
    app.include_router(audit.router)
    app.include_router(access.router)
    app.include_router(datasets.router)
    app.include_router(releases.router)
    app.include_router(reviews.router)
    install_web_pages(app)
    return app
