"""Unsends reach open streams: each unsend gets an event id, each member's row the newest event
of the conversation they can see (what a stream looks up instead of inbox activity).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 11:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("unsent_id", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_index("ix_messages_unsent", ["conversation_id", "unsent_id"], unique=False)
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stream_id", sa.BigInteger(), nullable=False, server_default="0")
        )
    # Until now a member's newest event was their newest message or joining.
    op.execute("UPDATE participants SET stream_id = activity_id")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index("ix_participants_activity")
        batch_op.create_index("ix_participants_stream", ["user_id", "stream_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.drop_index("ix_participants_stream")
        batch_op.create_index("ix_participants_activity", ["user_id", "activity_id"], unique=False)
        batch_op.drop_column("stream_id")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_unsent")
        batch_op.drop_column("unsent_id")
