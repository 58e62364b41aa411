"""media_svc settings: its database, where blobs live (a directory or S3), limits and the worker."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mesh.config import (
    HttpUrl,
    MeshSettings,
    OptionalHttpUrl,
    service_database_replica_url,
    service_database_url,
)

MIB = 1024 * 1024


class MediaSettings(MeshSettings):
    """Settings of media_svc, from SHUTTER_* variables.

    The S3 settings live here rather than in MeshSettings: only media_svc touches blobs; other
    services reach them through its RPCs (the edge through ReadBlob).
    """

    database_url: str | None = service_database_url("media_svc")
    database_replica_url: str | None = service_database_replica_url("media_svc")
    s3_endpoint: OptionalHttpUrl = Field(
        default=None,
        description="URL of an S3 API (SeaweedFS, MinIO, AWS); unset means a directory under "
        "data_dir (media_blobs_dir).",
    )
    s3_bucket: str = Field(default="shutter-media", min_length=3, max_length=63)
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    s3_presign_endpoint: OptionalHttpUrl = Field(
        default=None,
        description="The S3 URL clients reach for presigned uploads, when it differs from "
        "s3_endpoint (an internal address); unset means s3_endpoint.",
    )
    media_blobs_dir: Path | None = Field(
        default=None, description="The local blob directory; unset means data_dir/media."
    )
    public_url: HttpUrl = Field(
        default="http://127.0.0.1:8080",
        description="The edge's public base URL; streamed uploads go to "
        "{public_url}/api/v1/uploads/{uploadId}.",
    )
    upload_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86_400)
    export_ttl_seconds: int = Field(
        default=86_400,
        ge=1,
        description="How long a data export's ZIP is kept once ready, then deleted.",
    )
    export_gather_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="How long each owner service may take to answer for an account's export.",
    )
    export_url_ttl_seconds: int = Field(
        default=3600,
        ge=1,
        le=7 * 86_400,
        description="How long a data export's download URL works (ask again for a new one).",
    )
    photo_max_bytes: int = Field(default=15 * MIB, ge=1)
    video_max_bytes: int = Field(default=100 * MIB, ge=1)
    video_max_seconds: float = Field(
        default=90.0,
        gt=0,
        description="The longest video accepted: 90 s for reels (post_svc keeps feed posts' "
        "videos to 60 s).",
    )
    # Below Pillow's own bomb limit (about 89 MP): a 40 MP RGB image is 120 MB decoded.
    photo_max_pixels: int = Field(default=40_000_000, ge=1)
    photo_max_side: int = Field(default=16_383, ge=1, description="WebP's own limit.")
    photo_max_decode_mb: int = Field(
        default=512,
        ge=16,
        description="The most memory decoding one photo to RGB may take, estimated from its "
        "header (bit depth x pixels) before any pixel is decoded; more is IMAGE_TOO_LARGE. "
        "Keep it well under media_job_memory_mb.",
    )
    video_max_side: int = Field(default=4096, ge=16)
    jpeg_quality: int = Field(default=80, ge=1, le=95)
    original_jpeg_quality: int = Field(default=90, ge=1, le=95)
    webp_quality: int = Field(default=80, ge=1, le=100)
    keep_original: bool = Field(
        default=True,
        description="Keep a full-size, metadata-free re-encoding of each photo; without it a "
        "JPEG is decoded only at the scale the largest variant needs.",
    )
    transcode_video: bool = Field(
        default=True,
        description="Encode 720p and 480p H.264 renditions of videos; off, only the smallest "
        "one. Every served video is re-encoded: the uploaded stream is never served.",
    )
    media_workers: int = Field(
        default=2, ge=1, le=64, description="How many uploads are processed at once."
    )
    media_job_timeout_seconds: float = Field(
        default=300.0, gt=0, description="A processing job still running after this is killed."
    )
    media_job_memory_mb: int = Field(
        default=2048, ge=256, description="Address-space limit of one processing job."
    )
    media_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a claimed job stays claimed without a heartbeat; after that (a "
        "crashed process) another worker takes it over.",
    )
    media_max_attempts: int = Field(default=3, ge=1, le=10)
    media_poll_interval_seconds: float = Field(
        default=5.0, gt=0, description="How often the worker looks for jobs nobody announced."
    )
    media_sweep_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often expired uploads and deleted media are cleaned."
    )

    def blobs_dir(self) -> Path:
        """Return the directory of the local blob store."""
        return self.media_blobs_dir or self.data_dir / "media"

    def work_dir(self) -> Path:
        """Return the scratch directory of processing jobs."""
        return self.data_dir / "media_work"
