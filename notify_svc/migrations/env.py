"""Alembic environment of notify_svc: its tables, migrated by mesh.migrations."""

from mesh.migrations import run_env
from notify_svc.store import metadata

run_env(metadata)
