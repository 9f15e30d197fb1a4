"""The tampering cases of issue 13, each with the verdict of every verification mode.

Modes (docs/audit.md): ``database`` - the chain and the checkpoints stored beside it;
``published`` - also every checkpoint in the published folder; ``external`` - the chain,
the stored checkpoints, a checkpoint file and a CSV export kept off the server. All
three check signatures with the trusted key (the key store's), never one from the
database. The attacker here holds the database owner's rights (triggers off).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes.audit import queries, review
from fivesafes.audit.checkpoints import public_key_b64, sign_head
from fivesafes.audit.context import Actor, AuditContext
from fivesafes.audit.entry import AuditEntry
from fivesafes.audit.publish import CheckpointPublisher
from fivesafes.audit.recorder import chain_head, record
from fivesafes.audit.signing import make_checkpoint
from fivesafes.audit.verification import VerifyScope, verify_against
from fivesafes.audit.verify import VerifyResult, verify_chain
from fivesafes.identity.directory import usernames
from fivesafes.keys.store import InMemoryKeyStore
from tests.integration.audit.helpers import triggers_disabled

CTX = AuditContext(Actor("user-1", "governance"), request_id="r1", client_addr="127.0.0.1")
FORGER = AuditContext(Actor("forger", "admin"))


@dataclass
class World:
    factory: sessionmaker[Session]
    engine: Engine
    keys: InMemoryKeyStore
    published: Path
    offsite_checkpoint: Path
    offsite_export: Path

    def append(self, n: int, context: AuditContext = CTX) -> None:
        with self.factory() as session:
            for i in range(n):
                record(
                    session, context, AuditEntry("test.event", target_id=str(i), details={"i": i})
                )
            session.commit()

    def verdicts(self) -> dict[str, str]:
        key = public_key_b64(self.keys)
        with self.factory() as session:
            results = {
                "database": verify_against(session, VerifyScope(key, None, "database")),
                "published": verify_against(session, VerifyScope(key, self.published)),
                "external": verify_against(
                    session,
                    VerifyScope(
                        key,
                        None,
                        against="database",
                        files=[self.offsite_checkpoint],
                        exports=[self.offsite_export],
                    ),
                ),
            }
        return {mode: _verdict(result) for mode, result in results.items()}


def _verdict(result: VerifyResult) -> str:
    return "ok" if result.ok else f"{result.damage}@{result.first_bad_seq}"


@pytest.fixture
def world(session_factory: sessionmaker[Session], engine: Engine, tmp_path: Path) -> World:
    """15 events; a checkpoint at 10, published and copied off-site; an export of all 15."""
    w = World(
        session_factory,
        engine,
        InMemoryKeyStore.generate(),
        tmp_path / "published",
        tmp_path / "offsite" / "checkpoint.json",
        tmp_path / "offsite" / "events.csv",
    )
    w.append(10)
    with session_factory() as session:
        made = make_checkpoint(session, w.keys, CheckpointPublisher(w.published))
        session.commit()
    assert made.seq == 10
    w.offsite_checkpoint.parent.mkdir()
    shutil.copy(next(w.published.iterdir()), w.offsite_checkpoint)
    w.append(5)
    with session_factory() as session:
        lines = review.csv_of(session, queries.EventFilter(), usernames)
        w.offsite_export.write_text("".join(lines))
    assert w.verdicts() == {"database": "ok", "published": "ok", "external": "ok"}
    return w


def _owner_sql(w: World, *statements: str) -> None:
    with triggers_disabled(w.engine, tables=("audit_events", "audit_checkpoints")) as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_tail_cut_after_the_last_checkpoint(world: World) -> None:
    _owner_sql(world, "DELETE FROM audit_events WHERE seq > 10")
    # Checkpoints cannot see events after the last one; only the later export can.
    assert world.verdicts() == {
        "database": "ok",
        "published": "ok",
        "external": "truncated@11",
    }


def test_tail_cut_before_the_last_checkpoint_with_stored_checkpoints_deleted(
    world: World,
) -> None:
    _owner_sql(world, "DELETE FROM audit_events WHERE seq > 6", "DELETE FROM audit_checkpoints")
    assert world.verdicts() == {
        "database": "ok",
        "published": "truncated@7",
        "external": "truncated@7",
    }


def _rebuild(world: World) -> None:
    _owner_sql(world, "DELETE FROM audit_events", "DELETE FROM audit_checkpoints")
    world.append(15, FORGER)  # a fresh chain, internally consistent


def test_chain_rebuilt_and_checkpoints_deleted(world: World) -> None:
    _rebuild(world)
    assert world.verdicts() == {
        "database": "ok",
        "published": "rebuilt@10",
        "external": "rebuilt@1",
    }


def test_checkpoints_resigned_with_another_key(world: World) -> None:
    _rebuild(world)
    attacker = InMemoryKeyStore.generate()
    with world.factory() as session:
        seq, head = chain_head(session)
        forged = sign_head(session, attacker, seq, head)
        session.commit()
    assert world.verdicts() == {
        "database": "bad_checkpoint@15",
        "published": "bad_checkpoint@15",
        "external": "bad_checkpoint@15",
    }
    # What the verifier did before: trust the key stored beside the checkpoint.
    with world.factory() as session:
        trusting_db = verify_chain(session, trusted_public_key=forged.public_key)
    assert trusting_db.ok


def _forge_head(world: World, *, right_link: bool) -> None:
    with world.factory() as session:
        seq, head = chain_head(session)
    prev = head if right_link else "f" * 64
    with world.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_events (seq, occurred_at, actor_id, actor_role, action, "
                "target_type, target_id, outcome, request_id, client_addr, details, "
                "prev_hash, hash) VALUES (:seq, CURRENT_TIMESTAMP, 'x', 'admin', "
                "'user.create', NULL, NULL, 'success', NULL, NULL, '{}', :prev, :hash)"
            ),
            {"seq": seq + 1, "prev": prev, "hash": "e" * 64},
        )


def test_forged_head_with_a_wrong_link_is_refused(world: World) -> None:
    with pytest.raises(DBAPIError, match="does not chain from the head"):
        _forge_head(world, right_link=False)
    assert world.verdicts() == {"database": "ok", "published": "ok", "external": "ok"}


def test_forged_head_with_a_wrong_hash(world: World) -> None:
    if world.engine.dialect.name == "postgresql":
        # PostgreSQL computes the hash itself: a claimed one that differs is refused.
        with pytest.raises(DBAPIError, match="not the hash of its fields"):
            _forge_head(world, right_link=True)
        expected = {"database": "ok", "published": "ok", "external": "ok"}
    else:
        # SQLite has no SHA-256 in SQL: the row goes in, and every mode finds it.
        _forge_head(world, right_link=True)
        expected = {"database": "edited@16", "published": "edited@16", "external": "edited@16"}
    assert world.verdicts() == expected


def test_event_edited(world: World) -> None:
    _owner_sql(world, "UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 4")
    assert world.verdicts() == {
        "database": "edited@4",
        "published": "edited@4",
        "external": "edited@4",
    }


def test_event_deleted_mid_chain(world: World) -> None:
    _owner_sql(world, "DELETE FROM audit_events WHERE seq = 7")
    assert world.verdicts() == {
        "database": "missing@7",
        "published": "missing@7",
        "external": "missing@7",
    }


def test_no_checkpoint_is_signed_over_damage(world: World) -> None:
    _owner_sql(world, "UPDATE audit_events SET outcome = 'denied' WHERE seq = 12")
    before = sorted(world.published.iterdir())
    with world.factory() as session, pytest.raises(Exception, match="edited at seq 12"):
        make_checkpoint(session, world.keys, CheckpointPublisher(world.published))
    assert sorted(world.published.iterdir()) == before


def test_a_rewritten_published_file_is_damage(world: World) -> None:
    (world.published / "checkpoint-000000000099-junk.json").write_text("{}")
    assert world.verdicts()["published"] == "bad_checkpoint@None"
