"""A load generator: any unary RPC by name with a JSON request, open or closed loop.

Open loop (the wrk2 approach): requests are scheduled on a clock at a fixed rate and each latency
counts from the moment its request was due, so a server that stalls cannot hide the queue it
builds. Closed loop: N callers, each sending its next request when the last one is answered.
Several worker processes share the load so the generator is not the bottleneck; their histograms
are merged. Methods are found through the server's reflection service, as ghz does.

The scheduling, the histograms and the report do not depend on the transport: a `Driver` says how
a worker sends one request and names its operation. `GrpcDriver` (the default) sends one gRPC
method; bench.mixed_edge drives a mix of HTTP operations through the edge with the same machinery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing
import queue
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

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

# Sends one request; returns its operation's name and its status: "OK" or a gRPC code name, an
# HTTP status ("200"), or the name of the exception that ended it ("ReadTimeout").
Send = Callable[[], Awaitable[tuple[str, str]]]


# How long workers may take to start (spawn, imports, their driver's session: logins, uploads),
# and how much longer than warm-up, duration and one request's timeout they may take to finish.
STARTUP_SECONDS = 300.0
FINISH_SLACK = 60.0


class Driver(Protocol):
    """How a worker process sends requests: opened once per worker, then called per request.

    A driver is pickled into each worker process, so each worker has its own copy and state.
    """

    def session(self, spec: LoadSpec, index: int) -> AbstractAsyncContextManager[Send]:
        """Open worker `index`'s connections; yield the function that sends one request."""
        ...

    def notes(self) -> dict[str, Any]:
        """Return what the worker tells the parent after its session (JSON-ready)."""
        ...


def is_ok(code: str) -> bool:
    """Return whether a status counts as a success: gRPC OK or any HTTP 2xx."""
    return code == "OK" or (len(code) == 3 and code.isdigit() and code[0] == "2")


@dataclass(frozen=True)
class LoadSpec:
    """What to send, where, how hard and for how long."""

    target: str
    method: str  # "package.Service/Method" (another driver: the name of what it sends)
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
class OperationResult:
    """The merged outcome of one operation of a run."""

    histogram: Histogram = field(default_factory=Histogram)
    codes: Counter[str] = field(default_factory=Counter)


def _figures(histogram: Histogram, codes: Counter[str], elapsed: float) -> dict[str, Any]:
    return {
        "requests": histogram.total,
        "throughput_rps": round(histogram.total / elapsed, 1) if elapsed else 0.0,
        "p50_ms": histogram.percentile(50),
        "p90_ms": histogram.percentile(90),
        "p99_ms": histogram.percentile(99),
        "p99_9_ms": histogram.percentile(99.9),
        "max_ms": histogram.max_micros / 1000,
        "errors": sum(n for code, n in codes.items() if not is_ok(code)),
        "codes": dict(codes),
    }


@dataclass
class LoadResult:
    """The merged outcome of one run: all operations together, and each on its own."""

    spec: LoadSpec
    histogram: Histogram
    codes: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0
    operations: dict[str, OperationResult] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)  # each worker's, by index
    # The generator's own CPU (every worker, warm-up included) and the requests it sent meanwhile:
    # it shares the machine with what it measures, so its cost is part of the picture.
    generator_cpu_seconds: float = 0.0
    generator_requests: int = 0

    @property
    def generator_cpu_ms_per_request(self) -> float:
        """Return the load generator's CPU per request sent, in milliseconds."""
        if not self.generator_requests:
            return 0.0
        return self.generator_cpu_seconds * 1000 / self.generator_requests

    @property
    def throughput(self) -> float:
        """Return answered requests per second during the measured window."""
        return self.histogram.total / self.elapsed if self.elapsed else 0.0

    @property
    def errors(self) -> int:
        """Return how many measured calls did not succeed (see is_ok)."""
        return sum(n for code, n in self.codes.items() if not is_ok(code))

    def summary(self) -> dict[str, Any]:
        """Return the figures of the run as JSON-ready data (per operation when several)."""
        row = {
            "method": self.spec.method,
            "mode": f"open loop {self.spec.rate:g}/s"
            if self.spec.rate
            else (f"closed loop x{self.spec.concurrency}"),
            **_figures(self.histogram, self.codes, self.elapsed),
        }
        if self.generator_requests:
            row["generator_cpu_ms_per_request"] = round(self.generator_cpu_ms_per_request, 3)
        if len(self.operations) > 1:
            row["operations"] = {
                name: {
                    "share": round(op.histogram.total / self.histogram.total, 4)
                    if self.histogram.total
                    else 0.0,
                    **_figures(op.histogram, op.codes, self.elapsed),
                }
                for name, op in sorted(self.operations.items())
            }
        return row


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


@dataclass(frozen=True)
class GrpcDriver:
    """Send `spec.method` over gRPC: the spec's request (or the next of its request list)."""

    @contextlib.asynccontextmanager
    async def session(self, spec: LoadSpec, index: int) -> AsyncIterator[Send]:
        """Resolve the method by reflection, open a channel; yield the sender of one call."""
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
        async with aio.insecure_channel(spec.target) as channel:
            call = channel.unary_unary(
                path,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_cls.FromString,
            )

            async def send() -> tuple[str, str]:
                request, metadata = calls[chooser()]
                try:
                    await call(request, metadata=metadata, timeout=spec.timeout)
                except aio.AioRpcError as exc:
                    return spec.method, exc.code().name
                return spec.method, "OK"

            yield send

    def notes(self) -> dict[str, Any]:
        """Return nothing: a gRPC worker has nothing to tell beyond its figures."""
        return {}


def schedule(spec: LoadSpec, index: int) -> list[float]:
    """Return when each request of open-loop worker `index` is due, in seconds from its start.

    The run's whole window (warm-up included) is scheduled; what is due before the warm-up ends
    is sent but not measured.
    """
    interval = spec.workers / spec.rate
    # Workers are staggered so their schedules interleave instead of firing together.
    first = interval * index / spec.workers
    window = spec.warmup + spec.duration
    count = max(0, math.ceil((window - first) / interval))
    return [first + k * interval for k in range(count)]


async def _drive(
    spec: LoadSpec, index: int, progress: Any, send: Send
) -> tuple[dict[str, Any], int]:
    """Send on the open- or closed-loop clock; return each operation's histogram and codes, and
    how many requests were answered (warm-up included)."""
    measured: dict[str, OperationResult] = {}
    answered = failed = 0
    start = time.perf_counter()
    measure_from = start + spec.warmup
    end = measure_from + spec.duration
    last_report = start

    async def one(due: float) -> None:
        nonlocal answered, failed
        operation, code = await send()
        done = time.perf_counter()
        if due >= measure_from:
            result = measured.setdefault(operation, OperationResult())
            result.histogram.record(done - due)
            result.codes[code] += 1
        answered += 1
        failed += not is_ok(code)

    if spec.rate:
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()

        async def scheduled(due: float) -> None:
            async with gate:
                await one(due)

        for offset in schedule(spec, index):
            due = start + offset
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(scheduled(due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if time.perf_counter() - last_report >= 1.0:
                last_report = time.perf_counter()
                progress.put((index, answered, failed))
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
                progress.put((index, answered, failed))

        await asyncio.gather(reporter(), *(caller() for _ in range(callers)))
    operations = {
        name: {"histogram": result.histogram.to_json(), "codes": dict(result.codes)}
        for name, result in measured.items()
    }
    return operations, answered


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


async def _worker_main(spec: LoadSpec, driver: Driver, index: int, progress: Any) -> dict[str, Any]:
    async with driver.session(spec, index) as send:
        progress.put((index, 0, 0))  # started: the run's own clock begins for this worker
        cpu_before = time.process_time()
        operations, sent = await _drive(spec, index, progress, send)
        cpu_seconds = time.process_time() - cpu_before
    return {
        "operations": operations,
        "notes": driver.notes(),
        "cpu_seconds": cpu_seconds,
        "sent": sent,
    }


def _worker(spec: LoadSpec, driver: Driver, index: int, progress: Any, results: Any) -> None:
    try:
        results.put((index, asyncio.run(_worker_main(spec, driver, index, progress))))
    except Exception as exc:  # reported to the parent, which fails the run
        results.put((index, {"error": f"{type(exc).__name__}: {exc}"}))


def run(spec: LoadSpec, *, on_progress: Any = None, driver: Driver | None = None) -> LoadResult:
    """Run one load test with `spec.workers` processes and return the merged result."""
    driver = driver if driver is not None else GrpcDriver()
    context = multiprocessing.get_context("spawn")
    progress, results = context.Queue(), context.Queue()
    processes = [
        context.Process(target=_worker, args=(spec, driver, i, progress, results), daemon=True)
        for i in range(spec.workers)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    answered: dict[int, tuple[int, int]] = {}
    collected: dict[int, dict[str, Any]] = {}
    # Start-up (spawning, imports, a driver's logins) has an allowance of its own: on a loaded
    # machine it can take longer than the run, which must not count against the run's time.
    start_by = started + STARTUP_SECONDS
    finish_by: float | None = None
    while len(collected) < spec.workers:
        now = time.perf_counter()
        if finish_by is None and now > start_by:
            raise TimeoutError(f"workers did not start within {STARTUP_SECONDS:.0f} s")
        if finish_by is not None and now > finish_by:
            raise TimeoutError("workers did not finish")
        try:
            index, sent, failed = progress.get(timeout=0.2)
            answered[index] = (sent, failed)
            if finish_by is None and len(answered) == spec.workers:
                finish_by = (
                    time.perf_counter() + spec.warmup + spec.duration + spec.timeout + FINISH_SLACK
                )
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
    merged = LoadResult(spec=spec, histogram=Histogram(), elapsed=spec.duration)
    for index in sorted(collected):
        for name, data in collected[index]["operations"].items():
            operation = merged.operations.setdefault(name, OperationResult())
            operation.histogram.merge(Histogram.from_json(data["histogram"]))
            operation.codes.update(data["codes"])
        merged.notes.append(collected[index]["notes"])
        merged.generator_cpu_seconds += collected[index]["cpu_seconds"]
        merged.generator_requests += collected[index]["sent"]
    for operation in merged.operations.values():
        merged.histogram.merge(operation.histogram)
        merged.codes.update(operation.codes)
    return merged


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
