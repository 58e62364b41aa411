"""Alembic environment of feed_svc: its tables, migrated by mesh.migrations."""

from feed_svc.store import metadata
from mesh.migrations import run_env

run_env(metadata)
