"""Alembic environment of user_svc: its tables, migrated by mesh.migrations."""

from mesh.migrations import run_env
from user_svc.store import metadata

run_env(metadata)
