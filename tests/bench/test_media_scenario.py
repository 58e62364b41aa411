"""The media scenario: photos uploaded through the edge as a client does, timed until ready."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from rich.console import Console

from bench.scenarios import load_manifest, media_uploads
from bench.seed import SeedOptions, seed


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


async def test_every_photo_is_uploaded_processed_and_timed(
    running_mesh: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, address in running_mesh.addresses.items():
        monkeypatch.setenv(f"SHUTTER_{name.upper()}_ADDR", address)
    manifest_path = tmp_path / "seed.json"
    await seed(
        SeedOptions(
            edges=tmp_path / "no-graph",
            out=manifest_path,
            edge_url=running_mesh.edge_url,
            prefix=f"med{uuid.uuid4().hex[:6]}_",
            real_graph=False,
            extra_users=2,
            extra_follows=1,
            celebrities=0,
            posts=0,
            likes_per_post=0,
            comments_per_post=0,
        ),
        Console(file=io.StringIO()),
    )
    manifest = load_manifest(manifest_path)
    photo = _jpeg()
    figures = await media_uploads(manifest, photo, count=3, in_flight=2, user=0)
    assert figures["photos"] == 3 and figures["photo_bytes"] == len(photo)
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["photos_per_second"] > 0
