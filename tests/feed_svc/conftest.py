"""Fixtures for feed_svc tests: the feed rules on a fresh store and Redis, with graph_svc and
post_svc kept in memory by fakes that record every call."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis

from feed_svc import domain, readmodel, store
from feed_svc.cache import FeedCache
from feed_svc.errors import AuthorNotFound
from feed_svc.readmodel import FlagsWanted, Limits, ReadModel, ViewerFlags
from feed_svc.settings import FeedSettings
from mesh import db
from mesh.config import MeshSettings
from mesh.ids import IdGenerator
from mesh.launcher import free_port
from mesh.redis import create_redis
from mesh.services import migrations_dir
from shutter.media.v1 import media_pb2
from shutter.post.v1 import post_pb2
from shutter.user.v1 import user_pb2
from tests.conftest import IN_CI

ids = IdGenerator(shard=5)


class FakeGraph:
    """graph_svc's follows, blocks and mutes in memory."""

    def __init__(self) -> None:
        self.follows: set[tuple[int, int]] = set()
        self.mutes: set[tuple[int, int]] = set()
        self.blocks: set[tuple[int, int]] = set()
        self.requests: set[tuple[int, int]] = set()  # (requester, private account) pending
        self.counts: dict[int, int] = {}
        self.calls: list[str] = []
        # When set, follower_batches waits on it before yielding the batch with this index.
        self.pause_before_batch: int | None = None
        self.paused = asyncio.Event()
        self.resume = asyncio.Event()

    async def following_ids(self, user_id: int, *, exclude_muted: bool) -> list[int]:
        self.calls.append("following_ids")
        return sorted(
            b
            for a, b in self.follows
            if a == user_id and not (exclude_muted and (a, b) in self.mutes)
        )

    async def follower_batches(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> AsyncIterator[list[int]]:
        self.calls.append("follower_batches")
        followers = sorted(
            a
            for a, b in self.follows
            if b == user_id and not (exclude_muted and (a, b) in self.mutes)
        )
        for index, start in enumerate(range(0, len(followers), batch_size)):
            if index == self.pause_before_batch:
                self.paused.set()
                await self.resume.wait()
            yield followers[start : start + batch_size]

    async def counted_followers(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> domain.CountedFollowers:
        self.calls.append("counted_followers")
        count = self.counts.get(user_id, sum(1 for _, b in self.follows if b == user_id))
        batches = self.follower_batches(user_id, batch_size=batch_size, exclude_muted=exclude_muted)
        return domain.CountedFollowers(count, batches)

    async def follower_counts(self, user_ids: Sequence[int]) -> dict[int, int]:
        self.calls.append("follower_counts")
        return {u: self.counts.get(u, sum(1 for _, b in self.follows if b == u)) for u in user_ids}

    async def ties(self, viewer_id: int, *, limit: int) -> readmodel.Ties | None:
        self.calls.append("ties")
        following = {b for a, b in self.follows if a == viewer_id}
        blocking = {b for a, b in self.blocks if a == viewer_id}
        blocked_by = {a for a, b in self.blocks if b == viewer_id}
        if len(following) > limit or len(blocking) + len(blocked_by) > limit:
            return None
        return readmodel.Ties(frozenset(following), frozenset(blocking), frozenset(blocked_by))

    async def relations(
        self, viewer_id: int, user_ids: Sequence[int]
    ) -> dict[int, domain.Relation]:
        self.calls.append("relations")
        return {
            u: domain.Relation(
                following=(viewer_id, u) in self.follows,
                blocking=(viewer_id, u) in self.blocks,
                blocked_by=(u, viewer_id) in self.blocks,
                muting=(viewer_id, u) in self.mutes,
                followed_by=(u, viewer_id) in self.follows,
                requested=(viewer_id, u) in self.requests,
                incoming_request=(u, viewer_id) in self.requests,
            )
            for u in user_ids
        }


class FakeUsers:
    """user_svc's account summaries in memory: every account exists, named after its id unless
    renamed."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.private: set[int] = set()
        self.calls: list[list[int]] = []

    def summary(self, user_id: int) -> user_pb2.UserSummary:
        return user_pb2.UserSummary(
            user_id=user_id,
            username=self.names.get(user_id, f"user{user_id}"),
            is_private=user_id in self.private,
        )

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        self.calls.append(list(user_ids))
        return {u: self.summary(u) for u in user_ids}


class FakePosts:
    """post_svc's BatchGetPosts and hashtag index over posts in memory; private authors show
    to followers only."""

    def __init__(self, graph: FakeGraph, users: FakeUsers | None = None) -> None:
        self.graph = graph
        self.users = users or FakeUsers()
        self.posts: dict[int, int] = {}  # post id -> author
        self.private: set[int] = self.users.private  # one set: the summaries say it too
        self.deleted: set[int] = set()
        self.tags: dict[int, list[str]] = {}  # post id -> its hashtags
        self.tag_calls: list[tuple[str, int | None, int, bool]] = []
        self.media: dict[int, list[int]] = {}  # post id -> its live media ids
        self.likes: set[tuple[int, int]] = set()  # (viewer, post)
        self.saves: set[tuple[int, int]] = set()  # (viewer, post)
        self.reported: set[tuple[int, int]] = set()  # (viewer, post): hidden from the viewer
        self.calls: list[list[int]] = []
        self.flag_calls: list[tuple[int, list[int]]] = []  # each viewer asked, with its posts
        self.flag_batches: list[list[int]] = []  # the viewers of each flags call
        self.lists_flags = True  # False: as post_svc with its likes in Cassandra (lists none)

    async def viewers_flags(self, wanted: Sequence[FlagsWanted]) -> list[ViewerFlags]:
        assert len(wanted) <= 50, "post_svc answers at most 50 viewers per call"
        self.flag_batches.append([entry.viewer for entry in wanted])
        answer = []
        for viewer_id, post_ids, since in wanted:
            assert len(post_ids) <= 100, "post_svc answers at most 100 posts per viewer"
            self.flag_calls.append((viewer_id, list(post_ids)))
            # As post_svc lists them: with a since, every flag of the viewer from that post up.
            listed = set(post_ids)
            if since > 0:
                listed |= {p for v, p in self.likes | self.saves | self.reported if p >= since}
            answer.append(
                ViewerFlags(
                    {p for p in listed if (viewer_id, p) in self.likes},
                    {p for p in listed if (viewer_id, p) in self.saves},
                    {p for p in listed if (viewer_id, p) in self.reported},
                    max(since, 0) if self.lists_flags else 0,
                )
            )
        return answer

    async def batch_get(self, viewer_id: int, post_ids: Sequence[int]) -> list[post_pb2.Post]:
        assert len(post_ids) <= 100, "post_svc answers at most 100 posts per call"
        self.calls.append(list(post_ids))
        found = []
        for post_id in post_ids:
            author = self.posts.get(post_id)
            if author is None or post_id in self.deleted or (viewer_id, post_id) in self.reported:
                continue
            if (author, viewer_id) in self.graph.blocks or (viewer_id, author) in self.graph.blocks:
                continue
            if author in self.private and author != viewer_id:
                if (viewer_id, author) not in self.graph.follows:
                    continue
            post = self._post(post_id, author)
            post.user.CopyFrom(self.users.summary(author))
            post.has_liked = (viewer_id, post_id) in self.likes
            post.has_saved = (viewer_id, post_id) in self.saves
            found.append(post)
        return found

    async def shared_posts(self, post_ids: Sequence[int]) -> list[post_pb2.Post]:
        """BatchGetSharedPosts: the live posts as every viewer sees them, whoever may."""
        assert len(post_ids) <= 100, "post_svc answers at most 100 posts per call"
        self.calls.append(list(post_ids))
        return [
            self._post(p, self.posts[p])
            for p in post_ids
            if p in self.posts and p not in self.deleted
        ]

    def _post(self, post_id: int, author: int) -> post_pb2.Post:
        return post_pb2.Post(
            post_id=post_id,
            user={"user_id": author},
            caption=f"caption of {post_id}",
            hashtags=self.tags.get(post_id, []),
            media=[media_pb2.Media(media_id=m) for m in self.media.get(post_id, [])],
        )

    async def tag_posts(
        self, tag: str, *, before: int | None, limit: int, with_authors: bool
    ) -> tuple[list[int], dict[int, int]]:
        self.tag_calls.append((tag, before, limit, with_authors))
        live = sorted(
            (p for p, tags in self.tags.items() if tag in tags and p not in self.deleted),
            reverse=True,
        )
        authors: dict[int, int] = {}
        if with_authors:
            for post_id in live:
                authors[self.posts[post_id]] = authors.get(self.posts[post_id], 0) + 1
        return [p for p in live if before is None or p < before][:limit], authors


class FakeProfiles:
    """user_svc's GetUser in memory, as it answers a service naming a viewer: counts from the
    fake graph and posts, the email to the owner only, NOT_FOUND for suspended accounts."""

    def __init__(self, graph: FakeGraph, posts: FakePosts) -> None:
        self.graph = graph
        self.posts = posts
        self.bios: dict[int, str] = {}
        self.suspended: set[int] = set()
        self.calls: list[tuple[int, str, int]] = []

    async def profile(
        self, *, user_id: int = 0, username: str = "", viewer_id: int
    ) -> user_pb2.User:
        self.calls.append((user_id, username, viewer_id))
        if username:
            found = [u for u in self.posts.users.names if self.posts.users.names[u] == username]
            user_id = found[0] if found else 0
        if not user_id or user_id in self.suspended:
            raise AuthorNotFound("no user has that id")
        summary = self.posts.users.summary(user_id)
        user = user_pb2.User(
            user_id=user_id,
            username=summary.username,
            bio=self.bios.get(user_id, ""),
            is_private=user_id in self.posts.private,
            follower_count=sum(1 for _, b in self.graph.follows if b == user_id),
            following_count=sum(1 for a, _ in self.graph.follows if a == user_id),
            post_count=sum(
                1
                for p, a in self.posts.posts.items()
                if a == user_id and p not in self.posts.deleted
            ),
            email=f"{summary.username}@example.com" if viewer_id == user_id else "",
        )
        if viewer_id and viewer_id != user_id:
            [relation] = (await self.graph.relations(viewer_id, [user_id])).values()
            if relation.blocked_by:
                raise AuthorNotFound("no user has that id")
            user.relationship.following = relation.following
        return user


class World:
    """The feed rules with their fakes, and helpers that play post_svc's and graph_svc's events."""

    def __init__(self, feeds: domain.Feeds, cache: FeedCache, redis: Any) -> None:
        self.feeds = feeds
        self.cache = cache
        self.redis = redis
        self.graph: FakeGraph = feeds._graph  # type: ignore[assignment]
        self.posts: FakePosts = feeds._posts  # type: ignore[assignment]
        self.views: ReadModel = feeds._views  # type: ignore[assignment]
        self.profiles: FakeProfiles = getattr(self.views, "_profiles", None)  # type: ignore[assignment]

    def user(self) -> int:
        return ids.next_id()

    async def follow(self, follower: int, followee: int) -> None:
        self.graph.follows.add((follower, followee))
        await self.feeds.followed(follower_id=follower, followee_id=followee)

    async def unfollow(self, follower: int, followee: int) -> None:
        self.graph.follows.discard((follower, followee))
        await self.feeds.separated(viewer_id=follower, author_id=followee)

    async def post(self, author: int, *, private: bool = False, tags: Sequence[str] = ()) -> int:
        post_id = ids.next_id()
        self.posts.posts[post_id] = author
        if tags:
            self.posts.tags[post_id] = list(tags)
        await self.feeds.post_created(
            post_id=post_id,
            author_id=author,
            created_at=datetime.now(UTC),
            author_is_private=private,
            hashtags=list(tags),
        )
        return post_id

    async def delete(self, post_id: int) -> None:
        self.posts.deleted.add(post_id)
        await self.feeds.post_deleted(
            post_id=post_id,
            author_id=self.posts.posts[post_id],
            created_at=datetime.now(UTC),
            hashtags=self.posts.tags.get(post_id, []),
        )

    async def read(self, viewer: int, *, mode: str = "chronological", size: int = 50) -> list[int]:
        """Return every post id of a viewer's feed, following tokens to the end."""
        found: list[int] = []
        token = ""
        for _ in range(100):
            page, token = await self.feeds.home_feed(
                viewer=viewer, page_size=size, page_token=token, mode=mode
            )
            found.extend(p.post_id for p in page)
            if not token:
                return found
        raise AssertionError("the feed did not end within 100 pages")


CLUSTER_NODES = 3


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a three-primary Redis Cluster on loopback ports; return its redis+cluster:// URL."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if IN_CI:
            pytest.fail("redis-server is not installed; CI requires it", pytrace=False)
        pytest.skip("redis-server is not installed")
    work = tmp_path_factory.mktemp("redis-cluster")
    ports = [free_port() for _ in range(CLUSTER_NODES)]
    # The cluster bus defaults to port + 10000, which may be taken or beyond 65535: pick it too.
    bus_ports = [free_port() for _ in range(CLUSTER_NODES)]
    logs = [(work / f"redis-{port}.log").open("wb") for port in ports]
    servers = [
        subprocess.Popen(
            ["redis-server", "--port", str(port), "--cluster-port", str(bus), "--bind", "127.0.0.1",
             "--cluster-enabled", "yes", "--cluster-config-file", str(work / f"nodes-{port}.conf"),
             "--dir", str(work), "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for port, bus, log in zip(ports, bus_ports, logs, strict=True)
    ]  # fmt: skip
    try:
        for port in ports:
            _wait(lambda port=port: _node(port, "PING"))
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )  # fmt: skip
        for port in ports:
            _wait(lambda port=port: b"cluster_state:ok" in _node(port, "CLUSTER", "INFO"))
        yield f"redis+cluster://127.0.0.1:{ports[0]}"
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=10)
        for log in logs:
            log.close()


def _node(port: int, *command: str) -> Any:
    """Return one node's raw answer to a command."""
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
        return client.execute_command(*command, NEVER_DECODE=True)


def _wait(check: Any, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    last: object = None
    while True:
        try:
            last = check()
            if last:
                return
        except redis.RedisError as exc:
            last = exc
        assert time.monotonic() < deadline, f"the Redis Cluster did not come up in time: {last!r}"
        time.sleep(0.05)


def feed_settings(data_dir: Path, **overrides: object) -> FeedSettings:
    """Return feed settings on a temporary data dir with small limits, to test them at the edge."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "feed_max_length": 30,
        "celebrity_follower_threshold": 3,
        "author_recent_posts": 10,
        "ranked_candidates": 40,
        "fanout_batch_size": 2,
    }
    values.update(overrides)
    return FeedSettings(**values)  # type: ignore[arg-type]


async def make_world(settings: FeedSettings, redis_url: str | None = None) -> tuple[World, object]:
    """Return a world on fresh storage (an empty in-process Redis, or the Redis at `redis_url`,
    emptied) and the engine to dispose of."""
    engine = db.create_engine("feed_svc", settings, settings.database_url)
    await db.migrate(engine, "feed_svc", migrations_dir("feed_svc"))
    client: Any = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    if redis_url is not None:
        client = create_redis(MeshSettings(redis_url=redis_url))
        await client.flushall()
    cache = FeedCache(
        client, max_length=settings.feed_max_length, recent_length=settings.author_recent_posts
    )
    graph = FakeGraph()
    posts = FakePosts(graph)
    projection = store.SqlFeedStore(engine)
    views = ReadModel(
        client,
        source=posts,
        directory=posts.users,
        counter=domain.ProjectionCounts(projection),
        graph=graph,
        post_list=domain.ProjectionPosts(projection),
        tags=posts,
        profiles=FakeProfiles(graph, posts),
        limits=Limits(
            post_ttl_seconds=settings.read_model_post_ttl_seconds,
            author_ttl_seconds=settings.read_model_author_ttl_seconds,
            flags_ttl_seconds=settings.read_model_flags_ttl_seconds,
            flags_max_entries=settings.read_model_flags_max_entries,
            flags_listed_seconds=settings.read_model_flags_listed_days * 86_400,
            fill_lock_seconds=settings.read_model_fill_lock_seconds,
            fill_wait_seconds=settings.read_model_fill_wait_seconds,
            tag_posts=settings.read_model_tag_posts,
        ),
    )
    feeds = domain.Feeds(cache, projection, graph, posts, settings, views=views)
    return World(feeds, cache, client), engine


@pytest.fixture(params=["embedded", "cluster"])
async def world(data_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """Return the feed rules on a fresh store and an empty Redis: the in-process one, then a real
    three-node Redis Cluster (so no command may span two slots)."""
    url = None if request.param == "embedded" else request.getfixturevalue("redis_cluster")
    made, engine = await make_world(feed_settings(data_dir), url)
    yield made
    await made.redis.aclose()
    await engine.dispose()  # type: ignore[attr-defined]
