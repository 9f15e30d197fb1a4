"""Governed re-identification (issue 19): sealed NHS numbers, requests, approvals.

``reidentification_records``: per patient of a dataset whose policy allows
re-identification, the stored pseudonym and the NHS number sealed under the
re-identification key (the only place an NHS number is kept, and only encrypted).
``reidentification_requests`` / ``_subjects`` / ``_approvals``: the two-person flow.
``users.caldicott_guardian``: the officer's Caldicott Guardian flag (every existing user
starts without it). The ``reidentifier`` role is a new value of PostgreSQL's native
``user_role`` type (SQLite stores the role as plain text and needs nothing).

Downgrade drops the tables and the column but leaves ``reidentifier`` in ``user_role``:
PostgreSQL cannot remove a value from an enum type, and the value left behind is
harmless (upgrading again adds it "if not exists"). Downgrading with a user still in
that role is refused by nothing here; move them to another role first.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 09:00:00.000000
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sqlite_foreign_keys(on: bool) -> None:
    """Switch SQLite's foreign key enforcement, between transactions.

    SQLite alters ``users`` by copying it to a new table, dropping the old one and
    renaming the copy. With foreign keys on, dropping a table that API tokens, projects
    and audit rows point at fails (even deferred: the copy's rows were inserted before
    the drop, so the violation count never falls back). SQLite's own procedure for such
    an alteration is: foreign keys off, alter in one transaction, ``foreign_key_check``,
    foreign keys on. The pragma is a no-op inside a transaction, so it is issued on the
    raw connection inside Alembic's autocommit block.
    """
    with op.get_context().autocommit_block():
        raw = op.get_bind().connection.dbapi_connection
        assert raw is not None
        # The block's own begin() fired the platform's BEGIN IMMEDIATE listener: that
        # transaction is empty (everything before the block was committed); end it.
        if raw.in_transaction:
            raw.commit()
        raw.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")


def _alter_users_on_sqlite(alter: Callable[[], None]) -> None:
    """Run ``alter`` (a batch alteration of ``users``) with SQLite's procedure for it."""
    if op.get_bind().dialect.name != "sqlite":
        alter()
        return
    _sqlite_foreign_keys(on=False)
    try:
        alter()
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"foreign keys broken by altering users: {len(broken)} rows")
    finally:
        _sqlite_foreign_keys(on=True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # ADD VALUE cannot run inside a transaction block on older servers, and a value
        # added in a transaction cannot be used before it commits: commit it on its own.
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE user_role ADD VALUE IF NOT EXISTS 'reidentifier'")

    def add_flag() -> None:
        with op.batch_alter_table("users") as batch:
            batch.add_column(
                sa.Column(
                    "caldicott_guardian", sa.Boolean(), nullable=False, server_default=sa.false()
                )
            )
            if op.get_bind().dialect.name == "sqlite":
                # SQLite keeps the role as VARCHAR sized to the longest value: "reidentifier".
                batch.alter_column(
                    "role", existing_type=sa.String(length=10), type_=sa.String(length=12)
                )

    _alter_users_on_sqlite(add_flag)

    op.create_table(
        "reidentification_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=32), nullable=False),
        sa.Column("pseudonym_generation", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("first_version_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_reidentification_records_dataset_id_datasets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reidentification_records")),
        sa.UniqueConstraint(
            "dataset_id",
            "pseudonym_generation",
            "pseudonym",
            name=op.f("uq_reidentification_records_dataset_id_pseudonym_generation_pseudonym"),
        ),
    )
    with op.batch_alter_table("reidentification_records") as batch:
        batch.create_index(
            batch.f("ix_reidentification_records_dataset_id"), ["dataset_id"], unique=False
        )

    op.create_table(
        "reidentification_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Uuid(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("justification", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_by", sa.Uuid(), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("action_taken", sa.Text(), nullable=True),
        sa.Column("action_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_reidentification_requests_dataset_id_datasets"),
        ),
        sa.ForeignKeyConstraint(
            ["executed_by"],
            ["users.id"],
            name=op.f("fk_reidentification_requests_executed_by_users"),
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name=op.f("fk_reidentification_requests_grant_id_grants")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_reidentification_requests_project_id_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_reidentification_requests_release_id_releases"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_reidentification_requests_requester_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reidentification_requests")),
    )
    with op.batch_alter_table("reidentification_requests") as batch:
        batch.create_index(
            batch.f("ix_reidentification_requests_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "reidentification_subjects",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("project_pseudonym", sa.String(length=32), nullable=False),
        sa.Column("pseudonym_hash", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["reidentification_records.id"],
            name=op.f("fk_reidentification_subjects_record_id_reidentification_records"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["reidentification_requests.id"],
            name=op.f("fk_reidentification_subjects_request_id_reidentification_requests"),
        ),
        sa.PrimaryKeyConstraint(
            "request_id", "position", name=op.f("pk_reidentification_subjects")
        ),
    )

    op.create_table(
        "reidentification_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("approver_id", sa.Uuid(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("caldicott_guardian", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approver_id"],
            ["users.id"],
            name=op.f("fk_reidentification_approvals_approver_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["reidentification_requests.id"],
            name=op.f("fk_reidentification_approvals_request_id_reidentification_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reidentification_approvals")),
        sa.UniqueConstraint(
            "request_id",
            "approver_id",
            name=op.f("uq_reidentification_approvals_request_id_approver_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("reidentification_approvals")
    op.drop_table("reidentification_subjects")
    with op.batch_alter_table("reidentification_requests") as batch:
        batch.drop_index(batch.f("ix_reidentification_requests_project_id"))
    op.drop_table("reidentification_requests")
    with op.batch_alter_table("reidentification_records") as batch:
        batch.drop_index(batch.f("ix_reidentification_records_dataset_id"))
    op.drop_table("reidentification_records")

    def drop_flag() -> None:
        with op.batch_alter_table("users") as batch:
            batch.drop_column("caldicott_guardian")
            if op.get_bind().dialect.name == "sqlite":
                batch.alter_column(
                    "role", existing_type=sa.String(length=12), type_=sa.String(length=10)
                )

    _alter_users_on_sqlite(drop_flag)
    # "reidentifier" stays in user_role on PostgreSQL (see the module docstring).
