"""Typed settings read from SHUTTER_* environment variables; anything unset means embedded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Every service of the mesh, with the port `shutter up` gives it by default.
DEFAULT_PORTS: dict[str, int] = {
    "user_svc": 50051,
    "graph_svc": 50052,
    "post_svc": 50053,
    "media_svc": 50054,
    "feed_svc": 50055,
    "notify_svc": 50056,
}


class MeshSettings(BaseSettings):
    """What every process of the mesh reads: where data lives, who is where, how tokens look."""

    model_config = SettingsConfigDict(
        env_prefix="SHUTTER_", extra="ignore", frozen=True, validate_by_name=True
    )

    data_dir: Path = Field(
        default=Path(".shutter"),
        description="Where embedded databases, generated keys and local blobs live.",
    )
    database_url: str | None = Field(
        default=None,
        description="A PostgreSQL URL (postgresql+psycopg://...) shared by every service, each in "
        "its own schema; unset means one SQLite file per service under data_dir.",
    )
    db_pool_size: int = Field(
        # Five per process: an asyncio service on a few cores rarely has more statements in
        # flight, and six services at 5 + 5 overflow stay well under PostgreSQL's default 100.
        default=5,
        ge=1,
        le=500,
        description="PostgreSQL connections a service keeps per process (as many more may open "
        "under load); size it so processes x pool stays under the server's max_connections.",
    )
    database_replica_url: str | None = Field(
        default=None,
        description="A read replica of database_url (same schemas) that read-only queries which "
        "tolerate replication lag go to; never migrated. Unset means every query goes to "
        "database_url.",
    )
    db_replica_pool_size: int | None = Field(
        default=None,
        ge=1,
        le=500,
        description="Replica connections a service keeps per process (as many more may open "
        "under load); unset means db_pool_size.",
    )
    db_pool_pre_ping: bool = Field(
        default=False,
        description="Test each pooled PostgreSQL connection with a round trip before every "
        "transaction. Off by default: it costs about 1 ms per transaction, while a connection "
        "the server dropped fails its first statement before anything is written, the pool "
        "then discards every connection it holds, and the call answers UNAVAILABLE, which "
        "callers retry.",
    )
    redis_url: str | None = Field(
        default=None,
        description="A Redis URL (redis://host:port/db) for caches and the event bus (Redis "
        "Streams); unset means an in-process Redis for caches and a SQLite bus under data_dir.",
    )
    bus_stream_prefix: str = Field(
        default="bus",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Redis key prefix of the bus; keys are '{prefix}:...' so that one hash tag "
        "keeps every bus key in one Redis Cluster slot.",
    )
    bus_max_attempts: int = Field(
        # 0.5 s doubling to 30 s: 12 calls span about three minutes, so a peer that crashed
        # and restarts (supervisor backoff up to 30 s) does not send events to the dead letters.
        default=12,
        ge=1,
        le=100,
        description="Handler calls an event gets in a group before it goes to the dead letters "
        "(with the default backoff, about three minutes of retries).",
    )
    bus_retry_backoff_seconds: float = Field(
        default=0.5, ge=0, description="Wait before the first retry of a failed handler; doubles."
    )
    bus_retry_backoff_max_seconds: float = Field(
        default=30.0, ge=0, description="The longest wait between two retries of a handler."
    )
    bus_idle_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="How long an event a consumer took may go without word from it (it died) "
        "before another consumer of the group takes it over.",
    )
    bus_poll_interval_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="How often an idle consumer looks for events published by other processes.",
    )
    bus_batch_size: int = Field(
        default=100, ge=1, le=1000, description="Events a consumer reads in one go."
    )
    bus_max_length: int = Field(
        default=1_000_000,
        ge=1,
        description="Events the bus keeps (older ones are trimmed, approximately on Redis); a "
        "group further behind than this loses what was trimmed.",
    )
    bus_dedupe_ttl_seconds: int = Field(
        default=86_400,
        ge=1,
        description="How long Redis remembers a published (producer, event_id), so that a relay "
        "republishing after a crash does not publish twice.",
    )
    relay_poll_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="How often an outbox relay looks for unpublished rows when nobody nudged it.",
    )
    outbox_retention_seconds: float = Field(
        default=7 * 86_400,
        ge=0,
        description="How long published outbox rows are kept before the relay deletes them; "
        "keep it longer than outbox_replay_window_seconds.",
    )
    outbox_replay_window_seconds: float = Field(
        default=86_400,
        ge=0,
        description="When the bus lost events (Redis restarted empty) and a relay cannot tell "
        "which of its events every consumer group had finished (it started after the last "
        "measure), it publishes again the outbox rows of this last period. Keep it shorter than "
        "consumers remember handled events (notify_svc's processed_event_retention_seconds).",
    )
    host: str = Field(default="127.0.0.1", description="The interface gRPC servers bind to.")
    media_base_url: str = Field(
        default="http://127.0.0.1:8080/media/",
        description="What media URLs start with: the edge's /media/ origin or a CDN; a blob key "
        "follows it. Services store only keys, so changing this moves every URL.",
    )
    id_shard: int = Field(
        default=0,
        ge=0,
        le=8191,
        description="The shard field of the ids this process makes: give every replica of a "
        "service its own, so two replicas never make the same id in the same millisecond.",
    )
    user_svc_addr: str = Field(default=f"127.0.0.1:{DEFAULT_PORTS['user_svc']}")
    graph_svc_addr: str = Field(default=f"127.0.0.1:{DEFAULT_PORTS['graph_svc']}")
    media_svc_addr: str = Field(default=f"127.0.0.1:{DEFAULT_PORTS['media_svc']}")
    post_svc_addr: str = Field(default=f"127.0.0.1:{DEFAULT_PORTS['post_svc']}")
    feed_svc_addr: str = Field(default=f"127.0.0.1:{DEFAULT_PORTS['feed_svc']}")
    notify_svc_addr: str = Field(default=f"127.0.0.1:{DEFAULT_PORTS['notify_svc']}")
    jwt_private_key_file: Path | None = Field(
        default=None,
        description="PEM Ed25519 private key that signs tokens; unset: generated into data_dir.",
    )
    jwt_public_key_file: Path | None = Field(
        default=None,
        description="PEM Ed25519 public key that verifies tokens; unset: generated into data_dir.",
    )
    jwt_issuer: str = "shutter"
    jwt_audience: str = "shutter"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    rpc_deadline_seconds: float = Field(
        default=5.0, gt=0, description="Deadline of an outgoing RPC when the caller has none."
    )
    rpc_max_in_flight_reads: int = Field(
        default=256,
        ge=1,
        description="Read RPCs (Get, List, Search, ...) one service process works on at once; "
        "more are refused at once with UNAVAILABLE (OVERLOADED).",
    )
    rpc_max_in_flight_writes: int = Field(
        default=128,
        ge=1,
        description="Other RPCs one service process works on at once; more are refused at once "
        "with UNAVAILABLE (OVERLOADED).",
    )
    shutdown_grace_seconds: float = Field(
        default=5.0, ge=0, description="How long in-flight RPCs may finish after SIGTERM."
    )
    log_level: str = "INFO"
    log_json: bool = Field(default=False, description="Write one JSON object per log line.")
    otlp_endpoint: str | None = Field(
        default=None,
        description="Export spans over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318.",
    )
    trace_console: bool = Field(default=False, description="Print finished spans to stderr.")
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve Prometheus metrics of this process at http://host:port/metrics.",
    )
    trace_file: Path | None = Field(
        default=None, description="Write finished OpenTelemetry spans as JSON lines to this file."
    )

    def media_url(self, key: str) -> str:
        """Return the absolute URL of a stored media file from its key ("" for no file)."""
        return self.media_base_url.rstrip("/") + "/" + key if key else ""

    def address_of(self, service: str) -> str:
        """Return the host:port where a service of the mesh listens."""
        return str(getattr(self, f"{service}_addr"))

    def port_of(self, service: str) -> int:
        """Return the port this process binds for a service (0 picks a free one)."""
        return int(self.address_of(service).rsplit(":", 1)[1])

    def private_key_path(self) -> Path:
        """Return the file of the token-signing key."""
        return self.jwt_private_key_file or self.data_dir / "keys" / "jwt_ed25519.pem"

    def public_key_path(self) -> Path:
        """Return the file of the token-verifying key."""
        return self.jwt_public_key_file or self.data_dir / "keys" / "jwt_ed25519.pub.pem"


def service_database_url(service: str) -> Any:
    """Declare a database URL setting that a per-service variable overrides.

    SHUTTER_<SERVICE>_DATABASE_URL wins over SHUTTER_DATABASE_URL, so services can live on
    separate servers or databases while a single URL serves the simple case.
    """
    return Field(
        default=None,
        validation_alias=AliasChoices(
            f"SHUTTER_{service.upper()}_DATABASE_URL", "SHUTTER_DATABASE_URL"
        ),
        description=f"The database of {service}; unset means a SQLite file under data_dir.",
    )


def service_database_replica_url(service: str) -> Any:
    """Declare a read-replica URL setting that a per-service variable overrides.

    SHUTTER_<SERVICE>_DATABASE_REPLICA_URL wins over SHUTTER_DATABASE_REPLICA_URL, as the
    primary URLs do. A service given a database of its own needs a replica URL of its own too:
    the shared one would be a replica of another database.
    """
    return Field(
        default=None,
        validation_alias=AliasChoices(
            f"SHUTTER_{service.upper()}_DATABASE_REPLICA_URL", "SHUTTER_DATABASE_REPLICA_URL"
        ),
        description=f"A read replica of {service}'s database that its lag-tolerant reads go "
        "to; unset means they go to its database.",
    )
