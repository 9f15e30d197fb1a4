"""The PostgreSQL role set-up of docs/audit.md, run as written, then used.

The SQL blocks marked ``<!-- pg-setup: ... -->`` are taken from the document itself (so
the document cannot drift from what works), run with fresh, uniquely named roles and a
fresh database, the schema built by the owner role; then the application role ingests an
upload and serves a release, and is shown unable to change the audit trail.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from fivesafes import schema
from fivesafes.audit.context import Actor, AuditContext
from fivesafes.audit.entry import AuditEntry
from fivesafes.audit.recorder import record
from fivesafes.audit.verify import verify_chain
from fivesafes.config import Settings
from fivesafes.db import make_engine, make_session_factory
from tests.conftest import PG_ADMIN_URL
from tests.factories.release_world import World, build

pytestmark = pytest.mark.postgres

DOC = Path(__file__).resolve().parents[2] / "docs" / "audit.md"
_BLOCK = re.compile(r"<!-- pg-setup: (?P<who>[^>]+?) -->\s*```sql\n(?P<sql>.*?)```", re.S)


def setup_blocks() -> dict[str, str]:
    """The marked SQL blocks of docs/audit.md, by their marker."""
    blocks = {m["who"]: m["sql"] for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8"))}
    assert set(blocks) == {"superuser", "owner, before upgrade", "owner, after upgrade"}
    return blocks


def statements(sql: str, names: dict[str, str]) -> list[str]:
    """The block's statements with the documented names replaced by this run's."""
    for documented, actual in names.items():
        sql = re.sub(rf"\b{documented}\b", actual, sql)
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


@dataclass
class Roles:
    owner_url: str
    app_url: str
    owner: str
    app: str


def _run(url: str, sql: list[str], *, autocommit: bool = False) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT") if autocommit else create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in sql:
                connection.execute(text(statement))
    finally:
        engine.dispose()


@pytest.fixture
def roles() -> Iterator[Roles]:
    tag = uuid.uuid4().hex[:10]
    names = {
        "fivesafes_owner": f"fs_owner_{tag}",
        "fivesafes_app": f"fs_app_{tag}",
        "fivesafes": f"fs_roles_{tag}",
    }
    blocks = setup_blocks()
    server = PG_ADMIN_URL.rsplit("@", 1)[1].rsplit("/", 1)[0]
    database = names["fivesafes"]
    owner_url = f"postgresql+psycopg://{names['fivesafes_owner']}@{server}/{database}"
    app_url = f"postgresql+psycopg://{names['fivesafes_app']}@{server}/{database}"
    try:
        _run(PG_ADMIN_URL, statements(blocks["superuser"], names), autocommit=True)
        _run(owner_url, statements(blocks["owner, before upgrade"], names))
        schema.upgrade(owner_url)
        _run(owner_url, statements(blocks["owner, after upgrade"], names))
        yield Roles(owner_url, app_url, names["fivesafes_owner"], names["fivesafes_app"])
    finally:
        _run(
            PG_ADMIN_URL,
            [
                f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
                f'DROP ROLE IF EXISTS "{names["fivesafes_app"]}"',
                f'DROP ROLE IF EXISTS "{names["fivesafes_owner"]}"',
            ],
            autocommit=True,
        )


@pytest.fixture
def database_url(roles: Roles) -> str:
    """Overrides the shared fixture: the app runs as the documented application role."""
    return roles.app_url


@pytest.fixture
def world(settings: Settings, session_factory: sessionmaker[Session], tmp_path: Path) -> World:
    """The release tests' world, built on the application role's connection."""
    return build(settings, session_factory, tmp_path)


def test_app_role_uploads_and_releases(world: World, roles: Roles, engine: Engine) -> None:
    # The world fixture ingested an upload as the app role; now a release.
    grant = world.grant("a")
    response = world.client.get(
        f"/grants/{grant}/data", params={"format": "csv"}, headers=world.people["a"].auth
    )
    assert response.status_code == 200, response.text
    assert response.content.count(b"\n") > 10
    with engine.connect() as connection:
        tables = connection.execute(
            text("SELECT schemaname, tableowner FROM pg_tables WHERE tablename LIKE 'dsv\\_%'")
        ).all()
    assert tables == [("fivesafes_versions", roles.app)]
    assert world.client.get("/healthz").status_code == 200
    with world.factory() as session:
        assert verify_chain(session).ok


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE audit_events SET outcome = 'denied' WHERE seq = 1", "permission denied"),
        ("DELETE FROM audit_events WHERE seq = 1", "permission denied"),
        ("TRUNCATE audit_events", "permission denied"),
        ("DELETE FROM audit_checkpoints", "permission denied"),
        ("ALTER TABLE audit_events DISABLE TRIGGER USER", "must be owner"),
        ("DROP TRIGGER audit_events_chain ON audit_events", "must be owner"),
        ("CREATE TABLE public.shadow (x int)", "permission denied"),
        ("UPDATE alembic_version SET version_num = '0001'", "permission denied"),
        (
            "INSERT INTO audit_events (seq, occurred_at, action, outcome, details, prev_hash, "
            "hash) SELECT max(seq) + 1, now(), 'user.create', 'success', '{}', "
            "repeat('f', 64), repeat('e', 64) FROM audit_events",
            "does not chain from the head",
        ),
        (
            "INSERT INTO audit_events (seq, occurred_at, action, outcome, details, prev_hash, "
            "hash) SELECT seq + 1, now(), 'user.create', 'success', '{}', hash, "
            "repeat('e', 64) FROM audit_events ORDER BY seq DESC LIMIT 1",
            "not the hash of its fields",
        ),
    ],
)
def test_app_role_cannot_rewrite_the_audit_trail(
    roles: Roles, statement: str, refusal: str
) -> None:
    app = make_engine(roles.app_url)
    try:
        factory = make_session_factory(app)
        with factory() as session:
            for i in range(3):
                record(
                    session,
                    AuditContext(Actor("u", "admin")),
                    AuditEntry("test.event", details={"i": i}),
                )
            session.commit()
        with pytest.raises(DBAPIError, match=refusal), app.begin() as connection:
            connection.execute(text(statement))
        with factory() as session:
            result = verify_chain(session)
        assert (result.ok, result.events_verified) == (True, 3)
    finally:
        app.dispose()
