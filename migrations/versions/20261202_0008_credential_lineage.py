"""Credentials that end: sessions and tokens know what opened or minted them (issue 13).

- ``users.credentials_epoch``: bumped on a password set/clear or a role change; sessions
  (and tokens minted from them) record it and die when it moves on.
- ``web_sessions.token_id`` and ``web_sessions.credentials_epoch``: what opened the
  session. Token sessions opened before this revision cannot be linked to their token,
  so they are ended here (their users log in again); password sessions keep working.
- ``api_tokens.parent_token_id``, ``parent_session_id``, ``credentials_epoch``: what a
  token was minted from, so revoking, expiry or log-out of the parent ends it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode: SQLite can add (and drop) a column in place,
    # while rebuilding ``users`` would fail on the rows that reference it.
    op.add_column(
        "users", sa.Column("credentials_epoch", sa.Integer(), server_default="0", nullable=False)
    )

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_token_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("parent_session_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("credentials_epoch", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_tokens_parent_token_id_api_tokens"),
            "api_tokens",
            ["parent_token_id"],
            ["id"],
        )
        batch_op.create_index(
            batch_op.f("ix_api_tokens_parent_token_id"), ["parent_token_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_api_tokens_parent_session_id"), ["parent_session_id"], unique=False
        )

    op.execute(sa.text("DELETE FROM web_sessions WHERE method = 'token'"))
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("credentials_epoch", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_web_sessions_token_id_api_tokens"), "api_tokens", ["token_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_web_sessions_token_id_api_tokens"), type_="foreignkey"
        )
        batch_op.drop_column("credentials_epoch")
        batch_op.drop_column("token_id")

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_parent_session_id"))
        batch_op.drop_index(batch_op.f("ix_api_tokens_parent_token_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_api_tokens_parent_token_id_api_tokens"), type_="foreignkey"
        )
        batch_op.drop_column("credentials_epoch")
        batch_op.drop_column("parent_session_id")
        batch_op.drop_column("parent_token_id")

    op.drop_column("users", "credentials_epoch")
