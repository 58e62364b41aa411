"""Bulk seeding for fan-out at scale: authors with 1 000 to 100 000+ followers in minutes.

Going through the RPCs (bench/seed.py) costs an argon2 hash per account and a Follow call per
follow (about 47 follows/s on the embedded mesh): hours for 100 000 followers. This loader writes
through the services' own store code instead, opened with the mesh's own settings (the same
SHUTTER_* variables, so the embedded SQLite files or PostgreSQL alike), and leaves the mesh as
real use would:

- accounts: user_svc's `SqlUserStore.insert_users` (one INSERT per batch, name trigrams
  included) with their UserRegistered events in user_svc's outbox (`Outbox.add_many`), one
  transaction per batch. One argon2id hash (user_svc's cost settings) of the followers' shared
  password is computed once and stored for every follower, so Login works for each of them;
  every author has a hash of its own password.
- follows: graph_svc's `SqlGraphStore.insert_follows` (the follow rows and both counts of each)
  with their Followed events in graph_svc's outbox, one transaction per batch; feed_svc and
  notify_svc then project them from the bus as they would any follow. The per-pair advisory
  locks Follow takes are left out: they order the rule checks of concurrent calls on the same
  pair, and these accounts are new, with no blocks or requests to check.
- posts: each author uploads photos through the edge and calls CreatePost, the real path.
- then it waits until both outboxes are relayed and the feed_svc and notify_svc groups have
  nothing left on the bus (their backlog, as the bus itself counts it).
- activity: feed_svc fans a post out to followers who read their feed lately (its `seen` key,
  set by every read, expiring after inactive_after_days) and whose feed is built. On the
  embedded mesh (its Redis lives inside the mesh's process) every follower reads their home
  feed once over gRPC, the real path, with an access token signed by the mesh's own key
  (`mesh.auth.TokenIssuer`, what Login hands out, without one argon2 verification each). That
  path runs at tens of reads per second on a busy 2-core machine (each first read rebuilds and
  hydrates), hours for 100 000 followers; so with a real Redis the loader uses feed_svc's own
  code instead: `Feeds.rebuild` builds the first follower's feed from feed_svc's projection
  (the loader knows that each follower follows exactly its author), the others get the same
  feed through `FeedCache.install`, and `FeedCache.touch` marks each active, as a read does.

The ids this process makes carry their own shard (`id_shard`), so they never collide with the
running services' ids. Usernames are a function of the seed's prefix; seeding again reuses the
accounts and follows already there (a follow that exists is neither written nor announced again).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import argon2
import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.progress import Progress
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import cost
from feed_svc.cache import FeedCache
from feed_svc.domain import CountedFollowers, Feeds, Relation
from feed_svc.events import GROUP as FEED_GROUP
from feed_svc.settings import FeedSettings
from feed_svc.store import SqlFeedStore
from graph_svc import events as graph_events
from graph_svc import store as graph_store
from graph_svc.settings import GraphSettings
from media_svc import blobs as media_blobs
from media_svc import domain as media_domain
from media_svc import events as media_events
from media_svc import job as media_job
from media_svc import servicer as media_servicer
from media_svc import store as media_store
from media_svc.settings import MediaSettings
from mesh import auth, db
from mesh.bus import create_bus
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.redis import create_redis
from notify_svc.events import GROUP as NOTIFY_GROUP
from post_svc import domain as post_domain
from post_svc import events as post_events
from post_svc import store as post_store
from post_svc import text as post_text
from post_svc.settings import PostSettings
from shutter.feed.v1 import feed_pb2, feed_service_pb2, feed_service_pb2_grpc
from shutter.post.v1 import post_pb2
from user_svc import events as user_events
from user_svc import store as user_store
from user_svc.settings import UserSettings

# Rows per transaction: short enough that the embedded SQLite writer lock is never held for long
# (the mesh's own writers wait on it), long enough that commits do not dominate.
BATCH = 1000
# GetHomeFeed calls in flight while followers become active.
ACTIVATE_CONCURRENCY = 8
ACTIVATE_ATTEMPTS = 5
# Feeds installed at once when the loader writes them to Redis itself.
CACHE_CONCURRENCY = 32
_TRANSIENT = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.DEADLINE_EXCEEDED,
)
# How long the loader waits for the bus to drain before giving up, and how often it looks.
DRAIN_TIMEOUT_SECONDS = 3600.0
DRAIN_POLL_SECONDS = 1.0
SIZE_MAX = 1_000_000
# Media per transaction: each one is processed (a few ms) before its batch is written.
MEDIA_BATCH = 100


@dataclass(frozen=True)
class BigAuthor:
    """One author with a synthetic following, by username (ids are known once seeded)."""

    username: str
    password: str
    followers: list[str]


def parse_sizes(text: str) -> list[int]:
    """Return the follower counts of `--big-authors` ("1000,10000,100000"), or raise ValueError."""
    sizes = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= SIZE_MAX:
            raise ValueError(f"--big-authors takes follower counts within 1..{SIZE_MAX}: {part!r}")
        sizes.append(int(part))
    return sizes


def big_population(sizes: Sequence[int], *, prefix: str, seed: int) -> list[BigAuthor]:
    """Return the big authors and their followers: a pure function of sizes, prefix and seed.

    Each author's followers are accounts of their own (no follower follows two big authors), so
    the followers of a pulled celebrity and of a pushed author can be compared like for like.
    """
    return [
        BigAuthor(
            username=f"{prefix}b{k}",
            password=f"pw-{seed}-big-{k}",
            followers=[f"{prefix}b{k}f{j}" for j in range(size)],
        )
        for k, size in enumerate(sizes)
    ]


def follower_password(seed: int) -> str:
    """Return the password every bulk-made follower shares (one argon2 hash for them all)."""
    return f"pw-{seed}-follower"


@dataclass
class BigResult:
    """What the loader made: per author its id and its followers' ids, and the phase rates."""

    authors: list[dict[str, Any]]
    rates: dict[str, float]


Phase = Callable[[str, int], Callable[[int], None]]


def _hasher(settings: UserSettings) -> argon2.PasswordHasher:
    # The same parameters user_svc hashes with, so its Login verifies these hashes as its own.
    return argon2.PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        type=argon2.Type.ID,
    )


async def _create_accounts(
    store: user_store.SqlUserStore,
    ids: IdGenerator,
    usernames: Sequence[str],
    hashes: Callable[[int], str],
    advance: Callable[[int], None],
    *,
    bios: Sequence[str] | None = None,
) -> list[int]:
    """Insert accounts in batched transactions, each new one with its UserRegistered event;
    return their ids in order, reusing the accounts that exist already."""
    found: list[int] = []
    for start in range(0, len(usernames), BATCH):
        chunk = usernames[start : start + BATCH]
        now = datetime.now(UTC)
        records = [
            user_store.UserRecord(
                user_id=ids.next_id(),
                username=username,
                email=f"{username}@bench.example.com",
                password_hash=hashes(start + offset),
                full_name=f"Bench Person {username}",
                bio=bios[start + offset] if bios is not None else "",
                website="",
                profile_media_id=None,
                profile_pic_key="",
                is_private=False,
                is_verified=False,
                created_at=now,
                updated_at=now,
            )
            for offset, username in enumerate(chunk)
        ]
        async with store.transaction() as tx:
            added = await store.insert_users(tx, records=records)
            await store.outbox.add_many(
                tx,
                events=[
                    (r.user_id, user_events.user_registered(user_id=r.user_id, username=r.username))
                    for r in records
                    if r.user_id in added
                ],
            )
            for record in records:
                if record.user_id in added:
                    found.append(record.user_id)
                    continue
                # Seeded before: the account is there under this username.
                existing = await store.get_user_by_username(tx, username=record.username)
                if existing is None:
                    raise RuntimeError(f"{record.username}: its email belongs to another account")
                found.append(existing.user_id)
        advance(len(chunk))
    return found


async def _create_follows(
    store: graph_store.SqlGraphStore,
    ids: IdGenerator,
    pairs: Sequence[tuple[int, int]],
    advance: Callable[[int], None],
) -> int:
    """Insert follows (follower, followee) in batched transactions, each new one counted and
    with its Followed event; return how many were new."""
    added = 0
    for start in range(0, len(pairs), BATCH):
        chunk = pairs[start : start + BATCH]
        async with store.transaction() as tx:
            new = await store.insert_follows(
                tx, rows=[(a, b, ids.next_id()) for a, b in chunk], created_at=datetime.now(UTC)
            )
            await store.outbox.add_many(
                tx,
                events=[(a, graph_events.followed(follower_id=a, followee_id=b)) for a, b in new],
            )
        added += len(new)
        advance(len(chunk))
    return added


async def unpublished(engine: AsyncEngine, table: Any) -> int:
    """Return how many outbox rows of a service its relay has not published yet."""
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(table).where(table.c.published_at.is_(None))
        )
    return int(count or 0)


async def wait_for_drain(
    outboxes: Sequence[tuple[AsyncEngine, Any]],
    *,
    settings: FeedSettings,
    progress: Progress,
    groups: Sequence[str] = (FEED_GROUP, NOTIFY_GROUP),
    timeout: float = DRAIN_TIMEOUT_SECONDS,
) -> float:
    """Wait until the outboxes are relayed and the groups have finished every event; return the
    seconds waited. Twice in a row empty, so an event between two looks is not missed."""
    bus = create_bus(settings)
    started = time.perf_counter()
    task = progress.add_task("bus drain (events left)", total=None, rate="")
    try:
        quiet = 0
        while quiet < 2:
            left = sum([await unpublished(engine, table) for engine, table in outboxes])
            backlogs = {group: await bus.backlog(group) for group in groups}
            total = left + sum(backlogs.values())
            detail = ", ".join(f"{g} {n}" for g, n in backlogs.items())
            progress.update(task, completed=0, rate=f"outbox {left}, {detail}")
            quiet = quiet + 1 if total == 0 else 0
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"the bus did not drain within {timeout:g}s: {detail}")
            if quiet < 2:
                await asyncio.sleep(DRAIN_POLL_SECONDS)
    finally:
        await bus.close()
        progress.update(task, total=1, completed=1)
    return time.perf_counter() - started


async def activate(
    feed_addr: str,
    issuer: auth.TokenIssuer,
    user_ids: Sequence[int],
    advance: Callable[[int], None],
    *,
    concurrency: int = ACTIVATE_CONCURRENCY,
) -> None:
    """Have each user read their home feed once over gRPC (active, feed built)."""
    request = feed_service_pb2.GetHomeFeedRequest(
        page_size=20, mode=feed_pb2.FEED_MODE_CHRONOLOGICAL
    )
    queue = list(user_ids)
    async with aio.insecure_channel(feed_addr) as channel:
        feeds = feed_service_pb2_grpc.FeedServiceStub(channel)

        async def worker(mine: Sequence[int]) -> None:
            for user_id in mine:
                metadata = (("authorization", f"Bearer {issuer.user_token(user_id)}"),)
                for attempt in range(1, ACTIVATE_ATTEMPTS + 1):
                    try:
                        await feeds.GetHomeFeed(request, metadata=metadata, timeout=60)
                        break
                    except aio.AioRpcError as exc:
                        # INTERNAL and DEADLINE_EXCEEDED too: a database server at its
                        # connection limit, or a one-process mesh busy with the follows' events,
                        # fails a call now and then; the read is idempotent: made again.
                        if exc.code() not in _TRANSIENT or attempt == ACTIVATE_ATTEMPTS:
                            raise
                        await asyncio.sleep(0.2 * 2**attempt)
                advance(1)

        await asyncio.gather(*(worker(queue[i::concurrency]) for i in range(concurrency)))


class _OnlyFollowing:
    """What graph_svc answers for the bulk followers, each of whom follows only their author."""

    def __init__(self, author_id: int) -> None:
        self._author = author_id

    async def following_ids(self, user_id: int, *, exclude_muted: bool) -> list[int]:
        return [self._author]

    def follower_batches(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> AsyncIterator[list[int]]:
        raise NotImplementedError("the loader only rebuilds feeds")

    async def follower_counts(self, user_ids: Sequence[int]) -> dict[int, int]:
        raise NotImplementedError("the loader only rebuilds feeds")

    async def counted_followers(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> CountedFollowers:
        raise NotImplementedError("the loader only rebuilds feeds")

    async def relations(self, viewer_id: int, user_ids: Sequence[int]) -> dict[int, Relation]:
        raise NotImplementedError("the loader only rebuilds feeds")


async def activate_in_cache(
    settings: FeedSettings,
    author_id: int,
    follower_ids: Sequence[int],
    advance: Callable[[int], None],
    *,
    concurrency: int = CACHE_CONCURRENCY,
) -> None:
    """Build the followers' feeds and mark them active with feed_svc's own code (see above)."""
    if not follower_ids:
        return
    engine = db.create_engine("feed_svc", settings, settings.database_url)
    redis = create_redis(settings)
    try:
        cache = FeedCache(
            redis, max_length=settings.feed_max_length, recent_length=settings.author_recent_posts
        )
        feeds = Feeds(cache, SqlFeedStore(engine), _OnlyFollowing(author_id), _NoPosts(), settings)
        first = follower_ids[0]
        await feeds.rebuild(first)
        post_ids = await cache.feed_ids(first, before=None, count=settings.feed_max_length)
        celebs = await cache.celebs(first)
        ttl = max(int(settings.inactive_after_days * 86_400), 1)
        queue = list(follower_ids)

        async def worker(mine: Sequence[int]) -> None:
            for user_id in mine:
                await cache.install(user_id, post_ids, celebs)
                await cache.touch(user_id, ttl_seconds=ttl)
                advance(1)

        await asyncio.gather(*(worker(queue[i::concurrency]) for i in range(concurrency)))
    finally:
        await redis.aclose()
        await engine.dispose()


class _NoPosts:
    """Hydration is never asked for: the loader reads no page."""

    async def batch_get(self, viewer_id: int, post_ids: Sequence[int]) -> list[post_pb2.Post]:
        raise NotImplementedError("the loader reads no page")

    async def viewer_flags(
        self, viewer_id: int, post_ids: Sequence[int]
    ) -> tuple[set[int], set[int], set[int]]:
        raise NotImplementedError("the loader reads no page")


async def seed_big_authors(
    authors: Sequence[BigAuthor],
    *,
    seed: int,
    id_shard: int,
    phase: Phase,
    progress: Progress,
    post: Callable[[str, str], Awaitable[list[int]]],
    drain_groups: Sequence[str] = (FEED_GROUP, NOTIFY_GROUP),
) -> BigResult:
    """Create the big authors and their followers through the stores, have every author post
    through `post(username, password)`, wait for the bus, make every follower active."""
    user_settings, graph_settings, feed_settings = UserSettings(), GraphSettings(), FeedSettings()
    ids = IdGenerator(id_shard)
    hasher = _hasher(user_settings)
    shared_hash = await asyncio.to_thread(hasher.hash, follower_password(seed))
    author_hashes = [await asyncio.to_thread(hasher.hash, a.password) for a in authors]
    user_engine = db.create_engine("user_svc", user_settings, user_settings.database_url)
    graph_engine = db.create_engine("graph_svc", graph_settings, graph_settings.database_url)
    rates: dict[str, float] = {}
    try:
        users = user_store.SqlUserStore(
            user_engine, outbox=Outbox(user_store.outbox, producer="user_svc", ids=ids)
        )
        graph = graph_store.SqlGraphStore(
            graph_engine, outbox=Outbox(graph_store.outbox, producer="graph_svc", ids=ids)
        )
        author_ids = await _create_accounts(
            users,
            ids,
            [a.username for a in authors],
            lambda i: author_hashes[i],
            phase("big authors", len(authors)),
        )
        total = sum(len(a.followers) for a in authors)
        started = time.perf_counter()
        advance = phase("big: follower accounts", total)
        follower_ids: list[list[int]] = []
        for author in authors:
            follower_ids.append(
                await _create_accounts(
                    users, ids, author.followers, lambda _i: shared_hash, advance
                )
            )
        rates["big: follower accounts"] = round(total / (time.perf_counter() - started), 1)
        started = time.perf_counter()
        advance = phase("big: follows", total)
        for author_id, followers in zip(author_ids, follower_ids, strict=True):
            await _create_follows(graph, ids, [(f, author_id) for f in followers], advance)
        rates["big: follows"] = round(total / (time.perf_counter() - started), 1)
        outboxes = [(user_engine, user_store.outbox), (graph_engine, graph_store.outbox)]
        waited = await wait_for_drain(
            outboxes, settings=feed_settings, progress=progress, groups=drain_groups
        )
        rates["big: follow events drained (s)"] = round(waited, 1)
        posted: list[list[int]] = []
        for author in authors:
            posted.append(await post(author.username, author.password))
        await wait_for_drain(
            outboxes, settings=feed_settings, progress=progress, groups=drain_groups
        )
        started = time.perf_counter()
        if feed_settings.redis_url:
            advance = phase("big: followers active (cache)", total)
            for author_id, followers in zip(author_ids, follower_ids, strict=True):
                await activate_in_cache(feed_settings, author_id, followers, advance)
            rates["big: followers active (cache)"] = round(
                total / (time.perf_counter() - started), 1
            )
        else:
            issuer = auth.TokenIssuer(feed_settings)
            everyone = [f for followers in follower_ids for f in followers]
            await activate(
                feed_settings.feed_svc_addr, issuer, everyone, phase("big: followers read", total)
            )
            rates["big: followers read"] = round(total / (time.perf_counter() - started), 1)
    finally:
        await user_engine.dispose()
        await graph_engine.dispose()
    threshold = feed_settings.celebrity_follower_threshold
    return BigResult(
        authors=[
            {
                "username": author.username,
                "password": author.password,
                "user_id": author_id,
                "followers": len(followers),
                # feed_svc pulls authors with more followers than its threshold (DESIGN §6).
                "pulled": len(followers) > threshold,
                "post_ids": posts,
                "follower_ids": followers,
                "follower_usernames": author.followers,
            }
            for author, author_id, followers, posts in zip(
                authors, author_ids, follower_ids, posted, strict=True
            )
        ],
        rates=rates,
    )


# A whole population in bulk: `shutter bench seed` of the real graph (issue 14). The same
# principle as the big authors above, for every write the RPC seed makes: accounts with their
# profiles, follows, media, posts, likes and comments, each through its service's own store code
# with the events that service's own call would add to its outbox, so every projection (feeds,
# counts, notifications) is built by the normal consumers.


def seed_password(seed: int) -> str:
    """Return the password every account of a bulk-seeded population shares (one argon2 hash)."""
    return f"pw-{seed}-bench"


@dataclass(frozen=True)
class PlannedPost:
    """One post of the plan: its author (an index into the usernames), caption, photo, key."""

    author: int
    caption: str
    image: bytes
    idempotency_key: str


@dataclass(frozen=True)
class PopulationPlan:
    """What to make, by index into `usernames`; a pure function of the seed (bench/seed.py)."""

    usernames: list[str]
    bios: list[str]
    follows: list[tuple[int, int]]  # (follower, followee)
    posts: list[PlannedPost]
    likes: list[tuple[int, int]]  # (post index, liker)
    comments: list[tuple[int, int, str]]  # (post index, commenter, text)


@dataclass
class PopulationResult:
    """What the loader made: every account's id, every post's id, the phase rates."""

    user_ids: list[int]
    post_ids: list[int]
    rates: dict[str, float]


class _KnownFollowing(_OnlyFollowing):
    """What graph_svc answers for accounts whose follows the loader itself just wrote."""

    def __init__(self, following: dict[int, list[int]]) -> None:
        super().__init__(0)
        self._following = following

    async def following_ids(self, user_id: int, *, exclude_muted: bool) -> list[int]:
        return self._following.get(user_id, [])


def _photo_job(settings: MediaSettings, image: bytes, work: Path) -> dict[str, Any]:
    """Run media_svc's own processing job on a photo, in this process (a 64x64 PNG takes a few
    milliseconds: the job process's start-up would cost more than the work)."""
    source, out_dir = work / "source", work / "out"
    out_dir.mkdir(parents=True)
    source.write_bytes(image)
    return media_job.run(
        {
            "source": str(source),
            "out_dir": str(out_dir),
            "kind": "photo",
            "filter": "normal",
            "keep_original": settings.keep_original,
            "transcode": False,
            "memory_mb": settings.media_job_memory_mb,
            "ffmpeg": "",
            "quality": {
                "jpeg": settings.jpeg_quality,
                "original_jpeg": settings.original_jpeg_quality,
                "webp": settings.webp_quality,
            },
            "photo_limits": {
                "max_pixels": settings.photo_max_pixels,
                "max_side": settings.photo_max_side,
            },
            "video_limits": {
                "max_seconds": settings.video_max_seconds,
                "max_side": settings.video_max_side,
            },
        }
    )


async def _create_media(
    store: media_store.SqlMediaStore,
    blobs: media_blobs.BlobStore,
    settings: MediaSettings,
    ids: IdGenerator,
    photos: Sequence[tuple[int, bytes]],
    advance: Callable[[int], None],
) -> list[int]:
    """Process each (owner id, photo) with media_svc's job, store its renditions in media_svc's
    blob store and its record as ready, with the MediaReady event the worker adds; return the
    media ids in order."""
    made: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-media-") as scratch:
        for start in range(0, len(photos), MEDIA_BATCH):
            chunk = photos[start : start + MEDIA_BATCH]
            records = []
            for offset, (owner, image) in enumerate(chunk):
                media_id = ids.next_id()
                work = Path(scratch) / str(media_id)
                result = await asyncio.to_thread(_photo_job, settings, image, work)
                if not result.get("ok"):
                    raise RuntimeError(f"photo {start + offset}: {result}")
                prefix = media_domain.rendition_prefix(media_id, media_domain.new_token())
                renditions = []
                for item in result["renditions"]:
                    file = work / "out" / Path(str(item["file"])).name
                    await blobs.put_file(prefix + file.name, file)
                    renditions.append(
                        media_store.StoredRendition(
                            name=str(item["name"]),
                            key=prefix + file.name,
                            content_type=str(item["content_type"]),
                            width=int(item["width"]),
                            height=int(item["height"]),
                            size=int(item["size"]),
                        )
                    )
                now = datetime.now(UTC)
                records.append(
                    media_store.MediaRecord(
                        media_id=media_id,
                        upload_id=ids.next_id(),
                        owner_user_id=owner,
                        kind="photo",
                        status="ready",
                        content_type="image/png",
                        size_bytes=len(image),
                        incoming_key=f"{media_domain.INCOMING_PREFIX}{media_id}/bulk",
                        expires_at=now,
                        created_at=now,
                        updated_at=now,
                        filter="normal",
                        renditions=renditions,
                        width=int(result["width"]),
                        height=int(result["height"]),
                    )
                )
            async with store.transaction() as tx:
                for record in records:
                    await store.insert_media(tx, record=record)
                await store.outbox.add_many(
                    tx,
                    events=[
                        (
                            r.media_id,
                            media_events.media_ready(
                                media_id=r.media_id, owner_user_id=r.owner_user_id, is_video=False
                            ),
                        )
                        for r in records
                    ],
                )
            made += [r.media_id for r in records]
            advance(len(chunk))
    return made


async def _existing_posts(
    store: post_store.SqlPostStore, wanted: Sequence[tuple[int, str]]
) -> dict[int, int]:
    """Return, by index, the posts of (author id, idempotency key) that exist already (seeded
    before with the same seed)."""
    found: dict[int, int] = {}
    async with store.transaction() as tx:
        for k, (author_id, key) in enumerate(wanted):
            earlier = await store.get_post_by_key(tx, author_id=author_id, idempotency_key=key)
            if earlier is not None:
                found[k] = earlier[0].post_id
    return found


async def _create_posts(
    store: post_store.SqlPostStore,
    ids: IdGenerator,
    posts: Sequence[tuple[int, str, int, str]],
    advance: Callable[[int], None],
) -> list[post_store.PostRecord]:
    """Insert posts (author id, caption, media id, idempotency key) in batched transactions,
    each with its PostCreated event (hashtags and the author's post count as CreatePost keeps
    them); return the records in order."""
    made: list[post_store.PostRecord] = []
    for start in range(0, len(posts), BATCH):
        chunk = posts[start : start + BATCH]
        records = []
        for author_id, caption, media_id, key in chunk:
            parsed = post_text.parse("caption", caption, required=False)
            records.append(
                post_store.PostRecord(
                    post_id=ids.next_id(),
                    author_id=author_id,
                    caption=parsed.text,
                    hashtags=parsed.hashtags,
                    mentions=(),
                    media_ids=(media_id,),
                    location=None,
                    place_id=None,
                    created_at=datetime.now(UTC),
                    idempotency_key=key,
                    request_hash=post_domain.request_hash([media_id], parsed.text, None),
                )
            )
        async with store.transaction() as tx:
            for record in records:
                await store.insert_post(tx, post=record)
            await store.outbox.add_many(
                tx,
                events=[
                    (r.post_id, post_events.post_created(r, author_is_private=False))
                    for r in records
                ],
            )
        made += records
        advance(len(chunk))
    return made


async def _create_engagement(
    store: post_store.SqlPostStore,
    engagement: post_store.SqlEngagementStore,
    ids: IdGenerator,
    likes: Sequence[tuple[post_store.PostRecord, int]],
    comments: Sequence[tuple[post_store.PostRecord, int, str]],
    advance: Callable[[int], None],
) -> int:
    """Insert likes (post, liker id) and top-level comments (post, author id, text), counted,
    each new one with the PostLiked or CommentCreated event LikePost and CreateComment add;
    return how many were new."""
    added = 0
    for start in range(0, len(likes), BATCH):
        chunk = likes[start : start + BATCH]
        now = datetime.now(UTC)
        async with store.transaction() as tx:
            new = []
            for post, liker in chunk:
                if await engagement.add_like(
                    tx, post_id=post.post_id, user_id=liker, like_id=ids.next_id(), at=now
                ):
                    new.append((post.post_id, post_events.post_liked(post, liker_id=liker, at=now)))
            await store.outbox.add_many(tx, events=new)
        added += len(new)
        advance(len(chunk))
    for start in range(0, len(comments), BATCH):
        part = comments[start : start + BATCH]
        async with store.transaction() as tx:
            made = []
            for post, author, body in part:
                comment = post_store.CommentRecord(
                    comment_id=ids.next_id(),
                    post_id=post.post_id,
                    author_id=author,
                    parent_comment_id=0,
                    text=post_text.parse("text", body, required=True).text,
                    mentions=(),
                    created_at=datetime.now(UTC),
                )
                await engagement.add_comment(tx, comment=comment)
                made.append(
                    (
                        post.post_id,
                        post_events.comment_created(
                            comment, post_author_id=post.author_id, parent_author_id=0
                        ),
                    )
                )
            await store.outbox.add_many(tx, events=made)
        added += len(made)
        advance(len(part))
    return added


async def activate_all(
    settings: FeedSettings,
    following: dict[int, list[int]],
    advance: Callable[[int], None],
    *,
    concurrency: int = CACHE_CONCURRENCY,
) -> None:
    """Build every account's feed from feed_svc's projection with feed_svc's own `rebuild` (the
    loader knows each one's follows) and mark it active, as a first read does."""
    engine = db.create_engine("feed_svc", settings, settings.database_url)
    redis = create_redis(settings)
    try:
        cache = FeedCache(
            redis, max_length=settings.feed_max_length, recent_length=settings.author_recent_posts
        )
        feeds = Feeds(cache, SqlFeedStore(engine), _KnownFollowing(following), _NoPosts(), settings)
        ttl = max(int(settings.inactive_after_days * 86_400), 1)
        queue = list(following)

        async def worker(mine: Sequence[int]) -> None:
            for user_id in mine:
                await feeds.rebuild(user_id)
                await cache.touch(user_id, ttl_seconds=ttl)
                advance(1)

        await asyncio.gather(*(worker(queue[i::concurrency]) for i in range(concurrency)))
    finally:
        await redis.aclose()
        await engine.dispose()


READY_TIMEOUT_SECONDS = 120.0


async def wait_ready(addresses: Sequence[str], *, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    """Wait until every service answers its health Check with SERVING: a service serves only
    once its schema is migrated, and the loader writes into that schema (the edge may answer
    before them)."""
    deadline = time.perf_counter() + timeout
    request = health_pb2.HealthCheckRequest(service="")
    for address in addresses:
        async with aio.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                try:
                    reply = await health.Check(request, timeout=5)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except aio.AioRpcError:
                    pass
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{address} did not become ready within {timeout:g}s")
                await asyncio.sleep(0.5)


async def seed_population(
    plan: PopulationPlan,
    *,
    seed: int,
    id_shard: int,
    phase: Phase,
    progress: Progress,
    drain_groups: Sequence[str] = (FEED_GROUP, NOTIFY_GROUP),
    activate_feeds: bool = True,
) -> PopulationResult:
    """Make the planned population through the stores (see above), in this order: accounts and
    follows; once feed_svc has every follow, every account active with a built feed (so posts
    are pushed to them, the normal fan-out); then media, posts, likes and comments; then wait
    until the drain groups have every event."""
    user_settings, graph_settings = UserSettings(), GraphSettings()
    media_settings, post_settings, feed_settings = MediaSettings(), PostSettings(), FeedSettings()
    ids = IdGenerator(id_shard)
    await wait_ready(
        [
            user_settings.user_svc_addr,
            user_settings.graph_svc_addr,
            user_settings.media_svc_addr,
            user_settings.post_svc_addr,
            user_settings.feed_svc_addr,
            user_settings.notify_svc_addr,
        ]
    )
    shared_hash = await asyncio.to_thread(_hasher(user_settings).hash, seed_password(seed))
    engines = {
        name: db.create_engine(name, settings, settings.database_url)
        for name, settings in (
            ("user_svc", user_settings),
            ("graph_svc", graph_settings),
            ("media_svc", media_settings),
            ("post_svc", post_settings),
        )
    }
    blobs = await media_servicer.open_blob_store(media_settings)
    rates: dict[str, float] = {}

    def timed(name: str, started: float, count: int) -> None:
        rates[name] = round(count / max(time.perf_counter() - started, 1e-9), 1)

    try:
        users = user_store.SqlUserStore(
            engines["user_svc"], outbox=Outbox(user_store.outbox, producer="user_svc", ids=ids)
        )
        graph = graph_store.SqlGraphStore(
            engines["graph_svc"], outbox=Outbox(graph_store.outbox, producer="graph_svc", ids=ids)
        )
        media = media_store.SqlMediaStore(
            engines["media_svc"], outbox=Outbox(media_store.outbox, producer="media_svc", ids=ids)
        )
        posts = post_store.SqlPostStore(
            engines["post_svc"], outbox=Outbox(post_store.outbox, producer="post_svc", ids=ids)
        )
        engagement = post_store.SqlEngagementStore(
            engines["post_svc"], shards=post_settings.counter_shards
        )
        outboxes = [
            (engines["user_svc"], user_store.outbox),
            (engines["graph_svc"], graph_store.outbox),
            (engines["media_svc"], media_store.outbox),
            (engines["post_svc"], post_store.outbox),
        ]
        started = time.perf_counter()
        user_ids = await _create_accounts(
            users,
            ids,
            plan.usernames,
            lambda _i: shared_hash,
            phase("accounts (bulk)", len(plan.usernames)),
            bios=plan.bios,
        )
        timed("accounts (bulk)", started, len(plan.usernames))
        started = time.perf_counter()
        pairs = [(user_ids[a], user_ids[b]) for a, b in plan.follows]
        await _create_follows(graph, ids, pairs, phase("follows (bulk)", len(pairs)))
        timed("follows (bulk)", started, len(pairs))
        started = time.perf_counter()
        feed_addr = {"feed_svc": feed_settings.feed_svc_addr}
        cpu_before = cost.cpu_seconds(feed_addr)
        await wait_for_drain(
            outboxes, settings=feed_settings, progress=progress, groups=(FEED_GROUP,)
        )
        rates["follow events done by feed_svc (s)"] = round(time.perf_counter() - started, 1)
        cpu_after = cost.cpu_seconds(feed_addr)
        if pairs and "feed_svc" in cpu_before and "feed_svc" in cpu_after:
            # What a quiet machine's drain would take: feed_svc's CPU per follow event (its
            # process, found by its port; on the embedded mesh, the whole mesh's process).
            spent = cpu_after["feed_svc"] - cpu_before["feed_svc"]
            rates["feed_svc CPU ms per follow event"] = round(1000 * spent / len(pairs), 3)
        following: dict[int, list[int]] = {u: [] for u in user_ids}
        for follower, followee in pairs:
            following[follower].append(followee)
        if activate_feeds:
            started = time.perf_counter()
            advance = phase("feeds built and active", len(user_ids))
            if feed_settings.redis_url:
                await activate_all(feed_settings, following, advance)
            else:
                # The embedded mesh's Redis lives in its own process: its own read path.
                await activate(
                    feed_settings.feed_svc_addr, auth.TokenIssuer(feed_settings), user_ids, advance
                )
            timed("feeds built and active", started, len(user_ids))
        keys = [(user_ids[p.author], p.idempotency_key) for p in plan.posts]
        existing = await _existing_posts(posts, keys)
        todo = [k for k in range(len(plan.posts)) if k not in existing]
        started = time.perf_counter()
        media_ids = await _create_media(
            media,
            blobs,
            media_settings,
            ids,
            [(user_ids[plan.posts[k].author], plan.posts[k].image) for k in todo],
            phase("media (bulk)", len(todo)),
        )
        timed("media (bulk)", started, len(todo))
        started = time.perf_counter()
        made = await _create_posts(
            posts,
            ids,
            [
                (user_ids[plan.posts[k].author], plan.posts[k].caption, m, keys[k][1])
                for k, m in zip(todo, media_ids, strict=True)
            ],
            phase("posts (bulk)", len(todo)),
        )
        timed("posts (bulk)", started, len(todo))
        records: dict[int, post_store.PostRecord] = dict(zip(todo, made, strict=True))
        if existing:
            async with posts.transaction() as tx:
                for k, post_id in existing.items():
                    found = await posts.get_post(tx, post_id=post_id)
                    if found is not None:
                        records[k] = found
        started = time.perf_counter()
        count = len(plan.likes) + len(plan.comments)
        await _create_engagement(
            posts,
            engagement,
            ids,
            [(records[k], user_ids[who]) for k, who in plan.likes],
            [(records[k], user_ids[who], body) for k, who, body in plan.comments],
            phase("likes and comments (bulk)", count),
        )
        timed("likes and comments (bulk)", started, count)
        started = time.perf_counter()
        await wait_for_drain(
            outboxes, settings=feed_settings, progress=progress, groups=drain_groups
        )
        rates["every event done by the consumers (s)"] = round(time.perf_counter() - started, 1)
    finally:
        await blobs.close()
        for engine in engines.values():
            await engine.dispose()
    return PopulationResult(
        user_ids=user_ids,
        post_ids=[records[k].post_id for k in range(len(plan.posts))],
        rates=rates,
    )
