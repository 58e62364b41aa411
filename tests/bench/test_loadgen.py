"""The load generator's measuring tools: histogram accuracy, merging, and a real short run."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from bench import loadgen
from bench.histogram import Histogram


def test_percentiles_are_within_one_percent_of_the_exact_values() -> None:
    rng = random.Random(7)
    values = sorted(rng.lognormvariate(-5, 1) for _ in range(50_000))
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    for percent in (50, 90, 99, 99.9):
        exact = values[int(len(values) * percent / 100) - 1] * 1000
        assert histogram.percentile(percent) == pytest.approx(exact, rel=0.01)
    assert histogram.percentile(100) == pytest.approx(values[-1] * 1000, abs=0.001)
    assert histogram.min_micros == int(values[0] * 1_000_000)


def test_merged_histograms_equal_one_that_saw_everything() -> None:
    rng = random.Random(3)
    values = [rng.expovariate(200) for _ in range(10_000)]
    whole, left, right = Histogram(), Histogram(), Histogram()
    for i, value in enumerate(values):
        whole.record(value)
        (left if i % 2 else right).record(value)
    left.merge(Histogram.from_json(right.to_json()))
    assert left.counts == whole.counts and left.total == whole.total
    assert (left.min_micros, left.max_micros) == (whole.min_micros, whole.max_micros)


@pytest.fixture
async def health_server() -> AsyncIterator[str]:
    server = aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection([health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def test_open_loop_run_sends_at_the_rate_and_counts_codes(health_server: str) -> None:
    import asyncio

    spec = loadgen.LoadSpec(
        target=health_server,
        method=loadgen.HEALTH_CHECK,
        rate=200,
        duration=1.0,
        warmup=0.2,
        workers=1,
    )
    result = await asyncio.to_thread(loadgen.run, spec)
    # 200/s for a measured second: the schedule, not the server, sets the count.
    assert 180 <= result.histogram.total <= 201
    assert result.codes == {"OK": result.histogram.total}
    # Its own cost is reported too: every request sent, the warm-up's 40 included.
    assert result.generator_requests >= result.histogram.total + 35
    assert 0 < result.generator_cpu_ms_per_request < 50
    assert result.summary()["generator_cpu_ms_per_request"] > 0
    unknown = loadgen.LoadSpec(**{**spec.__dict__, "request_json": '{"service": "nope"}'})
    failing = await asyncio.to_thread(loadgen.run, unknown)
    assert set(failing.codes) == {"NOT_FOUND"} and failing.errors == failing.histogram.total


async def test_a_request_list_is_sent_in_turn(health_server: str) -> None:
    import asyncio

    spec = loadgen.LoadSpec(
        target=health_server,
        method=loadgen.HEALTH_CHECK,
        rate=200,
        duration=0.5,
        warmup=0.1,
        workers=1,
        requests=(("{}", "token-a"), ('{"service": "nope"}', "token-b")),
    )
    result = await asyncio.to_thread(loadgen.run, spec)
    # Alternating bodies: half answered OK, half NOT_FOUND (to within the window's edge).
    assert set(result.codes) == {"OK", "NOT_FOUND"}
    assert abs(result.codes["OK"] - result.codes["NOT_FOUND"]) <= 1
    assert loadgen.baseline_of(spec).requests == ()


class SlowToOpenDriver(loadgen.GrpcDriver):
    """A driver whose session takes a while to open (logins, uploads, a loaded machine)."""

    @contextlib.asynccontextmanager
    async def session(self, spec: loadgen.LoadSpec, index: int) -> AsyncIterator[loadgen.Send]:
        await asyncio.sleep(2.0)
        async with super().session(spec, index) as send:
            yield send


async def test_a_slow_start_does_not_count_against_the_run_and_a_stuck_one_fails(
    health_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = loadgen.LoadSpec(
        target=health_server,
        method=loadgen.HEALTH_CHECK,
        rate=50,
        duration=0.5,
        warmup=0.1,
        timeout=0.2,
        workers=1,
    )
    # The run and its slack (1.3 s) are shorter than the start-up (2 s): still measured whole.
    monkeypatch.setattr(loadgen, "FINISH_SLACK", 0.5)
    result = await asyncio.to_thread(loadgen.run, spec, driver=SlowToOpenDriver())
    assert result.codes == {"OK": result.histogram.total} and result.histogram.total >= 20
    # Workers that never start within the allowance fail the run, saying so.
    monkeypatch.setattr(loadgen, "STARTUP_SECONDS", 1.0)
    with pytest.raises(TimeoutError, match="did not start within 1 s"):
        await asyncio.to_thread(loadgen.run, spec, driver=SlowToOpenDriver())
