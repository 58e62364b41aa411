"""The dm scenario: sends timed until they arrive on the recipient's stream, and inbox reads."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bench import dm, loadgen
from bench.scenarios import load_manifest
from bench.seed import SeedOptions, seed


async def test_every_message_is_timed_until_it_reaches_the_recipient_s_stream(
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
            prefix=f"dm{uuid.uuid4().hex[:6]}_",
            real_graph=False,
            extra_users=4,
            extra_follows=1,
            celebrities=0,
            posts=0,
            likes_per_post=0,
            comments_per_post=0,
        ),
        Console(file=io.StringIO()),
    )
    manifest = load_manifest(manifest_path)
    assert dm.message_address(manifest) == running_mesh.addresses["message_svc"]
    pairs = dm.pick_pairs(manifest, 2, seed=1)
    assert len(pairs) == 2 and len({i for p in pairs for i in p}) == 4
    rows = await dm.delivery(manifest, pairs, rates=[20, 40], duration=0.5)
    assert [r["rate_per_second"] for r in rows] == [20, 40]
    for row in rows:
        assert row["sends"] == row["delivered"] == int(row["rate_per_second"] * 0.5)
        assert row["lost"] == row["errors"] == 0
        # Timings are the benchmark's to report, not the suite's to assert (DESIGN.md §10).
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
    base = loadgen.LoadSpec(target="unused", method=loadgen.HEALTH_CHECK, duration=1.0)
    spec = dm.inbox_spec(manifest, pairs, base)
    assert spec.method == "shutter.message.v1.MessageService/ListConversations"
    assert spec.target == running_mesh.addresses["message_svc"] and len(spec.requests) == 4
