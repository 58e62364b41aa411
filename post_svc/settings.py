"""post_svc settings: its database and how its engagement counters are spread."""

from __future__ import annotations

from pydantic import Field

from mesh.config import MeshSettings, service_database_url


class PostSettings(MeshSettings):
    """Settings of post_svc, from SHUTTER_* variables."""

    database_url: str | None = service_database_url("post_svc")
    counter_shards: int = Field(
        default=16,
        ge=1,
        le=256,
        description="How many rows a post's like and comment counts are spread over, so that "
        "concurrent likes of one post do not all wait on one row lock. Counts are sums over the "
        "rows, so changing this is safe at any time.",
    )
    peer_deadline_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="The longest post_svc waits for user_svc, graph_svc or media_svc on one call.",
    )
