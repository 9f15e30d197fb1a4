"""Recording, tamper detection and checkpoints against real databases."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit.checkpoints import load_checkpoint, public_key_b64, sign_head
from fivesafes.audit.context import Actor, AuditContext
from fivesafes.audit.entry import AuditEntry
from fivesafes.audit.models import AuditEvent
from fivesafes.audit.recorder import record
from fivesafes.audit.signing import ChainDamagedError, make_checkpoint
from fivesafes.audit.verify import verify_chain
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.audit.helpers import triggers_disabled

CTX = AuditContext(Actor("user-1", "governance"), request_id="r1", client_addr="127.0.0.1")


def _append(factory: sessionmaker[Session], n: int) -> None:
    with factory() as session:
        for i in range(n):
            entry = AuditEntry(
                "test.event", target_type="thing", target_id=str(i), details={"i": i}
            )
            record(session, CTX, entry)
        session.commit()


def _verify(factory: sessionmaker[Session], **kwargs: object):  # type: ignore[no-untyped-def]
    with factory() as session:
        return verify_chain(session, **kwargs)  # type: ignore[arg-type]


def test_events_are_gapless_and_chained(session_factory: sessionmaker[Session]) -> None:
    _append(session_factory, 20)
    with session_factory() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert [e.seq for e in events] == list(range(1, 21))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    result = _verify(session_factory)
    assert result.ok
    assert result.events_verified == 20


def test_a_rolled_back_action_takes_its_event_with_it(
    session_factory: sessionmaker[Session],
) -> None:
    _append(session_factory, 2)
    with session_factory() as session:
        record(session, CTX, AuditEntry("test.doomed"))
        session.rollback()
    _append(session_factory, 1)
    with session_factory() as session:
        seqs = list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == [1, 2, 3]
    assert _verify(session_factory).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET outcome = 'denied' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 2",
    ],
)
def test_database_refuses_changes(
    engine: Engine, session_factory: sessionmaker[Session], statement: str
) -> None:
    _append(session_factory, 3)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    assert _verify(session_factory).ok


def test_postgres_refuses_truncate(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    _append(session_factory, 3)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_events"))


def test_raw_edit_is_found_at_its_exact_seq(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    _append(session_factory, 30)
    with triggers_disabled(engine) as connection:
        connection.execute(text("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 17"))
    result = _verify(session_factory)
    assert not result.ok
    assert (result.damage, result.first_bad_seq, result.events_verified) == ("edited", 17, 16)


def test_deleted_middle_row_is_found(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    _append(session_factory, 10)
    with triggers_disabled(engine) as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq = 6"))
    result = _verify(session_factory)
    assert (result.ok, result.damage, result.first_bad_seq) == (False, "missing", 6)


def test_renumbered_rows_are_found(engine: Engine, session_factory: sessionmaker[Session]) -> None:
    _append(session_factory, 10)
    with triggers_disabled(engine) as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq = 10"))
        connection.execute(text("UPDATE audit_events SET seq = 10 WHERE seq = 4"))
    result = _verify(session_factory)
    assert not result.ok
    assert result.first_bad_seq == 4


def test_truncated_tail_is_found_against_a_checkpoint(
    engine: Engine, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    keys = InMemoryKeyStore.generate()
    _append(session_factory, 12)
    with session_factory() as session:
        exported = make_checkpoint(session, keys, None)
        session.commit()
    path = tmp_path / "checkpoint.json"
    path.write_text(exported.to_json())
    with triggers_disabled(engine) as connection:
        connection.execute(text("DELETE FROM audit_events WHERE seq > 9"))
    # Without the checkpoint the shortened chain is self-consistent...
    assert _verify(session_factory).ok
    # ...but the exported checkpoint proves events 10-12 existed.
    result = _verify(
        session_factory,
        checkpoints=[("file", load_checkpoint(path))],
        trusted_public_key=public_key_b64(keys),
        include_stored=False,
    )
    assert (result.ok, result.damage, result.first_bad_seq) == (False, "truncated", 10)


def test_rebuilt_chain_is_found_against_a_checkpoint(
    engine: Engine, session_factory: sessionmaker[Session]
) -> None:
    keys = InMemoryKeyStore.generate()
    _append(session_factory, 5)
    with session_factory() as session:
        exported = make_checkpoint(session, keys, None)
        session.commit()
    with triggers_disabled(engine) as connection:
        connection.execute(text("DELETE FROM audit_events"))
    other = AuditContext(Actor("forger", "admin"))
    with session_factory() as session:  # a fresh, internally consistent chain
        for _ in range(5):
            record(session, other, AuditEntry("test.event"))
        session.commit()
    result = _verify(
        session_factory,
        checkpoints=[("file", exported)],
        trusted_public_key=public_key_b64(keys),
        include_stored=False,
    )
    assert (result.ok, result.damage, result.first_bad_seq) == (False, "rebuilt", 5)


def test_forged_checkpoint_is_rejected(session_factory: sessionmaker[Session]) -> None:
    keys, attacker = InMemoryKeyStore.generate(), InMemoryKeyStore.generate()
    _append(session_factory, 3)
    with session_factory() as session:
        genuine = make_checkpoint(session, keys, None)
        # An attacker's own key: signing refuses it (a stored checkpoint it cannot verify),
        # so the attacker signs the head directly.
        with pytest.raises(ChainDamagedError, match="bad_checkpoint"):
            make_checkpoint(session, attacker, None)
        forged = sign_head(session, attacker, genuine.seq, genuine.hash)
        session.rollback()
    trusted = public_key_b64(keys)
    assert _verify(session_factory, checkpoints=[("f", genuine)], trusted_public_key=trusted).ok
    result = _verify(session_factory, checkpoints=[("f", forged)], trusted_public_key=trusted)
    assert (result.ok, result.damage) == (False, "bad_checkpoint")
    # The forged checkpoint names its own key, which verifies it: that key is not trusted.
    assert forged.signature_valid(forged.public_key)


def test_secrets_are_refused_in_details(session: Session) -> None:
    with pytest.raises(ValueError, match="token"):
        record(session, CTX, AuditEntry("test.event", details={"token": "fs_x"}))
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0
