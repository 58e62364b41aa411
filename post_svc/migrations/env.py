"""Alembic environment of post_svc: its tables, migrated by mesh.migrations."""

from mesh.migrations import run_env
from post_svc.store import metadata

run_env(metadata)
