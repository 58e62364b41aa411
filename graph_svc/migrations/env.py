"""Alembic environment of graph_svc: its tables, migrated by mesh.migrations."""

from graph_svc.store import metadata
from mesh.migrations import run_env

run_env(metadata)
