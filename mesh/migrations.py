"""What every service's Alembic env.py runs: migrate on the connection mesh.db hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData


def run_env(target_metadata: MetaData) -> None:
    """Run the migrations of one service on the connection given through Config.attributes."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `shutter migrate` or mesh.db.migrate")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
