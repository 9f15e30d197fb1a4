"""The watchdog: fail uploads whose worker stopped renewing their lease.

:func:`~fivesafes.ingestion.recovery.recover_interrupted` fails everything unfinished when
the server starts (the previous process is gone, and its spool keys with it). While the
server runs, an upload can still be orphaned: its worker could not record a failure
because the database was failing too, or the process holding it hung or died beside a
live one. Such an upload keeps its file refused as "already being ingested". The
watchdog, run periodically by the API server, fails every ``queued`` or ``running``
upload whose heartbeat (:mod:`fivesafes.ingestion.leases`) is older than the lease,
audits it, drops its partial table and its unreadable spool file, and so frees its file
to be uploaded again. Uploads this process still holds are left alone: their heartbeat
is this process's own, and it may merely have missed beats while the database was down.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.models import Upload
from fivesafes.db import session_scope, utcnow
from fivesafes.ingestion.failures import drop_unreferenced_table, fail_upload
from fivesafes.ingestion.leases import UNFINISHED
from fivesafes.ingestion.service import upload_table_name
from fivesafes.ingestion.spool import SPOOL_SUFFIX

log = logging.getLogger("fivesafes.ingestion")

LEASE_EXPIRED = "lease_expired"


def lease_expired_message(lease_seconds: float) -> str:
    return (
        f"stalled: the worker ingesting this upload stopped renewing its lease for more "
        f"than {lease_seconds:g} seconds (it failed, hung or lost the database); nothing "
        "of it was kept; upload it again"
    )


def last_sign_of_life(upload: Upload) -> datetime:
    """When the upload's holder last proved it was alive (rows from before leases: start)."""
    return upload.heartbeat_at or upload.started_at or upload.created_at


def fail_orphaned(
    session_factory: sessionmaker[Session],
    *,
    lease_seconds: float,
    held: Collection[uuid.UUID] = (),
    spool_dir: Path | None = None,
    now: datetime | None = None,
) -> int:
    """Fail every unfinished upload, not in ``held``, whose lease has expired; how many."""
    cutoff = (now or utcnow()) - timedelta(seconds=lease_seconds)

    def expired(upload: Upload) -> bool:
        return last_sign_of_life(upload) < cutoff

    with session_factory() as session:
        candidates = [
            upload.id
            for upload in session.scalars(select(Upload).where(Upload.state.in_(UNFINISHED)))
            if upload.id not in held and expired(upload)
        ]
    errors = [{"code": LEASE_EXPIRED, "message": lease_expired_message(lease_seconds)}]
    failed = 0
    for upload_id in candidates:
        # One transaction each, re-checked under the row lock: a heartbeat that landed
        # since the scan saves its upload.
        with session_scope(session_factory) as session:
            marked = fail_upload(
                session, upload_id, errors, AuditTrail.for_operator(), only_if=expired
            )
        if not marked:
            continue
        failed += 1
        log.warning("upload %s failed by the watchdog: its lease expired", upload_id)
        try:
            drop_unreferenced_table(session_factory, upload_table_name(upload_id))
        except SQLAlchemyError as exc:
            log.warning("could not drop table of upload %s (%s)", upload_id, type(exc).__name__)
        if spool_dir is not None:
            # Its key lived only in the lost worker's memory: the file is unreadable now.
            (spool_dir / f"{upload_id}{SPOOL_SUFFIX}").unlink(missing_ok=True)
    return failed
