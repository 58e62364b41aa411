"""The mixed-edge scenario: its mix, media pool, rate search and memory report, and a short real
run through the test mesh's edge that must send every operation of the mix without an error."""

from __future__ import annotations

import asyncio
import fnmatch
import http.server
import io
import itertools
import os
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bench import cost, loadgen, mixed_edge
from bench.histogram import Histogram
from bench.memory import RSS_METRIC, MeshProcess, feed_key_shape, process_memory
from bench.seed import SeedOptions, seed
from feed_svc.cache import celebs_key, feed_key, seen_key, snapshot_key
from mesh.config import MeshSettings
from mesh.launcher import free_port
from mesh.services import MESH
from tests.conftest import ENGINES, REDIS_MESH_URL

TOTAL = sum(weight for _, weight in mixed_edge.MIX)


def test_the_mix_is_exact_in_every_cycle_and_even_in_every_window() -> None:
    assert dict(mixed_edge.MIX) == {
        "home-feed": 60,
        "user-posts": 30,
        "create-post": 10,
        "like": 6,
        "comment": 3,
    }
    picks = list(itertools.islice(mixed_edge.mix_sequence(mixed_edge.MIX), TOTAL * 3))
    for cycle in range(3):
        assert Counter(picks[cycle * TOTAL : (cycle + 1) * TOTAL]) == dict(mixed_edge.MIX)
    # Any window of n picks holds each operation n * share times, give or take under 2.
    for start, length in ((0, 20), (7, 50), (40, 109), (100, 37)):
        window = Counter(picks[start : start + length])
        for name, weight in mixed_edge.MIX:
            assert abs(window[name] - length * weight / TOTAL) < 2, (start, length, name)
    skipped = list(itertools.islice(mixed_edge.mix_sequence(mixed_edge.MIX, skip=5), 10))
    assert skipped == picks[5:15]
    with pytest.raises(ValueError, match="weight"):
        mixed_edge.mix_sequence([("like", 0)])


def test_creates_needed_follows_the_schedule() -> None:
    spec = loadgen.LoadSpec(target="x", method="m", rate=218, duration=1.0, warmup=0.0, workers=2)
    # 218/s over 1 s by 2 workers: 109 requests each, one whole cycle: 10 creates each.
    assert [len(loadgen.schedule(spec, i)) for i in range(2)] == [109, 109]
    assert mixed_edge.creates_needed(spec, mixed_edge.MIX) == [10, 10]
    longer = loadgen.LoadSpec(**{**spec.__dict__, "duration": 2.5, "warmup": 0.5})
    assert sum(mixed_edge.creates_needed(longer, mixed_edge.MIX)) == pytest.approx(60, abs=2)


def test_open_loop_schedule_is_staggered_and_inside_the_window() -> None:
    spec = loadgen.LoadSpec(target="x", method="m", rate=100, duration=1.0, warmup=0.5, workers=4)
    schedules = [loadgen.schedule(spec, i) for i in range(4)]
    assert sum(len(s) for s in schedules) == 150
    assert all(0 <= t < 1.5 for s in schedules for t in s)
    assert sorted(s[0] for s in schedules) == pytest.approx([0.0, 0.01, 0.02, 0.03])


def test_success_is_grpc_ok_or_http_2xx() -> None:
    assert all(loadgen.is_ok(code) for code in ("OK", "200", "201", "204"))
    bad = ("CANCELLED", "UNAVAILABLE", "199", "300", "404", "503", "ReadTimeout", "NO_MEDIA", "2")
    assert not any(loadgen.is_ok(code) for code in bad)


def test_the_media_pool_deals_in_order_and_takes_back_what_was_not_used() -> None:
    pool = mixed_edge.MediaPool({"edge_url": "http://x", "users": []}, [0], seed=1)
    pool.ready = [(0, m) for m in range(10, 16)]
    hands = pool.deal([2, 3])
    assert hands == [[(0, 10), (0, 11)], [(0, 12), (0, 13), (0, 14)]]
    assert pool.ready == [(0, 15)]
    pool.give_back(hands, [1, 3])
    assert pool.ready == [(0, 15), (0, 11)]
    with pytest.raises(ValueError, match="holds 2 media, 3 asked"):
        pool.deal([3])
    with pytest.raises(ValueError, match="owner"):
        mixed_edge.MediaPool({}, [], seed=1)


def test_an_edge_driver_refuses_a_mix_it_cannot_send() -> None:
    with pytest.raises(ValueError, match="unknown operation 'poke'"):
        mixed_edge.EdgeDriver("http://x", (("poke", 1),))
    with pytest.raises(ValueError, match="create-post needs"):
        mixed_edge.EdgeDriver("http://x", mixed_edge.MIX, readers=("t",), authors=(1,), posts=(2,))
    mixed_edge.EdgeDriver("http://x", ((mixed_edge.HEALTHZ, 1),))  # needs nothing


def _result(p99_ms: float, codes: dict[str, int] | None = None) -> loadgen.LoadResult:
    histogram = Histogram()
    for _ in range(100):
        histogram.record(p99_ms / 1000)
    spec = loadgen.LoadSpec(target="x", method="m", rate=1)
    return loadgen.LoadResult(spec, histogram, Counter(codes or {"200": 100}), elapsed=1.0)


def _search(
    latency: Callable[[float], loadgen.LoadResult], **options: Any
) -> tuple[float, list[dict[str, Any]], list[float]]:
    tried: list[float] = []

    def run_step(rate: float) -> loadgen.LoadResult:
        tried.append(rate)
        return latency(rate)

    settings = {"start": 100.0, "p99_target_ms": 100.0, "max_rate": 10_000.0} | options
    held, steps = mixed_edge.find_rate(run_step, **settings)
    return held, steps, tried


def test_the_rate_search_steps_up_until_p99_exceeds_the_target() -> None:
    # p99 grows with the rate and passes 100 ms between 195 and 244 requests per second.
    held, steps, tried = _search(lambda rate: _result(rate / 2))
    assert tried == pytest.approx([100, 125, 156.25, 195.3125, 244.140625])
    assert held == pytest.approx(195.3125)
    assert [s["held"] for s in steps] == [True, True, True, True, False]
    # The target itself holds (≤), just above it does not.
    held, _, _ = _search(lambda rate: _result(100.0 if rate < 150 else 100.8))
    assert held == 125


def test_the_rate_search_stops_at_errors_and_at_the_maximum() -> None:
    def overloaded(rate: float) -> loadgen.LoadResult:
        return _result(5, {"200": 99, "503": 1} if rate > 130 else None)

    held, steps, _ = _search(overloaded)
    assert held == 125 and steps[-1]["codes"] == {"200": 99, "503": 1}
    held, _, tried = _search(lambda rate: _result(1), max_rate=200)
    assert held == pytest.approx(195.3125) and max(tried) <= 200


def test_the_rate_search_steps_down_from_a_start_that_fails() -> None:
    held, _, tried = _search(lambda rate: _result(150 if rate > 70 else 50))
    assert tried == pytest.approx([100, 80, 64])
    assert held == pytest.approx(64)
    with pytest.raises(mixed_edge.NoRateHeld, match="down to 1/s") as failed:
        _search(lambda rate: _result(500), start=2.0)
    assert len(failed.value.steps) == 4  # 2, 1.6, 1.28, 1.024; then below 1/s


def test_client_errors_end_the_search_at_once() -> None:
    with pytest.raises(mixed_edge.NoRateHeld, match="client errors") as failed:
        _search(lambda rate: _result(5, {"401": 3, "200": 97}))
    assert len(failed.value.steps) == 1
    with pytest.raises(ValueError, match="factor"):
        _search(lambda rate: _result(5), factor=1.0)


def test_feed_keys_are_found_from_feed_key_alone() -> None:
    pattern, exact = feed_key_shape()
    for user_id in (1, 42, 9_223_372_036_854_775_807):
        assert fnmatch.fnmatchcase(feed_key(user_id), pattern)
        assert exact.fullmatch(feed_key(user_id))
    for other in (celebs_key(42), seen_key(42), snapshot_key(42, "abc}")):
        assert not exact.fullmatch(other)


async def test_a_short_mixed_run_through_the_edge_sends_every_operation(
    running_mesh: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, address in running_mesh.addresses.items():
        monkeypatch.setenv(f"SHUTTER_{name.upper()}_ADDR", address)
    manifest_path = tmp_path / "seed.json"
    quiet = Console(file=io.StringIO())
    await seed(
        SeedOptions(
            edges=tmp_path / "no-graph",
            out=manifest_path,
            edge_url=running_mesh.edge_url,
            prefix=f"mix{uuid.uuid4().hex[:6]}_",
            real_graph=False,
            extra_users=8,
            extra_follows=3,
            celebrities=0,
            posts=4,
            likes_per_post=1,
            comments_per_post=1,
        ),
        quiet,
    )
    from bench.scenarios import load_manifest

    manifest = load_manifest(manifest_path)
    # 15 requests per worker, all measured: every operation of the mix is among the first 15
    # of a cycle, and the embedded mesh in this process answers 20/s well within the deadline.
    base = loadgen.LoadSpec(
        target=manifest["grpc"]["feed_svc"],
        method=loadgen.HEALTH_CHECK,
        rate=20,
        duration=1.5,
        warmup=0.0,
        workers=2,
        seed=3,
    )
    options = mixed_edge.Options(users=8, seed=3, redis_url=REDIS_MESH_URL if ENGINES else None)

    def run(spec: loadgen.LoadSpec, driver: loadgen.Driver | None) -> loadgen.LoadResult:
        return loadgen.run(spec, driver=driver)

    results, details = await asyncio.to_thread(
        mixed_edge.scenario, manifest, manifest_path, base, options, run=run, console=quiet
    )
    grpc_baseline, http_baseline, mixed = results
    assert grpc_baseline.spec.method == loadgen.HEALTH_CHECK
    assert set(grpc_baseline.codes) == {"OK"} and set(http_baseline.codes) == {"200"}
    assert set(http_baseline.operations) == {mixed_edge.HEALTHZ}
    assert mixed.errors == 0 and all(code[0] == "2" for code in mixed.codes), mixed.codes
    assert set(mixed.operations) == set(dict(mixed_edge.MIX))
    measured = mixed.histogram.total
    for name, weight in mixed_edge.MIX:
        count = mixed.operations[name].histogram.total
        # Each worker's measured requests are a window of its cycle: its share, give or take 2.
        assert count > 0 and abs(count - measured * weight / TOTAL) < 2 * base.workers, name
    summary = mixed.summary()
    assert set(summary["operations"]) == set(dict(mixed_edge.MIX))
    assert all(op["p99_ms"] > 0 and op["errors"] == 0 for op in summary["operations"].values())
    # The pool was sized from the schedule: every worker used all of its hand.
    spec = mixed.spec
    assert [n["media_used"] for n in mixed.notes] == mixed_edge.creates_needed(spec, mixed_edge.MIX)
    assert details["media_pool"]["left_unused"] == 0
    assert details["media_pool"]["uploaded"] == sum(n["media_used"] for n in mixed.notes)

    after = details["memory"]["after"]
    assert [row["process"] for row in after] == [
        *(name for name in running_mesh.addresses),
        "edge_proxy",
    ]
    # The test mesh runs in this process: every row is this process, read from the OS.
    assert all(row["pid"] == os.getpid() and row["rss_mb"] > 0 for row in after)
    feeds = details["memory"]["redis_feeds"]
    if ENGINES:
        assert feeds["available"] and feeds["feed_keys"] > 0 and feeds["entries"] > 0
        assert feeds["bytes_per_entry"] > 0
    else:
        assert not feeds["available"] and "embedded" in feeds["reason"]


def test_options_refuse_what_cannot_make_a_run() -> None:
    base = loadgen.LoadSpec(target="x", method="m", rate=20, duration=100.0, warmup=20.0)
    mixed_edge.Options().check(base)  # 120 s in all: the longest run tokens are renewed for
    with pytest.raises(ValueError, match="outlive"):
        mixed_edge.Options().check(loadgen.LoadSpec(**{**base.__dict__, "warmup": 20.5}))
    with pytest.raises(ValueError, match="open loop"):
        mixed_edge.Options().check(loadgen.LoadSpec(**{**base.__dict__, "rate": 0.0}))
    with pytest.raises(ValueError, match="below the start rate"):
        mixed_edge.Options(find_rate=True, max_rate=19).check(base)
    with pytest.raises(ValueError, match="step duration"):
        mixed_edge.Options(step_duration=0).check(base)


def test_mesh_processes_are_found_where_shutter_up_puts_them() -> None:
    names = ("user_svc", "graph_svc", "media_svc", "post_svc", "feed_svc")
    manifest = {
        "edge_url": "http://127.0.0.1:18080",
        "grpc": {name: f"127.0.0.1:{51051 + i}" for i, name in enumerate(names)},
    }
    processes = mixed_edge.mesh_processes(manifest, 19101)
    assert [(p.name, p.metrics_url) for p in processes] == [
        (name, f"http://127.0.0.1:{19101 + i}/metrics")
        for i, name in enumerate([*names, "notify_svc", "message_svc", "edge_proxy"])
    ]
    assert processes[0].address == "127.0.0.1:51051"
    assert processes[5].address == MeshSettings().notify_svc_addr  # not in the manifest
    assert processes[6].address == MeshSettings().message_svc_addr
    assert processes[7].address == "127.0.0.1:18080"


def test_cpu_is_counted_for_every_process_of_the_mesh() -> None:
    # A manifest from before notify_svc was written into it still has notify_svc's CPU counted.
    manifest = {
        "edge_url": "http://127.0.0.1:18080",
        "grpc": {"feed_svc": "127.0.0.1:51055"},
    }
    addresses = cost.mesh_addresses(manifest)
    assert set(addresses) == {spec.name for spec in MESH} | {"edge"}
    assert addresses["feed_svc"] == "127.0.0.1:51055"
    assert addresses["notify_svc"] == MeshSettings().notify_svc_addr
    assert addresses["edge"] == "127.0.0.1:18080"


@pytest.fixture
def metrics_server() -> Iterator[tuple[int, list[float]]]:
    """Serve `process_resident_memory_bytes` (the value last put in the list) on a free port."""
    values = [0.0]

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"# TYPE {RSS_METRIC} gauge\n{RSS_METRIC} {values[-1]!r}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], values
    server.shutdown()
    server.server_close()


async def test_rss_comes_from_metrics_and_is_judged_at_the_limit(
    metrics_server: tuple[int, list[float]],
) -> None:
    port, values = metrics_server
    # The "service" listens on the metrics server's own port: one process serves both.
    process = MeshProcess("post_svc", f"127.0.0.1:{port}", f"http://127.0.0.1:{port}/metrics")
    values.append(150e6)
    (row,) = await process_memory([process])
    assert (row["rss_mb"], row["source"], row["within_limit"]) == (150.0, "metrics", True)
    assert row["pid"] == os.getpid()
    values.append(150.1e6)
    (row,) = await process_memory([process])
    assert (row["rss_mb"], row["within_limit"]) == (150.1, False)
    nobody = MeshProcess("feed_svc", f"127.0.0.1:{free_port()}", None)
    (row,) = await process_memory([nobody])
    assert (row["rss_mb"], row["source"], row["within_limit"]) == (None, "unavailable", False)
