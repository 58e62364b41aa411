"""What viewers reported and no longer see: hidden posts, comments and stories.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 11:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hidden_content",
        sa.Column("viewer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("target_type", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("viewer_id", "target_type", "target_id"),
    )


def downgrade() -> None:
    op.drop_table("hidden_content")
