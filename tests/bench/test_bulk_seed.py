"""`shutter bench seed` in bulk: a slice of the real graph written through the services' stores
with their events, then checked through the edge as a client sees it; and the cold-feed
scenario on such a mesh."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import cold_feed
from bench.seed import build_population, read_edges
from tests.bench.seeded import seeded_mesh
from tests.conftest import ENGINES, REDIS_TEST_URL


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# A mesh of its own, seeded, with a notify_svc drain: slow on a busy shared machine.
@pytest.mark.timeout(300)
async def test_a_bulk_seeded_slice_signs_in_counts_follows_and_fills_feeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with seeded_mesh(tmp_path, monkeypatch) as seeded:
        options, manifest = seeded.options, seeded.manifest
        population = build_population(
            read_edges(options.edges),
            seed=options.seed,
            prefix=f"seed{options.seed}_",
            extra_users=options.extra_users,
            extra_follows=options.extra_follows,
            celebrities=options.celebrities,
            celebrity_followers=options.celebrity_followers,
        )
        users = manifest["users"]
        assert [u["username"] for u in users] == population.usernames
        rates = seeded.result.rates
        for phase in ("accounts (bulk)", "follows (bulk)", "posts (bulk)", "total (s)"):
            assert rates[phase] > 0, phase
        assert rates["feed_svc CPU ms per follow event"] >= 0  # found by feed_svc's port
        assert len(manifest["posts"]) == options.posts and all(
            p["post_id"] > 0 for p in manifest["posts"]
        )
        followers = Counter(b for _, b in population.follows)
        following: dict[int, set[int]] = {i: set() for i in range(len(users))}
        for a, b in population.follows:
            following[a].add(b)
        async with httpx.AsyncClient(base_url=seeded.mesh.edge_url, timeout=30) as http:
            # Every account can sign in (one shared password, one argon2 hash for all).
            for user in (users[0], users[len(users) // 2], users[-1]):
                login = await http.post(
                    "/api/v1/users/login",
                    json={"username": user["username"], "password": user["password"]},
                )
                assert login.status_code == 200, login.text
                assert login.json()["user"]["userId"] == str(user["user_id"])
            wrong = await http.post(
                "/api/v1/users/login",
                json={"username": users[0]["username"], "password": "not-the-password"},
            )
            assert wrong.status_code == 401
            viewer = _auth(users[0]["access_token"])
            for i, user in enumerate(users):
                profile = await http.get(f"/api/v1/users/{user['user_id']}", headers=viewer)
                assert profile.status_code == 200, profile.text
                body: dict[str, Any] = profile.json()
                counts = (int(body.get("followerCount", 0)), int(body.get("followingCount", 0)))
                assert counts == (followers[i], len(following[i])), user["username"]
                assert body["bio"] == f"Seeded for the benchmarks (#{i})."
            # Every feed holds exactly the posts of the accounts its owner follows, and their own.
            for i, user in enumerate(users):
                expected = {
                    p["post_id"]
                    for p in manifest["posts"]
                    if p["author"] in following[i] or p["author"] == i
                }
                page = await http.get(
                    "/api/v1/feed",
                    params={"pageSize": 50, "mode": "FEED_MODE_CHRONOLOGICAL"},
                    headers=_auth(user["access_token"]),
                )
                assert page.status_code == 200, page.text
                shown = {int(p["postId"]) for p in page.json().get("posts", [])}
                assert shown == expected, user["username"]
            # Likes and comments were counted, and notify_svc made the follow notifications.
            star = users[population.celebrities[0]]
            grid = await http.get(f"/api/v1/users/{star['user_id']}/posts", headers=viewer)
            assert grid.status_code == 200
            assert any(int(p.get("likeCount", 0)) > 0 for p in grid.json()["posts"])
            assert any(int(p.get("commentCount", 0)) > 0 for p in grid.json()["posts"])
            told = await http.get(
                "/api/v1/notifications",
                params={"pageSize": 50},
                headers=_auth(star["access_token"]),
            )
            assert told.status_code == 200, told.text
            follows = [
                n
                for n in told.json().get("notifications", [])
                if n["kind"] == "NOTIFICATION_KIND_FOLLOWED"
            ]
            assert sum(int(n.get("actorCount", 1)) for n in follows) == options.celebrity_followers


def test_cold_feed_flushes_only_a_named_database() -> None:
    with pytest.raises(ValueError, match="embedded mesh"):
        cold_feed.check_flushable(None)
    assert cold_feed.check_flushable("redis://127.0.0.1:6379/3") == "redis://127.0.0.1:6379/3"
    assert cold_feed.database_of("redis://h:1") == 0 and cold_feed.database_of("redis://h/7") == 7
    assert cold_feed.family(b"feed:{u:123}:seen") == "feed:{}:seen"
    assert cold_feed.family("post:42") == "post:#"
    with pytest.raises(ValueError, match="warm-factor"):
        cold_feed.ColdOptions(warm_factor=0.5).check()


@pytest.mark.skipif(not ENGINES, reason="the embedded mesh keeps its Redis in its own process")
@pytest.mark.timeout(300)
async def test_cold_reads_after_a_flush_are_correct_and_the_refill_is_timed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with seeded_mesh(tmp_path, monkeypatch, drain_notify=False) as seeded:
        users = seeded.manifest["users"]
        readers = [u for u in users if u["follower_indexes"]][:20]
        found = await cold_feed.cold_feed(
            seeded.manifest["grpc"]["feed_svc"],
            [u["access_token"] for u in readers],
            REDIS_TEST_URL,  # this test's own database (the mesh's, via SHUTTER_REDIS_URL)
            cold_feed.ColdOptions(concurrency=4, max_rounds=6, warm_factor=10.0),
        )
        assert found["redis_keys_before_flush"] > 0
        assert found["warm"]["errors"] == 0 and found["cold"]["errors"] == 0
        assert found["cold"]["reads"] == len(readers) and found["cold"]["p99_ms"] > 0
        assert found["refilled_after_seconds"] is not None and found["refilled_after_seconds"] > 0
        feeds = found["redis_feeds"]
        assert feeds["available"] and feeds["feed_keys"] >= len(readers) - 1
        assert any(f["family"] == "feed:{}" for f in found["redis_key_families"])


async def test_the_flush_waits_for_undelivered_events_and_refuses_after_its_timeout() -> None:
    import asyncio

    import fakeredis

    redis = fakeredis.FakeAsyncRedis()
    stream = "{bus}:events:post"
    streams = ["{bus}:events", stream]  # the main stream, never made here, counts nothing
    assert await cold_feed.undelivered(redis, streams) == {}  # nothing published yet
    await redis.xgroup_create(stream, "feed_svc", id="0", mkstream=True)
    first = await redis.xadd(stream, {"e": "1"})
    await redis.xadd(stream, {"e": "2"})
    assert await cold_feed.undelivered(redis, streams) == {"feed_svc": 2}
    await redis.xreadgroup("feed_svc", "c", {stream: ">"}, count=1)
    assert await cold_feed.undelivered(redis, streams) == {"feed_svc": 2}  # one read, not acked
    await redis.xack(stream, "feed_svc", first)
    with pytest.raises(RuntimeError, match="would lose them"):
        await cold_feed.wait_delivered(redis, streams, timeout=0.0)
    read: Any = await redis.xreadgroup("feed_svc", "c", {stream: ">"})
    second = read[0][1][0][0]

    async def consumer_finishes() -> None:
        await asyncio.sleep(0.3)
        await redis.xack(stream, "feed_svc", second)

    finishing = asyncio.create_task(consumer_finishes())
    await cold_feed.wait_delivered(redis, streams, timeout=10.0)
    assert finishing.done() and await cold_feed.undelivered(redis, streams) == {"feed_svc": 0}
    await redis.aclose()


async def test_the_loader_waits_for_services_that_do_not_serve_yet() -> None:
    from bench import bulk
    from mesh.launcher import free_port

    nobody = f"127.0.0.1:{free_port()}"
    with pytest.raises(TimeoutError, match=f"{nobody} did not become ready"):
        await bulk.wait_ready([nobody], timeout=0.5)
