"""Start-up and shutdown: recovery, the ingestion runner and its watchdog, the periodic
audit checkpoint, the close-out sweep, and releasing the engine."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.signing import checkpoint_if_advanced
from fivesafes.closeout.sweep import sweep, system_trail
from fivesafes.db import session_scope, utcnow
from fivesafes.errors import ConfigurationError, FivesafesError
from fivesafes.ingestion.ingestor import Ingestor, IngestorOptions
from fivesafes.ingestion.recovery import recover_interrupted
from fivesafes.ingestion.runner import IngestionRunner
from fivesafes.ingestion.watchdog import fail_orphaned
from fivesafes.release.retained_file import remove_abandoned_partials

log = logging.getLogger("fivesafes.audit")
ingest_log = logging.getLogger("fivesafes.ingestion")
closeout_log = logging.getLogger("fivesafes.closeout")


def _checkpoint_once(app: FastAPI) -> None:
    with session_scope(app.state.session_factory) as session:
        publisher = CheckpointPublisher.from_settings(app.state.settings)
        made = checkpoint_if_advanced(session, app.state.keystore, publisher)
    if made is not None:
        log.info("audit checkpoint signed at seq %d", made.seq)


async def _checkpoint_forever(app: FastAPI, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(_checkpoint_once, app)
        except (ConfigurationError, SQLAlchemyError) as exc:
            # Keep serving; the failure is visible in the log and in /audit/verify.
            log.error("periodic audit checkpoint failed: %s", exc)


def _recover(app: FastAPI) -> bool:
    """Fail uploads a previous process left unfinished; False if the database is down."""
    try:
        failed = recover_interrupted(app.state.session_factory, app.state.settings.spool_path)
    except SQLAlchemyError as exc:
        log.error(
            "recovery of interrupted uploads deferred: database unavailable (%s)",
            type(exc).__name__,
        )
        return False
    if failed:
        log.warning("%d interrupted uploads marked failed", failed)
    return True


async def _recover_until_done(app: FastAPI, interval: float = 30.0) -> None:
    while not await run_in_threadpool(_recover, app):
        await asyncio.sleep(interval)


def _start_ingestion(app: FastAPI) -> IngestionRunner:
    """The background runner of uploads (recovery of the last process's runs is separate)."""
    settings = app.state.settings
    # The server is multi-threaded: never fork it. A fork server (a fresh single-threaded
    # process that has imported the engine once) forks the workers instead.
    options = IngestorOptions.from_settings(settings, start_method="forkserver")
    ingestor = Ingestor(app.state.session_factory, app.state.keystore, options)
    return IngestionRunner(
        ingestor,
        workers=settings.ingest_workers,
        large_bytes=settings.ingest_large_upload_bytes,
    )


def _watch_once(app: FastAPI) -> int:
    """Fail unfinished uploads whose lease expired (not those this process holds)."""
    runner: IngestionRunner = app.state.ingestion_runner
    settings = app.state.settings
    failed = fail_orphaned(
        app.state.session_factory,
        lease_seconds=settings.ingest_lease_seconds,
        held=runner.held(),
        spool_dir=settings.spool_path,
    )
    if failed:
        ingest_log.warning("watchdog: %d orphaned uploads marked failed", failed)
    return failed


async def _watch_forever(app: FastAPI, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(_watch_once, app)
        except SQLAlchemyError as exc:
            # The database is down: nothing can be marked now; the next round retries.
            ingest_log.error("ingestion watchdog deferred: %s", type(exc).__name__)


def _sweep_once(app: FastAPI) -> None:
    """Projects past their end date begin closing; overdue ones get their daily event;
    partial release copies abandoned by a process that died mid-stream are shredded."""
    settings = app.state.settings
    with session_scope(app.state.session_factory) as session:
        result = sweep(
            session,
            system_trail(),
            utcnow(),
            days=settings.closeout_attestation_days,
            copies_folder=settings.release_copies_path,
        )
    if settings.release_copies_path.is_dir():
        remove_abandoned_partials(settings.release_copies_path, time.time())
    if result.closing or result.overdue_recorded:
        closeout_log.info(
            "close-out sweep: %d projects began closing, %d overdue recorded",
            len(result.closing),
            len(result.overdue_recorded),
        )


async def _sweep_forever(app: FastAPI, interval: float) -> None:
    """Like :func:`_watch_forever`: first run after one interval (start-up stays quick),
    and a failure is logged and retried next round. Idempotent across servers."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(_sweep_once, app)
        except (FivesafesError, SQLAlchemyError) as exc:
            closeout_log.error("close-out sweep deferred: %s", type(exc).__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Recovery runs before the first request is served when the database is up; when it
    # is down the server still starts (so /healthz can say 503) and retries.
    if not await run_in_threadpool(_recover, app):
        tasks = [asyncio.create_task(_recover_until_done(app))]
    else:
        tasks = []
    app.state.ingestion_runner = _start_ingestion(app)
    settings = app.state.settings
    tasks.append(asyncio.create_task(_watch_forever(app, settings.ingest_lease_seconds / 2)))
    interval = settings.audit_checkpoint_interval_seconds
    tasks.append(asyncio.create_task(_checkpoint_forever(app, interval)))
    sweep_interval = settings.closeout_sweep_interval_seconds
    tasks.append(asyncio.create_task(_sweep_forever(app, sweep_interval)))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        app.state.ingestion_runner.shutdown()
        app.state.ingestion_runner.ingestor.close()
        app.state.engine.dispose()
