"""user_svc settings: its database, token lifetimes and password-hashing cost."""

from __future__ import annotations

from pydantic import Field, field_validator

from mesh.config import MeshSettings, service_database_replica_url, service_database_url
from mesh.ratelimit import parse_rate


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
    username_grace_seconds: int = Field(
        default=14 * 86_400,
        ge=0,
        description="How long a deleted account's username stays unavailable to new accounts.",
    )
    login_failures_per_account_ip: str = Field(
        default="5/5min",
        description="Wrong passwords one client IP may send for one account (then one per "
        "period/count); a right one restores them.",
    )
    login_failures_per_ip: str = Field(
        default="50/5min", description="Wrong passwords one client IP may send for any accounts."
    )
    login_failures_per_account: str = Field(
        default="30/10min",
        description="Wrong passwords one account may get from everywhere: period/count is also "
        "the longest an attacker can hold its owner's next try back.",
    )

    peer_deadline_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="The longest a profile or search waits for graph_svc or post_svc. When it "
        "runs out, the owner and anonymous viewers get the profile without counts; anyone else "
        "gets UNAVAILABLE (a block may hide it).",
    )

    reports_per_account: str = Field(
        default="30/1h",
        description="Reports one account may file (then one per period/count); repeating a "
        "report of the same thing is free.",
    )

    @field_validator(
        "login_failures_per_account_ip",
        "login_failures_per_ip",
        "login_failures_per_account",
        "reports_per_account",
    )
    @classmethod
    def _is_rate(cls, text: str) -> str:
        parse_rate(text)
        return text
