"""Calling as a service in tests: the identity the edge and peers add beside a user's token."""

from __future__ import annotations

from mesh import auth
from mesh.config import MeshSettings


def service_md(name: str = auth.EDGE_SERVICE) -> tuple[tuple[str, str], ...]:
    """Return the metadata of a service's identity, signed with the tests' service secret (the
    session sets SHUTTER_SERVICE_SECRET_FILE for every service it starts)."""
    return ((auth.SERVICE_HEADER, auth.ServiceTokens(MeshSettings()).issue(name)),)
