"""The read model: what feed_svc serves posts from, in Redis, kept by events (no grpc here).

feed_svc owns it (docs/read-model.md): post_svc stays the source of truth, and feed_svc keeps a
denormalised copy of the viewer-independent part of every post it serves, maintained from
post_svc's, user_svc's and media_svc's events and read through from post_svc on a miss.

Keys (each carries one hash tag, so no command spans two Redis Cluster slots):

- `rm:post:{p:<id>}`: the post's viewer-independent part, a serialized `Post` whose author is
  only `user_id`, with no counts and no viewer flags; `-` marks a deleted post (a tombstone the
  read-through never overwrites, since it writes with NX).
- `rm:user:{u:<id>}`: the author's `UserSummary`, composed into posts at read time, so a
  profile change rewrites one key.
- `rm:n:{p:<id>}`: the counts, `<version>:<likes>:<comments>:<views>` (views: a reel's; a
  value kept before views were counted has no fourth field), the version being how many
  engagement events feed_svc's projection applied (a newer version replaces an older one only).
- `rm:likes:{u:<viewer>}`, `rm:saves:{u:<viewer>}`: the viewer's own flags, a hash of post id
  to `<event id>:<0|1>`, plus the horizon `~h`: a post newer than the horizon that is not in the
  hash is not liked (saved), because every like of it came after the hash existed and events
  write into the hash; older posts not in it are asked of post_svc once. Bounded: at most
  `flags_max_entries` fields (then the hash starts again) and `flags_ttl_seconds` idle.
- `rm:hide:{u:<viewer>}`: the accounts the viewer blocked (`b:<id>`) or was blocked by
  (`by:<id>`): their posts are never served to the viewer, even one a fan-out in flight at the
  moment of the block pushed after the block's clean-up.
- `rm:media:{m:<id>}`: the post a piece of media belongs to (to drop it when it is deleted).
- `rm:lock:{p:<id>}`: one reader across processes reads a missing post through; others wait.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import redis.asyncio as aioredis

from mesh.ids import id_at
from shutter.post.v1 import post_pb2
from shutter.user.v1 import user_pb2

TOMBSTONE = b"-"
HORIZON = b"~h"
ZERO_VERSION = "0" * 19
# A post id made by post_svc's clock this much ahead of feed_svc's still counts as older than a
# flags hash created now (so it is asked of post_svc rather than assumed not liked).
CLOCK_MARGIN = timedelta(seconds=5)

# Write one viewer flag. KEYS[1]: the flags hash. ARGV: field (post id), version (19 digits),
# ARGV[1] is the mode.
# "e" (an event): field (post id), version (19 digits), value (0/1), horizon (19 digits, set
# when the hash is created here), ttl seconds, maximum size; the field is replaced unless it
# holds a version at least as new.
# "f" (a fill from the source of truth): horizon, ttl, maximum size, then field/value pairs,
# written only where absent (an event's answer is never overwritten by a fill).
# A hash that would outgrow its maximum size starts again (with a new horizon).
_FLAGS = """
local key = KEYS[1]
if ARGV[1] == 'e' then
  if redis.call('HLEN', key) >= tonumber(ARGV[7]) then redis.call('DEL', key) end
  if redis.call('EXISTS', key) == 0 then redis.call('HSET', key, '~h', ARGV[5]) end
  local old = redis.call('HGET', key, ARGV[2])
  if old and string.sub(old, 1, 19) >= ARGV[3] then return 0 end
  redis.call('HSET', key, ARGV[2], ARGV[3] .. ':' .. ARGV[4])
  redis.call('EXPIRE', key, ARGV[6])
  return 1
end
if redis.call('HLEN', key) + (#ARGV - 4) / 2 > tonumber(ARGV[4]) then redis.call('DEL', key) end
if redis.call('EXISTS', key) == 0 then redis.call('HSET', key, '~h', ARGV[2]) end
for i = 5, #ARGV, 2 do
  redis.call('HSETNX', key, ARGV[i], '0000000000000000000:' .. ARGV[i + 1])
end
redis.call('EXPIRE', key, ARGV[3])
return 1
"""

# Write a post's counts unless the key holds a version at least as new. KEYS[1]: the counts key.
# ARGV: version (19 digits), likes, comments, views, ttl seconds.
_COUNTS = """
local old = redis.call('GET', KEYS[1])
if old and string.sub(old, 1, 19) >= ARGV[1] then return 0 end
local value = ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4]
redis.call('SET', KEYS[1], value, 'EX', ARGV[5])
return 1
"""


# Replace a kept post. KEYS[1]: the post key. ARGV: the new value, the tombstone. An absent key
# or a tombstone stays as it is.
_REPLACE = """
local old = redis.call('GET', KEYS[1])
if (not old) or old == ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
return 1
"""


def post_key(post_id: int) -> str:
    """Return the key of a post's viewer-independent part."""
    return f"rm:post:{{p:{post_id}}}"


def counts_key(post_id: int) -> str:
    """Return the key of a post's like, comment and view counts."""
    return f"rm:n:{{p:{post_id}}}"


def lock_key(post_id: int) -> str:
    """Return the key of the lock one reader holds while reading a post through."""
    return f"rm:lock:{{p:{post_id}}}"


def author_key(user_id: int) -> str:
    """Return the key of an account's summary as posts show it."""
    return f"rm:user:{{u:{user_id}}}"


def likes_key(viewer_id: int) -> str:
    """Return the key of a viewer's like flags."""
    return f"rm:likes:{{u:{viewer_id}}}"


def saves_key(viewer_id: int) -> str:
    """Return the key of a viewer's save flags."""
    return f"rm:saves:{{u:{viewer_id}}}"


def hidden_key(viewer_id: int) -> str:
    """Return the key of the accounts a viewer blocked or was blocked by."""
    return f"rm:hide:{{u:{viewer_id}}}"


def media_key(media_id: int) -> str:
    """Return the key naming the post a piece of media is part of."""
    return f"rm:media:{{m:{media_id}}}"


def _version(value: int) -> str:
    return f"{value:019d}"


class Source(Protocol):
    """post_svc's BatchGetPosts, the source of truth the read model reads through."""

    async def batch_get(self, viewer_id: int, post_ids: Sequence[int]) -> list[post_pb2.Post]: ...


class Directory(Protocol):
    """user_svc's account summaries."""

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]: ...


class Counter(Protocol):
    """feed_svc's own projection of the counts (exact, kept from events)."""

    async def counts(self, post_ids: Sequence[int]) -> dict[int, tuple[int, int, int, int]]:
        """Return (version, likes, comments, views) of each of these posts that has any."""
        ...


@dataclass(frozen=True)
class Limits:
    """How long and how much the read model keeps."""

    post_ttl_seconds: int
    author_ttl_seconds: int
    flags_ttl_seconds: int
    flags_max_entries: int
    fill_lock_seconds: float
    fill_wait_seconds: float


def _flag(raw: bytes | None, post_id: int, horizon: int | None) -> bool | None:
    """Return a flag from its hash field: None when the hash cannot tell (ask post_svc)."""
    if raw is not None:
        return raw[-1:] == b"1"
    if horizon is not None and post_id > horizon:
        return False
    return None


class ReadModel:
    """Posts as feed_svc serves them: composed from Redis, read through on a miss."""

    def __init__(
        self,
        client: aioredis.Redis | Any,
        *,
        source: Source,
        directory: Directory,
        counter: Counter,
        limits: Limits,
        clock: Any = lambda: datetime.now(UTC),
    ) -> None:
        self._redis: Any = client
        self._cluster = isinstance(client, aioredis.RedisCluster)
        self._source = source
        self._directory = directory
        self._counter = counter
        self._limits = limits
        self._clock = clock
        self._flags = client.register_script(_FLAGS)
        self._counts = client.register_script(_COUNTS)
        self._replace = client.register_script(_REPLACE)
        self.fills = 0  # posts read through from post_svc by this process (tests, metrics)

    # -- reading -------------------------------------------------------------------------------

    async def _mget(self, keys: list[str]) -> list[Any]:
        if not keys:
            return []
        if self._cluster:
            return list(await self._redis.mget_nonatomic(keys))
        return list(await self._redis.mget(keys))

    async def _read(
        self, viewer: int, post_ids: list[int]
    ) -> tuple[list[Any], list[Any], list[Any], list[Any], set[int]]:
        """One round trip: the posts, their counts, the viewer's flags and hidden accounts."""
        fields: list[bytes | str] = [HORIZON, *(str(p) for p in post_ids)]
        if self._cluster:
            views, counts = await asyncio.gather(
                self._mget([post_key(p) for p in post_ids]),
                self._mget([counts_key(p) for p in post_ids]),
            )
            # One slot (the viewer's): one transaction-free pipeline on its node.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hmget(likes_key(viewer), fields)
                pipe.hmget(saves_key(viewer), fields)
                pipe.smembers(hidden_key(viewer))
                liked, saved, hidden = await pipe.execute()
        else:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.mget([post_key(p) for p in post_ids])
                pipe.mget([counts_key(p) for p in post_ids])
                pipe.hmget(likes_key(viewer), fields)
                pipe.hmget(saves_key(viewer), fields)
                pipe.smembers(hidden_key(viewer))
                views, counts, liked, saved, hidden = await pipe.execute()
        return views, counts, liked, saved, {int(h.split(b":")[1]) for h in hidden}

    async def posts(self, viewer: int, post_ids: Sequence[int]) -> list[post_pb2.Post]:
        """Return these posts as the viewer sees them, in order, leaving out deleted ones and
        ones post_svc no longer shows the viewer when it was asked (on a miss)."""
        ids = list(dict.fromkeys(post_ids))
        if not ids:
            return []
        raw_views, raw_counts, liked_raw, saved_raw, hidden = await self._read(viewer, ids)
        like_h = int(liked_raw[0]) if liked_raw[0] is not None else None
        save_h = int(saved_raw[0]) if saved_raw[0] is not None else None
        views: dict[int, post_pb2.Post] = {}
        flags: dict[int, tuple[bool, bool]] = {}
        ask: list[int] = []  # posts whose view or flags only post_svc can give
        missing_views: list[int] = []
        for i, post_id in enumerate(ids):
            raw = raw_views[i]
            if raw == TOMBSTONE:
                continue
            like = _flag(liked_raw[i + 1], post_id, like_h)
            save = _flag(saved_raw[i + 1], post_id, save_h)
            if raw is None:
                missing_views.append(post_id)
            else:
                views[post_id] = post_pb2.Post.FromString(raw)
            if like is None or save is None:
                ask.append(post_id)
            else:
                flags[post_id] = (like, save)
        if missing_views or ask:
            await self._read_through(viewer, missing_views, ask, views, flags)
        author_ids = list(dict.fromkeys(v.user.user_id for v in views.values()))
        authors = await self._authors(author_ids)
        counts = self._parse_counts(ids, raw_counts)
        lacking = [p for p in views if p not in counts]
        if lacking:
            counts.update(await self._fill_counts(lacking))
        answer: list[post_pb2.Post] = []
        for post_id in ids:
            view = views.get(post_id)
            author = authors.get(view.user.user_id) if view is not None else None
            if view is None or author is None or post_id not in flags or author.user_id in hidden:
                continue
            view.user.CopyFrom(author)
            view.like_count, view.comment_count, view.view_count = counts.get(post_id, (0, 0, 0))
            view.has_liked, view.has_saved = flags[post_id]
            answer.append(view)
        return answer

    @staticmethod
    def _parse_counts(ids: list[int], raw: list[Any]) -> dict[int, tuple[int, int, int]]:
        found: dict[int, tuple[int, int, int]] = {}
        for post_id, value in zip(ids, raw, strict=True):
            if value is not None:
                _, likes, comments, *views = value.split(b":")
                found[post_id] = (int(likes), int(comments), int(views[0]) if views else 0)
        return found

    async def _authors(self, author_ids: list[int]) -> dict[int, user_pb2.UserSummary]:
        raw = await self._mget([author_key(a) for a in author_ids])
        found = {
            a: user_pb2.UserSummary.FromString(r)
            for a, r in zip(author_ids, raw, strict=True)
            if r is not None
        }
        missing = [a for a in author_ids if a not in found]
        if missing:
            fresh = await self._directory.summaries(missing)
            await self._store_authors(fresh.values(), overwrite=False)
            found.update(fresh)
        return found

    async def _store_authors(self, summaries: Any, *, overwrite: bool) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for summary in summaries:
                pipe.set(
                    author_key(summary.user_id),
                    summary.SerializeToString(),
                    ex=self._limits.author_ttl_seconds,
                    nx=not overwrite,
                )
            await pipe.execute()

    async def _fill_counts(self, post_ids: list[int]) -> dict[int, tuple[int, int, int]]:
        """Read counts from feed_svc's projection and keep them, unless events were faster."""
        found = await self._counter.counts(post_ids)
        answer: dict[int, tuple[int, int, int]] = {}
        for post_id in post_ids:
            version, likes, comments, views = found.get(post_id, (0, 0, 0, 0))
            await self.set_counts(
                post_id, version=version, likes=likes, comments=comments, views=views
            )
            answer[post_id] = (likes, comments, views)
        return answer

    async def _read_through(
        self,
        viewer: int,
        missing_views: list[int],
        ask: list[int],
        views: dict[int, post_pb2.Post],
        flags: dict[int, tuple[bool, bool]],
    ) -> None:
        """Ask post_svc once for the posts the read model lacks (one reader per post across
        processes: the others wait for it) and for flags it cannot tell."""
        held: list[int] = []
        waiting: list[int] = []
        token = secrets.token_hex(8)
        if missing_views:
            ttl = int(self._limits.fill_lock_seconds * 1000)
            async with self._redis.pipeline(transaction=False) as pipe:
                for post_id in missing_views:
                    pipe.set(lock_key(post_id), token, nx=True, px=ttl)
                taken = await pipe.execute()
            for post_id, got in zip(missing_views, taken, strict=True):
                # Another reader is filling it: wait for it unless post_svc is asked anyway.
                (held if got or post_id in ask else waiting).append(post_id)
        if waiting:
            deadline = time.monotonic() + self._limits.fill_wait_seconds
            while waiting and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
                raw = await self._mget([post_key(p) for p in waiting])
                still = []
                for post_id, value in zip(waiting, raw, strict=True):
                    if value is None:
                        still.append(post_id)
                    elif value != TOMBSTONE:
                        views[post_id] = post_pb2.Post.FromString(value)
                waiting = still
        wanted = list(dict.fromkeys([*held, *waiting, *ask]))
        try:
            found = await self._source.batch_get(viewer, wanted) if wanted else []
            self.fills += len(found)
            await self._keep(viewer, found, ask)
        finally:
            if held:
                await self._unlock(held, token)
        asked = set(ask)
        for post in found:
            if post.post_id in asked:
                flags[post.post_id] = (post.has_liked, post.has_saved)
            views[post.post_id] = _independent(post)
        # A post post_svc did not answer is deleted or hidden from this viewer: not shown now.
        answered = {p.post_id for p in found}
        for post_id in wanted:
            if post_id not in answered:
                views.pop(post_id, None)

    async def _keep(self, viewer: int, found: list[post_pb2.Post], asked: list[int]) -> None:
        """Store what post_svc answered: views and authors where absent, flags where unknown."""
        ttl = self._limits.post_ttl_seconds
        async with self._redis.pipeline(transaction=False) as pipe:
            for post in found:
                # NX: a tombstone or an event's newer copy written meanwhile wins.
                pipe.set(
                    post_key(post.post_id), _independent(post).SerializeToString(), ex=ttl, nx=True
                )
                for media in post.media:
                    pipe.set(media_key(media.media_id), str(post.post_id), ex=ttl)
            await pipe.execute()
        # Authors are not kept from this answer: post_svc may remember a summary for a few
        # seconds, and a stale one kept here would outlive a profile change. user_svc fills them.
        wanted = set(asked)
        answered = [p for p in found if p.post_id in wanted]
        if answered:
            horizon = _version(id_at(self._clock() + CLOCK_MARGIN))
            for key, attr in ((likes_key(viewer), "has_liked"), (saves_key(viewer), "has_saved")):
                pairs: list[str] = []
                for post in answered:
                    pairs += [str(post.post_id), "1" if getattr(post, attr) else "0"]
                await self._flags(
                    keys=[key],
                    args=[
                        "f",
                        horizon,
                        self._limits.flags_ttl_seconds,
                        self._limits.flags_max_entries,
                        *pairs,
                    ],
                )

    async def _unlock(self, post_ids: list[int], token: str) -> None:
        raw = await self._mget([lock_key(p) for p in post_ids])
        mine = [p for p, v in zip(post_ids, raw, strict=True) if v == token.encode()]
        if mine:
            async with self._redis.pipeline(transaction=False) as pipe:
                for post_id in mine:
                    pipe.delete(lock_key(post_id))
                await pipe.execute()

    # -- writing (events) ----------------------------------------------------------------------

    async def store_post(self, post: post_pb2.Post) -> None:
        """Keep a post post_svc just answered (at creation), unless one is already kept."""
        await self._keep(0, [post], [])

    async def tombstone(self, post_id: int) -> None:
        """Mark a post deleted: every read leaves it out from now on."""
        await self._redis.set(post_key(post_id), TOMBSTONE, ex=self._limits.post_ttl_seconds)

    async def set_counts(
        self, post_id: int, *, version: int, likes: int, comments: int, views: int = 0
    ) -> None:
        """Keep a post's counts, unless a newer version is kept already."""
        await self._counts(
            keys=[counts_key(post_id)],
            args=[_version(version), likes, comments, views, self._limits.post_ttl_seconds],
        )

    async def set_flag(
        self,
        *,
        viewer: int,
        post_id: int,
        liked: bool | None = None,
        saved: bool | None = None,
        version: int,
    ) -> None:
        """Record a viewer's like or save of a post as of an event, unless a newer one is kept."""
        horizon = _version(id_at(self._clock() + CLOCK_MARGIN))
        for key, value in ((likes_key(viewer), liked), (saves_key(viewer), saved)):
            if value is None:
                continue
            await self._flags(
                keys=[key],
                args=[
                    "e",
                    str(post_id),
                    _version(version),
                    "1" if value else "0",
                    horizon,
                    self._limits.flags_ttl_seconds,
                    self._limits.flags_max_entries,
                ],
            )

    async def block(self, *, blocker: int, blocked: int, blocking: bool) -> None:
        """Record (or, with blocking False, lift) a block: each one's posts are never served
        to the other while it holds."""
        async with self._redis.pipeline(transaction=False) as pipe:
            if blocking:
                pipe.sadd(hidden_key(blocker), f"b:{blocked}")
                pipe.sadd(hidden_key(blocked), f"by:{blocker}")
            else:
                pipe.srem(hidden_key(blocker), f"b:{blocked}")
                pipe.srem(hidden_key(blocked), f"by:{blocker}")
            await pipe.execute()

    async def refresh_author(self, user_id: int) -> None:
        """Replace an account's summary with user_svc's answer now (after a profile change)."""
        fresh = await self._directory.summaries([user_id])
        if user_id in fresh:
            await self._store_authors([fresh[user_id]], overwrite=True)
        else:
            await self._redis.delete(author_key(user_id))

    async def post_of_media(self, media_id: int) -> int | None:
        """Return the kept post a piece of media is shown in, if any."""
        raw = await self._redis.get(media_key(media_id))
        return int(raw) if raw is not None else None

    async def refresh_post(self, post: post_pb2.Post) -> None:
        """Replace a kept post with post_svc's fresh answer (never a tombstone, never a post
        no longer kept: a reader reads that through)."""
        await self._replace(
            keys=[post_key(post.post_id)], args=[_independent(post).SerializeToString(), TOMBSTONE]
        )

    async def media_deleted(self, media_id: int) -> None:
        """Take a deleted piece of media out of the post that showed it."""
        raw = await self._redis.get(media_key(media_id))
        if raw is None:
            return
        key = post_key(int(raw))
        view_raw: bytes | None = await self._redis.get(key)
        if view_raw is None or view_raw == TOMBSTONE:
            return
        view = post_pb2.Post.FromString(view_raw)
        kept = [m for m in view.media if m.media_id != media_id]
        if len(kept) != len(view.media):
            del view.media[:]
            view.media.extend(kept)
            await self._redis.set(key, view.SerializeToString(), xx=True, keepttl=True)


def _independent(post: post_pb2.Post) -> post_pb2.Post:
    """Return the viewer-independent part of a hydrated post: author id only, no counts, no
    viewer flags."""
    view = post_pb2.Post()
    view.CopyFrom(post)
    view.user.Clear()
    view.user.user_id = post.user.user_id
    view.like_count = 0
    view.comment_count = 0
    view.view_count = 0
    view.has_liked = False
    view.has_saved = False
    return view
