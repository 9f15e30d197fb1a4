"""An approval against a refused disclosure preview records its override reason (issue 15).

``request_reviews.override_reason``: when the disclosure preview of a request says its
release would be refused, an officer may still approve it (the gate stays in force at every
download), but only with a reason, kept here with the review and named in the
``request.approve`` audit event. Existing reviews have none.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("request_reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("override_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("request_reviews", schema=None) as batch_op:
        batch_op.drop_column("override_reason")
