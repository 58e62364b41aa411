"""engagement.version: how many events changed a post's counts (the read model's version)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 08:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.drop_column("version")
