"""Edge proxy settings: where it listens, how large a body it takes, how long it waits."""

from __future__ import annotations

from pydantic import Field, field_validator

from mesh.config import MeshSettings


class EdgeSettings(MeshSettings):
    """Settings of the edge proxy, from SHUTTER_* variables (SHUTTER_EDGE_PORT, ...)."""

    edge_host: str = Field(default="127.0.0.1", description="The interface the HTTP server binds.")
    edge_port: int = Field(default=8080, ge=0, le=65_535, description="0 picks a free port.")
    edge_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="The largest JSON request body accepted; larger ones get 413.",
    )
    edge_rpc_timeout_seconds: float = Field(
        default=10.0, gt=0, description="The deadline of the RPC behind one HTTP request."
    )
    edge_upload_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="The deadline of streaming an upload into media_svc or a file out of it.",
    )
    edge_cors_origins: list[str] = Field(
        default_factory=list,
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

    @field_validator("edge_cors_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            scheme, sep, rest = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return origins
