"""The named scenarios of `shutter bench scenario`, on the population `shutter bench seed` made.

- baseline: the empty RPC (grpc.health Check) of feed_svc.
- home-feed: GetHomeFeed, a hydrated page of 20, over gRPC, for seeded-random users, each call
  with its own user's token (the load generator's request list).
- fanout: time from CreatePost's answer until the post is on the first chronological page of each
  of a sample of the author's followers, by polling GetHomeFeed over gRPC (so it includes the
  event bus, feed_svc's fan-out and the read path; it works against any running mesh).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
from grpc import aio

from bench import loadgen
from bench.histogram import Histogram
from bench.seed import bearer, png_bytes, upload_photo
from shutter.feed.v1 import feed_pb2, feed_service_pb2, feed_service_pb2_grpc
from shutter.post.v1 import post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_service_pb2, user_service_pb2_grpc

TOKEN_MARGIN_SECONDS = 120  # a token this close to expiry is renewed before a run
FANOUT_POLL_SECONDS = 0.02
FANOUT_TIMEOUT_SECONDS = 60.0
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


def sample_users(manifest: dict[str, Any], count: int, seed: int) -> list[int]:
    """Return `count` seeded-random user indexes that follow someone (an empty feed is no test)."""
    following = {f for user in manifest["users"] for f in user["follower_indexes"]}
    candidates = sorted(following)
    rng = random.Random(seed)
    return rng.sample(candidates, min(count, len(candidates)))


async def fanout(
    manifest: dict[str, Any],
    *,
    authors: list[int],
    posts_per_author: int,
    sample: int,
    seed: int,
    manifest_path: Path,
) -> list[dict[str, Any]]:
    """Post as each author and time until each sampled follower's feed shows the post."""
    rng = random.Random(seed)
    plan = {
        author: rng.sample(
            manifest["users"][author]["follower_indexes"],
            min(sample, len(manifest["users"][author]["follower_indexes"])),
        )
        for author in authors
    }
    await fresh_tokens(
        manifest, sorted({*authors, *(f for fs in plan.values() for f in fs)}), manifest_path
    )
    users = manifest["users"]
    rows = []
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

        async def first_page(i: int) -> set[int]:
            reply = await feeds.GetHomeFeed(
                chronological, metadata=bearer(users[i]["access_token"]), timeout=30
            )
            return {p.post_id for p in reply.posts}

        for author, sampled in plan.items():
            # Read every sampled feed once first: followers count as active, feeds are built.
            await asyncio.gather(*(first_page(i) for i in sampled))
            per_follower = Histogram()
            all_seen = Histogram()
            for n in range(posts_per_author):
                token = users[author]["access_token"]
                media_id = await upload_photo(http, manifest["edge_url"], token, png_bytes(rng))
                reply = await posts.CreatePost(
                    post_service_pb2.CreatePostRequest(
                        media_ids=[media_id],
                        caption=f"Fan-out probe {n}",
                        idempotency_key=f"bench-fanout-{seed}-{author}-{n}-{time.time_ns()}",
                    ),
                    metadata=bearer(token),
                    timeout=30,
                )
                posted = time.perf_counter()
                post_id = reply.post.post_id

                async def wait_for(i: int, post_id: int = post_id, posted: float = posted) -> float:
                    deadline = posted + FANOUT_TIMEOUT_SECONDS
                    while time.perf_counter() < deadline:
                        try:
                            if post_id in await first_page(i):
                                return time.perf_counter() - posted
                        except aio.AioRpcError as exc:
                            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                                raise
                        await asyncio.sleep(FANOUT_POLL_SECONDS)
                    raise TimeoutError(f"post {post_id} not in user {i}'s feed after 60s")

                seen = await asyncio.gather(*(wait_for(i) for i in sampled))
                for latency in seen:
                    per_follower.record(latency)
                all_seen.record(max(seen, default=0.0))
            rows.append(
                {
                    "author": users[author]["username"],
                    "followers": users[author]["followers"],
                    "sampled_followers": len(sampled),
                    "posts": posts_per_author,
                    "follower_p50_ms": per_follower.percentile(50),
                    "follower_p99_ms": per_follower.percentile(99),
                    "all_sampled_p50_ms": all_seen.percentile(50),
                    "all_sampled_max_ms": all_seen.max_micros / 1000,
                }
            )
    return rows
