"""Fixtures the mesh tests share across files."""

from tests.mesh.test_bus import make_bus, redis_url
from tests.redis_server import private_redis

__all__ = ["make_bus", "private_redis", "redis_url"]
