"""The named scenarios of `shutter bench scenario`, on the population `shutter bench seed` made.

- baseline: the empty RPC (grpc.health Check) of feed_svc.
- home-feed: GetHomeFeed, a hydrated page of 20, over gRPC, for seeded-random users, each call
  with its own user's token (the load generator's request list).
- fanout: per author, the time from CreatePost's answer until the post is in EVERY follower's
  feed: each active follower's Redis feed is checked (pipelined ZSCOREs with feed_svc.cache's own
  key functions); for a pulled celebrity, until the post is in the author's recent-posts list,
  which every follower's read merges. Either way a sample of followers then confirms it with
  their own GetHomeFeed. Several posts per author give the percentiles. Then, same run: the
  home-feed read of followers of the biggest pulled author against followers of the biggest
  pushed one (who follow no celebrity): what pulling costs a read.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
from grpc import aio
from redis.asyncio import RedisCluster
from rich.table import Table

from bench import loadgen
from bench.histogram import Histogram
from bench.seed import bearer, png_bytes, transient_retry, upload_photo
from feed_svc import cache as feed_cache
from mesh.config import MeshSettings
from mesh.redis import create_redis
from shutter.feed.v1 import feed_pb2, feed_service_pb2, feed_service_pb2_grpc
from shutter.post.v1 import post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_service_pb2, user_service_pb2_grpc

TOKEN_MARGIN_SECONDS = 120  # a token this close to expiry is renewed before a run
FANOUT_POLL_SECONDS = 0.005  # between two looks at the feeds (Redis): the figures' granularity
SAMPLE_POLL_SECONDS = 0.02  # between two GetHomeFeed polls of a sampled follower
FANOUT_TIMEOUT_SECONDS = 60.0
CHECK_CHUNK = 1000  # ZSCOREs per pipeline when checking feeds
LOGIN_CONCURRENCY = 8  # Login is argon2 on user_svc: more in flight only queues
SETTLE_SECONDS = 0.5  # pause between an upload and its post, so the post's events go alone
HOME_FEED_PAGE = 20


def load_manifest(path: Path) -> dict[str, Any]:
    """Return the manifest `shutter bench seed` wrote."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _expired(token: str, now: float) -> bool:
    # Only the expiry is read, locally; the services verify the signature.
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims.get("exp", 0)) < now + TOKEN_MARGIN_SECONDS


async def fresh_tokens(manifest: dict[str, Any], indexes: list[int], path: Path) -> None:
    """Sign the chosen users in again where their access token is (nearly) expired."""
    now = time.time()
    stale = [i for i in indexes if _expired(manifest["users"][i]["access_token"], now)]
    if not stale:
        return
    gate = asyncio.Semaphore(8)  # Login is argon2 on user_svc: more in flight only queues
    async with aio.insecure_channel(manifest["grpc"]["user_svc"]) as channel:
        users = user_service_pb2_grpc.UserServiceStub(channel)

        async def login(i: int) -> None:
            user = manifest["users"][i]
            async with gate:
                reply = await users.Login(
                    user_service_pb2.LoginRequest(
                        username=user["username"], password=user["password"]
                    ),
                    timeout=60,
                )
            user["access_token"], user["refresh_token"] = reply.access_token, reply.refresh_token

        await asyncio.gather(*(login(i) for i in stale))
    path.write_text(json.dumps(manifest))


def home_feed_spec(
    manifest: dict[str, Any], indexes: list[int], base: loadgen.LoadSpec, mode: str
) -> loadgen.LoadSpec:
    """Return the load spec of home-feed reads by the chosen users, one token each."""
    body = json.dumps({"pageSize": HOME_FEED_PAGE, "mode": mode})
    requests = tuple((body, manifest["users"][i]["access_token"]) for i in indexes)
    return loadgen.LoadSpec(
        **{
            **base.__dict__,
            "target": manifest["grpc"]["feed_svc"],
            "method": "shutter.feed.v1.FeedService/GetHomeFeed",
            "requests": requests,
        }
    )


# The single-object read paths: the RPC each reads and the service that answers it.
READ_PATHS = {
    "list-user-posts": ("feed_svc", "shutter.feed.v1.FeedService/ListUserPosts"),
    "get-post": ("feed_svc", "shutter.feed.v1.FeedService/GetPost"),
    "get-user": ("feed_svc", "shutter.feed.v1.FeedService/GetUser"),
    "hashtag": ("feed_svc", "shutter.feed.v1.FeedService/ListPostsByHashtag"),
}
# A profile grid's page in the list-user-posts scenario (the app's first screen: four rows).
GRID_PAGE = 12
# The tag every seeded post carries (seed.post_caption): one busy tag of every seeded author.
SEEDED_TAG = "bench"


def read_path_spec(
    manifest: dict[str, Any], indexes: list[int], base: loadgen.LoadSpec, path: str, seed: int
) -> loadgen.LoadSpec:
    """Return the load spec of one read path (READ_PATHS) by the chosen users, each reading a
    seeded-random author's grid, post or profile, or the seeded tag's first page (the seeded
    accounts are public)."""
    service, method = READ_PATHS[path]
    rng = random.Random(seed)
    posts = manifest.get("posts", [])
    users = manifest["users"]
    authors = sorted({p["author"] for p in posts})
    if not posts or not authors:
        raise ValueError(f"{path} needs a manifest with posts (bench seed --posts)")
    requests = []
    for i in indexes:
        token = users[i]["access_token"]
        body: dict[str, object]
        if path == "get-post":
            body = {"postId": str(rng.choice(posts)["post_id"])}
        elif path == "list-user-posts":
            body = {"userId": str(users[rng.choice(authors)]["user_id"]), "pageSize": GRID_PAGE}
        elif path == "hashtag":
            body = {"tag": SEEDED_TAG, "pageSize": HOME_FEED_PAGE}
        else:
            body = {"userId": str(users[rng.choice(authors)]["user_id"])}
        requests.append((json.dumps(body), token))
    return loadgen.LoadSpec(
        **{
            **base.__dict__,
            "target": manifest["grpc"][service],
            "method": method,
            "requests": tuple(requests),
        }
    )


def sample_users(manifest: dict[str, Any], count: int, seed: int) -> list[int]:
    """Return `count` seeded-random user indexes that follow someone (an empty feed is no test)."""
    following = {f for user in manifest["users"] for f in user["follower_indexes"]}
    candidates = sorted(following)
    rng = random.Random(seed)
    return rng.sample(candidates, min(count, len(candidates)))


@dataclass
class FanoutAuthor:
    """An author the fan-out scenario posts as, and whose followers it watches."""

    username: str
    user_id: int
    token: str
    followers: list[int]  # every follower's id, ascending (the order fan-out goes in)
    sample: list[tuple[int, str]]  # (user id, access token) of followers read over gRPC
    pulled: bool  # above feed_svc's celebrity threshold: merged at read time, not pushed


async def login(users_addr: str, credentials: list[tuple[str, str]]) -> list[tuple[int, str]]:
    """Sign these (username, password) in; return (user id, access token) of each, in order."""
    gate = asyncio.Semaphore(LOGIN_CONCURRENCY)
    async with aio.insecure_channel(users_addr) as channel:
        users = user_service_pb2_grpc.UserServiceStub(channel)

        async def one(username: str, password: str) -> tuple[int, str]:
            async with gate:
                reply = await users.Login(
                    user_service_pb2.LoginRequest(username=username, password=password),
                    timeout=60,
                )
            return reply.user.user_id, reply.access_token

        return list(await asyncio.gather(*(one(u, p) for u, p in credentials)))


async def fanout_authors(
    manifest: dict[str, Any], names: list[str], *, sample: int, seed: int, manifest_path: Path
) -> list[FanoutAuthor]:
    """Return the authors to post as (by username; default: the bulk-seeded big authors, else
    the seeded celebrities), each with every follower's id and a signed-in sample of them."""
    rng = random.Random(seed)
    big = {a["username"]: a for a in manifest.get("big_authors", [])}
    by_name = {u["username"]: u for u in manifest["users"]}
    if not names:
        names = list(big) or [manifest["users"][i]["username"] for i in manifest["celebrities"]]
    unknown = [n for n in names if n not in big and n not in by_name]
    if unknown:
        raise ValueError(f"not in the manifest: {', '.join(unknown)}")
    threshold = int(manifest.get("celebrity_follower_threshold", 10_000))
    users_addr = manifest["grpc"]["user_svc"]
    found = []
    for name in names:
        if name in big:
            author = big[name]
            picks = rng.sample(range(author["followers"]), min(sample, author["followers"]))
            credentials = [(author["username"], author["password"])] + [
                (author["follower_usernames"][k], manifest["follower_password"]) for k in picks
            ]
            signed = await login(users_addr, credentials)
            found.append(
                FanoutAuthor(
                    username=name,
                    user_id=author["user_id"],
                    token=signed[0][1],
                    followers=sorted(author["follower_ids"]),
                    sample=signed[1:],
                    pulled=bool(author["pulled"]),
                )
            )
            continue
        user = by_name[name]
        indexes = user["follower_indexes"]
        picks = rng.sample(indexes, min(sample, len(indexes)))
        await fresh_tokens(manifest, [user["index"], *picks], manifest_path)
        users = manifest["users"]
        found.append(
            FanoutAuthor(
                username=name,
                user_id=user["user_id"],
                token=user["access_token"],
                followers=sorted(users[i]["user_id"] for i in indexes),
                sample=[(users[i]["user_id"], users[i]["access_token"]) for i in picks],
                pulled=len(indexes) > threshold,
            )
        )
    return found


async def _active(redis: Any, followers: list[int]) -> list[int]:
    """Return the followers fan-out writes to: read lately (seen) and with a built feed."""
    active = []
    for start in range(0, len(followers), CHECK_CHUNK):
        chunk = followers[start : start + CHECK_CHUNK]
        async with redis.pipeline(transaction=False) as pipe:
            for user_id in chunk:
                pipe.exists(feed_cache.seen_key(user_id))
                pipe.zscore(feed_cache.feed_key(user_id), feed_cache.SENTINEL)
            answers = await pipe.execute()
        # A member's score is 0.0 (falsy): "built" means the sentinel has a score at all.
        active += [
            u for k, u in enumerate(chunk) if answers[2 * k] and answers[2 * k + 1] is not None
        ]
    return active


# Index (0-based) of the first of KEYS whose sorted set lacks ARGV[1], or #KEYS when none does:
# the check runs in Redis, so watching 100 000 feeds costs the benchmark little CPU of its own
# (which it would otherwise take from the mesh it measures on the same cores).
_FIRST_MISSING = """
for i = 1, #KEYS do
  if not redis.call('ZSCORE', KEYS[i], ARGV[1]) then return i - 1 end
end
return #KEYS
"""


async def _missing(redis: Any, followers: list[int], post_id: int) -> int | None:
    """Return the index of the first of these followers whose feed lacks the post, or None."""
    wanted = feed_cache.member(post_id)
    feeds = [feed_cache.feed_key(user_id) for user_id in followers]
    if isinstance(redis, RedisCluster):
        # A script's keys must share a slot; on a cluster, one pipelined ZSCORE per feed.
        async with redis.pipeline(transaction=False) as pipe:
            for key in feeds:
                pipe.zscore(key, wanted)
            answers = await pipe.execute()
        return next((k for k, score in enumerate(answers) if score is None), None)
    first = int(await redis.eval(_FIRST_MISSING, len(feeds), *feeds, wanted))
    return None if first == len(feeds) else first


async def wait_pushed(redis: Any, followers: list[int], post_id: int, posted: float) -> float:
    """Return the seconds from `posted` until the post was in every one of these feeds.

    The followers are walked in ascending id order, the order feed_svc fans out in, CHECK_CHUNK
    feeds per look (one small script, or a pipeline on a cluster). A round stops at the first
    feed still without the post and the next round (FANOUT_POLL_SECONDS later) starts there, so
    polling costs about one check per follower in all. A last full pass confirms that no feed
    lost it meanwhile.
    """
    position, done = 0, posted
    while position < len(followers):
        if time.perf_counter() - posted > FANOUT_TIMEOUT_SECONDS:
            raise TimeoutError(
                f"post {post_id}: {len(followers) - position} feeds still without it after "
                f"{FANOUT_TIMEOUT_SECONDS:g}s"
            )
        chunk = followers[position : position + CHECK_CHUNK]
        gap = await _missing(redis, chunk, post_id)
        if gap is None:
            position += len(chunk)
            done = time.perf_counter()
            continue
        position += gap
        await asyncio.sleep(FANOUT_POLL_SECONDS)
    for start in range(0, len(followers), CHECK_CHUNK):
        if await _missing(redis, followers[start : start + CHECK_CHUNK], post_id) is not None:
            raise AssertionError(f"post {post_id} left a feed it had reached")
    return done - posted


async def wait_pulled(redis: Any, author_id: int, post_id: int, posted: float) -> float:
    """Return the seconds from `posted` until the post was in its author's recent-posts list,
    from which every follower's read merges it."""
    key, wanted = feed_cache.recent_key(author_id), feed_cache.member(post_id)
    while await redis.zscore(key, wanted) is None:
        if time.perf_counter() - posted > FANOUT_TIMEOUT_SECONDS:
            raise TimeoutError(f"post {post_id} not in its author's recent posts")
        await asyncio.sleep(FANOUT_POLL_SECONDS)
    return time.perf_counter() - posted


async def fanout(
    manifest: dict[str, Any],
    *,
    authors: list[FanoutAuthor],
    posts_per_author: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Post as each author; time until the post is in every follower's feed (see the module)."""
    rng = random.Random(seed)
    # The embedded mesh keeps its Redis inside its own process: only its API can be watched.
    url = manifest.get("redis_url")
    redis = create_redis(MeshSettings(redis_url=url)) if url else None
    rows = []
    try:
        async with (
            aio.insecure_channel(manifest["grpc"]["post_svc"]) as post_channel,
            aio.insecure_channel(manifest["grpc"]["feed_svc"]) as feed_channel,
            httpx.AsyncClient(timeout=30.0) as http,
        ):
            posts = post_service_pb2_grpc.PostServiceStub(post_channel)
            feeds = feed_service_pb2_grpc.FeedServiceStub(feed_channel)
            chronological = feed_service_pb2.GetHomeFeedRequest(
                page_size=HOME_FEED_PAGE, mode=feed_pb2.FEED_MODE_CHRONOLOGICAL
            )

            async def first_page(token: str) -> set[int]:
                reply = await feeds.GetHomeFeed(chronological, metadata=bearer(token), timeout=30)
                return {p.post_id for p in reply.posts}

            async def sample_sees(token: str, post_id: int, posted: float) -> float:
                while time.perf_counter() - posted < FANOUT_TIMEOUT_SECONDS:
                    try:
                        if post_id in await first_page(token):
                            return time.perf_counter() - posted
                    except aio.AioRpcError as exc:
                        if exc.code() != grpc.StatusCode.UNAVAILABLE:
                            raise
                    await asyncio.sleep(SAMPLE_POLL_SECONDS)
                raise TimeoutError(f"post {post_id} not on a sampled follower's first page")

            for author in authors:
                # The sample reads once first: active with a built feed, whatever the seeding did
                # (and a pulled author's recent-posts list is built by their reads).
                await asyncio.gather(*(first_page(token) for _, token in author.sample))
                watched = (
                    [] if author.pulled or redis is None else await _active(redis, author.followers)
                )
                every, sampled = Histogram(), Histogram()
                for n in range(posts_per_author):
                    media_id = await transient_retry(
                        functools.partial(
                            upload_photo, http, manifest["edge_url"], author.token, png_bytes(rng)
                        )
                    )
                    await asyncio.sleep(SETTLE_SECONDS)  # let the upload's events pass
                    reply = await posts.CreatePost(
                        post_service_pb2.CreatePostRequest(
                            media_ids=[media_id],
                            caption=f"Fan-out probe {n}",
                            idempotency_key=f"bench-fanout-{seed}-{author.username}-{n}-"
                            f"{time.time_ns()}",
                        ),
                        metadata=bearer(author.token),
                        timeout=30,
                    )
                    posted = time.perf_counter()
                    post_id = reply.post.post_id
                    if redis is not None and author.pulled:
                        every.record(await wait_pulled(redis, author.user_id, post_id, posted))
                    elif redis is not None:
                        every.record(await wait_pushed(redis, watched, post_id, posted))
                    # Every sampled follower's own read shows it (timed from the same answer).
                    seen = await asyncio.gather(
                        *(sample_sees(token, post_id, posted) for _, token in author.sample)
                    )
                    sampled.record(max(seen, default=0.0))
                    if redis is None:
                        every.record(max(seen, default=0.0))
                rows.append(
                    {
                        "author": author.username,
                        "followers": len(author.followers),
                        "how": (
                            "sample's reads (no Redis access)"
                            if redis is None
                            else "pulled: in recent posts"
                            if author.pulled
                            else "pushed: every feed"
                        ),
                        "feeds_checked": 0 if author.pulled else len(watched),
                        "posts": posts_per_author,
                        "p50_ms": every.percentile(50),
                        "p90_ms": every.percentile(90),
                        "p99_ms": every.percentile(99),
                        "max_ms": every.max_micros / 1000,
                        "sample": len(author.sample),
                        "sample_read_p50_ms": sampled.percentile(50),
                        "sample_read_max_ms": sampled.max_micros / 1000,
                    }
                )
    finally:
        if redis is not None:
            await redis.aclose()
    return rows


async def read_groups(
    manifest: dict[str, Any], count: int, seed: int
) -> tuple[list[tuple[int, str]], list[tuple[int, str]], str, str] | None:
    """Return signed-in followers of the biggest pulled big author and as many of the biggest
    pushed one (who follow no celebrity), with both authors' names; None without both."""
    big = manifest.get("big_authors", [])
    pulled = [a for a in big if a["pulled"]]
    pushed = [a for a in big if not a["pulled"]]
    if not pulled or not pushed:
        return None
    rng = random.Random(seed)
    chosen = []
    for author in (
        max(pulled, key=lambda a: a["followers"]),
        max(pushed, key=lambda a: a["followers"]),
    ):
        picks = rng.sample(range(author["followers"]), min(count, author["followers"]))
        credentials = [
            (author["follower_usernames"][k], manifest["follower_password"]) for k in picks
        ]
        chosen.append((await login(manifest["grpc"]["user_svc"], credentials), author["username"]))
    (celebrity_fans, celebrity), (plain_fans, plain) = chosen
    return celebrity_fans, plain_fans, celebrity, plain


def reads_spec(
    target: str, tokens: list[tuple[int, str]], base: loadgen.LoadSpec, mode: str
) -> loadgen.LoadSpec:
    """Return the load spec of home-feed reads by these users (one token each)."""
    body = json.dumps({"pageSize": HOME_FEED_PAGE, "mode": mode})
    return loadgen.LoadSpec(
        **{
            **base.__dict__,
            "target": target,
            "method": "shutter.feed.v1.FeedService/GetHomeFeed",
            "requests": tuple((body, token) for _, token in tokens),
        }
    )


def read_overhead(
    reads: dict[str, dict[str, Any]], celebrity: str, plain: str
) -> list[dict[str, Any]]:
    """Return, per read mode, the pulled followers' figures against the pushed followers' and
    the extra time a read takes (the target: at most 20 % at the median and p99)."""
    rows = []
    for read_mode in ("FEED_MODE_CHRONOLOGICAL", "FEED_MODE_RANKED"):
        pushed, pulled = reads[f"{read_mode} {plain}"], reads[f"{read_mode} {celebrity}"]
        row: dict[str, Any] = {"mode": read_mode, "pushed": plain, "pulled": celebrity}
        for figure in ("p50_ms", "p90_ms", "p99_ms", "throughput_rps"):
            row[f"pushed_{figure}"] = pushed[figure]
            row[f"pulled_{figure}"] = pulled[figure]
        for figure in ("p50_ms", "p99_ms"):
            row[f"extra_{figure.removesuffix('_ms')}_percent"] = (
                round((pulled[figure] / pushed[figure] - 1) * 100, 1) if pushed[figure] else None
            )
        rows.append(row)
    return rows


def read_overhead_table(rows: list[dict[str, Any]], *, title: str = "") -> Table:
    """Return the celebrity read overhead as a table for the console."""
    table = Table(
        title="home-feed read: followers of a pulled celebrity vs of a pushed author"
        + (f" ({title.replace('_', ' ')})" if title else "")
    )
    columns = ("mode", "who", "p50 ms", "p90 ms", "p99 ms", "req/s", "extra p50", "extra p99")
    for column in columns:
        table.add_column(column, justify="left" if column in ("mode", "who") else "right")
    for row in rows:
        for side in ("pushed", "pulled"):
            extra = side == "pulled"
            table.add_row(
                row["mode"].removeprefix("FEED_MODE_").lower(),
                f"{side}: {row[side]}",
                f"{row[f'{side}_p50_ms']:.2f}",
                f"{row[f'{side}_p90_ms']:.2f}",
                f"{row[f'{side}_p99_ms']:.2f}",
                f"{row[f'{side}_throughput_rps']:.0f}",
                f"{row['extra_p50_percent']}%" if extra else "",
                f"{row['extra_p99_percent']}%" if extra else "",
            )
    return table


async def interleaved_reads(
    feed_addr: str,
    groups: dict[str, list[tuple[int, str]]],
    *,
    mode: str,
    rounds: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Return each group's GetHomeFeed figures from reads made one at a time, the groups taking
    turns in a seeded-random order each round: a busy machine's drift then weighs on every
    group alike, which back-to-back load runs cannot promise. Every reader is read once first
    (not counted), so every feed is built and every recent-posts list is loaded."""
    rng = random.Random(seed)
    request = feed_service_pb2.GetHomeFeedRequest(page_size=HOME_FEED_PAGE, mode=mode)
    found = {name: Histogram() for name in groups}
    async with aio.insecure_channel(feed_addr) as channel:
        feeds = feed_service_pb2_grpc.FeedServiceStub(channel)
        for readers in groups.values():
            for _, token in readers:
                await feeds.GetHomeFeed(request, metadata=bearer(token), timeout=30)
        for n in range(rounds):
            order = list(groups)
            rng.shuffle(order)
            for name in order:
                readers = groups[name]
                _, token = readers[n % len(readers)]
                started = time.perf_counter()
                await feeds.GetHomeFeed(request, metadata=bearer(token), timeout=30)
                found[name].record(time.perf_counter() - started)
    return {
        name: {
            "requests": h.total,
            "p50_ms": h.percentile(50),
            "p90_ms": h.percentile(90),
            "p99_ms": h.percentile(99),
            "throughput_rps": 0.0,  # one read at a time: latency only
        }
        for name, h in found.items()
    }


async def media_uploads(
    manifest: dict[str, Any], photo: bytes, *, count: int, in_flight: int, user: int
) -> dict[str, Any]:
    """Upload `count` copies of a photo through the edge as one seeded user, `in_flight` at a
    time, and return the upload → ready times (declare, PUT, complete, poll until processed)."""
    token = manifest["users"][user]["access_token"]
    edge_url = manifest["edge_url"].rstrip("/")
    gate = asyncio.Semaphore(in_flight)
    histogram = Histogram()
    started = time.perf_counter()

    async def one(http: httpx.AsyncClient) -> None:
        async with gate:
            began = time.perf_counter()
            await upload_photo(http, edge_url, token, photo, content_type="image/jpeg")
            histogram.record(time.perf_counter() - began)

    async with httpx.AsyncClient(timeout=120.0) as http:
        await asyncio.gather(*(one(http) for _ in range(count)))
    elapsed = time.perf_counter() - started
    return {
        "photos": count,
        "in_flight": in_flight,
        "photo_bytes": len(photo),
        "photos_per_second": round(count / elapsed, 2),
        **{
            f"p{name}_ms": round(histogram.percentile(percent), 1)
            for name, percent in (("50", 50), ("90", 90), ("99", 99))
        },
        "max_ms": round(histogram.max_micros / 1000, 1),
    }
