"""Ingestion faults: a lease on each unfinished upload so a watchdog can fail orphans (issue 13).

``uploads.heartbeat_at`` is renewed by the process holding the upload (queued in its
runner or being ingested) every few seconds. An upload still ``queued`` or ``running``
whose heartbeat is older than ``FIVESAFES_INGEST_LEASE_SECONDS`` has lost its worker (a
failure that could not even be recorded, a hung or dead process): the watchdog marks it
failed so its file may be uploaded again. Existing rows start with no heartbeat; the
watchdog then falls back to their start or creation time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
