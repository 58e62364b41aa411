"""Fixtures shared by every test: settings on a temporary data dir, databases, a running mesh."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from mesh.config import MeshSettings

# The PostgreSQL server tests use; CI=true makes its absence a failure instead of a skip.
POSTGRES_ADMIN_URL = os.environ.get(
    "SHUTTER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# SHUTTER_TEST_ENGINES=1 runs the whole suite on the real engines: every service a test starts
# gets a fresh PostgreSQL database, a flushed Redis database and its own bucket on a SeaweedFS
# started for the session, instead of the embedded defaults.
ENGINES = os.environ.get("SHUTTER_TEST_ENGINES", "") == "1"
REDIS_TEST_URL = os.environ.get("SHUTTER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_MESH_URL = os.environ.get("SHUTTER_TEST_REDIS_MESH_URL", "redis://127.0.0.1:6379/14")


def _engine_missing(what: str, error: Exception) -> None:
    message = f"{what} is not reachable ({error})"
    if IN_CI:
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment() -> Iterator[None]:
    """Keep a developer's SHUTTER_* variables out of the tests."""
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("SHUTTER_") and not key.startswith("SHUTTER_TEST_"):
                patch.delenv(key)
        yield


@pytest.fixture(scope="session", autouse=True)
def _service_secret(
    _isolated_environment: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Give every service the tests start one service secret, so a test can call as a service
    (tests.identity) the way the edge and peers do."""
    path = tmp_path_factory.mktemp("secret") / "service.secret"
    path.write_bytes(os.urandom(32))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHUTTER_SERVICE_SECRET_FILE", str(path))
        yield path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Return an empty data directory for one test."""
    return tmp_path / "data"


@pytest.fixture
def mesh_settings(data_dir: Path) -> MeshSettings:
    """Return mesh settings on a temporary data dir."""
    return MeshSettings(data_dir=data_dir)


def _create_database() -> str:
    """Create an empty PostgreSQL database; return its name."""
    name = f"shutter_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _engine_missing("PostgreSQL", exc)
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _database_url(name: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"


def _drop_databases(names: list[str], *, connections: int = 1) -> None:
    """Drop these databases, over up to `connections` admin connections at once."""

    def drop(share: list[str]) -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            for name in share:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )

    shares = [names[i::connections] for i in range(connections) if names[i::connections]]
    with ThreadPoolExecutor(max_workers=max(1, len(shares))) as pool:
        for done in [pool.submit(drop, share) for share in shares]:
            done.result()


def _flushed_redis(url: str) -> str:
    """Empty a Redis database the tests own; return its URL."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        _engine_missing("Redis", exc)
    return url


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """Create a fresh PostgreSQL database for this test session; return its SQLAlchemy URL."""
    name = _create_database()
    yield _database_url(name)
    _drop_databases([name])


_engine_databases: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _stop_seaweedfs() -> Iterator[None]:
    """Stop the session's SeaweedFS once, at the end."""
    yield
    from tests import seaweedfs

    seaweedfs.stop_shared()


def pytest_sessionfinish() -> None:
    """Drop the per-test databases of an engines run (one per test: about two thousand) once
    every test and fixture is done. Here, not in a fixture's teardown: that counts against the
    last test's timeout, and on a slow host the drops alone outlasted it."""
    if _engine_databases:
        _drop_databases(_engine_databases, connections=4)


def _s3_environment(bucket: str) -> dict[str, str]:
    """Return the S3 settings of the session's SeaweedFS, with a bucket of one's own."""
    from tests import seaweedfs

    server = seaweedfs.shared()
    return {
        "SHUTTER_S3_ENDPOINT": server.endpoint,
        "SHUTTER_S3_ACCESS_KEY": server.access_key,
        "SHUTTER_S3_SECRET_KEY": server.secret_key,
        "SHUTTER_S3_BUCKET": bucket,
    }


@pytest.fixture(autouse=True)
def _engine_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """In an engines run, point every service a test starts at a fresh database and Redis."""
    if not ENGINES:
        return
    name = _create_database()
    _engine_databases.append(name)
    monkeypatch.setenv("SHUTTER_DATABASE_URL", _database_url(name))
    monkeypatch.setenv("SHUTTER_REDIS_URL", _flushed_redis(REDIS_TEST_URL))
    for key, value in _s3_environment(f"t-{uuid.uuid4().hex[:20]}").items():
        monkeypatch.setenv(key, value)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """Return each backend a relational store supports: None (embedded SQLite), then PostgreSQL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_database")
    return url


def unique_service(name: str) -> str:
    """Return a per-test service name, so PostgreSQL tests each get their own schema."""
    return f"{name}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
async def running_mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[object]:
    """Start the whole mesh with the edge, on embedded defaults and free ports, once per session."""
    from mesh.launcher import start_mesh
    from mesh.services import MESH

    data = tmp_path_factory.mktemp("mesh")
    # Rate limits far above what the suite's fast request loops from one address need (the
    # security suite checks the limits on edges of its own).
    overrides: dict[str, object] = {"data_dir": data, "edge_port": 0, "rate_limit_scale": 10_000}
    if ENGINES:
        name = _create_database()
        _engine_databases.append(name)
        overrides.update(database_url=_database_url(name), redis_url=_flushed_redis(REDIS_MESH_URL))
        s3 = _s3_environment(f"mesh-{uuid.uuid4().hex[:20]}")
        overrides.update({key.removeprefix("SHUTTER_").lower(): v for key, v in s3.items()})
    overrides.update({f"{spec.name}_addr": "127.0.0.1:0" for spec in MESH})
    mesh = await start_mesh(overrides=overrides)
    yield mesh
    await mesh.stop(grace=1.0)


@pytest.fixture(scope="session")
def finished_spans() -> Any:
    """Record every span this test process finishes (the in-process mesh's included)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter
