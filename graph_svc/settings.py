"""graph_svc settings: its database and how long it trusts what user_svc said about an account."""

from __future__ import annotations

from pydantic import Field

from mesh.config import MeshSettings, service_database_replica_url, service_database_url


class GraphSettings(MeshSettings):
    """Settings of graph_svc, from SHUTTER_* variables."""

    database_url: str | None = service_database_url("graph_svc")
    database_replica_url: str | None = service_database_replica_url("graph_svc")
    user_cache_ttl_seconds: float = Field(
        default=60.0,
        ge=0,
        le=300,
        description="How long the privacy rule (CanView, list access) trusts an account's "
        "existence and is_private as user_svc reported them, at most: every replica forgets an "
        "account as soon as the bus brings its change (profile update, suspension, deletion), so "
        "this bounds a stale answer only while the bus is down; 0 disables the cache.",
    )
    user_cache_max_entries: int = Field(
        default=100_000,
        ge=1,
        description="How many accounts the in-process cache holds at most (oldest leave first).",
    )
    feed_sync_deadline_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="The longest an unfollow, block or mute waits for feed_svc to apply its "
        "events before answering (after that the bus delivers them, a moment later).",
    )
