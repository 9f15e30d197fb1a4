"""Throw-away benchmark databases: a fresh, migrated database per run, dropped afterwards."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from fivesafes import schema

PG_ADMIN_URL = os.environ.get(
    "FIVESAFES_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def temporary_database(dialect: str) -> Iterator[str]:
    """Yield the URL of a new database built by ``alembic upgrade head``."""
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory(prefix="fivesafes-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            schema.upgrade(url)
            yield url
        return
    if dialect != "postgresql":
        raise ValueError(f"unknown dialect {dialect!r}")
    name = f"fivesafes_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        try:
            schema.upgrade(url)
            yield url
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
