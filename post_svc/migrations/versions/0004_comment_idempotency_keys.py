"""comment idempotency keys

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-06 09:15:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
# main has 0003 (reels) since this branch left it: on merge, set this to "0003".
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comment_keys",
        sa.Column("author_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("comment_id", sa.BigInteger(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("author_id", "idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("comment_keys")
