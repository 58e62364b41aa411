"""Alembic environment of media_svc: its tables, migrated by mesh.migrations."""

from media_svc.store import metadata
from mesh.migrations import run_env

run_env(metadata)
