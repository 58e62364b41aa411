"""HLS ladder: a video is ready with its first rendition while the rest of the ladder is made.

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
    with op.batch_alter_table("media", schema=None) as batch_op:
        # Existing media has no HLS ladder: the empty status and no rungs.
        batch_op.add_column(
            sa.Column("hls_status", sa.String(length=12), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("hls_rungs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_column("hls_rungs")
        batch_op.drop_column("hls_status")
