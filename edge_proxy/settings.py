"""Edge proxy settings: where it listens, how large a body it takes, how long it waits."""

from __future__ import annotations

from pydantic import Field

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
