"""Dataset versions can be withdrawn, and a withdrawn version's data purged (issue 15).

``dataset_versions`` gains who withdrew a version, when and why, and who purged its data
table and when. The new state ``withdrawn`` is text in the existing ``state`` column
(``VersionState``), so it needs no change there. Existing versions are not withdrawn.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purged_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # Code before this revision knows no ``withdrawn``: it must still never release them.
    op.execute("UPDATE dataset_versions SET state = 'rejected' WHERE state = 'withdrawn'")
    with op.batch_alter_table("dataset_versions", schema=None) as batch_op:
        batch_op.drop_column("purged_by")
        batch_op.drop_column("purged_at")
        batch_op.drop_column("withdrawal_reason")
        batch_op.drop_column("withdrawn_by")
        batch_op.drop_column("withdrawn_at")
