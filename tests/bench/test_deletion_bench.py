"""The deletion benchmark runs against a live mesh and reports both timings."""

from __future__ import annotations

from typing import Any

from bench import deletion


async def test_the_deletion_benchmark_times_account_and_post_deletions(running_mesh: Any) -> None:
    report = await deletion.run(running_mesh.edge_url, accounts=2, comments=2)
    for name in ("account_deletion", "post_deletion_baseline"):
        figures = report[name]
        assert figures["count"] == 2
        assert 0 < figures["p50_s"] <= figures["p95_s"] <= figures["max_s"] + 0.01
