"""Migration 0016 adds close-out to existing projects (all still as they were) and
downgrades cleanly to 0015."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy import inspect

from fivesafes import schema
from fivesafes.db import make_engine

_USERS = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("username", sa.String()),
    sa.column("full_name", sa.String()),
    sa.column("role", sa.Enum("uploader", "researcher", "governance", "admin", name="user_role")),
    sa.column("is_active", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("credentials_epoch", sa.Integer()),
)
_PROJECTS = sa.table(
    "projects",
    *(sa.column(name) for name in ("title", "purpose", "lay_summary", "ethics_ref", "dsa_ref")),
    *(sa.column(name) for name in ("lawful_basis", "special_category_condition", "state")),
    sa.column("id", sa.Integer()),
    sa.column("start_date", sa.Date()),
    sa.column("end_date", sa.Date()),
    sa.column("lead_id", sa.Uuid()),
    sa.column("created_by", sa.Uuid()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("pseudonym_generation", sa.Integer()),
)
_NEW_COLUMNS = {"closing_at", "closing_reason", "closing_requested_by", "closed_at"}
_NEW_TABLES = {"destruction_attestations", "release_copies"}


def _seed_at_0015(url: str) -> None:
    lead, now = uuid.uuid4(), datetime.now(UTC)
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                _USERS.insert().values(
                    id=lead,
                    username="lead",
                    full_name="",
                    role="researcher",
                    is_active=True,
                    created_at=now,
                    credentials_epoch=0,
                )
            )
            connection.execute(
                _PROJECTS.insert().values(
                    id=1,
                    title="t",
                    purpose="p",
                    lay_summary="l",
                    ethics_ref="e",
                    dsa_ref="d",
                    lawful_basis="6.1.e-public-task",
                    special_category_condition="9.2.j-archiving-research-statistics",
                    start_date=date(2026, 1, 1),
                    end_date=date(2026, 12, 31),
                    state="active",
                    lead_id=lead,
                    created_by=lead,
                    created_at=now,
                    pseudonym_generation=1,
                )
            )
    finally:
        engine.dispose()


def test_upgrade_keeps_projects_and_downgrade_removes_closeout(empty_database_url: str) -> None:
    url = empty_database_url
    schema.upgrade(url, "0015")
    _seed_at_0015(url)
    schema.upgrade(url, "0016")
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) >= _NEW_TABLES
        columns = {c["name"] for c in inspector.get_columns("projects")}
        assert columns >= _NEW_COLUMNS | {"overdue_recorded_on"}
        with engine.connect() as connection:
            row = connection.execute(
                sa.text("SELECT state, closing_at, closed_at FROM projects WHERE id = 1")
            ).one()
        assert tuple(row) == ("active", None, None)
    finally:
        engine.dispose()
    schema.downgrade(url, "0015")
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        assert not _NEW_TABLES & set(inspector.get_table_names())
        columns = {c["name"] for c in inspector.get_columns("projects")}
        assert not (_NEW_COLUMNS | {"overdue_recorded_on"}) & columns
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM projects")).scalar() == 1
    finally:
        engine.dispose()
