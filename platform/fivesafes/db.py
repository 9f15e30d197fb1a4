"""Declarative base, engines and sessions.

One dependency owns each transaction (the API's request scope, a CLI command, a worker
job) through :func:`session_scope`; services only ``flush``. That way an action and its
audit event commit or roll back together.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, MetaData, String, create_engine, event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

# Deterministic constraint names, so Alembic can drop what it created on every dialect.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every dialect.

    SQLite has no time zones and hands back naive values; comparing those with aware
    ones raises. Storing UTC and re-attaching it on read keeps expiry checks honest.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_E = TypeVar("_E", bound=StrEnum)


class StrEnumText(TypeDecorator[_E]):
    """A ``StrEnum`` stored as its plain text value (``VARCHAR(length)``).

    Why not SQLAlchemy's ``Enum``: it would add a CHECK constraint or a native type per
    dialect, so adding a state would need a migration on every table that holds one. The
    column stays the text the migrations made; the model reads and writes the enum, and
    an unknown value read back fails loudly instead of slipping through as a string.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[_E], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: _E | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> _E | None:
        return None if value is None else self.enum(value)


def utcnow() -> datetime:
    """The current time, aware and in UTC (the only clock the platform uses)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Base of every governed table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


#: Execution option marking a connection that only reads (SQLite then skips the write lock).
READ_ONLY = "fivesafes_read_only"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers run beside a writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # We emit BEGIN ourselves (below); pysqlite's own BEGIN would be DEFERRED.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Connection) -> None:
    """Begin IMMEDIATE: take SQLite's write lock up front.

    A DEFERRED transaction that reads, then writes after another writer committed, fails
    at once with SQLITE_BUSY (its snapshot is stale); that would fork nothing but would
    fail audited actions at random. IMMEDIATE makes writers queue instead (busy_timeout).
    """
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


#: The embedded database holds pseudonymised rows and the audit trail: owner only, like the
#: keys. SQLite gives its -wal, -shm and -journal files the database file's own mode.
SQLITE_FILE_MODE = 0o600


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists, before SQLite opens it.

    SQLite would create it 0644 (0666 less the usual umask): readable by every local user.
    ``O_EXCL`` makes the creation race-free (no moment at another mode); ``fchmod`` keeps
    the owner's write bit even under an unusual umask. An existing file keeps the mode
    its operator gave it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SQLITE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, SQLITE_FILE_MODE)
    finally:
        os.close(fd)


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names, or None (in memory, or a ``file:`` URI)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the dialect settings the platform relies on."""
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            create_private_file(path)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (responses read them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def keeps_audit(exc: BaseException) -> bool:
    """Whether a failure asks its transaction to be committed rather than rolled back.

    The protocol is one attribute, ``keeps_audit = True``, on an exception that has
    written the audit event of its own refusal (the first use of an expired grant records
    ``grant.expired``) and has written nothing else. The owner of the transaction decides,
    so no service, route or dependency commits on its own.
    """
    return getattr(exc, "keeps_audit", False) is True


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception (commit instead if
    the exception :func:`keeps_audit`)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException as exc:
        if keeps_audit(exc):
            session.commit()
        else:
            session.rollback()
        raise
    finally:
        session.close()
