"""notify_svc settings: its database, aggregation, retention and the limits of live streams."""

from __future__ import annotations

from pydantic import Field

from mesh.config import MeshSettings, service_database_replica_url, service_database_url


class NotifySettings(MeshSettings):
    """Settings of notify_svc, from SHUTTER_* variables."""

    database_url: str | None = service_database_url("notify_svc")
    database_replica_url: str | None = service_database_replica_url("notify_svc")
    like_aggregation_window_seconds: float = Field(
        default=86_400,
        gt=0,
        le=30 * 86_400,
        description="Likes of one post within this long of the first one share one notification.",
    )
    notification_retention_seconds: float = Field(
        default=90 * 86_400,
        gt=0,
        description="Notifications unchanged for longer than this are deleted.",
    )
    processed_event_retention_seconds: float = Field(
        default=7 * 86_400,
        gt=0,
        description="How long the ids of handled events are kept to ignore redeliveries; keep it "
        "longer than the bus may take to redeliver (its dedupe window).",
    )
    prune_interval_seconds: float = Field(
        default=3600, gt=0, le=86_400, description="How often old notifications are pruned."
    )
    subscribe_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="How long a notification stream stays silent before it sends a heartbeat "
        "(the edge turns each into an SSE `: heartbeat` comment).",
    )
    max_streams_per_user: int = Field(
        default=5,
        ge=1,
        le=100,
        description="How many notification streams one account may hold open at once (devices).",
    )
    silence_keep_seconds: float = Field(
        default=300.0,
        ge=0,
        le=3600,
        description="How long notify_svc keeps, per recipient, the accounts it should not hear "
        "from (blocked either way, muted) as graph_svc reported them, at most: every replica "
        "forgets both accounts of a block, unblock, mute or unmute as soon as the bus brings it, "
        "so this only bounds a stale answer while the bus is down. 0 asks graph_svc every time.",
    )
    silence_keep_max: int = Field(
        default=50_000,
        ge=1,
        description="How many recipients' ties the in-process cache holds at most (oldest leave "
        "first).",
    )
    peer_deadline_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="The longest notify_svc waits for user_svc, graph_svc or post_svc on one call.",
    )
