"""A gRPC load generator: any unary RPC by name with a JSON request, open or closed loop.

Open loop (the wrk2 approach): requests are scheduled on a clock at a fixed rate and each latency
counts from the moment its request was due, so a server that stalls cannot hide the queue it
builds. Closed loop: N callers, each sending its next request when the last one is answered.
Several worker processes share the load so the generator is not the bottleneck; their histograms
are merged. Methods are found through the server's reflection service, as ghz does.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import queue
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from grpc import aio
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from bench.histogram import Histogram

HEALTH_CHECK = "grpc.health.v1.Health/Check"
# An open-loop worker never keeps more calls in flight than this; past it, calls wait their turn
# (and their wait counts in their latency, as it should).
MAX_IN_FLIGHT = 4096


@dataclass(frozen=True)
class LoadSpec:
    """What to send, where, how hard and for how long."""

    target: str
    method: str  # "package.Service/Method"
    request_json: str = "{}"
    rate: float = 0.0  # requests per second across all workers; 0 means closed loop
    concurrency: int = 8  # closed loop: callers across all workers
    duration: float = 10.0
    warmup: float = 2.0
    workers: int = 2
    token: str = ""
    timeout: float = 10.0
    # Per-request variety: (request_json, token) pairs; when given they replace request_json and
    # token, one pair per call, in turn ("round-robin") or drawn at random from `seed`.
    requests: tuple[tuple[str, str], ...] = ()
    pick: str = "round-robin"
    seed: int = 0


@dataclass
class LoadResult:
    """The merged outcome of one run."""

    spec: LoadSpec
    histogram: Histogram
    codes: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    @property
    def throughput(self) -> float:
        """Return answered requests per second during the measured window."""
        return self.histogram.total / self.elapsed if self.elapsed else 0.0

    @property
    def errors(self) -> int:
        """Return how many measured calls did not end OK."""
        return sum(n for code, n in self.codes.items() if code != "OK")

    def summary(self) -> dict[str, Any]:
        """Return the figures of the run as JSON-ready data."""
        h = self.histogram
        return {
            "method": self.spec.method,
            "mode": f"open loop {self.spec.rate:g}/s"
            if self.spec.rate
            else (f"closed loop x{self.spec.concurrency}"),
            "requests": h.total,
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": h.percentile(50),
            "p90_ms": h.percentile(90),
            "p99_ms": h.percentile(99),
            "p99_9_ms": h.percentile(99.9),
            "max_ms": h.max_micros / 1000,
            "codes": dict(self.codes),
        }


def resolve(channel: grpc.Channel, method: str) -> tuple[str, type[Message], type[Message]]:
    """Return the call path and request/response classes of a method, through reflection."""
    service, _, name = method.replace("/", ".").rpartition(".")
    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    found = pool.FindServiceByName(service).FindMethodByName(name)
    if found.client_streaming or found.server_streaming:
        raise ValueError(f"{method} is a streaming RPC; only unary RPCs can be driven")
    request = message_factory.GetMessageClass(found.input_type)
    response = message_factory.GetMessageClass(found.output_type)
    return f"/{service}/{name}", request, response


async def _worker_main(spec: LoadSpec, index: int, progress: Any) -> dict[str, Any]:
    with grpc.insecure_channel(spec.target) as sync_channel:
        path, request_cls, response_cls = resolve(sync_channel, spec.method)
    calls = [
        (
            json_format.Parse(body, request_cls()),
            (("authorization", f"Bearer {token}"),) if token else (),
        )
        for body, token in (spec.requests or ((spec.request_json, spec.token),))
    ]
    chooser = _chooser(spec, index, len(calls))
    histogram = Histogram()
    codes: Counter[str] = Counter()
    async with aio.insecure_channel(spec.target) as channel:
        call = channel.unary_unary(
            path,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_cls.FromString,
        )
        start = time.perf_counter()
        measure_from = start + spec.warmup
        end = measure_from + spec.duration
        last_report = start
        answered = 0

        async def one(due: float) -> None:
            nonlocal answered
            request, metadata = calls[chooser()]
            try:
                await call(request, metadata=metadata, timeout=spec.timeout)
                code = "OK"
            except aio.AioRpcError as exc:
                code = exc.code().name
            done = time.perf_counter()
            if due >= measure_from:
                histogram.record(done - due)
                codes[code] += 1
            answered += 1

        if spec.rate:
            per_worker = spec.rate / spec.workers
            interval = 1.0 / per_worker
            gate = asyncio.Semaphore(MAX_IN_FLIGHT)
            tasks: set[asyncio.Task[None]] = set()

            async def scheduled(due: float) -> None:
                async with gate:
                    await one(due)

            # Stagger workers so their schedules interleave instead of firing together.
            due = start + interval * index / spec.workers
            while due < end:
                now = time.perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
                task = asyncio.create_task(scheduled(due))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                due += interval
                if time.perf_counter() - last_report >= 1.0:
                    last_report = time.perf_counter()
                    progress.put((index, answered, sum(c for k, c in codes.items() if k != "OK")))
            await asyncio.gather(*tasks)
        else:
            callers = max(
                1, spec.concurrency // spec.workers + (index < spec.concurrency % spec.workers)
            )

            async def caller() -> None:
                while time.perf_counter() < end:
                    await one(time.perf_counter())

            async def reporter() -> None:
                while time.perf_counter() < end:
                    await asyncio.sleep(1.0)
                    progress.put((index, answered, sum(c for k, c in codes.items() if k != "OK")))

            await asyncio.gather(reporter(), *(caller() for _ in range(callers)))
    return {"histogram": histogram.to_json(), "codes": dict(codes)}


def _chooser(spec: LoadSpec, index: int, count: int) -> Any:
    """Return a function giving the index of the next request of a worker's list."""
    if spec.pick not in ("round-robin", "random"):
        raise ValueError(f"pick must be round-robin or random, not {spec.pick!r}")
    if spec.pick == "random":
        # Each worker its own stream, all derived from the one seed: runs repeat exactly.
        rng = random.Random(spec.seed * 1_000_003 + index)
        return lambda: rng.randrange(count)
    # Workers start at different places in the list so they do not send the same requests.
    position = index * count // max(1, spec.workers)

    def next_index() -> int:
        nonlocal position
        position = (position + 1) % count
        return position

    return next_index


def _worker(spec: LoadSpec, index: int, progress: Any, results: Any) -> None:
    try:
        results.put((index, asyncio.run(_worker_main(spec, index, progress))))
    except Exception as exc:  # reported to the parent, which fails the run
        results.put((index, {"error": f"{type(exc).__name__}: {exc}"}))


def run(spec: LoadSpec, *, on_progress: Any = None) -> LoadResult:
    """Run one load test with `spec.workers` processes and return the merged result."""
    context = multiprocessing.get_context("spawn")
    progress, results = context.Queue(), context.Queue()
    processes = [
        context.Process(target=_worker, args=(spec, i, progress, results), daemon=True)
        for i in range(spec.workers)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    answered: dict[int, tuple[int, int]] = {}
    collected: dict[int, dict[str, Any]] = {}
    deadline = started + spec.warmup + spec.duration + spec.timeout + 60
    while len(collected) < spec.workers:
        if time.perf_counter() > deadline:
            raise TimeoutError("workers did not finish")
        try:
            index, sent, failed = progress.get(timeout=0.2)
            answered[index] = (sent, failed)
            if on_progress is not None:
                on_progress(
                    time.perf_counter() - started,
                    sum(a for a, _ in answered.values()),
                    sum(f for _, f in answered.values()),
                )
        except queue.Empty:
            pass
        while True:
            try:
                index, payload = results.get_nowait()
            except queue.Empty:
                break
            if "error" in payload:
                for process in processes:
                    process.kill()
                raise RuntimeError(f"worker {index} failed: {payload['error']}")
            collected[index] = payload
    for process in processes:
        process.join(timeout=5)
    merged = Histogram()
    codes: Counter[str] = Counter()
    for payload in collected.values():
        merged.merge(Histogram.from_json(payload["histogram"]))
        codes.update(payload["codes"])
    return LoadResult(spec=spec, histogram=merged, codes=codes, elapsed=spec.duration)


def baseline_of(spec: LoadSpec) -> LoadSpec:
    """Return the same load aimed at the empty RPC (health Check) of the same server."""
    return LoadSpec(
        **{**spec.__dict__, "method": HEALTH_CHECK, "request_json": "{}", "requests": ()}
    )


def report(results: list[LoadResult]) -> str:
    """Return the results as JSON text, each with its ratio to the first (the baseline)."""
    base = results[0].summary()
    rows = []
    for result in results:
        row = result.summary()
        if base["throughput_rps"]:
            row["throughput_vs_baseline"] = round(row["throughput_rps"] / base["throughput_rps"], 3)
        rows.append(row)
    return json.dumps(rows, indent=2)
