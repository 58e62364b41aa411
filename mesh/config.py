"""Typed settings read from SHUTTER_* environment variables; anything unset means embedded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Every service of the mesh, with the port `shutter up` gives it by default.
DEFAULT_PORTS: dict[str, int] = {
    "user_svc": 50051,
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
    host: str = Field(default="127.0.0.1", description="The interface gRPC servers bind to.")
    user_svc_addr: str = Field(default=f"127.0.0.1:{DEFAULT_PORTS['user_svc']}")
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
    shutdown_grace_seconds: float = Field(
        default=5.0, ge=0, description="How long in-flight RPCs may finish after SIGTERM."
    )
    log_level: str = "INFO"
    log_json: bool = Field(default=False, description="Write one JSON object per log line.")
    trace_file: Path | None = Field(
        default=None, description="Write finished OpenTelemetry spans as JSON lines to this file."
    )

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
