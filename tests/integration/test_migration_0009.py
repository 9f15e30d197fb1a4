"""Migration 0009 moves existing version tables into their schema, and back on downgrade."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from fivesafes import schema
from fivesafes.db import make_engine


def _where(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT schemaname, tablename FROM pg_tables "
                    "WHERE tablename LIKE 'dsv\\_%' ORDER BY tablename"
                )
            ).all()
        return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()


def test_version_tables_move_into_their_schema_and_back(empty_database_url: str) -> None:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("SQLite has no schemas: version tables stay in the main file")
    schema.upgrade(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE dsv_1 (x int)"))
            connection.execute(text("INSERT INTO dsv_1 VALUES (7)"))
    finally:
        engine.dispose()
    schema.upgrade(empty_database_url)
    assert _where(empty_database_url) == [("fivesafes_versions", "dsv_1")]
    schema.downgrade(empty_database_url, "0008")
    assert _where(empty_database_url) == [("public", "dsv_1")]
    schema.upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT x FROM fivesafes_versions.dsv_1")).scalar_one()
    finally:
        engine.dispose()
    assert kept == 7
