"""One client request is one trace: the edge, every service it reaches, their statements."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from feed_svc import readmodel
from feed_svc.cache import feed_key, member
from mesh import metrics
from mesh.config import MeshSettings
from mesh.launcher import free_port
from mesh.redis import create_redis
from tests.conftest import ENGINES, REDIS_MESH_URL
from tests.e2e.conftest import register, upload_photo
from tests.e2e.test_feed import EVENTUAL_SECONDS, _png, _post


def _trace_of(everything: Any, root_name: str) -> tuple[Any, list[Any]]:
    """Return the one edge span named `root_name` and every span of its trace, checking that they
    form one tree below it."""
    # Background work (outbox relays, consumers) makes traces of its own; find the request's.
    roots = [s for s in everything if s.parent is None and s.name.startswith(root_name)]
    assert len(roots) == 1, [s.name for s in everything if s.parent is None]
    root = roots[0]
    spans = [s for s in everything if s.context.trace_id == root.context.trace_id]
    assert [s for s in spans if s.parent is None] == [root]
    by_id = {s.context.span_id for s in spans}
    assert all(s.parent is None or s.parent.span_id in by_id for s in spans)
    return root, spans


def _served(spans: list[Any]) -> set[str]:
    return {
        str(s.attributes.get("rpc.service"))
        for s in spans
        if s.kind.name == "SERVER" and s.attributes and "rpc.service" in s.attributes
    }


async def test_a_profile_read_is_one_connected_trace_across_services(
    client: httpx.AsyncClient, finished_spans: Any
) -> None:
    alice = await register(client, "traced")
    finished_spans.clear()
    response = await client.get(f"/api/v1/users/{alice.user_id}", headers=alice.headers)
    assert response.status_code == 200
    _root, spans = _trace_of(finished_spans.get_finished_spans(), "GET /api/v1/users")
    # The edge plus at least two services behind it: three services in one trace.
    assert {"shutter.user.v1.UserService", "shutter.graph.v1.GraphService"} <= _served(spans)
    assert any(s.name.lower().startswith("select") for s in spans)  # the database calls too


async def test_a_feed_read_shows_every_hop_in_one_trace(
    client: httpx.AsyncClient, finished_spans: Any
) -> None:
    author, reader = await register(client, "hop_author"), await register(client, "hop_reader")
    followed = await client.post(f"/api/v1/users/{author.user_id}/follow", headers=reader.headers)
    assert followed.status_code == 200, followed.text
    # A first (empty) read builds the reader's feed and marks them active: fan-out pushes to them.
    assert (await client.get("/api/v1/feed", headers=reader.headers)).status_code == 200
    post_id = await _post(client, author)
    # Wait on the reader's feed in Redis, not through the API, then take the post and the
    # reader's flags out of feed_svc's read model, so that the traced read is a cold one.
    feeds = create_redis(MeshSettings(redis_url=REDIS_MESH_URL if ENGINES else None))
    try:
        deadline = asyncio.get_running_loop().time() + EVENTUAL_SECONDS
        while await feeds.zscore(feed_key(int(reader.user_id)), member(int(post_id))) is None:
            assert asyncio.get_running_loop().time() < deadline, "the post never reached the feed"
            await asyncio.sleep(0.1)
        for key in (
            readmodel.post_key(int(post_id)),
            readmodel.author_key(int(author.user_id)),
            readmodel.likes_key(int(reader.user_id)),
            readmodel.saves_key(int(reader.user_id)),
        ):
            await feeds.delete(key)
    finally:
        await feeds.aclose()
    params = {"mode": "FEED_MODE_CHRONOLOGICAL"}
    finished_spans.clear()
    response = await client.get("/api/v1/feed", params=params, headers=reader.headers)
    assert response.status_code == 200, response.text
    assert [p["postId"] for p in response.json()["posts"]] == [post_id]
    _root, spans = _trace_of(finished_spans.get_finished_spans(), "GET /api/v1/feed")
    # Cold: feed_svc reads the post as every viewer sees it through post_svc (which asks
    # media_svc for its media; the read applies its own privacy rule) and the author's summary
    # from user_svc: every hop a server span of one trace.
    assert {
        "shutter.feed.v1.FeedService",
        "shutter.post.v1.PostService",
        "shutter.media.v1.MediaService",
        "shutter.user.v1.UserService",
    } <= _served(spans)
    assert any(s.attributes and s.attributes.get("db.system") == "redis" for s in spans)
    assert any(s.name.lower().startswith("select") for s in spans)
    # Warm: one hop, Redis only.
    finished_spans.clear()
    response = await client.get("/api/v1/feed", params=params, headers=reader.headers)
    assert [p["postId"] for p in response.json()["posts"]] == [post_id]
    _root, spans = _trace_of(finished_spans.get_finished_spans(), "GET /api/v1/feed")
    assert _served(spans) == {"shutter.feed.v1.FeedService"}
    assert not any(
        s.attributes and s.attributes.get("db.system") in ("postgresql", "sqlite") for s in spans
    )
    assert any(s.attributes and s.attributes.get("db.system") == "redis" for s in spans)


@pytest.mark.skipif(not ENGINES, reason="S3 calls happen only with an S3 store (engines run)")
async def test_s3_calls_are_spans_of_the_upload_trace(
    client: httpx.AsyncClient, finished_spans: Any
) -> None:
    alice = await register(client, "s3_traced")
    finished_spans.clear()
    await upload_photo(client, alice, _png())
    s3_spans = [
        s
        for s in finished_spans.get_finished_spans()
        if s.attributes and s.attributes.get("rpc.system") == "aws-api"
    ]
    assert s3_spans, "no S3 call was traced"
    assert {str(s.attributes.get("rpc.service")) for s in s3_spans} == {"S3"}


async def test_metrics_count_rpcs_by_method_and_status_and_time_the_bus(
    client: httpx.AsyncClient,
) -> None:
    alice = await register(client, "metered")
    assert (await client.get(f"/api/v1/users/{alice.user_id}", headers=alice.headers)).is_success
    assert (await client.get("/api/v1/users/1", headers=alice.headers)).status_code == 404
    # Going private publishes an event graph_svc consumes: the bus lag is measured for it.
    await client.put(
        f"/api/v1/users/{alice.user_id}", json={"isPrivate": True}, headers=alice.headers
    )
    await client.put(
        f"/api/v1/users/{alice.user_id}", json={"isPrivate": False}, headers=alice.headers
    )
    # Metrics are served on their own port, never on the edge's public one (issue 15): the
    # in-process mesh shares this process's registry.
    port = free_port()
    metrics.serve_metrics(port)
    text = ""
    for _ in range(50):
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        if "shutter_bus_lag_seconds_count" in text:
            break
        await asyncio.sleep(0.1)
    get_user = 'method="/shutter.user.v1.UserService/GetUser",service="user_svc"'
    assert f'shutter_rpc_requests_total{{code="OK",{get_user}}}' in text
    assert f'shutter_rpc_requests_total{{code="NOT_FOUND",{get_user}}}' in text
    assert "shutter_rpc_duration_seconds_bucket" in text
    assert 'shutter_bus_lag_seconds_count{event_type="shutter.events.v1.UserProfileUpdated"' in text
