"""user_svc settings: its database, token lifetimes and password-hashing cost."""

from __future__ import annotations

from pydantic import Field

from mesh.config import MeshSettings, service_database_replica_url, service_database_url


class UserSettings(MeshSettings):
    """Settings of user_svc, from SHUTTER_* variables."""

    database_url: str | None = service_database_url("user_svc")
    database_replica_url: str | None = service_database_replica_url("user_svc")
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=3600)
    # OWASP's argon2id minimum: 19 MiB of memory, 2 passes, 1 lane.
    argon2_memory_kib: int = Field(default=19_456, ge=1024)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)
    password_hash_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Threads that hash and check passwords (argon2id, CPU-bound, memory_kib "
        "each while it runs): more than the cores only queues, and each one is memory.",
    )
