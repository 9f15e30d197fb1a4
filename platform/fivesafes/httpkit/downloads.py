"""A release as an HTTP response: what the API's data route and the web's download share.

Both prepare the release through the one use case (``release.service.prepare_release``:
read, gate, record and audit in the request's transaction, refused before a single byte)
and stream it from a separate connection once that transaction has committed. They differ
only in how a refusal is shown (JSON for the API, a page for the browser), which each
entry point's error handlers decide.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.access.policy import AccessPolicy
from fivesafes.audit.trail import AuditTrail
from fivesafes.config import Settings
from fivesafes.keys.store import KeyStore
from fivesafes.release import service
from fivesafes.release.download import Download, ReleaseLimits
from fivesafes.release.writers import MEDIA_TYPES


def release_response(
    request: Request,
    session: Session,
    trail: AuditTrail,
    policy: AccessPolicy,
    download: Download,
) -> StreamingResponse:
    """Prepare the release of ``download`` (its grant already checked usable) and stream it."""
    keystore: KeyStore = request.app.state.keystore
    engine: Engine = request.app.state.engine
    settings: Settings = request.app.state.settings
    limits = ReleaseLimits(
        settings.spool_path / "releases",
        settings.release_copies_path,
        spool_memory_bytes=settings.release_memory_mb << 20,
        max_rows=settings.release_max_rows,
    )
    prepared = service.prepare_release(
        session, trail, keystore, policy, download, engine=engine, limits=limits
    )
    factory: sessionmaker[Session] = request.app.state.session_factory
    return StreamingResponse(
        service.stream_release(prepared, factory),
        media_type=MEDIA_TYPES[download.fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{prepared.filename}"',
            "X-Release-Id": str(prepared.release_id),
            "X-Release-Rows": str(prepared.gate.rows_released),
            "X-Release-Manifest": f"/releases/{prepared.release_id}/manifest",
        },
    )
