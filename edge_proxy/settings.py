"""Edge proxy settings: where it listens, how large a body it takes, how long it waits."""

from __future__ import annotations

from pydantic import Field

from mesh.config import Host, MeshSettings


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
        default=10.0, gt=0, description="The deadline of the RPC behind one HTTP request."
    )
    edge_upload_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        description="The deadline of streaming an upload into media_svc or a file out of it.",
    )
