"""Account deletion: usernames held for a grace period (hashed), and the deletion ledger.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 11:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "released_usernames",
        sa.Column("username_hash", sa.String(length=64), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username_hash"),
    )
    op.create_table(
        "deletion_ledger",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("step", sa.String(length=40), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "step"),
    )


def downgrade() -> None:
    op.drop_table("deletion_ledger")
    op.drop_table("released_usernames")
