"""`shutter bench seed`: fill a running mesh with a real social graph plus a synthetic population.

The population is a pure function of the seed (`build_population`): the Facebook friendship graph
of Reed College (socfb-Reed98: 962 people, 18 812 friendships, each a follow both ways), extra
users who follow accounts drawn with power-law (Pareto) popularity, and celebrities with an exact
number of followers. Accounts, profiles, follows, likes and comments go over gRPC with each
user's own token; media goes through the edge's upload routes as a client would send it. The
manifest written at the end (users with ids, passwords and tokens; posts) is what the scenarios
read.

`--big-authors 1000,10000,100000` adds authors with that many followers each, made in bulk through
the services' own store code (see bench/bulk.py): minutes, not the hours the RPCs would take.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx
from grpc import aio
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import bulk
from feed_svc.events import GROUP as FEED_GROUP
from feed_svc.settings import FeedSettings
from mesh import auth
from mesh.config import MeshSettings
from mesh.services import MESH
from notify_svc.events import GROUP as NOTIFY_GROUP
from shutter.feed.v1 import feed_service_pb2, feed_service_pb2_grpc
from shutter.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from shutter.media.v1 import media_pb2
from shutter.post.v1 import post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_service_pb2, user_service_pb2_grpc

T = TypeVar("T")

REAL_GRAPH_PEOPLE = 962  # socfb-Reed98, for the documentation; the file decides
PARETO_ALPHA = 1.2  # popularity tail of the synthetic users: heavier than Zipf's 2, like follows
MEDIA_READY_TIMEOUT = 60.0  # seconds to wait for one upload's processing
PASSWORD_LENGTH = 16


@dataclass
class Population:
    """Who exists and who follows whom: indexes into `usernames`."""

    usernames: list[str]
    follows: list[tuple[int, int]]  # (follower, followee)
    celebrities: list[int]
    real_people: int


def read_edges(path: Path) -> list[tuple[int, int]]:
    """Return the undirected edges of a whitespace-separated edge list (comments skipped)."""
    edges = set()
    for line in path.read_text().splitlines():
        parts = line.split()
        if not parts or parts[0].startswith(("#", "%")):
            continue
        a, b = int(parts[0]), int(parts[1])
        if a != b:
            edges.add((min(a, b), max(a, b)))
    return sorted(edges)


def build_population(
    edges: Sequence[tuple[int, int]],
    *,
    seed: int,
    prefix: str,
    extra_users: int,
    extra_follows: int,
    celebrities: int,
    celebrity_followers: int,
) -> Population:
    """Return the seeded population: the real graph, power-law extras, then celebrities."""
    rng = random.Random(seed)
    nodes = sorted({n for edge in edges for n in edge})
    index = {node: i for i, node in enumerate(nodes)}
    real = len(nodes)
    follows: set[tuple[int, int]] = set()
    for a, b in edges:
        follows.add((index[a], index[b]))
        follows.add((index[b], index[a]))
    total = real + extra_users
    # Popularity of every non-celebrity account, Pareto-distributed: a few draw most follows.
    weights = [rng.paretovariate(PARETO_ALPHA) for _ in range(total)]
    cumulative: list[float] = []
    running = 0.0
    for weight in weights:
        running += weight
        cumulative.append(running)
    for follower in range(real, total):
        want = min(extra_follows, total - 1)
        chosen: set[int] = set()
        # Bounded: a draw can repeat or hit the follower, so allow a few times the draws needed.
        for _ in range(want * 4):
            if len(chosen) >= want:
                break
            (followee,) = rng.choices(range(total), cum_weights=cumulative, k=1)
            if followee != follower:
                chosen.add(followee)
        follows.update((follower, followee) for followee in chosen)
    if celebrities and celebrity_followers > total:
        raise ValueError(
            f"{celebrity_followers} followers per celebrity needs at least that many other "
            f"users; there are {total} (raise --extra-users)"
        )
    stars = list(range(total, total + celebrities))
    for star in stars:
        follows.update((fan, star) for fan in rng.sample(range(total), celebrity_followers))
    usernames = [f"{prefix}{i}" for i in range(total + celebrities)]
    return Population(
        usernames=usernames, follows=sorted(follows), celebrities=stars, real_people=real
    )


def png_bytes(rng: random.Random, size: tuple[int, int] = (64, 64)) -> bytes:
    """Return a small PNG of two random colours (distinct per post, so nothing deduplicates)."""
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    band = Image.new("RGB", (size[0], size[1] // 3), tuple(rng.randrange(256) for _ in range(3)))
    image.paste(band, (0, size[1] // 3))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def bio(i: int) -> str:
    """Return the bio of the i-th seeded account."""
    return f"Seeded for the benchmarks (#{i})."


def post_caption(k: int) -> str:
    """Return the caption of the k-th seeded post."""
    return f"Seeded post {k} #bench"


def post_key(seed: int, k: int) -> str:
    """Return the idempotency key of the k-th seeded post: seeding again finds it."""
    return f"bench-seed-{seed}-{k}"


def comment_text(actor: int) -> str:
    """Return the text of a seeded comment."""
    return f"Nice one! ({actor})"


@dataclass
class Account:
    """One seeded account and its current session."""

    user_id: int
    username: str
    password: str
    access_token: str
    refresh_token: str


@dataclass
class SeedResult:
    """The manifest's content and the rates measured on the way."""

    accounts: list[Account] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)


async def bounded(
    items: Iterable[T],
    work: Callable[[T], Awaitable[None]],
    *,
    concurrency: int,
    on_done: Callable[[], None],
) -> None:
    """Run work(item) for each item, at most `concurrency` at once; fail on the first error."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> None:
        async with gate:
            await work(item)
        on_done()

    # Tasks are created lazily in chunks so 40 000 follows do not all sit in memory as coroutines.
    pending = list(items)
    chunk = concurrency * 64
    for start in range(0, len(pending), chunk):
        async with asyncio.TaskGroup() as group:
            for item in pending[start : start + chunk]:
                group.create_task(one(item))


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """Return gRPC metadata carrying a user's access token."""
    return (("authorization", f"Bearer {token}"),)


async def upload_photo(
    http: httpx.AsyncClient,
    edge_url: str,
    token: str,
    data: bytes,
    *,
    content_type: str = "image/png",
) -> int:
    """Upload a photo through the edge (declare, PUT, complete), wait until ready; return its
    media id."""
    headers = {"Authorization": f"Bearer {token}"}
    created = await http.post(
        f"{edge_url}/api/v1/uploads",
        json={"contentType": content_type, "sizeBytes": len(data)},
        headers=headers,
    )
    created.raise_for_status()
    upload = created.json()
    put_headers = {"Content-Type": content_type, **upload.get("uploadHeaders", {})}
    if upload["uploadUrl"].startswith(edge_url):
        put_headers.update(headers)  # presigned storage URLs carry their own authority
    sent = await http.request(
        upload.get("uploadMethod") or "PUT", upload["uploadUrl"], content=data, headers=put_headers
    )
    sent.raise_for_status()
    upload_id = upload["uploadId"]
    done = await http.post(
        f"{edge_url}/api/v1/uploads/{upload_id}/complete", json={}, headers=headers
    )
    done.raise_for_status()
    deadline = time.monotonic() + MEDIA_READY_TIMEOUT
    delay = 0.05
    while time.monotonic() < deadline:
        state = await http.get(f"{edge_url}/api/v1/uploads/{upload_id}", headers=headers)
        state.raise_for_status()
        body = state.json()
        ready = media_pb2.MediaStatus.Name(media_pb2.MEDIA_STATUS_READY)
        if (
            body.get("status") == "UPLOAD_STATUS_READY"
            or body.get("media", {}).get("status") == ready
        ):
            return int(body["mediaId"])
        if body.get("status") == "UPLOAD_STATUS_FAILED":
            raise RuntimeError(f"upload {upload_id} failed: {body.get('failureReason')}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise TimeoutError(f"upload {upload_id} was not ready after {MEDIA_READY_TIMEOUT:g}s")


RETRY_ATTEMPTS = 4


async def transient_retry(call: Callable[[], Awaitable[T]]) -> T:
    """Make a call again (backing off) when it fails the way a busy shared machine makes calls
    fail now and then: HTTP 5xx, gRPC UNAVAILABLE or INTERNAL (a database server at its
    connection limit). Only for calls that are safe to repeat."""
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            return await call()
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code < 500 or attempt == RETRY_ATTEMPTS:
                raise
        except aio.AioRpcError as exc:
            transient = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL)
            if exc.code() not in transient or attempt == RETRY_ATTEMPTS:
                raise
        await asyncio.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


@dataclass
class SeedOptions:
    """Everything `shutter bench seed` was asked for."""

    edges: Path
    out: Path
    edge_url: str = "http://127.0.0.1:8080"
    seed: int = 1
    prefix: str = ""
    extra_users: int = 100
    extra_follows: int = 20
    celebrities: int = 1
    celebrity_followers: int = 1000
    posts: int = 200
    likes_per_post: int = 3
    comments_per_post: int = 1
    concurrency: int = 32
    upload_concurrency: int = 4
    real_graph: bool = True
    # Follower counts of authors seeded in bulk (bench/bulk.py), and how many posts each makes.
    big_authors: list[int] = field(default_factory=list)
    big_author_posts: int = 20
    # The shard field of the ids the bulk loader makes: apart from the running services' shards.
    id_shard: int = 8191
    # Wait for notify_svc too (not only feed_svc) to handle every event of the bulk writes.
    drain_notify: bool = False
    # Accounts, follows, media, posts, likes and comments through the stores (bench/bulk.py)
    # instead of the RPCs: minutes instead of a quarter of an hour for the real graph.
    bulk: bool = False
    # Bulk only: build every account's feed and mark it active before the posts, so they are
    # pushed to the feeds as fan-out does for readers.
    activate: bool = True


async def seed(options: SeedOptions, console: Console) -> SeedResult:
    """Create the population in the running mesh and write the manifest; return what was made."""
    began = time.perf_counter()
    rng = random.Random(options.seed)
    prefix = options.prefix or f"seed{options.seed}_"
    population = build_population(
        read_edges(options.edges) if options.real_graph else [],
        seed=options.seed,
        prefix=prefix,
        extra_users=options.extra_users,
        extra_follows=options.extra_follows,
        celebrities=options.celebrities,
        celebrity_followers=options.celebrity_followers,
    )
    settings = MeshSettings()
    result = SeedResult()
    big: bulk.BigResult | None = None
    accounts: list[Account | None] = [None] * len(population.usernames)
    passwords = [f"pw-{options.seed}-{i}-bench" for i in range(len(population.usernames))]
    followers: dict[int, list[int]] = {}
    for follower, followee in population.follows:
        followers.setdefault(followee, []).append(follower)
    everyone = list(range(len(population.usernames)))
    # Authors are drawn with replacement; celebrities always post, so fan-out has material.
    authors = population.celebrities + [rng.randrange(len(everyone)) for _ in range(options.posts)]
    authors = authors[: max(options.posts, len(population.celebrities))]
    images = [png_bytes(rng) for _ in authors]
    interactions: list[tuple[str, int, int]] = []  # (kind, post index, actor)
    for k, author in enumerate(authors):
        fans = followers.get(author) or everyone
        for actor in rng.sample(fans, min(options.likes_per_post, len(fans))):
            interactions.append(("like", k, actor))
        for actor in rng.sample(fans, min(options.comments_per_post, len(fans))):
            interactions.append(("comment", k, actor))
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    async with (
        aio.insecure_channel(settings.user_svc_addr) as user_channel,
        aio.insecure_channel(settings.graph_svc_addr) as graph_channel,
        aio.insecure_channel(settings.post_svc_addr) as post_channel,
        aio.insecure_channel(settings.feed_svc_addr) as feed_channel,
        httpx.AsyncClient(timeout=30.0) as http,
    ):
        users = user_service_pb2_grpc.UserServiceStub(user_channel)
        graph = graph_service_pb2_grpc.GraphServiceStub(graph_channel)
        posts = post_service_pb2_grpc.PostServiceStub(post_channel)
        feed = feed_service_pb2_grpc.FeedServiceStub(feed_channel)
        with Progress(*columns, console=console) as progress:

            async def phase(
                name: str, items: Sequence[T], work: Callable[[T], Awaitable[None]], limit: int
            ) -> None:
                task = progress.add_task(name, total=len(items), rate="")
                started = time.perf_counter()

                def done() -> None:
                    progress.advance(task)
                    finished = progress.tasks[task].completed
                    elapsed = time.perf_counter() - started
                    progress.update(task, rate=f"{finished / max(elapsed, 1e-9):8.0f}/s")

                await bounded(items, work, concurrency=limit, on_done=done)
                elapsed = time.perf_counter() - started
                result.rates[name] = round(len(items) / max(elapsed, 1e-9), 1)

            async def register(i: int) -> None:
                username, password = population.usernames[i], passwords[i]
                try:
                    reply = await users.Register(
                        user_service_pb2.RegisterRequest(
                            username=username,
                            email=f"{username}@bench.example.com",
                            password=password,
                            full_name=f"Bench Person {i}",
                        ),
                        timeout=60,
                    )
                    user, access, refresh = reply.user, reply.access_token, reply.refresh_token
                except aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                        raise
                    # Seeding again with the same seed: sign in to the account made last time.
                    login = await users.Login(
                        user_service_pb2.LoginRequest(username=username, password=password),
                        timeout=60,
                    )
                    user, access, refresh = login.user, login.access_token, login.refresh_token
                accounts[i] = Account(user.user_id, username, password, access, refresh)

            def account(i: int) -> Account:
                found = accounts[i]
                assert found is not None
                return found

            async def profile(i: int) -> None:
                me = account(i)
                await users.UpdateProfile(
                    user_service_pb2.UpdateProfileRequest(user_id=me.user_id, bio=bio(i)),
                    metadata=bearer(me.access_token),
                    timeout=30,
                )

            async def follow(pair: tuple[int, int]) -> None:
                follower, followee = pair
                await graph.Follow(
                    graph_service_pb2.FollowRequest(user_id=account(followee).user_id),
                    metadata=bearer(account(follower).access_token),
                    timeout=30,
                )

            post_ids: list[int] = [0] * len(authors)

            async def publish(k: int) -> None:
                me = account(authors[k])
                media_id = await upload_photo(
                    http, options.edge_url.rstrip("/"), me.access_token, images[k]
                )
                reply = await posts.CreatePost(
                    post_service_pb2.CreatePostRequest(
                        media_ids=[media_id],
                        caption=post_caption(k),
                        idempotency_key=post_key(options.seed, k),
                    ),
                    metadata=bearer(me.access_token),
                    timeout=30,
                )
                post_ids[k] = reply.post.post_id

            async def interact(item: tuple[str, int, int]) -> None:
                kind, k, actor = item
                token = bearer(account(actor).access_token)
                if kind == "like":
                    await posts.LikePost(
                        post_service_pb2.LikePostRequest(post_id=post_ids[k]),
                        metadata=token,
                        timeout=30,
                    )
                else:
                    await posts.CreateComment(
                        post_service_pb2.CreateCommentRequest(
                            post_id=post_ids[k], text=comment_text(actor)
                        ),
                        metadata=token,
                        timeout=30,
                    )

            if options.bulk:
                made = await _seed_bulk(
                    options, population, authors, images, interactions, progress, result
                )
                issuer = auth.TokenIssuer(settings)
                password = bulk.seed_password(options.seed)
                for i, user_id in enumerate(made.user_ids):
                    token = issuer.user_token(user_id)
                    accounts[i] = Account(user_id, population.usernames[i], password, token, "")
                post_ids[:] = made.post_ids
            else:
                # Registration is argon2 hashing on user_svc's side: more in flight only queues.
                await phase("accounts", everyone, register, min(options.concurrency, 8))
                await phase("profiles", everyone, profile, options.concurrency)
                await phase("follows", population.follows, follow, options.concurrency)
                await phase(
                    "posts (upload + create)",
                    range(len(authors)),
                    publish,
                    options.upload_concurrency,
                )
                await phase("likes and comments", interactions, interact, options.concurrency)
            if options.big_authors:
                big = await _seed_big(options, rng, progress, users, posts, feed, http, result)
    result.accounts = [account(i) for i in everyone]
    result.rates["total (s)"] = round(time.perf_counter() - began, 1)
    follower_counts = {i: len(followers.get(i, [])) for i in everyone}
    result.posts = [{"post_id": post_ids[k], "author": authors[k]} for k in range(len(authors))]
    manifest = {
        "seed": options.seed,
        "edge_url": options.edge_url,
        "grpc": {spec.name: settings.address_of(spec.name) for spec in MESH},
        "real_people": population.real_people,
        "celebrities": population.celebrities,
        "follows": len(population.follows),
        "rates_per_second": result.rates,
        "users": [
            {
                "index": i,
                "user_id": a.user_id,
                "username": a.username,
                "password": a.password,
                "access_token": a.access_token,
                "refresh_token": a.refresh_token,
                "followers": follower_counts[i],
                "follower_indexes": sorted(followers.get(i, [])),
            }
            for i, a in enumerate(result.accounts)
        ],
        "posts": result.posts,
        # Authors seeded in bulk, with every follower's id (the fan-out scenario checks each
        # follower's feed) and username; the followers share one password.
        "big_authors": big.authors if big else [],
        "follower_password": bulk.follower_password(options.seed),
        "redis_url": settings.redis_url,
        "celebrity_follower_threshold": FeedSettings().celebrity_follower_threshold,
    }
    options.out.write_text(json.dumps(manifest))
    return result


async def _seed_big(
    options: SeedOptions,
    rng: random.Random,
    progress: Progress,
    users: user_service_pb2_grpc.UserServiceStub,
    posts: post_service_pb2_grpc.PostServiceStub,
    feed: feed_service_pb2_grpc.FeedServiceStub,
    http: httpx.AsyncClient,
    result: SeedResult,
) -> bulk.BigResult:
    """Seed the big authors in bulk; each posts `big_author_posts` photos the usual way."""

    def counter(name: str, total: int) -> Callable[[int], None]:
        task = progress.add_task(name, total=total, rate="")
        started = time.perf_counter()

        def advance(n: int) -> None:
            progress.advance(task, n)
            elapsed = time.perf_counter() - started
            rate = progress.tasks[task].completed / max(elapsed, 1e-9)
            progress.update(task, rate=f"{rate:8.0f}/s")

        return advance

    async def post_as(username: str, password: str) -> list[int]:
        login = await users.Login(
            user_service_pb2.LoginRequest(username=username, password=password), timeout=60
        )
        token = login.access_token
        # Seeded before (same seed): keep the posts there, as an idempotent retry would. The
        # grid is feed_svc's to serve (post_svc's ListUserPosts is internal).
        listed = await feed.ListUserPosts(
            feed_service_pb2.ListUserPostsRequest(
                user_id=login.user.user_id, page_size=min(options.big_author_posts, 50) or 1
            ),
            metadata=bearer(token),
            timeout=30,
        )
        if options.big_author_posts and len(listed.posts) >= min(options.big_author_posts, 50):
            return [p.post_id for p in listed.posts]
        made: list[int] = [0] * options.big_author_posts
        advance = counter(f"posts by {username}", options.big_author_posts)
        images = [png_bytes(rng) for _ in made]

        async def publish(n: int) -> None:
            media_id = await transient_retry(
                lambda: upload_photo(http, options.edge_url.rstrip("/"), token, images[n])
            )
            # The same key and media again answer the same post: a retry is safe.
            reply = await transient_retry(
                lambda: posts.CreatePost(
                    post_service_pb2.CreatePostRequest(
                        media_ids=[media_id],
                        caption=f"Bulk author post {n} #bench",
                        idempotency_key=f"bench-big-{options.seed}-{username}-{n}",
                    ),
                    metadata=bearer(token),
                    timeout=30,
                )
            )
            made[n] = reply.post.post_id

        await bounded(
            range(len(made)),
            publish,
            concurrency=options.upload_concurrency,
            on_done=lambda: advance(1),
        )
        return made

    prefix = options.prefix or f"seed{options.seed}_"
    big = await bulk.seed_big_authors(
        bulk.big_population(options.big_authors, prefix=prefix, seed=options.seed),
        seed=options.seed,
        id_shard=options.id_shard,
        phase=counter,
        progress=progress,
        post=post_as,
        drain_groups=(FEED_GROUP, NOTIFY_GROUP) if options.drain_notify else (FEED_GROUP,),
    )
    result.rates.update(big.rates)
    return big


async def _seed_bulk(
    options: SeedOptions,
    population: Population,
    authors: Sequence[int],
    images: Sequence[bytes],
    interactions: Sequence[tuple[str, int, int]],
    progress: Progress,
    result: SeedResult,
) -> bulk.PopulationResult:
    """Make the population through the services' stores with their events (bench/bulk.py)."""

    def counter(name: str, total: int) -> Callable[[int], None]:
        task = progress.add_task(name, total=total, rate="")
        started = time.perf_counter()

        def advance(n: int) -> None:
            progress.advance(task, n)
            elapsed = time.perf_counter() - started
            rate = progress.tasks[task].completed / max(elapsed, 1e-9)
            progress.update(task, rate=f"{rate:8.0f}/s")

        return advance

    plan = bulk.PopulationPlan(
        usernames=population.usernames,
        bios=[bio(i) for i in range(len(population.usernames))],
        follows=population.follows,
        posts=[
            bulk.PlannedPost(
                author=author,
                caption=post_caption(k),
                image=images[k],
                idempotency_key=post_key(options.seed, k),
            )
            for k, author in enumerate(authors)
        ],
        likes=[(k, actor) for kind, k, actor in interactions if kind == "like"],
        comments=[
            (k, actor, comment_text(actor)) for kind, k, actor in interactions if kind == "comment"
        ],
    )
    made = await bulk.seed_population(
        plan,
        seed=options.seed,
        id_shard=options.id_shard,
        phase=counter,
        progress=progress,
        drain_groups=(FEED_GROUP, NOTIFY_GROUP) if options.drain_notify else (FEED_GROUP,),
        activate_feeds=options.activate,
    )
    result.rates.update(made.rates)
    return made
