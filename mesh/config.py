"""Typed settings read from SHUTTER_* environment variables; anything unset means embedded."""

from __future__ import annotations

import os
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

# Exit status of a process refused at start-up for a bad setting or a port in use (as argparse
# and typer do for bad usage), so scripts can tell configuration errors from crashes.
EXIT_CONFIG = 2

# -- Value types of settings ---------------------------------------------------------------------
# Each validator raises ValueError with what is allowed: the message is what an operator reads
# after `shutter: SHUTTER_X=value: `. (pydantic's URL types would make these fields Url objects,
# and know neither redis+cluster:// nor sqlite+aiosqlite://: the values stay plain strings.)

PORT_RANGE = "a port number, 1 to 65535 (0 picks a free one)"


def _blank_is_unset(value: Any) -> Any:
    # `SHUTTER_X=` in a shell or an env file means "not set", not "set to nothing".
    return None if isinstance(value, str) and not value.strip() else value


def _check_host(value: str) -> str:
    if not value or any(c.isspace() or c in "/@?#" for c in value):
        raise ValueError("a host name or IP address, such as 127.0.0.1 or 0.0.0.0")
    return value


def split_address(value: str) -> tuple[str, int]:
    """Return (host, port) of a host:port address ([v6 address]:port for IPv6)."""
    allowed = (
        "host:port, such as 127.0.0.1:50051 ([address]:port for IPv6; port 0 picks a free one)"
    )
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(allowed)
    if host.startswith("["):
        if not host.endswith("]") or len(host) < 3:
            raise ValueError(allowed)
    elif ":" in host:
        raise ValueError(allowed)
    try:
        _check_host(host)
    except ValueError:
        raise ValueError(allowed) from None
    return host, int(port)


def _check_address(value: str) -> str:
    split_address(value)
    return value


def _check_url(value: str, schemes: tuple[str, ...], allowed: str) -> str:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ValueError(allowed) from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise ValueError(allowed)
    if scheme == "unix" and not parts.path:
        raise ValueError(allowed)
    if scheme != "unix" and not parts.hostname:
        raise ValueError(allowed)
    return value


def _check_http_url(value: str) -> str:
    allowed = "an http:// or https:// URL, such as http://127.0.0.1:8080"
    return _check_url(value, ("http", "https"), allowed)


def _check_optional_http_url(value: str | None) -> str | None:
    return None if value is None else _check_http_url(value)


def _check_redis_url(value: str | None) -> str | None:
    allowed = (
        "a Redis URL: redis://host:port/db, rediss://host:port/db (TLS), "
        "redis+cluster://host:port or unix:///path/to/redis.sock"
    )
    if value is None:
        return None
    return _check_url(value, ("redis", "rediss", "redis+cluster", "unix"), allowed)


def _check_database_url(value: str | None) -> str | None:
    allowed = (
        "a database URL: postgresql://user[:password]@host[:port]/database "
        "(or postgresql+psycopg://...), or sqlite:///path/to/file.db"
    )
    if value is None:
        return None
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        # The host may be left out (a Unix socket), the database may not: each service makes
        # its schema in it.
        try:
            database = urlsplit(value).path.strip("/")
        except ValueError:
            raise ValueError(allowed) from None
        if not database:
            raise ValueError(allowed)
    elif scheme not in ("sqlite", "sqlite+aiosqlite") or not sep or not rest.startswith("/"):
        raise ValueError(allowed)
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _check_log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError("one of " + ", ".join(LOG_LEVELS) + " (any case)")
    return level


# Annotated types the settings classes of every service use for the values they share.
Host = Annotated[str, AfterValidator(_check_host)]
Address = Annotated[str, AfterValidator(_check_address)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
OptionalHttpUrl = Annotated[
    str | None, BeforeValidator(_blank_is_unset), AfterValidator(_check_optional_http_url)
]
RedisUrl = Annotated[str | None, BeforeValidator(_blank_is_unset), AfterValidator(_check_redis_url)]
LogLevel = Annotated[str, AfterValidator(_check_log_level)]


# Every service of the mesh, with the port `shutter up` gives it by default.
DEFAULT_PORTS: dict[str, int] = {
    "user_svc": 50051,
    "graph_svc": 50052,
    "post_svc": 50053,
    "media_svc": 50054,
    "feed_svc": 50055,
    "notify_svc": 50056,
    "message_svc": 50057,
}


class MeshSettings(BaseSettings):
    """What every process of the mesh reads: where data lives, who is where, how tokens look."""

    model_config = SettingsConfigDict(
        env_prefix="SHUTTER_",
        extra="ignore",
        frozen=True,
        validate_by_name=True,
        # `SHUTTER_X=` means unset (the default), as in most tools, rather than a bad value.
        env_ignore_empty=True,
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
        # Ten per process, all kept: an asyncio service on a few cores rarely has more statements
        # in flight, and seven services at 10 stay under PostgreSQL's default 100. None opens
        # past the pool: a session opened for a burst and closed after it costs the server a
        # backend (a process, its caches, each prepared statement again) and the caller its
        # latency, where waiting for a pooled one costs a statement's time.
        default=10,
        ge=1,
        le=500,
        description="PostgreSQL connections a service keeps per process (past them a transaction "
        "waits for a free one, none opens); size it so processes x pool stays under the "
        "server's max_connections.",
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
        description="Replica connections a service keeps per process (past them a query waits "
        "for a free one); unset means db_pool_size.",
    )
    db_pool_pre_ping: bool = Field(
        default=False,
        description="Test each pooled PostgreSQL connection with a round trip before every "
        "transaction. Off by default: it costs about 1 ms per transaction, while a connection "
        "the server dropped fails its first statement before anything is written, the pool "
        "then discards every connection it holds, and the call answers UNAVAILABLE, which "
        "callers retry.",
    )
    redis_url: RedisUrl = Field(
        default=None,
        description="A Redis URL (redis://host:port/db) for caches and the event bus (Redis "
        "Streams); unset means an in-process Redis for caches and a SQLite bus under data_dir.",
    )
    redis_pool_size: int = Field(
        # redis-py's own default, made explicit: past it a command waits for a free connection
        # (redis_pool_timeout_seconds) instead of failing at once with "Too many connections".
        default=100,
        ge=1,
        le=10_000,
        description="Redis connections a process opens at most (bus consumers each hold one "
        "while they wait for events); a command past them waits for one to be free.",
    )
    redis_pool_timeout_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How long a Redis command waits for a free pooled connection before it "
        "fails (the edge then answers 503 with Retry-After).",
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
    relay_batch_size: int = Field(
        default=500,
        ge=1,
        le=1000,
        description="Outbox rows a relay publishes per transaction (bulk loads write tens of "
        "thousands at once; each transaction costs a lock, a read, a publish and a mark).",
    )
    relay_poll_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="How often an outbox relay marks sent the events commits handed it and sweeps "
        "the outbox for rows nobody handed it.",
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
    host: Host = Field(default="127.0.0.1", description="The interface gRPC servers bind to.")
    media_base_url: HttpUrl = Field(
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
    user_svc_addr: Address = Field(
        default=f"127.0.0.1:{DEFAULT_PORTS['user_svc']}",
        description="Where user_svc listens (host:port) and where the others reach it.",
    )
    graph_svc_addr: Address = Field(
        default=f"127.0.0.1:{DEFAULT_PORTS['graph_svc']}",
        description="Where graph_svc listens (host:port) and where the others reach it.",
    )
    media_svc_addr: Address = Field(
        default=f"127.0.0.1:{DEFAULT_PORTS['media_svc']}",
        description="Where media_svc listens (host:port) and where the others reach it.",
    )
    post_svc_addr: Address = Field(
        default=f"127.0.0.1:{DEFAULT_PORTS['post_svc']}",
        description="Where post_svc listens (host:port) and where the others reach it.",
    )
    feed_svc_addr: Address = Field(
        default=f"127.0.0.1:{DEFAULT_PORTS['feed_svc']}",
        description="Where feed_svc listens (host:port) and where the others reach it.",
    )
    notify_svc_addr: Address = Field(
        default=f"127.0.0.1:{DEFAULT_PORTS['notify_svc']}",
        description="Where notify_svc listens (host:port) and where the others reach it.",
    )
    message_svc_addr: Address = Field(
        default=f"127.0.0.1:{DEFAULT_PORTS['message_svc']}",
        description="Where message_svc listens (host:port) and where the others reach it.",
    )
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
    log_level: LogLevel = Field(
        default="INFO",
        description="The least severe log records written: DEBUG adds one line per RPC and per "
        "HTTP request; errors are always written.",
    )
    log_json: bool = Field(default=False, description="Write one JSON object per log line.")
    otlp_endpoint: OptionalHttpUrl = Field(
        default=None,
        description="Export spans over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318.",
    )
    trace_console: bool = Field(default=False, description="Print finished spans to stderr.")
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65_535,
        description="Serve Prometheus metrics of this process at http://host:port/metrics.",
    )
    trace_file: Path | None = Field(
        default=None, description="Write finished OpenTelemetry spans as JSON lines to this file."
    )

    service_secret_file: Path | None = Field(
        default=None,
        description="A file of at least 32 random bytes that signs the identity services show "
        "each other (x-shutter-service); unset: generated into data_dir. Every service and the "
        "edge need the same one; clients never see it.",
    )
    grpc_reflection: bool = Field(
        default=True, description="Serve gRPC reflection (bench and grpcurl use it)."
    )
    mesh_tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate of this process for gRPC between services: with "
        "mesh_tls_key_file, servers speak TLS only. With mutual TLS, its URI SANs "
        "spiffe://shutter/<service> name the services this process may claim to be.",
    )
    mesh_tls_key_file: Path | None = Field(
        default=None, description="PEM private key of mesh_tls_cert_file."
    )
    mesh_tls_ca_file: Path | None = Field(
        default=None,
        description="PEM CA that signs the mesh's certificates: clients verify servers with it "
        "(and then dial TLS); servers with a certificate then also require client certificates "
        "it signed (mutual TLS).",
    )
    mesh_tls_server_name: str | None = Field(
        default=None,
        description="The name clients expect in servers' certificates, when it is not the "
        "host they dial.",
    )

    # Services redeclare their database URLs (with per-service variables): validators declared
    # here apply to those fields too.
    @field_validator("database_url", "database_replica_url", mode="before", check_fields=False)
    @classmethod
    def _blank_database_url(cls, value: Any) -> Any:
        return _blank_is_unset(value)

    @field_validator("database_url", "database_replica_url", check_fields=False)
    @classmethod
    def _check_database_urls(cls, value: str | None) -> str | None:
        return _check_database_url(value)

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

    def service_secret_path(self) -> Path:
        """Return the file of the secret that signs service identities."""
        return self.service_secret_file or self.data_dir / "keys" / "service.secret"

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


# -- Reporting bad settings ----------------------------------------------------------------------

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class SettingsError(Exception):
    """The environment holds settings a process cannot use: one line per bad variable, each
    `SHUTTER_X=value: what is allowed`."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """Return settings read from the environment; SettingsError says what is wrong with them."""
    try:
        return cls()
    except ValidationError as exc:
        raise SettingsError(describe_errors(cls, exc)) from None


def load_settings_or_exit(cls: type[SettingsT]) -> SettingsT:
    """Return settings read from the environment, or print what is wrong and exit."""
    try:
        return load_settings(cls)
    except SettingsError as exc:
        exit_with(exc.lines)


def exit_with(lines: list[str], *, code: int = EXIT_CONFIG) -> NoReturn:
    """Print each line as `shutter: <line>` on stderr and exit (EXIT_CONFIG unless told)."""
    for line in lines:
        sys.stderr.write(f"shutter: {line}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def env_variables(cls: type[BaseSettings], name: str) -> list[str]:
    """Return the environment variables a field reads, the one that wins first."""
    info = cls.model_fields[name]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    prefix = str(cls.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper()]


def _field_named(cls: type[BaseSettings], key: object) -> str | None:
    if key in cls.model_fields:
        return str(key)
    for name in cls.model_fields:
        if isinstance(key, str) and key.upper() in env_variables(cls, name):
            return name
    return None


def _from_environment(variables: list[str]) -> tuple[str, str] | None:
    # pydantic-settings matches variable names in any case, so the report does too.
    # Empty ones are ignored, as unset (env_ignore_empty).
    present = {key.upper(): (key, value) for key, value in os.environ.items() if value}
    for variable in variables:
        if variable.upper() in present:
            return present[variable.upper()]
    return None


def masked(value: str) -> str:
    """Return a value with the password of a URL in it replaced by ***."""
    # A URL's password stays off the terminal and out of logs.
    parts = value.split("://", 1)
    if len(parts) == 2 and "@" in parts[1]:
        credentials, _, rest = parts[1].rpartition("@")
        if ":" in credentials:
            user = credentials.split(":", 1)[0]
            return f"{parts[0]}://{user}:***@{rest}"
    return value


def describe_errors(cls: type[BaseSettings], exc: ValidationError) -> list[str]:
    """Return one `SHUTTER_X=value: what is allowed` line per bad setting of a validation error."""
    lines: list[str] = []
    for error in exc.errors():
        loc = error.get("loc", ())
        name = _field_named(cls, loc[0]) if loc else None
        if name is None:
            lines.append(f"settings: {_error_text(None, error)}")
            continue
        variables = env_variables(cls, name)
        found = _from_environment(variables)
        variable, value = found if found else (variables[0], str(error.get("input", "")))
        line = f"{variable}={masked(value)}: {_error_text(cls.model_fields[name], error)}"
        if line not in lines:
            lines.append(line)
    return lines


def _error_text(info: FieldInfo | None, error: Any) -> str:
    """Return what a field allows, from its validator's message or from its type and bounds."""
    if error.get("type") == "value_error" and "error" in error.get("ctx", {}):
        return str(error["ctx"]["error"])
    if info is None:
        return str(error.get("msg", "invalid"))
    return allowed_values(info)


def allowed_values(info: FieldInfo) -> str:
    """Describe the values a field accepts: its type and its bounds, as an operator reads them."""
    annotation = info.annotation
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(members) < len(typing.get_args(annotation))
        annotation = members[0] if len(members) == 1 else annotation
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    bounds = dict(_bounds(info))
    unset = ", or empty for unset" if optional else ""
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation)) + unset
    if annotation is bool:
        return "true or false (also 1/0, yes/no, on/off)"
    if annotation is int and bounds.get("ge") == 0 and bounds.get("le") == 65_535:
        return PORT_RANGE + unset
    if annotation in (int, float):
        kind = "a whole number" if annotation is int else "a number"
        return kind + _range_text(bounds) + unset
    if annotation is Path:
        return "a file system path" + unset
    text = "text"
    if "min_length" in bounds or "max_length" in bounds:
        most = bounds.get("max_length", "any number of")
        text += f" of {bounds.get('min_length', 0)} to {most} characters"
    if "pattern" in bounds:
        text += f" matching {bounds['pattern']}"
    return text + unset


def _bounds(info: FieldInfo) -> Iterator[tuple[str, Any]]:
    for item in info.metadata:
        for key in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, key, None)
            if value is not None:
                yield key, value


def _range_text(bounds: dict[str, Any]) -> str:
    low = (
        ("ge", bounds["ge"]) if "ge" in bounds else ("gt", bounds["gt"]) if "gt" in bounds else None
    )
    high = (
        ("le", bounds["le"]) if "le" in bounds else ("lt", bounds["lt"]) if "lt" in bounds else None
    )
    if low and high and low[0] == "ge" and high[0] == "le":
        return f" from {low[1]} to {high[1]}"
    parts = []
    if low:
        parts.append(("at least " if low[0] == "ge" else "greater than ") + str(low[1]))
    if high:
        parts.append(("at most " if high[0] == "le" else "less than ") + str(high[1]))
    return (", " + " and ".join(parts)) if parts else ""
