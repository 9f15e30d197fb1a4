"""Start-up and shutdown: the periodic audit checkpoint, and releasing the engine."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from fivesafes.audit.checkpoints import checkpoint_if_advanced
from fivesafes.db import session_scope
from fivesafes.errors import ConfigurationError

log = logging.getLogger("fivesafes.audit")


def _checkpoint_once(app: FastAPI) -> None:
    with session_scope(app.state.session_factory) as session:
        made = checkpoint_if_advanced(session, app.state.keystore)
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


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    interval = app.state.settings.audit_checkpoint_interval_seconds
    task = asyncio.create_task(_checkpoint_forever(app, interval))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        app.state.engine.dispose()
