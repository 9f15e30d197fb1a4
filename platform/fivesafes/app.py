"""The application factory: the one place the API and the web pages are put together.

Both entry points are mounted on one server; neither imports the other. Everything they
share (middleware, dependencies, error mapping) comes from ``httpkit``.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from fivesafes import __version__
from fivesafes.access.policy import load_access_policy
from fivesafes.api.docs import install as install_api_docs
from fivesafes.api.routes import install as install_api
from fivesafes.audit.recorder import AuditRecorder, record
from fivesafes.config import Settings, get_settings
from fivesafes.db import make_engine, make_session_factory
from fivesafes.httpkit.errors import ERROR_RESPONSES, install_error_handlers
from fivesafes.httpkit.input_guard import reject_nul
from fivesafes.httpkit.lifespan import lifespan
from fivesafes.httpkit.middleware import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from fivesafes.httpkit.safe_errors import SafeErrorMiddleware
from fivesafes.identity.oidc.providers import OidcProviders
from fivesafes.keys.open import open_keystore
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
        # FastAPI's pages load Swagger UI and ReDoc from a CDN: /docs is served from the
        # package instead (api/docs.py), and ReDoc not at all.
        docs_url=None,
        redoc_url=None,
    )
    engine = make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.audit_recorder = audit_recorder
    # Opened now: a PKCS#11 token with a wrong PIN or a missing token stops start-up here.
    app.state.keystore = open_keystore(settings)
    app.state.access_policy = load_access_policy(settings.access_policy_path)
    # The identity providers users may sign in with: validated now (a bad policy stops
    # start-up naming its key); each provider's discovery is fetched at its first use.
    app.state.oidc = OidcProviders.from_settings(settings)
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
    install_api(app)
    install_api_docs(app)
    install_web_pages(app)
    return app
