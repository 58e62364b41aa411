"""The `mixed-edge` scenario: the DeathStarBench social-network mix, over HTTP through the edge.

60 % home feed, 30 % a user's posts, 10 % create post, plus likes and comments at 10 % of the
reads (likes twice as often as comments): 60/30/10/6/3 out of every 109 requests, in exactly those
proportions and evenly spread (smooth weighted round-robin, as nginx balances upstreams). Every
request carries a seeded user's own token over HTTP/1.1 keep-alive connections, from several
worker processes, open loop at a fixed rate with latency from each request's scheduled time
(bench.loadgen's clock, histograms and report, with an HTTP driver).

A post needs ready media of its author's own, and each media makes one post: before every run a
pool is uploaded through the edge (not timed) and dealt to the workers, sized from the run's exact
schedule, so it cannot run short. Should a worker still run out, each create it cannot send counts
as an error with status NO_MEDIA (and the run fails); nothing else is sent in its place.

What a run sends (readers and their tokens, authors, posts, media dealt out) is prepared by
`Preparation.inputs`, which the k6 version of the mix (`shutter bench k6 mixed`, bench/k6/mixed.js)
uses too: it writes the same inputs to a JSON file the script reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench import cost, loadgen
from bench.memory import RSS_LIMIT_MB, MeshProcess, feed_memory, process_memory
from bench.scenarios import TOKEN_MARGIN_SECONDS, fresh_tokens, sample_users
from bench.seed import bounded, png_bytes, upload_photo

HOME_FEED = "home-feed"
USER_POSTS = "user-posts"
CREATE_POST = "create-post"
LIKE = "like"
COMMENT = "comment"
HEALTHZ = "healthz"
# Requests of each operation in every 109: reads 90 (60 feed + 30 user posts), creates 10, and
# likes and comments at 10 % of the reads (9), likes twice as often as comments.
MIX: tuple[tuple[str, int], ...] = (
    (HOME_FEED, 60),
    (USER_POSTS, 30),
    (CREATE_POST, 10),
    (LIKE, 6),
    (COMMENT, 3),
)
MIXED_EDGE = "mixed-edge (HTTP)"
HEALTHZ_ROUTE = "GET /healthz (HTTP)"
PAGE_SIZE = 20  # posts per home-feed page and per profile page, as the app asks for them
NO_MEDIA = "NO_MEDIA"
# Keep-alive connections per worker process: an open-loop worker has at most this many requests
# on the wire; later ones wait for a connection, and that wait counts in their latency.
MAX_CONNECTIONS = 256
STEP_FACTOR = 1.25  # the rate search multiplies the rate by this at each step
MIN_RATE = 1.0  # requests per second: the search stepping down gives up below this
UPLOADS_IN_FLIGHT = 4  # pool uploads at once (each is processed by media_svc's workers)
UPLOAD_TIMEOUT_SECONDS = 60.0
RUN_SEED_STRIDE = 1_000  # runs of one command seed their choices seed*stride, +1, +2...
CAPTION = "Mixed-edge post #bench"


def mix_sequence(weights: Sequence[tuple[str, int]], *, skip: int = 0) -> Iterator[str]:
    """Yield operation names forever, each exactly `weight` times in every sum(weights), spread
    evenly (smooth weighted round-robin); `skip` starts that many picks in."""
    if not weights or any(weight < 1 for _, weight in weights):
        raise ValueError("a mix needs at least one operation, each with a weight ≥ 1")
    total = sum(weight for _, weight in weights)

    def picks() -> Iterator[str]:
        current = [0] * len(weights)
        while True:
            for i, (_, weight) in enumerate(weights):
                current[i] += weight
            best = max(range(len(weights)), key=current.__getitem__)
            current[best] -= total
            yield weights[best][0]

    return itertools.islice(picks(), skip, None)


def _skip(weights: Sequence[tuple[str, int]], index: int, workers: int) -> int:
    # Workers start at different places in the cycle, so they do not all create at once.
    return index * sum(w for _, w in weights) // workers


def creates_in(weights: Sequence[tuple[str, int]], sent: int, *, skip: int = 0) -> int:
    """Return how many of the first `sent` picks of the mix (from `skip` on) are creates."""
    sequence = mix_sequence(weights, skip=skip)
    return sum(op == CREATE_POST for op in itertools.islice(sequence, sent))


def creates_needed(spec: loadgen.LoadSpec, weights: Sequence[tuple[str, int]]) -> list[int]:
    """Return how many creates each worker of an open-loop run sends (warm-up included)."""
    return [
        creates_in(
            weights,
            len(loadgen.schedule(spec, index)),
            skip=_skip(weights, index, spec.workers),
        )
        for index in range(spec.workers)
    ]


class _NoMedia(Exception):
    """A worker's media pool is used up."""


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class EdgeDriver:
    """Send a weighted mix of edge operations over HTTP/1.1 keep-alive (a loadgen Driver)."""

    edge_url: str
    weights: tuple[tuple[str, int], ...]
    readers: tuple[str, ...] = ()  # access tokens; each read, like, comment picks one at random
    authors: tuple[int, ...] = ()  # user ids whose posts are listed
    posts: tuple[int, ...] = ()  # post ids liked and commented on
    pools: tuple[tuple[tuple[str, int], ...], ...] = ()  # per worker: (owner's token, media id)
    mode: str = "FEED_MODE_RANKED"
    media_used: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        needs = {
            HOME_FEED: self.readers,
            USER_POSTS: self.readers and self.authors,
            CREATE_POST: self.pools,
            LIKE: self.readers and self.posts,
            COMMENT: self.readers and self.posts,
            HEALTHZ: True,
        }
        for name, _ in self.weights:
            if name not in needs:
                raise ValueError(f"unknown operation {name!r}; known: {', '.join(needs)}")
            if not needs[name]:
                raise ValueError(f"{name} needs readers, authors, posts or media it was not given")

    async def _request(
        self, http: httpx.AsyncClient, operation: str, rng: random.Random, pool: Iterator[Any]
    ) -> httpx.Response:
        if operation == HEALTHZ:
            return await http.get("/healthz")
        if operation == CREATE_POST:
            item = next(pool, None)
            if item is None:
                raise _NoMedia
            self.media_used += 1
            token, media_id = item
            body = {
                "mediaIds": [str(media_id)],
                "caption": CAPTION,
                "idempotencyKey": uuid.uuid4().hex,
            }
            return await http.post("/api/v1/posts", json=body, headers=_bearer(token))
        headers = _bearer(rng.choice(self.readers))
        if operation == HOME_FEED:
            query: dict[str, str | int] = {"pageSize": PAGE_SIZE, "mode": self.mode}
            return await http.get("/api/v1/feed", params=query, headers=headers)
        if operation == USER_POSTS:
            author = rng.choice(self.authors)
            query = {"pageSize": PAGE_SIZE}
            return await http.get(f"/api/v1/users/{author}/posts", params=query, headers=headers)
        post = rng.choice(self.posts)
        if operation == LIKE:
            return await http.post(f"/api/v1/posts/{post}/like", headers=headers)
        text = {"text": f"Nice! ({rng.randrange(1_000_000)})"}
        return await http.post(f"/api/v1/posts/{post}/comments", json=text, headers=headers)

    @contextlib.asynccontextmanager
    async def session(self, spec: loadgen.LoadSpec, index: int) -> AsyncIterator[loadgen.Send]:
        """Open the worker's connection pool; yield the sender of its next operation."""
        rng = random.Random(spec.seed * 1_000_003 + index)
        operations = mix_sequence(self.weights, skip=_skip(self.weights, index, spec.workers))
        pool = iter(self.pools[index] if self.pools else ())
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
        )
        async with httpx.AsyncClient(
            base_url=self.edge_url, timeout=spec.timeout, limits=limits
        ) as http:

            async def send() -> tuple[str, str]:
                operation = next(operations)
                try:
                    response = await self._request(http, operation, rng, pool)
                except _NoMedia:
                    return operation, NO_MEDIA
                except httpx.HTTPError as exc:
                    return operation, type(exc).__name__
                return operation, str(response.status_code)

            yield send

    def notes(self) -> dict[str, Any]:
        """Return how many of its pool's media the worker used (each create uses one)."""
        return {"media_used": self.media_used}


class MediaPool:
    """Ready, unposted photos of the readers', uploaded through the edge before runs."""

    def __init__(self, manifest: dict[str, Any], owners: Sequence[int], *, seed: int) -> None:
        if not owners:
            raise ValueError("a media pool needs at least one owner")
        self._manifest = manifest
        self._owners = list(owners)
        self._turn = 0
        self._rng = random.Random(seed)
        self.ready: list[tuple[int, int]] = []  # (owner's user index, media id)
        self.uploaded = 0
        self.upload_seconds = 0.0

    async def fill(self, count: int, *, concurrency: int, on_done: Callable[[], None]) -> None:
        """Upload photos (owners in turn) until `count` are ready; wait for their processing."""
        missing = count - len(self.ready)
        if missing <= 0:
            return
        owners = [self._owners[(self._turn + k) % len(self._owners)] for k in range(missing)]
        self._turn += missing
        images = [png_bytes(self._rng) for _ in owners]
        edge_url = self._manifest["edge_url"].rstrip("/")
        started = time.perf_counter()
        async with httpx.AsyncClient(timeout=UPLOAD_TIMEOUT_SECONDS) as http:

            async def upload(k: int) -> None:
                token = self._manifest["users"][owners[k]]["access_token"]
                media_id = await upload_photo(http, edge_url, token, images[k])
                self.ready.append((owners[k], media_id))

            await bounded(range(missing), upload, concurrency=concurrency, on_done=on_done)
        self.uploaded += missing
        self.upload_seconds += time.perf_counter() - started

    def deal(self, counts: Sequence[int]) -> list[list[tuple[int, int]]]:
        """Take `counts[i]` media out of the pool for worker i."""
        if sum(counts) > len(self.ready):
            raise ValueError(f"the pool holds {len(self.ready)} media, {sum(counts)} asked for")
        hands = []
        for count in counts:
            hands.append(self.ready[:count])
            del self.ready[:count]
        return hands

    def give_back(self, hands: Sequence[Sequence[tuple[int, int]]], used: Sequence[int]) -> None:
        """Return what each worker did not use (it used its hand in order) to the pool."""
        for hand, count in zip(hands, used, strict=True):
            self.ready.extend(hand[count:])


@dataclass(frozen=True)
class Inputs:
    """What one run of the mix sends: readers' access tokens (each read, like and comment picks
    one at random), the authors whose grids are read and the posts liked and commented on (one
    entry per seeded post), and hands of media, (owner's token, media id) each, used in order by
    the creates of one sender (a Python worker, or a k6 scenario)."""

    edge_url: str
    readers: tuple[str, ...]
    authors: tuple[int, ...]
    posts: tuple[int, ...]
    hands: tuple[tuple[tuple[str, int], ...], ...]
    mode: str = "FEED_MODE_RANKED"

    def driver(self, weights: tuple[tuple[str, int], ...] | None = None) -> EdgeDriver:
        """Return the Python generator's driver of these inputs (hand i: worker i); the mix is
        MIX as it is when called (a one-operation run replaces it)."""
        return EdgeDriver(
            self.edge_url,
            weights or MIX,
            readers=self.readers,
            authors=self.authors,
            posts=self.posts,
            pools=self.hands,
            mode=self.mode,
        )

    def to_json(
        self, hand_names: Sequence[str], weights: tuple[tuple[str, int], ...] | None = None
    ) -> dict[str, Any]:
        """Return the inputs as bench/k6/mixed.js reads them: one cycle of the mix in order (the
        smooth weighted round-robin of `mix_sequence`), the request shapes' constants, and each
        hand under the name of the sender (k6 scenario) that uses it."""
        if len(hand_names) != len(self.hands):
            raise ValueError(f"{len(self.hands)} hands of media, {len(hand_names)} names")
        weights = weights or MIX
        total = sum(weight for _, weight in weights)
        return {
            "edge_url": self.edge_url,
            "mix": [[name, weight] for name, weight in weights],
            "sequence": list(itertools.islice(mix_sequence(weights), total)),
            "page_size": PAGE_SIZE,
            "mode": self.mode,
            "caption": CAPTION,
            "readers": list(self.readers),
            "authors": [str(a) for a in self.authors],  # ids past 2^53: strings, as in JSON APIs
            "posts": [str(p) for p in self.posts],
            "media": {
                name: [[token, str(media_id)] for token, media_id in hand]
                for name, hand in zip(hand_names, self.hands, strict=True)
            },
        }

    def write(self, path: Path, hand_names: Sequence[str]) -> Path:
        """Write `to_json` to `path` (a scratch file); return the path."""
        path.write_text(json.dumps(self.to_json(hand_names)))
        return path


class Preparation:
    """What mixed-edge does before it measures, for the Python generator and for k6 alike:
    choose the readers (seeded users who follow someone), the posts to like and comment on and
    their authors to read, and keep a pool of uploaded media for the creates. `inputs` then makes
    one run's inputs: tokens renewed, photos uploaded and dealt out."""

    def __init__(
        self, manifest: dict[str, Any], manifest_path: Path, options: Options, *, console: Console
    ) -> None:
        users = manifest["users"]
        self.manifest = manifest
        self.manifest_path = manifest_path
        self.options = options
        self.console = console
        self.readers = sample_users(manifest, options.users, options.seed)
        if not self.readers or not manifest["posts"]:
            raise ValueError("the manifest needs users who follow someone and posts (bench seed)")
        self.posts = tuple(int(p["post_id"]) for p in manifest["posts"])
        self.authors = tuple(int(users[p["author"]]["user_id"]) for p in manifest["posts"])
        self.edge_url = manifest["edge_url"].rstrip("/")
        self.pool = MediaPool(manifest, self.readers, seed=options.seed)
        self._dealt: list[list[tuple[int, int]]] = []  # the last inputs' hands, owner indexes

    def inputs(self, creates: Sequence[int], *, rate: float) -> Inputs:
        """Return a run's inputs with `creates[i]` media in hand i: photos uploaded first where
        the pool is short (not timed), then dealt out of it; readers' tokens renewed before and
        after the uploads (a run is at most TOKEN_MARGIN_SECONDS long)."""
        users = self.manifest["users"]
        asyncio.run(fresh_tokens(self.manifest, self.readers, self.manifest_path))
        missing = max(0, sum(creates) - len(self.pool.ready))
        if missing:
            self.console.print(
                f"uploading {missing} photos for {sum(creates)} creates at {rate:g}/s"
            )
        asyncio.run(
            self.pool.fill(sum(creates), concurrency=self.options.upload_concurrency, on_done=_nop)
        )
        # Again after the uploads, which can take minutes: a token that was fine before them may
        # now expire during the run (each would then answer 401, cheaply, skewing the figures).
        asyncio.run(fresh_tokens(self.manifest, self.readers, self.manifest_path))
        hands = self._dealt = self.pool.deal(creates)
        return Inputs(
            self.edge_url,
            readers=tuple(users[i]["access_token"] for i in self.readers),
            authors=self.authors,
            posts=self.posts,
            hands=tuple(tuple((users[o]["access_token"], m) for o, m in h) for h in hands),
            mode=self.options.mode,
        )

    def give_back(self, used: Sequence[int]) -> None:
        """Return to the pool what each hand of the last inputs did not use (in order)."""
        self.pool.give_back(self._dealt, used)
        self._dealt = []

    def pool_report(self) -> dict[str, Any]:
        """Return how many photos were uploaded for the runs, how fast, and how many are left."""
        pool = self.pool
        return {
            "uploaded": pool.uploaded,
            "upload_rate_per_s": round(pool.uploaded / pool.upload_seconds, 2)
            if pool.upload_seconds
            else None,
            "left_unused": len(pool.ready),
        }


@dataclass(frozen=True)
class Options:
    """What `shutter bench scenario mixed-edge` was asked for (beyond the load's LoadSpec)."""

    users: int = 200
    seed: int = 1
    mode: str = "FEED_MODE_RANKED"
    find_rate: bool = False
    max_rate: float = 5000.0
    step_duration: float = 5.0
    step_warmup: float = 1.0
    p99_target_ms: float = 100.0
    metrics_port: int | None = None  # first metrics port of `shutter up --engines`
    redis_url: str | None = None  # the mesh's Redis; None: the manifest's, else SHUTTER_REDIS_URL
    upload_concurrency: int = UPLOADS_IN_FLIGHT

    def check(self, base: loadgen.LoadSpec) -> None:
        """Refuse options that cannot make a run, with the reason."""
        if base.rate <= 0:
            raise ValueError("mixed-edge runs open loop: give --rate (with --find-rate, the start)")
        if self.users < 1 or self.upload_concurrency < 1:
            raise ValueError("users and upload concurrency must be ≥ 1")
        if self.p99_target_ms <= 0 or self.step_duration <= 0 or self.step_warmup < 0:
            raise ValueError("the p99 target and step duration must be > 0, step warm-up ≥ 0")
        if self.find_rate and self.max_rate < base.rate:
            raise ValueError(f"--max-rate {self.max_rate:g} is below the start rate {base.rate:g}")
        # Tokens are renewed before each run when they are this close to expiry, so no run may
        # be longer: its users' tokens could expire in the middle of it (401s).
        longest = max(base.warmup + base.duration, self.step_warmup + self.step_duration)
        if longest > TOKEN_MARGIN_SECONDS:
            raise ValueError(
                f"a run of {longest:g} s (warm-up included) could outlive its users' tokens: "
                f"at most {TOKEN_MARGIN_SECONDS} s"
            )


class NoRateHeld(RuntimeError):
    """The rate search found no rate that met the target; `steps` says what each step did."""

    def __init__(self, message: str, steps: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.steps = steps


def _step_row(rate: float, result: loadgen.LoadResult, held: bool) -> dict[str, Any]:
    s = result.summary()
    return {
        "rate": round(rate, 2),
        "throughput_rps": s["throughput_rps"],
        "p50_ms": s["p50_ms"],
        "p99_ms": s["p99_ms"],
        "errors": s["errors"],
        "codes": s["codes"],
        "held": held,
    }


def _setup_error(codes: dict[str, int]) -> bool:
    # 4xx (but 429, which is load) and NO_MEDIA mean the set-up is wrong, not that load is high.
    return any(
        code == NO_MEDIA or (code.isdigit() and code[0] == "4" and code != "429") for code in codes
    )


def find_rate(
    run_step: Callable[[float], loadgen.LoadResult],
    *,
    start: float,
    p99_target_ms: float,
    max_rate: float,
    factor: float = STEP_FACTOR,
    min_rate: float = MIN_RATE,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[float, list[dict[str, Any]]]:
    """Return the highest open-loop rate whose short run held (p99 ≤ target, no errors), and
    every step's figures.

    From `start`, the rate is multiplied by `factor` while steps hold, up to `max_rate`; when the
    first step fails it is divided instead until one holds. NoRateHeld when none does above
    `min_rate`, or at once when a step fails with client errors (a broken set-up, not load).
    """
    if factor <= 1 or start <= 0 or max_rate < start:
        raise ValueError("the search needs factor > 1 and 0 < start ≤ max rate")
    steps: list[dict[str, Any]] = []

    def step(rate: float) -> bool:
        result = run_step(rate)
        held = result.errors == 0 and result.histogram.percentile(99) <= p99_target_ms
        steps.append(_step_row(rate, result, held))
        if on_step is not None:
            on_step(steps[-1])
        if not held and _setup_error(steps[-1]["codes"]):
            raise NoRateHeld(f"client errors at {rate:g}/s: {steps[-1]['codes']}", steps)
        return held

    rate = start
    if not step(rate):
        while True:
            rate /= factor
            if rate < min_rate:
                raise NoRateHeld(f"no rate down to {min_rate:g}/s held", steps)
            if step(rate):
                return rate, steps
    while rate * factor <= max_rate and step(rate * factor):
        rate *= factor
    return rate, steps


def mesh_processes(manifest: dict[str, Any], first_metrics_port: int | None) -> list[MeshProcess]:
    """Return the mesh's processes as `shutter up --engines` runs them, from the manifest."""
    from mesh.cli import metrics_ports
    from mesh.config import MeshSettings

    settings = MeshSettings()
    ports = metrics_ports(first_metrics_port or settings.metrics_port)
    edge = httpx.URL(manifest["edge_url"])
    addresses = {
        name: manifest["grpc"].get(name) or settings.address_of(name)
        for name in ports
        if name != "edge_proxy"
    }
    addresses["edge_proxy"] = f"{edge.host}:{edge.port or 80}"
    host = "127.0.0.1"
    return [
        MeshProcess(name, addresses[name], f"http://{host}:{port}/metrics")
        for name, port in ports.items()
    ]


def _redis_setting() -> str | None:
    from mesh.config import MeshSettings

    return MeshSettings().redis_url


async def _feeds(redis_url: str | None) -> dict[str, Any]:
    if not redis_url:
        return {
            "available": False,
            "reason": "no Redis URL: an embedded mesh keeps Redis inside its own process "
            "(give --redis-url or SHUTTER_REDIS_URL for a mesh on Redis)",
        }
    from mesh.config import MeshSettings
    from mesh.redis import create_redis

    redis = create_redis(MeshSettings(redis_url=redis_url))
    try:
        return await feed_memory(redis)
    finally:
        await redis.aclose()


Runner = Callable[[loadgen.LoadSpec, loadgen.Driver | None], loadgen.LoadResult]


def scenario(
    manifest: dict[str, Any],
    manifest_path: Path,
    base: loadgen.LoadSpec,
    options: Options,
    *,
    run: Runner,
    console: Console,
) -> tuple[list[loadgen.LoadResult], dict[str, Any]]:
    """Run mixed-edge (after a rate search if asked) with its same-run baselines; measure memory.

    Returns the load results (feed_svc's health Check over gRPC, the edge's /healthz over HTTP,
    the mix, all at the same open-loop rate) and the scenario's own figures.
    """
    options.check(base)
    prepared = Preparation(manifest, manifest_path, options, console=console)
    edge_url = prepared.edge_url
    processes = mesh_processes(manifest, options.metrics_port)
    memory_before = asyncio.run(process_memory(processes))

    addresses = cost.mesh_addresses(manifest)
    last_cost: dict[str, Any] = {}
    # Each run of the command (search steps, then the measured run) picks its own readers, posts
    # and likes: with one seed for all, a later run would repeat the earlier run's likes, which
    # are then no-ops and cost the mesh far less than a new like.
    runs = itertools.count()

    def mixed(rate: float, duration: float, warmup: float) -> loadgen.LoadResult:
        spec = replace(
            base,
            target=edge_url,
            method=MIXED_EDGE,
            rate=rate,
            duration=duration,
            warmup=warmup,
            seed=base.seed * RUN_SEED_STRIDE + next(runs),
        )
        inputs = prepared.inputs(creates_needed(spec, MIX), rate=rate)
        before = cost.cpu_seconds(addresses)
        result = run(spec, inputs.driver())
        after = cost.cpu_seconds(addresses)
        # What the mesh spent per request of the mix (uploads for creates are made before this).
        last_cost.clear()
        last_cost.update(
            cost.per_request(before, after, seconds=warmup + duration, throughput=result.throughput)
        )
        prepared.give_back([note["media_used"] for note in result.notes])
        return result

    search: dict[str, Any] | None = None
    rate = base.rate
    if options.find_rate:

        def show(row: dict[str, Any]) -> None:
            verdict = "held" if row["held"] else "failed"
            console.print(
                f"step {row['rate']:g}/s: p99 {row['p99_ms']:.1f} ms, "
                f"{row['errors']} errors: {verdict}"
            )

        rate, steps = find_rate(
            lambda r: mixed(r, options.step_duration, options.step_warmup),
            start=base.rate,
            p99_target_ms=options.p99_target_ms,
            max_rate=options.max_rate,
            on_step=show,
        )
        search = {
            "start_rate": base.rate,
            "factor": STEP_FACTOR,
            "max_rate": options.max_rate,
            "p99_target_ms": options.p99_target_ms,
            "step_duration_s": options.step_duration,
            "step_warmup_s": options.step_warmup,
            "steps": steps,
            "held_rate": round(rate, 2),
        }
        console.print(steps_table(steps, options.p99_target_ms))
        console.print(f"highest rate that held: {rate:.2f}/s; a full run at it follows")
    grpc_baseline = run(replace(base, rate=rate), None)
    http_baseline = run(
        replace(base, target=edge_url, method=HEALTHZ_ROUTE, rate=rate),
        EdgeDriver(edge_url, ((HEALTHZ, 1),)),
    )
    result = mixed(rate, base.duration, base.warmup)
    memory_after = asyncio.run(process_memory(processes))
    feeds = asyncio.run(_feeds(options.redis_url or manifest.get("redis_url") or _redis_setting()))
    p99 = result.histogram.percentile(99)
    details: dict[str, Any] = {
        "rate": round(rate, 2),
        "p99_target_ms": options.p99_target_ms,
        "target_met": result.errors == 0 and p99 <= options.p99_target_ms,
        "mix": dict(MIX),
        "page_size": PAGE_SIZE,
        "readers": len(prepared.readers),
        "posts_in_manifest": len(prepared.posts),
        "media_pool": prepared.pool_report(),
        "search": search,
        "cpu_cost": dict(last_cost),
        "memory": {
            "rss_limit_mb": RSS_LIMIT_MB,
            "before": memory_before,
            "after": memory_after,
            "redis_feeds": feeds,
        },
    }
    console.print(operations_table(result))
    console.print(f"CPU the mesh spent per request of the mix (ms): {last_cost}")
    console.print(
        "CPU the load generator spent per request (ms, its workers on the same machine): "
        f"{result.generator_cpu_ms_per_request:.3f}"
    )
    console.print(memory_table(memory_before, memory_after, feeds))
    return [grpc_baseline, http_baseline, result], details


def _nop() -> None:
    pass


def operations_table(result: loadgen.LoadResult) -> Table:
    """Return each operation's figures of a mixed run, and the whole, as a table."""
    table = Table(title=f"{result.spec.method} at {result.spec.rate:g}/s (latency in ms)")
    for column in ("operation", "share", "requests", "req/s", "p50", "p90", "p99", "p99.9"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    table.add_column("max", justify="right")
    table.add_column("errors", justify="right")
    table.add_column("codes")
    summary = result.summary()
    rows = [*summary.get("operations", {}).items(), ("all", {**summary, "share": 1.0})]
    for name, s in rows:
        table.add_row(
            name,
            f"{s['share']:.1%}",
            str(s["requests"]),
            f"{s['throughput_rps']:.1f}",
            *(f"{s[k]:.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms")),
            str(s["errors"]),
            ", ".join(f"{code}×{n}" for code, n in sorted(s["codes"].items())),
        )
    return table


def steps_table(steps: list[dict[str, Any]], target_ms: float) -> Table:
    """Return the rate search's steps as a table."""
    table = Table(title=f"rate search: p99 ≤ {target_ms:g} ms and no errors")
    for column in ("rate/s", "req/s", "p50 ms", "p99 ms", "errors", "held"):
        table.add_column(column, justify="right")
    for row in steps:
        table.add_row(
            f"{row['rate']:g}",
            f"{row['throughput_rps']:.1f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            str(row["errors"]),
            "yes" if row["held"] else "no",
        )
    return table


def memory_table(
    before: list[dict[str, Any]], after: list[dict[str, Any]], feeds: dict[str, Any]
) -> Table:
    """Return each process's RSS before and after the run, and Redis per feed entry."""
    table = Table(title=f"memory (RSS in MB = 10^6 bytes; limit {RSS_LIMIT_MB:g} MB per service)")
    for column in ("process", "pid", "before", "after", "within limit", "read from"):
        table.add_column(column, justify="left" if column == "process" else "right")
    earlier = {row["process"]: row for row in before}
    for row in after:
        shared = row.get("shares_process_with")
        table.add_row(
            row["process"],
            str(row["pid"] or "?") + (f" (= {shared})" if shared else ""),
            _mb(earlier.get(row["process"], {}).get("rss_mb")),
            _mb(row["rss_mb"]),
            "yes" if row["within_limit"] else "NO",
            row["source"],
        )
    if feeds.get("available"):
        caption = (
            f"Redis home feeds: {feeds['feed_keys']} keys, {feeds['entries']} entries, "
            f"{feeds['bytes']} bytes: {feeds['bytes_per_entry']} bytes per entry "
            f"(encodings {feeds['encodings']})"
        )
    else:
        caption = f"Redis home feeds not measured: {feeds.get('reason')}"
    table.caption = caption
    return table


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
