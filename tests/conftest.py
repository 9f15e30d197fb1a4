"""Shared fixtures: isolated settings, real databases built by Alembic, a socket guard.

Every test database is created fresh with a unique name and built with
``alembic upgrade head`` (never ``create_all``), then dropped: no state survives a run.
SQLite tests get a copy of one file migrated at the start of the run.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from argon2 import PasswordHasher

# The CLI's Rich consoles take their width from COLUMNS once, when fivesafes.cli is first
# imported: fixed wide for the whole run, so no output folds whichever test (or xdist
# worker, with its longer temporary paths) imports it first.
os.environ["COLUMNS"] = "400"

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from fivesafes import schema
from fivesafes.config import Settings, load_settings, reset_settings_cache
from fivesafes.db import make_engine, make_session_factory
from fivesafes.identity import passwords

#: The test identity provider's fixtures (tests/oidc_idp), for every tier.
pytest_plugins = ["tests.oidc_idp.fixtures", "tests.hsm.fixtures"]

PG_ADMIN_URL = os.environ.get(
    "FIVESAFES_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


#: The tiers, by the folder a test lives in: what a test needs is where it is.
TIERS = {"unit": "unit", "integration": "integration", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its tier, from its folder (``tests/<tier>/...``).

    Markers, not paths, are what ``make test-fast`` selects on; a test outside the three
    tier folders is a collection error, so no test escapes its tier.
    """
    root = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(root).parts
        tier = TIERS.get(parts[0]) if len(parts) > 1 else None
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/unit, integration or e2e")
        item.add_marker(tier)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's FIVESAFES_* variables, .env file or var/ folder."""
    for name in list(os.environ):
        if name.startswith("FIVESAFES_") and not name.startswith("FIVESAFES_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    reset_settings_cache()
    yield
    reset_settings_cache()


#: argon2id at its cheapest (one pass over 8 KiB): the same library, code path and hash
#: format as production, without its 64 MiB and three passes per hash and per check.
_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_CHEAP_DUMMY_HASH = _CHEAP_HASHER.hash("fivesafes-dummy-password-for-timing")


@pytest.fixture(autouse=True)
def _cheap_password_hashing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process tests hash and check passwords with :data:`_CHEAP_HASHER`.

    The production profile (64 MiB, three passes) costs up to most of a second per hash
    or check on this loaded 2-core machine, and the log-in, back-off and credential tests
    make hundreds: minutes of a run spent on memory-hard work whose parameters only
    tests/unit/web/test_passwords.py is about (it sets ``REAL_PASSWORD_HASHING = True`` and
    keeps them). The e2e server processes are not patched: they hash, and rehash on log-in,
    with the production profile.
    """
    if getattr(request.module, "REAL_PASSWORD_HASHING", False):
        return
    monkeypatch.setattr(passwords, "_hasher", _CHEAP_HASHER)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", _CHEAP_DUMMY_HASH)


@functools.cache
def _pg_admin() -> Engine:
    """One administrative engine per process (worker), pooled: each CREATE or DROP
    DATABASE then costs a statement, not a new connection and engine."""
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_size=2)


def _create_pg_database(template: str | None = None) -> tuple[str, str]:
    """A new database with a unique name: empty, or a copy of ``template``."""
    name = f"fivesafes_test_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with _pg_admin().connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    except Exception as exc:  # pragma: no cover - environment problem, reported loudly
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is required (start it with "
            f"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`): {exc}"
        )
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    with _pg_admin().connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class _BackgroundDrops:
    """Drops test databases in a thread while the next test runs, then waits for them all.

    PostgreSQL 15 makes every DROP DATABASE wait for an immediate checkpoint (a flush of
    the whole cluster's dirty pages, the other worker's too): a fraction of a second to
    seconds on a loaded machine, for each of hundreds of tests, spent waiting on the disk.
    The test is over by then, so nothing needs to wait for it but the end of the run. A
    drop that failed in the thread (whatever the test running meanwhile did to the
    process) is tried again there, and reported if it fails again: none is left behind.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-drop")
        self._pending: list[tuple[str, Future[None]]] = []

    def drop(self, name: str) -> None:
        self._pending.append((name, self._pool.submit(_drop_pg_database, name)))

    def finish(self) -> None:
        self._pool.shutdown(wait=True)
        for name, dropped in self._pending:
            if dropped.exception() is not None:
                _drop_pg_database(name)


@pytest.fixture(scope="session")
def _pg_drops() -> Iterator[_BackgroundDrops]:
    drops = _BackgroundDrops()
    yield drops
    drops.finish()
    if _pg_admin.cache_info().currsize:
        _pg_admin().dispose()


#: Runs a test on SQLite only, for a test whose database work is dialect-neutral and
#: covered on PostgreSQL by its neighbours: half its cost, nothing less asserted.
sqlite_only = pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)

#: PostgreSQL test databases made as copies of the migrated template, by URL.
_SCHEMA_COPIES: set[str] = set()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, _pg_drops: _BackgroundDrops
) -> Iterator[str]:
    """A fresh, empty database on each dialect (no schema yet).

    On PostgreSQL, a test that also asks for ``database_url`` gets its database made as a
    copy of the migrated template straight away: making it empty only for
    ``database_url`` to drop it and copy the template cost a CREATE and a DROP (with its
    checkpoint) for nothing.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    template = (
        request.getfixturevalue("_pg_schema_template")
        if "database_url" in request.fixturenames
        else None
    )
    name, url = _create_pg_database(template)
    if template is not None:
        _SCHEMA_COPIES.add(url)
    try:
        yield url
    finally:
        _SCHEMA_COPIES.discard(url)
        _pg_drops.drop(name)


@pytest.fixture(scope="session")
def _sqlite_schema_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated by ``alembic upgrade head``, copied for each test.

    Running every migration for each of a thousand SQLite tests was most of the inner
    loop's time; a copy of the migrated file is the same schema in milliseconds.
    """
    template = tmp_path_factory.mktemp("schema") / "template.db"
    schema.upgrade(f"sqlite:///{template}")
    return template


@pytest.fixture(scope="session")
def _pg_schema_template() -> Iterator[str]:
    """One PostgreSQL database migrated by ``alembic upgrade head`` (per test worker),
    from which each test's database is created (``CREATE DATABASE ... TEMPLATE``).

    Thirteen migrations for each of a thousand PostgreSQL tests cost most of a second
    apiece; a copy of the migrated database is the same schema in a fraction of that.
    Nothing connects to the template after the migration (Alembic's engine has no pool),
    as ``TEMPLATE`` requires.
    """
    name, url = _create_pg_database()
    try:
        schema.upgrade(url)
        yield name
    finally:
        _drop_pg_database(name)


def _recreate_from_template(url: str, template: str) -> None:
    name = url.rsplit("/", 1)[1]
    with _pg_admin().connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))


@pytest.fixture
def database_url(empty_database_url: str, request: pytest.FixtureRequest) -> str:
    """A fresh database with the schema built by ``alembic upgrade head``.

    SQLite: a copy (SQLite's backup API, so nothing in a write-ahead log is lost) of a file
    migrated once per run; PostgreSQL: a copy (``CREATE DATABASE ... TEMPLATE``) of a
    database migrated once per run and worker.
    """
    if empty_database_url.startswith("sqlite:///"):
        template: Path = request.getfixturevalue("_sqlite_schema_template")
        source = sqlite3.connect(template)
        target = sqlite3.connect(empty_database_url.removeprefix("sqlite:///"))
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return empty_database_url
    if empty_database_url not in _SCHEMA_COPIES:  # asked for late (getfixturevalue)
        _recreate_from_template(empty_database_url, request.getfixturevalue("_pg_schema_template"))
        _SCHEMA_COPIES.add(empty_database_url)
    return empty_database_url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        keystore_path=tmp_path / "keys",
        release_copies_path=tmp_path / "release-copies",
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed by the test (services only flush)."""
    with session_factory() as session:
        yield session
