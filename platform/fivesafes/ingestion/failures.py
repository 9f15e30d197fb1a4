"""Recording that an upload failed, even when the failure was the database's.

An ingestion that fails because the database failed (a dropped connection, a restart, a
full disk) usually meets the same fault when it records the failure. Marking it failed
once and giving up left the upload ``running`` and its file refused as "already being
ingested" until the next restart. So the mark is retried a bounded number of times with
exponential backoff, each attempt on a fresh connection (the one that failed is
invalidated, so the pool cannot hand it back); if every attempt fails, the caller lets
the upload's lease run out and the watchdog fails it once the database is back.

A mark never overwrites a finished upload: a succeeded upload has its version, and an
upload already failed (by the watchdog, or by recovery) keeps its first reason.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.trail import AuditTrail
from fivesafes.datasets.models import DatasetVersion, Upload, UploadState
from fivesafes.db import utcnow
from fivesafes.ingestion import storage
from fivesafes.ingestion.leases import UNFINISHED

log = logging.getLogger("fivesafes.ingestion")


@dataclass(frozen=True, slots=True)
class Retry:
    """How hard to try: ``attempts`` in all, waiting ``backoff`` x 2^n (capped) between."""

    attempts: int = 6
    backoff: float = 0.25
    max_backoff: float = 5.0

    def delays(self) -> list[float]:
        """The waits between attempts (one fewer than the attempts)."""
        return [min(self.backoff * 2**n, self.max_backoff) for n in range(self.attempts - 1)]


def _bind(session_factory: sessionmaker[Session]) -> Engine:
    bind = session_factory.kw["bind"]
    assert isinstance(bind, Engine)
    return bind


def with_retries(
    session_factory: sessionmaker[Session],
    work: Callable[[Session], bool],
    *,
    retry: Retry,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Run ``work`` in its own transaction on a fresh connection until it commits.

    Returns what ``work`` returned; raises the last database error once every attempt
    has failed. Only :class:`SQLAlchemyError` is retried: anything else is a bug.
    """
    engine = _bind(session_factory)
    delays = retry.delays()
    for attempt in range(retry.attempts):
        connection = engine.connect()
        try:
            with session_factory(bind=connection) as session:
                done = work(session)
                session.commit()
            return done
        except SQLAlchemyError as exc:
            with suppress(SQLAlchemyError):
                connection.invalidate()  # the next attempt gets a new DBAPI connection
            if attempt == len(delays):
                raise
            log.warning(
                "%s failed (%s), attempt %d of %d; retrying in %.2fs",
                what,
                type(exc).__name__,
                attempt + 1,
                retry.attempts,
                delays[attempt],
            )
            sleep(delays[attempt])
        finally:
            with suppress(SQLAlchemyError):
                connection.close()
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def fail_upload(
    session: Session,
    upload_id: uuid.UUID,
    errors: list[dict[str, Any]],
    trail: AuditTrail,
    *,
    only_if: Callable[[Upload], bool] | None = None,
) -> bool:
    """Mark an unfinished upload failed with ``errors``, audited; False if it was finished.

    The row is locked first (PostgreSQL; SQLite's writer lock is taken at BEGIN) so a
    commit of the same upload and this mark cannot both win; ``only_if`` re-checks, under
    that lock, a condition the caller read earlier (the watchdog: "its lease expired").
    """
    upload = session.get(Upload, upload_id, with_for_update=True, populate_existing=True)
    if upload is None or upload.state not in UNFINISHED:
        return False
    if only_if is not None and not only_if(upload):
        return False
    upload.state = UploadState.FAILED
    upload.finished_at = utcnow()
    upload.errors = json.dumps(errors)
    trail.record(
        session,
        "upload.fail",
        outcome="failed",
        target_type="upload",
        target_id=str(upload.id),
        # Codes and positions only: messages stay on the upload, for its readers.
        details={"errors": [{k: v for k, v in e.items() if k != "message"} for e in errors]},
    )
    return True


def drop_unreferenced_table(session_factory: sessionmaker[Session], name: str) -> None:
    """Drop a failed attempt's data table unless a version points at it (it never should)."""
    engine = _bind(session_factory)
    if not storage.table_exists(engine, name):
        return
    with session_factory() as session:
        if session.scalar(select(DatasetVersion.id).where(DatasetVersion.table_name == name)):
            return
    with engine.begin() as connection:
        storage.drop_table(connection, name)


def mark_failed_with_retries(
    session_factory: sessionmaker[Session],
    upload_id: uuid.UUID,
    errors: list[dict[str, Any]],
    trail: AuditTrail,
    *,
    table_name: str,
    retry: Retry,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Record the failure, retrying through database faults; then drop the attempt's table.

    Returns whether this call marked it (False: it was already finished). Raises the last
    database error if the mark could not be recorded at all.
    """
    marked = with_retries(
        session_factory,
        lambda session: fail_upload(session, upload_id, errors, trail),
        retry=retry,
        what=f"marking upload {upload_id} failed",
        sleep=sleep,
    )
    try:
        drop_unreferenced_table(session_factory, table_name)
    except SQLAlchemyError as exc:
        # Harmless if left: no version refers to it; start-up recovery drops it.
        log.warning("could not drop table of failed upload %s (%s)", upload_id, type(exc).__name__)
    return marked
