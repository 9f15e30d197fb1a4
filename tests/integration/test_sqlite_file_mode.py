"""The embedded database and SQLite's side files are created readable by their owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from fivesafes import schema
from fivesafes.db import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> object:
    """The usual 022 umask, under which SQLite itself would create 0644 files."""
    previous = os.umask(0o022)
    yield previous
    os.umask(previous)


@pytest.mark.usefixtures("loose_umask")
def test_a_new_database_and_its_wal_files_are_0600(tmp_path: Path) -> None:
    database = tmp_path / "var" / "fivesafes.db"
    url = f"sqlite:///{database}"
    schema.upgrade(url)  # Alembic opens it first, through make_engine
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE probe (x INTEGER)"))
            connection.execute(text("INSERT INTO probe VALUES (1)"))
            # WAL mode is on (db._sqlite_pragmas): the side files exist while connected.
            side = [p for p in database.parent.iterdir() if p != database]
            assert {p.name for p in side} >= {"fivesafes.db-wal", "fivesafes.db-shm"}
            modes = {p.name: oct(_mode(p)) for p in [database, *side]}
    finally:
        engine.dispose()
    assert set(modes.values()) == {"0o600"}, modes


@pytest.mark.usefixtures("loose_umask")
def test_a_relative_url_is_created_0600_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite:///var/relative.db")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    assert _mode(tmp_path / "var" / "relative.db") == 0o600


def test_an_existing_database_keeps_its_mode_and_content(tmp_path: Path) -> None:
    database = tmp_path / "kept.db"
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE kept (x INTEGER)"))
        connection.execute(text("INSERT INTO kept VALUES (7)"))
    engine.dispose()
    database.chmod(0o640)  # the operator's choice, e.g. a backup group
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT x FROM kept")).scalar_one() == 7
    finally:
        engine.dispose()
    assert _mode(database) == 0o640


def test_an_in_memory_database_creates_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = make_engine("sqlite:///:memory:")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()
    assert list(tmp_path.iterdir()) == []
