"""The capacity model's arithmetic: measured costs in, cores, processes and shards out."""

from __future__ import annotations

import math

from typer.testing import CliRunner

from bench import capacity
from bench.cli import app


def test_cores_follow_rate_times_cost_and_processes_leave_headroom() -> None:
    inputs = capacity.Inputs(feed_read_cpu_ms=2.5, profile_read_cpu_ms=2.0)
    average, peak = capacity.model(inputs)["loads"]
    assert peak["service_cores"]["feed reads"] == 875  # 350 000/s x 2.5 ms
    assert average["service_cores"]["feed reads"] == round(115_000 * 2.5 / 1000)
    assert peak["service_cores"]["profile reads"] == 350  # half as many, at 2 ms
    assert average["posts_per_second"] == round(100_000_000 / 86_400)
    assert peak["posts_per_second"] == round(3 * 100_000_000 / 86_400)
    total = sum(peak["service_cores"].values())
    assert abs(peak["service_cores_total"] - total) <= len(peak["service_cores"])
    assert peak["processes"] >= peak["service_cores_total"] / inputs.target_utilisation - 1
    assert peak["machines"] == math.ceil(peak["processes"] / inputs.cores_per_machine)
    # Halving a read's cost halves the read cores; writes do not move.
    cheaper = capacity.model(capacity.Inputs(feed_read_cpu_ms=1.25, profile_read_cpu_ms=2.0))
    assert cheaper["loads"][1]["service_cores"]["feed reads"] == round(875 / 2)
    assert (
        cheaper["loads"][1]["service_cores"]["post writes"] == peak["service_cores"]["post writes"]
    )


def test_redis_memory_is_feeds_plus_hot_posts() -> None:
    memory = capacity.model(
        capacity.Inputs(
            daily_active_users=1_000_000,
            feed_entries_per_user=100,
            redis_bytes_per_feed_entry=30,
            posts_per_day=1_000_000,
            cached_post_days=1,
            redis_bytes_per_cached_post=1000,
            redis_memory_per_shard_gb=2,
        )
    )["redis_memory"]
    assert memory == {"feeds_gb": 3, "cached_posts_gb": 1, "shards_for_memory": 2}


def test_the_command_prints_the_model_and_refuses_costs_of_zero() -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["capacity", "--feed-read-cpu-ms", "2.5", "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"feed reads": 875' in shown.output
    refused = runner.invoke(app, ["capacity", "--like-cpu-ms", "0"])
    assert refused.exit_code != 0 and "costs must be > 0" in refused.output
