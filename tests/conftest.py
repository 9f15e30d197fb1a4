"""Shared fixtures: isolated settings, real databases built by Alembic, a socket guard.

Every test database is created fresh with a unique name and built with
``alembic upgrade head`` (never ``create_all``), then dropped: no state survives a run.
SQLite tests get a copy of one file migrated at the start of the run.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def _create_pg_database() -> tuple[str, str]:
    name = f"fivesafes_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - environment problem, reported loudly
        pytest.fail(
            f"PostgreSQL at {PG_ADMIN_URL} is required (start it with "
            f"`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`): {exc}"
        )
    finally:
        admin.dispose()
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each dialect (no schema yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    name, url = _create_pg_database()
    try:
        yield url
    finally:
        _drop_pg_database(name)


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
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()


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
    _recreate_from_template(empty_database_url, request.getfixturevalue("_pg_schema_template"))
    return empty_database_url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(database_url=database_url, keystore_path=tmp_path / "keys")


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
