"""post_svc settings: its database, how its engagement counters are spread, and the optional
Cassandra cluster that likes and comments move to."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from mesh.config import MeshSettings, service_database_replica_url, service_database_url


class PostSettings(MeshSettings):
    """Settings of post_svc, from SHUTTER_* variables."""

    database_url: str | None = service_database_url("post_svc")
    database_replica_url: str | None = service_database_replica_url("post_svc")
    counter_shards: int = Field(
        default=16,
        ge=1,
        le=256,
        description="How many rows a post's like and comment counts are spread over, so that "
        "concurrent likes of one post do not all wait on one row lock. Counts are sums over the "
        "rows, so changing this is safe at any time.",
    )
    feed_sync_deadline_seconds: float = Field(
        default=1.0,
        gt=0,
        le=30,
        description="The longest a like, save, comment or post deletion waits for feed_svc to "
        "apply its events to the read model before answering (after that the bus delivers "
        "them, and the caller may see the change a moment later).",
    )
    peer_deadline_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="The longest post_svc waits for user_svc, graph_svc or media_svc on one call.",
    )
    author_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        le=300,
        description="How long post_svc reuses an account's summary (username, name, picture, "
        "whether it exists) from user_svc, for new posts, stories and comments and when hydrating "
        "posts, at most: every replica forgets an account as soon as the bus brings its change "
        "(profile update, suspension, deletion), so this only bounds a stale summary while the "
        "bus is down. 0 asks user_svc every time.",
    )
    media_cache_seconds: float = Field(
        default=300.0,
        ge=0,
        le=3600,
        description="How long post_svc reuses a post's media description from media_svc "
        "(ready media never changes; deleted media goes with its post). 0 asks every time.",
    )
    hydration_cache_entries: int = Field(
        default=20_000,
        ge=1,
        le=1_000_000,
        description="Most authors, and most pieces of media, each of the two caches holds.",
    )
    cassandra_hosts: str | None = Field(
        default=None,
        description="Cassandra contact points, comma-separated host[:port] (port 9042 when left "
        "out; IPv6 as [addr]:port). Set, likes and comments (and their counts) live in that "
        "cluster instead of the relational database; unset means the relational store. An "
        "unreachable cluster stops post_svc at start-up.",
    )
    cassandra_keyspace: str = Field(
        default="shutter_post",
        pattern=r"^[A-Za-z][A-Za-z0-9_]{0,47}$",
        description="The keyspace post_svc creates (if missing) and keeps its tables in.",
    )
    cassandra_replication_factor: int = Field(
        default=3,
        ge=1,
        le=9,
        description="Replicas of every row in each datacenter (NetworkTopologyStrategy), used "
        "only when the keyspace is created; change it later with ALTER KEYSPACE.",
    )
    cassandra_consistency: Literal["LOCAL_QUORUM", "QUORUM", "ALL"] = Field(
        default="LOCAL_QUORUM",
        description="Consistency of every read and write; lightweight transactions use "
        "LOCAL_SERIAL with LOCAL_QUORUM and SERIAL otherwise. Only quorum levels are offered: "
        "the store relies on reading its own writes.",
    )
    cassandra_local_dc: str | None = Field(
        default=None,
        description="The datacenter whose nodes serve requests first; unset means the "
        "datacenter of the first contact point that answers.",
    )
    cassandra_connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long post_svc waits for one contact point to accept a connection.",
    )
    cassandra_request_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="How long one Cassandra request may take before it fails as unavailable.",
    )
    cassandra_repair_interval_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often post_svc recounts the posts whose Cassandra counts a failed "
        "write may have left off (one replica at a time, under a lease).",
    )

    @field_validator("cassandra_hosts")
    @classmethod
    def _check_cassandra_hosts(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # set but empty means unset: the relational store
        parse_hosts(value)
        return value.strip()


DEFAULT_CASSANDRA_PORT = 9042
# A name or IPv4 address, or an IPv6 address in brackets (its colons would read as a port).
_HOST = re.compile(
    r"^(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[^\s:\[\],]+))(?::(?P<port>\d{1,5}))?$"
)


def parse_hosts(value: str) -> list[tuple[str, int]]:
    """Return (host, port) of each comma-separated host[:port] or [ipv6]:port; raise ValueError
    naming the first bad entry."""
    hosts: list[tuple[str, int]] = []
    for raw in value.split(","):
        entry = raw.strip()
        match = _HOST.match(entry)
        if match is None:
            raise ValueError(f"bad Cassandra host {entry!r}: expected host[:port] or [ipv6]:port")
        port = int(match["port"]) if match["port"] else DEFAULT_CASSANDRA_PORT
        if not 1 <= port <= 65535:
            raise ValueError(f"bad Cassandra port in {entry!r}: expected 1..65535")
        hosts.append((match["ipv6"] or match["name"], port))
    return hosts
