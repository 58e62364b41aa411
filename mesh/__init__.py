"""Shared machinery of the mesh: config, servers, clients, auth, errors, storage, the CLI."""
