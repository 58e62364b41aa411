"""Edge proxy settings: where it listens, how large a body it takes, how long it waits."""

from __future__ import annotations

from pydantic import Field, field_validator

from mesh.config import Host, MeshSettings
from mesh.ratelimit import parse_rate


class EdgeSettings(MeshSettings):
    """Settings of the edge proxy, from SHUTTER_* variables (SHUTTER_EDGE_PORT, ...)."""

    edge_host: Host = Field(default="127.0.0.1", description="The interface the HTTP server binds.")
    edge_port: int = Field(
        default=8080, ge=0, le=65_535, description="The HTTP port of the edge; 0 picks a free one."
    )
    edge_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="The largest JSON request body accepted; larger ones get 413.",
    )
    edge_rpc_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="The deadline of the RPC behind one HTTP request that "
        "changes something (POST, PUT, PATCH, DELETE).",
    )
    edge_read_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="The deadline of the RPC behind a GET: short, so a stalled service fails "
        "its readers fast (504) instead of holding them.",
    )
    edge_max_in_flight_reads: int = Field(
        default=256, ge=1, description="GET requests the edge serves at once; more get 503."
    )
    edge_max_in_flight_writes: int = Field(
        default=128,
        ge=1,
        description="POST, PUT, PATCH and DELETE requests the edge serves at once; more get 503.",
    )
    edge_max_in_flight_transfers: int = Field(
        default=32,
        ge=1,
        description="Uploads and media downloads the edge streams at once; more get 503.",
    )
    edge_upload_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="The deadline of streaming an upload into media_svc or a file out of it.",
    )
    edge_cors_origins: list[str] = Field(
        default=[],  # pydantic copies it for every instance
        description="Origins (scheme://host[:port]) web clients may call the API from, as a JSON "
        "list, e.g. '[\"https://app.example.com\"]'; empty: no cross-origin access (browsers "
        "refuse every cross-origin call and preflight).",
    )
    edge_cors_max_age_seconds: int = Field(
        default=600, ge=0, le=86_400, description="How long browsers may cache a preflight answer."
    )
    edge_max_authorization_bytes: int = Field(
        default=4096,
        ge=256,
        le=65_536,
        description="The longest Authorization header accepted; longer ones get 401 (an access "
        "token is well under 1 KB).",
    )

    edge_trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        le=10,
        description="How many proxies in front of the edge append to X-Forwarded-For (0: the "
        "client is the socket's peer); rate limits per IP key on the address the nearest "
        "trusted proxy saw.",
    )
    rate_limits_enabled: bool = Field(
        default=True, description="Check rate limits at the edge (off only for closed tests)."
    )
    rate_limit_scale: float = Field(
        default=1.0,
        gt=0,
        le=1_000_000,
        description="Multiply every edge rate limit by this: raise it (e.g. 1000) for load tests "
        "and benchmarks driven from few addresses.",
    )
    rate_limit_login_ip: str = Field(default="30/min", description="Sign-ins per client IP.")
    rate_limit_register_ip: str = Field(default="20/h", description="Sign-ups per client IP.")
    rate_limit_refresh_ip: str = Field(default="60/min", description="Refreshes per client IP.")
    rate_limit_uploads_ip: str = Field(default="120/min", description="Upload calls per IP.")
    rate_limit_uploads_account: str = Field(default="60/min", description="Upload calls per user.")
    rate_limit_writes_ip: str = Field(default="600/min", description="Other writes per IP.")
    rate_limit_writes_account: str = Field(default="300/min", description="Other writes per user.")
    rate_limit_reads_ip: str = Field(default="3000/min", description="Reads per client IP.")
    rate_limit_reads_account: str = Field(default="1200/min", description="Reads per user.")
    rate_limit_media_ip: str = Field(
        default="3000/min",
        description="Files under /media per client IP (a feed page shows dozens; no account: "
        "image requests carry no token).",
    )

    @field_validator(
        "rate_limit_login_ip",
        "rate_limit_register_ip",
        "rate_limit_refresh_ip",
        "rate_limit_uploads_ip",
        "rate_limit_uploads_account",
        "rate_limit_writes_ip",
        "rate_limit_writes_account",
        "rate_limit_reads_ip",
        "rate_limit_reads_account",
        "rate_limit_media_ip",
    )
    @classmethod
    def _is_rate(cls, text: str) -> str:
        if text:  # empty: no limit of that kind
            parse_rate(text)
        return text

    @field_validator("edge_cors_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            scheme, sep, rest = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return origins
