"""Dataset version reviews: a version's state, its governance review, sampled cells, views.

Existing versions were released without a review and stay ``available``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), server_default="available", nullable=False)
        )

    op.create_table(
        "version_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=False),
        sa.Column("sample_requested", sa.Integer(), nullable=False),
        sa.Column("cells_available", sa.BigInteger(), nullable=False),
        sa.Column("sample_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_version_reviews_dataset_version_id_dataset_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_version_reviews_decided_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_reviews")),
        sa.UniqueConstraint(
            "dataset_version_id", name=op.f("uq_version_reviews_dataset_version_id")
        ),
    )
    op.create_table(
        "version_review_cells",
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("column_name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["version_reviews.id"],
            name=op.f("fk_version_review_cells_review_id_version_reviews"),
        ),
        sa.PrimaryKeyConstraint("review_id", "position", name=op.f("pk_version_review_cells")),
    )
    op.create_table(
        "version_review_views",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("viewer_id", sa.Uuid(), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["version_reviews.id"],
            name=op.f("fk_version_review_views_review_id_version_reviews"),
        ),
        sa.ForeignKeyConstraint(
            ["viewer_id"], ["users.id"], name=op.f("fk_version_review_views_viewer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_version_review_views")),
        sa.UniqueConstraint("secret_sha256", name=op.f("uq_version_review_views_secret_sha256")),
    )
    with op.batch_alter_table("version_review_views", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_version_review_views_review_id"), ["review_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("version_review_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_version_review_views_review_id"))
    op.drop_table("version_review_views")
    op.drop_table("version_review_cells")
    op.drop_table("version_reviews")

    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_column("state")
