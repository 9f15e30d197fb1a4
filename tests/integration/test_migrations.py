"""Alembic is the only way the schema is made, and it must match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from fivesafes import schema
from fivesafes.db import make_engine
from fivesafes.models import Base


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    schema.upgrade(empty_database_url)
    assert _tables(empty_database_url) == set(Base.metadata.tables)
    schema.downgrade(empty_database_url, "base")
    assert _tables(empty_database_url) == set()
    schema.upgrade(empty_database_url)
    assert _tables(empty_database_url) == set(Base.metadata.tables)
    engine = make_engine(empty_database_url)
    try:
        assert schema.current_revision(engine) == schema.head_revision(empty_database_url)
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "render_as_batch": True}
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], f"models and migrations differ; write a migration: {diff}"
