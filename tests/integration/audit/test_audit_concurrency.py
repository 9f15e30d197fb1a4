"""Concurrent writers never fork the chain or leave a gap."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.context import Actor, AuditContext
from fivesafes.audit.entry import AuditEntry
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.recorder import record
from fivesafes.audit.verify import verify_chain

WRITERS, EVENTS_EACH = 8, 250


def _writer(factory: sessionmaker[Session], writer: int) -> None:
    context = AuditContext(Actor(f"writer-{writer}", "uploader"))
    for i in range(EVENTS_EACH):
        with factory() as session:
            record(
                session, context, AuditEntry("test.concurrent", details={"writer": writer, "i": i})
            )
            session.commit()


def test_eight_concurrent_writers_leave_a_valid_gapless_chain(
    session_factory: sessionmaker[Session],
) -> None:
    with ThreadPoolExecutor(WRITERS) as pool:
        for future in [pool.submit(_writer, session_factory, w) for w in range(WRITERS)]:
            future.result()
    total = WRITERS * EVENTS_EACH
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == total
        assert session.scalar(select(func.max(AuditEvent.seq))) == total
        result = verify_chain(session)
    assert result.ok, result
    assert result.events_verified == total
