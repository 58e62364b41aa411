"""The edge's own cost per request: everything between the HTTP request arriving in the ASGI app
and the JSON answer leaving it, for the read routes, with the service answering instantly.

The app is the real one (`create_app`: middleware, route table, rate limits in process,
transcoding, JSON), its channels replaced by one that answers each RPC at once with a canned,
realistic reply (serialized, so the edge still parses it). What is measured is therefore what
the edge adds to a read on one core: request parsing into a message, metadata, the response's
protobuf parsing and JSON encoding, the middleware. uvicorn's HTTP parsing (C, httptools) and
the network are not in it. The parts are timed on their own too (protobuf → dict, dict → JSON
bytes), so the report says where the time goes. Times are CPU time of this process
(`time.process_time`), not wall time: on a loaded machine the wall clock measures the others.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from edge_proxy import jsonenc
from edge_proxy.app import create_app
from edge_proxy.settings import EdgeSettings
from edge_proxy.transcode import encode_json, to_json
from shutter.feed.v1 import feed_service_pb2
from shutter.media.v1 import media_pb2
from shutter.post.v1 import post_pb2
from shutter.user.v1 import user_pb2

# A grid page as the app's first screen asks for it.
GRID_PAGE = 12


def sample_post(post_id: int) -> post_pb2.Post:
    """Return a post as served: author summary, one photo with its variant URLs, a caption with
    tags, a location and counts (about 650 bytes serialized, as the issue measured)."""
    base = f"http://127.0.0.1:8080/media/p/{post_id}"
    media = media_pb2.Media(
        media_id=post_id + 1,
        owner_user_id=42,
        type=media_pb2.MEDIA_TYPE_PHOTO,
        status=media_pb2.MEDIA_STATUS_READY,
        width=1080,
        height=1350,
    )
    variants = media.variants
    for name in ("thumbnail", "feed", "full"):
        setattr(variants, name, f"{base}/{name}.jpg")
        setattr(variants, f"{name}_webp", f"{base}/{name}.webp")
    post = post_pb2.Post(
        post_id=post_id,
        user=user_pb2.UserSummary(
            user_id=42,
            username="ada_lovelace",
            full_name="Ada Lovelace",
            profile_pic_url="http://127.0.0.1:8080/media/u/42/thumb.jpg",
            is_verified=True,
        ),
        caption="An afternoon at the engine, #analytical #engine with @charles",
        like_count=128,
        comment_count=14,
        has_liked=True,
    )
    post.media.append(media)
    post.created_at.CopyFrom(Timestamp(seconds=1_790_000_000))
    return post


def sample_replies() -> dict[str, tuple[str, Message]]:
    """Return, per route, the path a client asks for and the reply its service gives."""
    user = user_pb2.User(
        user_id=42,
        username="ada_lovelace",
        full_name="Ada Lovelace",
        bio="Poet of numbers.",
        website="https://example.com",
        profile_pic_url="http://127.0.0.1:8080/media/u/42/thumb.jpg",
        follower_count=1200,
        following_count=300,
        post_count=45,
    )
    user.created_at.CopyFrom(Timestamp(seconds=1_700_000_000))
    return {
        "list-user-posts": (
            f"/api/v1/users/42/posts?pageSize={GRID_PAGE}",
            feed_service_pb2.ListUserPostsResponse(
                posts=[sample_post(1000 + i) for i in range(GRID_PAGE)], next_page_token="x" * 40
            ),
        ),
        "get-post": (
            "/api/v1/posts/1000",
            feed_service_pb2.GetPostResponse(post=sample_post(1000)),
        ),
        "get-user": ("/api/v1/users/42", feed_service_pb2.GetUserResponse(user=user)),
    }


class _Answering:
    """A channel whose every unary call answers at once with the canned reply's bytes."""

    def __init__(self, replies: dict[str, bytes]) -> None:
        self._replies = replies

    def unary_unary(
        self,
        path: str,
        request_serializer: Callable[[Any], bytes],
        response_deserializer: Callable[[bytes], Any],
    ) -> Callable[..., Any]:
        raw = self._replies[path.rsplit("/", 1)[-1]]

        async def call(message: Any, **_: Any) -> Any:
            request_serializer(message)
            return response_deserializer(raw)

        return call


class _Channels:
    def __init__(self, replies: dict[str, bytes]) -> None:
        self._channel = _Answering(replies)

    def channel(self, name: str) -> _Answering:
        return self._channel


async def _drive(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "app": app,
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _per_call_us(run: Callable[[], Any], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        run()
    return (time.process_time() - started) / count * 1e6


def _rendered(message: Message) -> bytes:
    return encode_json(jsonenc.render(message))


async def measure(requests: int = 2000, repeats: int = 5) -> list[dict[str, Any]]:
    """Return, per read route, the edge's CPU-bound cost per request (median of `repeats`
    runs of `requests` each, in µs) and its parts."""
    replies = sample_replies()
    by_method = {
        "ListUserPosts": replies["list-user-posts"][1].SerializeToString(),
        "GetPost": replies["get-post"][1].SerializeToString(),
        "GetUser": replies["get-user"][1].SerializeToString(),
    }
    app = create_app(EdgeSettings(), _Channels(by_method))  # type: ignore[arg-type]
    headers = [(b"authorization", b"Bearer " + b"t" * 300), (b"host", b"127.0.0.1:8080")]
    rows = []
    async with _lifespan(app):
        for name, (path, reply) in replies.items():
            assert await _drive(app, path, headers) == 200, name
            runs = []
            for _ in range(repeats):
                started = time.process_time()
                for _ in range(requests):
                    await _drive(app, path, headers)
                runs.append((time.process_time() - started) / requests * 1e6)
            body = reply.post if name == "get-post" else reply  # type: ignore[attr-defined]
            as_dict = to_json(body)
            rows.append(
                {
                    "route": name,
                    "path": path.partition("?")[0],
                    "request_us": round(statistics.median(runs), 1),
                    "to_dict_us": round(
                        _per_call_us(functools.partial(to_json, body), requests), 1
                    ),
                    "encode_us": round(
                        _per_call_us(functools.partial(encode_json, as_dict), requests), 1
                    ),
                    # What the edge does now: posts inside the answer from their kept JSON.
                    "rendered_us": round(
                        _per_call_us(functools.partial(_rendered, body), requests), 1
                    ),
                    "body_bytes": len(encode_json(as_dict)),
                }
            )
        health_runs = []
        for _ in range(repeats):
            started = time.process_time()
            for _ in range(requests):
                await _drive(app, "/healthz", headers)
            health_runs.append((time.process_time() - started) / requests * 1e6)
        rows.append(
            {
                "route": "healthz",
                "path": "/healthz",
                "request_us": round(statistics.median(health_runs), 1),
                "to_dict_us": 0.0,
                "encode_us": 0.0,
                "rendered_us": 0.0,
                "body_bytes": 15,
            }
        )
    return rows


class _lifespan:  # noqa: N801 - used as a context manager name
    """Run the app's lifespan around the measurement (closes what it opens)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()

    async def __aenter__(self) -> None:
        async def receive() -> dict[str, Any]:
            return await self._queue.get()

        async def send(message: dict[str, Any]) -> None:
            if message["type"].endswith("startup.complete"):
                self._started.set()
            if message["type"].endswith("shutdown.complete"):
                self._stopped.set()

        self._task = asyncio.ensure_future(
            self._app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        )
        await self._queue.put({"type": "lifespan.startup"})
        await self._started.wait()

    async def __aexit__(self, *_: object) -> None:
        await self._queue.put({"type": "lifespan.shutdown"})
        await self._stopped.wait()
        if self._task is not None:
            await self._task
