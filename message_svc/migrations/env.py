"""Alembic environment of message_svc: its tables, migrated by mesh.migrations."""

from mesh.migrations import run_env
from message_svc.store import metadata

run_env(metadata)
