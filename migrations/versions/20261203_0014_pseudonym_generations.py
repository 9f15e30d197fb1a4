"""Pseudonym generations (issue 17): which remap generation each stored pseudonym is at.

``dataset_versions.pseudonym_generation``: the generation of every pseudonym stored in
the version's table (1: made with the pseudonym key alone; g > 1: carried forward by the
remap keys 2..g). ``opt_out_lists.pseudonym_generation``: the same for the list's digests.
``projects.pseudonym_generation``: the generation a project's released pseudonyms are
pinned to, so a rotation leaves a project's linkage across downloads intact unless the
governance officer reissues them. Every existing row is generation 1.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("dataset_versions", "opt_out_lists", "projects")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("pseudonym_generation", sa.Integer(), nullable=False, server_default="1")
            )


def downgrade() -> None:
    for table in reversed(_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("pseudonym_generation")
