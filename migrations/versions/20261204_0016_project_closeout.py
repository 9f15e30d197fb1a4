"""Project close-out (issue 20): closing states, destruction attestations, release copies.

``projects`` gains when closing began, why, by whom, when the project closed, and the UTC
day its last ``project.attestation_overdue`` event was written. The new states
``closing`` and ``closed`` need nothing here: ``projects.state`` is plain text on every
dialect (``StrEnumText``), never a native enum, so PostgreSQL has no type to extend.
``destruction_attestations`` holds the lead's signed statements and their review.
``release_copies`` is the record of each release's retained encrypted copy (the model is
``fivesafes.release.retained_models.ReleaseCopy``), created here so one revision brings
the whole issue's schema.

Downgrade drops both tables and the columns. A project already ``closing`` or ``closed``
keeps that text in ``state``, which the older code cannot read: downgrading is for an
installation that has not used close-out yet.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nothing points at projects' new columns, and SQLite's batch copy of ``projects`` is
    # not needed: adding nullable columns is a plain ALTER TABLE ADD COLUMN there.
    op.add_column("projects", sa.Column("closing_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("projects", sa.Column("closing_reason", sa.Text(), nullable=True))
    op.add_column(
        "projects", sa.Column("closing_requested_by", sa.String(length=64), nullable=True)
    )
    op.add_column("projects", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("projects", sa.Column("overdue_recorded_on", sa.Date(), nullable=True))

    op.create_table(
        "destruction_attestations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("destroyed_by", sa.String(length=200), nullable=False),
        sa.Column("destroyed_on", sa.Date(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("copies", sa.Text(), nullable=False),
        sa.Column("declaration", sa.Text(), nullable=False),
        sa.Column("signed_name", sa.String(length=200), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("submitted_by", sa.Uuid(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_destruction_attestations_project_id_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_destruction_attestations_release_id_releases"),
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"],
            ["users.id"],
            name=op.f("fk_destruction_attestations_reviewed_by_users"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"],
            ["users.id"],
            name=op.f("fk_destruction_attestations_submitted_by_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destruction_attestations")),
    )
    with op.batch_alter_table("destruction_attestations") as batch:
        batch.create_index(
            batch.f("ix_destruction_attestations_project_id"), ["project_id"], unique=False
        )
        batch.create_index(
            batch.f("ix_destruction_attestations_release_id"), ["release_id"], unique=False
        )

    op.create_table(
        "release_copies",
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("byte_count", sa.BigInteger(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed_by", sa.String(length=64), nullable=True),
        sa.Column("destruction_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name=op.f("fk_release_copies_release_id_releases")
        ),
        sa.PrimaryKeyConstraint("release_id", name=op.f("pk_release_copies")),
    )


def downgrade() -> None:
    op.drop_table("release_copies")
    with op.batch_alter_table("destruction_attestations") as batch:
        batch.drop_index(batch.f("ix_destruction_attestations_release_id"))
        batch.drop_index(batch.f("ix_destruction_attestations_project_id"))
    op.drop_table("destruction_attestations")
    # SQLite (3.35+) drops a column in place when nothing refers to it; batch mode would
    # copy ``projects``, which many tables point at (see 0015 for what that takes).
    for column in (
        "overdue_recorded_on",
        "closed_at",
        "closing_requested_by",
        "closing_reason",
        "closing_at",
    ):
        op.drop_column("projects", column)
