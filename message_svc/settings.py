"""message_svc settings: its database, how long it waits for its peers, and its live streams."""

from __future__ import annotations

from pydantic import Field, field_validator

from mesh.config import MeshSettings, service_database_replica_url, service_database_url
from mesh.ratelimit import parse_rate


class MessageSettings(MeshSettings):
    """Settings of message_svc, from SHUTTER_* variables."""

    database_url: str | None = service_database_url("message_svc")
    database_replica_url: str | None = service_database_replica_url("message_svc")
    peer_deadline_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="The longest message_svc waits for user_svc, graph_svc, media_svc or post_svc "
        "on one call; past it a send fails with UNAVAILABLE (never guessing who may write).",
    )
    subscribe_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="How long a message stream stays silent before it sends a heartbeat.",
    )
    max_streams_per_user: int = Field(
        default=5,
        ge=1,
        le=100,
        description="How many message streams one account may hold open at once (devices).",
    )
    block_cache_ttl_seconds: float = Field(
        default=300.0,
        gt=0,
        le=3600,
        description="How long message_svc keeps the block answer of a pair of accounts before "
        "asking graph_svc again; a block or unblock forgets it at once.",
    )
    block_cache_max_entries: int = Field(
        default=100_000,
        ge=1,
        le=10_000_000,
        description="How many pairs' block answers message_svc keeps (least recently used go).",
    )
    message_requests_per_account: str = Field(
        default="10/h",
        description="Conversations one account may start with people who do not follow it "
        "(message requests), as count/period (GCRA: all at once, then one per period/count); "
        "past it CreateConversation answers RESOURCE_EXHAUSTED (429 with Retry-After).",
    )

    @field_validator("message_requests_per_account")
    @classmethod
    def _is_rate(cls, text: str) -> str:
        parse_rate(text)
        return text
