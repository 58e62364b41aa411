"""A mesh of one test's own, seeded in bulk with a slice of the real graph (bench/bulk.py)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bench.cli import DEFAULT_EDGES
from bench.scenarios import load_manifest
from bench.seed import SeedOptions, SeedResult, read_edges, seed
from mesh.launcher import start_mesh
from mesh.services import MESH

SLICE_NODES = 60  # the real graph's friendships among its first 60 people


@dataclass
class Seeded:
    """The running mesh, what was seeded into it and the manifest."""

    mesh: Any
    options: SeedOptions
    result: SeedResult
    manifest: dict[str, Any]
    manifest_path: Path


def graph_slice(tmp_path: Path) -> Path:
    """Write the real graph's edges among its first SLICE_NODES people; return the file."""
    if not DEFAULT_EDGES.is_file():
        pytest.fail(f"the real graph is missing: {DEFAULT_EDGES} (shared/data beside the repo)")
    edges = [(a, b) for a, b in read_edges(DEFAULT_EDGES) if max(a, b) < SLICE_NODES]
    path = tmp_path / "slice.edges"
    path.write_text("".join(f"{a} {b}\n" for a, b in edges))
    return path


@asynccontextmanager
async def seeded_mesh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **overrides: Any
) -> AsyncIterator[Seeded]:
    """Start a mesh on this test's settings (an engines run: its own database, Redis database and
    bucket), seed it in bulk, and stop it afterwards. The loader reads the same SHUTTER_*
    variables as the mesh, as it would beside `shutter up`."""
    monkeypatch.setenv("SHUTTER_DATA_DIR", str(tmp_path / "data"))
    addresses = {f"{spec.name}_addr": "127.0.0.1:0" for spec in MESH}
    mesh = await start_mesh(overrides={**addresses, "edge_port": 0})
    try:
        for name, address in mesh.addresses.items():
            monkeypatch.setenv(f"SHUTTER_{name.upper()}_ADDR", address)
        settings: dict[str, Any] = {
            "edges": graph_slice(tmp_path),
            "out": tmp_path / "seed.json",
            "edge_url": mesh.edge_url,
            "seed": 3,
            "extra_users": 6,
            "extra_follows": 3,
            "celebrities": 1,
            "celebrity_followers": 8,
            "posts": 8,
            "likes_per_post": 2,
            "comments_per_post": 1,
            "bulk": True,
            "drain_notify": True,
        } | overrides
        options = SeedOptions(**settings)
        result = await seed(options, Console(file=io.StringIO()))
        yield Seeded(mesh, options, result, load_manifest(options.out), options.out)
    finally:
        await mesh.stop(grace=1.0)
