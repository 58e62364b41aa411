"""post alt texts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 11:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: posts made before alt texts have none.
    op.add_column("posts", sa.Column("alt_texts", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("posts", "alt_texts")
