"""Reported messages: a lookup by message id, and the messages a member reported and no longer
sees.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 11:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_message_id", "messages", ["message_id"])
    op.create_table(
        "hidden_messages",
        sa.Column("viewer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("viewer_id", "message_id"),
    )


def downgrade() -> None:
    op.drop_table("hidden_messages")
    op.drop_index("ix_messages_message_id", table_name="messages")
