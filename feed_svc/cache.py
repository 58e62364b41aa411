"""The feed cache in Redis: home feeds, per-author recent posts, activity marks, snapshots, locks.

Every key of one user carries the hash tag `{u:<id>}` and every key of one author `{a:<id>}`, so
no command and no MULTI block ever spans two Redis Cluster slots; pipelines that touch many users
are split per node by the cluster client.

A feed is a sorted set whose members are post ids written as 19-digit zero-padded decimals, all
with score 0: Redis then orders them lexicographically, which is numeric order, exactly. (Scores
are doubles, which cannot hold a 64-bit id exactly, so score = post id would misorder posts made
in the same millisecond and make cursors inexact.) The member `~` sorts above every id and marks a
feed that was built: a key without it (evicted, flushed, never built, or written by a fan-out that
raced a drop) is rebuilt from the source of truth on read.

Fan-out runs server-side: one Lua script call checks, adds and trims the feeds of a whole batch of
followers, so the per-follower work is Redis's rather than the client's (about 5 commands each
through redis-py otherwise). A script's keys must share one Redis Cluster slot, so on a cluster
the followers are grouped by slot and each group is one script call in a pipeline.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import NoScriptError

SENTINEL = b"~"
_TOP = b"(~"

# Push one post into many feeds. KEYS: per user, its seen, feed, celebs and separated keys (in
# that order). ARGV: the post's member, the feed's max length, the post's author and the fan-out's
# start (Redis clock, microseconds). A user who read lately (seen) and whose feed is built (has
# the sentinel) gets the post, unless they left the author (unfollow, mute, block) since the
# fan-out started, that is after it read its follower list: that user's clean-up may have run
# before this write, so the post would stay. Then the feed is trimmed to the newest max_length
# ids and the sentinel; the built feed of a user who went quiet is dropped, to be rebuilt when
# they return. Returns how many feeds got the post. ZADD of a member already there changes
# nothing, so a redelivered event lands once.
_FAN_OUT = """
local member = ARGV[1]
local keep = tonumber(ARGV[2]) + 1
local author = ARGV[3]
local since = tonumber(ARGV[4])
local added = 0
for i = 1, #KEYS, 4 do
  local feed = KEYS[i + 1]
  if redis.call('ZSCORE', feed, '~') then
    if redis.call('EXISTS', KEYS[i]) == 1 then
      local left = redis.call('HGET', KEYS[i + 3], author)
      if not (left and tonumber(left) >= since) then
        -- ZCARD is O(1): trim only a feed that outgrew its length (the sentinel counts too).
        if redis.call('ZADD', feed, 0, member) == 1 and redis.call('ZCARD', feed) > keep then
          redis.call('ZREMRANGEBYRANK', feed, 0, -(keep + 1))
        end
        added = added + 1
      end
    else
      redis.call('UNLINK', feed, KEYS[i + 2])
    end
  end
end
return added
"""

# Note that a user left an author (KEYS[1]: the user's separated hash; ARGV: the author, how long
# to remember) at Redis's own clock, the clock fan-outs read their start from.
_SEPARATE = """
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], now[1] * 1000000 + now[2])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# Read a feed for a ranked first page (a Lua function, so that the read model's page script can
# call it too; see READ_RANKED): mark the user active, then whether the feed is built, the
# celebrities it merges, its newest ids and the latest ranking (`<snapshot id>|<ranked
# ids>|<candidates>|<reference>|<expiry>|<scores>`, see save_ranked), if `want` is '1'. Without
# celebrities the candidates are the feed's ids alone, so they are compared here and, when they
# are the same, only `<snapshot id>|<ranked ids>` comes back: a warm ranked read costs feed_svc
# no parse of hundreds of ids. Answers {built, celebs, ids, ranking, matched}.
READ_RANKED_LUA = """
local function read_ranked(seen, feed, celebs_key, ranking, ttl, count, want)
  redis.call('SET', seen, '1', 'EX', ttl)
  local built = redis.call('ZSCORE', feed, '~') and 1 or 0
  local celebs = redis.call('SMEMBERS', celebs_key)
  local ids = redis.call('ZREVRANGEBYLEX', feed, '(~', '-', 'LIMIT', 0, count)
  local latest = false
  if want == '1' then latest = redis.call('GET', ranking) end
  if latest and built == 1 and #celebs == 0 then
    local first = string.find(latest, '|', 1, true)
    local second = first and string.find(latest, '|', first + 1, true)
    local third = second and string.find(latest, '|', second + 1, true)
    if third and string.sub(latest, second + 1, third - 1) == table.concat(ids, ',') then
      return {built, celebs, {}, string.sub(latest, 1, second - 1), 1}
    end
  end
  return {built, celebs, ids, latest, 0}
end
"""
# KEYS: the user's seen, feed, celebs and ranking keys; ARGV: seen ttl, how many ids, '1' to
# read the latest ranking.
_READ_RANKED = (
    READ_RANKED_LUA
    + "return read_ranked(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3])"
)

# Read a feed page (a Lua function, for the read model's page script): mark the user active,
# then whether the feed is built, the celebrities it merges and up to `count` ids below `top`
# (`(~` for the newest). Answers {built, celebs, ids}, as FeedCache.read's pipeline does.
READ_FEED_LUA = """
local function read_feed(seen, feed, celebs_key, ttl, top, count)
  redis.call('SET', seen, '1', 'EX', ttl)
  local built = redis.call('ZSCORE', feed, '~') and 1 or 0
  return {
    built,
    redis.call('SMEMBERS', celebs_key),
    redis.call('ZREVRANGEBYLEX', feed, top, '-', 'LIMIT', 0, count),
  }
end
"""

# A rebuild's first step, in one round trip: answer 'built' when the feed is built (another
# rebuilder finished), else take the rebuild lock ('locked') unless another holds it ('held').
# KEYS: the feed, its lock. ARGV: this rebuilder's token, the lock's time to live (ms).
_LOCK_UNLESS_BUILT = """
if redis.call('ZSCORE', KEYS[1], '~') then return 'built' end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'locked' end
return 'held'
"""

# Replace a feed and its celebrities in one step and release the rebuild lock if this rebuilder
# still holds it. KEYS: the feed, its celebrities, its lock. ARGV: the token ('' when no lock
# is held), how many members follow, the members (sentinel excluded), then the celebrities.
_INSTALL = """
local unpack = unpack or table.unpack
local function add(command, key, first, last, scored)
  for i = first, last, 500 do
    local args = {}
    for j = i, math.min(i + 499, last) do
      if scored then args[#args + 1] = 0 end
      args[#args + 1] = ARGV[j]
    end
    redis.call(command, key, unpack(args))
  end
end
redis.call('UNLINK', KEYS[1], KEYS[2])
local last = 2 + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 0, '~')
add('ZADD', KEYS[1], 3, last, true)
add('SADD', KEYS[2], last + 1, #ARGV, false)
if ARGV[1] ~= '' and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
"""

BUILT, LOCKED, HELD = "built", "locked", "held"

# How long a separation is remembered for fan-outs that started before it: far longer than one
# fan-out runs (a delivery retried for minutes starts a new fan-out, with a fresh follower list).
SEPARATION_MEMORY_SECONDS = 3600


def member(post_id: int) -> str:
    """Return the sorted-set member of a post id."""
    return f"{post_id:019d}"


def signature(post_ids: Sequence[int]) -> str:
    """Return what identifies a ranking's candidates (newest first): their members joined by
    commas, as the read script compares them in Redis."""
    return ",".join(map(member, post_ids))


def feed_key(user_id: int) -> str:
    """Return the key of a user's home feed."""
    return f"feed:{{u:{user_id}}}"


def celebs_key(user_id: int) -> str:
    """Return the key of the celebrities a user follows (merged in at read time)."""
    return f"feed:{{u:{user_id}}}:celebs"


def seen_key(user_id: int) -> str:
    """Return the key that says a user read their feed recently (it expires when they go quiet)."""
    return f"feed:{{u:{user_id}}}:seen"


def lock_key(user_id: int) -> str:
    """Return the key of the lock one rebuilder of a user's feed holds."""
    return f"feed:{{u:{user_id}}}:lock"


def snapshot_key(user_id: int, snapshot_id: str) -> str:
    """Return the key of one ranked or explore snapshot of a user."""
    return f"feed:{{u:{user_id}}}:snap:{snapshot_id}"


def ranking_key(user_id: int) -> str:
    """Return the key of a user's latest ranking: its snapshot, its ids, its candidates, when it
    was scored and its scores (a new name for a new layout, so a value kept in an old one is
    never misread)."""
    return f"feed:{{u:{user_id}}}:rank"


def separated_key(user_id: int) -> str:
    """Return the key of the authors a user left lately (author -> when, Redis microseconds)."""
    return f"feed:{{u:{user_id}}}:left"


def recent_key(author_id: int) -> str:
    """Return the key of an author's recent posts."""
    return f"recent:{{a:{author_id}}}"


def _fan_out_keys(user_ids: Sequence[int]) -> list[str]:
    """Return the keys the fan-out script takes for these users: seen, feed, celebs, left each."""
    found: list[str] = []
    for user_id in user_ids:
        tag = f"feed:{{u:{user_id}}}"
        found += (f"{tag}:seen", tag, f"{tag}:celebs", f"{tag}:left")
    return found


def _ids(members: Sequence[bytes | str]) -> list[int]:
    found = []
    for raw in members:
        text = raw.decode() if isinstance(raw, bytes) else raw
        if text != "~":
            found.append(int(text))
    return found


@dataclass(frozen=True)
class KeptRanking:
    """A user's latest ranking as read back: its snapshot id and ranked ids (comma-separated
    text, parsed only as far as a page needs); unless the read script matched it already (then
    only those two come back), also what it ranked: the candidates (`signature()`), the
    reference time its scores were computed at and when it stops being reused (microseconds
    since the epoch), and the ranked ids' scores (`pack_scores`, in ranked order)."""

    snapshot_id: str
    ids: str
    signature: str = ""
    reference: int = 0
    expires: int = 0
    scores: bytes = b""

    @property
    def complete(self) -> bool:
        """Whether a new ranking can be derived from this one (its facts came back)."""
        return self.reference > 0 and len(self.scores) % _SCORE_BYTES == 0


_SCORE_BYTES = struct.calcsize("<d")


def pack_scores(scores: Sequence[float]) -> bytes:
    """Return scores as a kept ranking holds them: 8 bytes each, exact (little-endian doubles;
    text would take about 18 and a parse)."""
    return struct.pack(f"<{len(scores)}d", *scores)


def unpack_scores(raw: bytes) -> list[float]:
    """Return the scores `pack_scores` made."""
    return list(struct.unpack(f"<{len(raw) // _SCORE_BYTES}d", raw))


def _ranking(value: bytes) -> KeptRanking:
    """Return a kept ranking from its value (the scores, last, are binary and may hold '|')."""
    fields = value.split(b"|", 5)
    if len(fields) < 6:
        return KeptRanking(fields[0].decode(), fields[1].decode() if len(fields) > 1 else "")
    snapshot_id, ids, candidates, reference, expires, scores = fields
    return KeptRanking(
        snapshot_id.decode(),
        ids.decode(),
        candidates.decode(),
        int(reference),
        int(expires),
        scores,
    )


def feed_top(before: int | None) -> bytes:
    """Return the upper bound of a feed read: below `before`, or the newest (below the
    sentinel)."""
    return f"({member(before)}".encode() if before is not None else _TOP


def feed_answer(raw: Sequence[Any]) -> tuple[bool, list[int], list[int]]:
    """Return (built, ids, celebrities) from READ_FEED_LUA's answer {built, celebs, ids}."""
    built, celebs, ids = raw
    return bool(built), _ids(ids), sorted(int(c) for c in celebs)


def ranked_answer(
    raw: Sequence[Any],
) -> tuple[bool, list[int], list[int], KeptRanking | None, bool]:
    """Return FeedCache.read_for_ranking's values from READ_RANKED_LUA's answer."""
    built, celebs, ids, value, matched = raw
    latest = _ranking(value) if value is not None else None
    return bool(built), _ids(ids), sorted(int(c) for c in celebs), latest, bool(matched)


@dataclass(frozen=True)
class RankingToKeep:
    """What save_ranked keeps of a ranking besides its ids: its candidates (`signature()`), its
    reference time and expiry (microseconds since the epoch), its scores (`pack_scores`) and the
    key's lifetime in seconds."""

    signature: str
    reference: int
    expires: int
    scores: bytes
    ttl: int


@dataclass(frozen=True)
class InstalledFeed:
    """What a rebuild installed: the feed's ids, newest first, and the celebrities it merges. Its
    reader pages these instead of reading the feed back (a round trip per cold read)."""

    ids: list[int]
    celebs: list[int]

    def page(self, *, before: int | None, count: int) -> list[int]:
        """Return up to `count` ids older than `before` (the newest without it)."""
        below = self.ids if before is None else [p for p in self.ids if p < before]
        return below[:count]


def _queue_unlink(pipe: Any, *names: str) -> None:
    # One key per command: a cluster pipeline refuses to queue multi-key deletes.
    for name in names:
        pipe.execute_command("UNLINK", name)


class FeedCache:
    """Read and write feeds and their companions in one Redis (or Redis Cluster)."""

    def __init__(
        self, client: aioredis.Redis | Any, *, max_length: int, recent_length: int
    ) -> None:
        self._redis = client
        self._max = max_length
        self._recent = recent_length
        self._cluster = isinstance(client, aioredis.RedisCluster)
        self._fan_out = client.register_script(_FAN_OUT)
        self._separate = client.register_script(_SEPARATE)
        self._read_ranked = client.register_script(_READ_RANKED)
        self._install = client.register_script(_INSTALL)
        self._lock_unless_built = client.register_script(_LOCK_UNLESS_BUILT)

    async def is_built(self, user_id: int) -> bool:
        """Return whether a user's feed is in the cache, complete."""
        return await self._redis.zscore(feed_key(user_id), SENTINEL) is not None

    async def built_among(self, user_ids: Sequence[int]) -> set[int]:
        """Return the users among these whose feed is built, in one round trip."""
        unique = list(dict.fromkeys(user_ids))
        if not unique:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in unique:
                pipe.zscore(feed_key(user_id), SENTINEL)
            answers = await pipe.execute()
        return {u for u, score in zip(unique, answers, strict=True) if score is not None}

    async def install(
        self,
        user_id: int,
        post_ids: Sequence[int],
        celebs: Sequence[int],
        *,
        lock_token: str = "",
    ) -> InstalledFeed:
        """Replace a user's feed and celebrity list in one step (one script on the user's slot)
        and release the rebuild lock `lock_token` holds, if it still does; return what went in."""
        newest = sorted(set(post_ids), reverse=True)[: self._max]
        await self._install(
            keys=[feed_key(user_id), celebs_key(user_id), lock_key(user_id)],
            args=[lock_token, len(newest), *(member(p) for p in newest), *map(str, celebs)],
        )
        return InstalledFeed(ids=newest, celebs=sorted(set(celebs)))

    async def lock_unless_built(self, user_id: int, token: str, *, ttl_seconds: float) -> str:
        """In one round trip: BUILT when a user's feed is built, else LOCKED when this holder
        took its rebuild lock, HELD when another holds it."""
        answer = await self._lock_unless_built(
            keys=[feed_key(user_id), lock_key(user_id)], args=[token, int(ttl_seconds * 1000)]
        )
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    async def drop(self, user_ids: Sequence[int]) -> None:
        """Forget users' feeds; each is rebuilt on its next read."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                _queue_unlink(pipe, feed_key(user_id), celebs_key(user_id))
            await pipe.execute()

    async def drop_all(self) -> int:
        """Forget every feed, celebrity list, ranking, snapshot and author's recent list (not
        who is active); each is rebuilt from the projection on its next read. Return how many
        keys went."""
        dropped = 0
        for pattern in ("feed:*", "recent:*"):
            async for raw in self._redis.scan_iter(match=pattern, count=1000):
                key = raw.decode() if isinstance(raw, bytes) else str(raw)
                if key.endswith((":seen", ":lock")):
                    continue
                dropped += int(await self._redis.unlink(key))
        return dropped

    async def touch(self, user_id: int, *, ttl_seconds: int) -> None:
        """Mark a user active for the next `ttl_seconds`."""
        await self._redis.set(seen_key(user_id), b"1", ex=ttl_seconds)

    async def clock(self) -> int:
        """Return Redis's clock in microseconds (the one separations are noted with)."""
        seconds, micros = await self._redis.time()
        return int(seconds) * 1_000_000 + int(micros)

    async def separate(self, user_id: int, author_id: int) -> None:
        """Note that a user left an author now, so that fan-outs of the author's posts that
        started before (their follower list read before) skip the user."""
        await self._separate(
            keys=[separated_key(user_id)], args=[str(author_id), SEPARATION_MEMORY_SECONDS]
        )

    async def fan_out(
        self, user_ids: Sequence[int], post_id: int, *, author_id: int = 0, since: int = 0
    ) -> int:
        """Add a post to the built feeds of the active users among these; drop the feeds of the
        inactive ones (so they are rebuilt, never stale, when they return). Users who left
        `author_id` at or after `since` (`clock()`, taken before the follower list was read)
        are skipped. Return how many feeds got the post."""
        if not user_ids:
            return 0
        args = (member(post_id), self._max, str(author_id), since)
        if not self._cluster:
            return int(await self._fan_out(keys=_fan_out_keys(user_ids), args=args))
        by_slot: dict[int, list[int]] = {}
        for user_id in user_ids:
            by_slot.setdefault(key_slot(feed_key(user_id).encode()), []).append(user_id)
        try:
            return await self._fan_out_by_slot(list(by_slot.values()), args)
        except NoScriptError:
            # A node that restarted (or had SCRIPT FLUSH) forgot the script: load it on every
            # primary and run again; the script is idempotent, so groups already done are safe.
            await self._redis.script_load(_FAN_OUT)
            return await self._fan_out_by_slot(list(by_slot.values()), args)

    async def _fan_out_by_slot(
        self, groups: list[list[int]], args: tuple[str, int, str, int]
    ) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            for users in groups:
                keys = _fan_out_keys(users)
                # execute_command: the cluster pipeline refuses its evalsha() method, not the
                # command, which it routes to the node of the keys' slot.
                pipe.execute_command("EVALSHA", self._fan_out.sha, len(keys), *keys, *args)
            return sum(int(n) for n in await pipe.execute())

    def _add(self, pipe: Any, user_id: int, post_ids: Sequence[int]) -> None:
        pipe.zadd(feed_key(user_id), {member(p): 0 for p in post_ids})
        # Keep the newest max_length ids and the sentinel (the highest member).
        pipe.zremrangebyrank(feed_key(user_id), 0, -(self._max + 2))

    async def add_celebrity(self, user_ids: Sequence[int], author_id: int, *, since: int) -> None:
        """Have the built feeds among these users merge an author's posts at read time, except
        for users who left the author at or after `since` (as for fan_out)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.zscore(feed_key(user_id), SENTINEL)
                pipe.hget(separated_key(user_id), str(author_id))
            answers = await pipe.execute()
        async with self._redis.pipeline(transaction=False) as pipe:
            for index, user_id in enumerate(user_ids):
                built, left = answers[2 * index], answers[2 * index + 1]
                if built is not None and (left is None or int(left) < since):
                    pipe.sadd(celebs_key(user_id), str(author_id))
            await pipe.execute()

    async def merge(self, user_id: int, post_ids: Sequence[int]) -> None:
        """Add posts to a user's feed if it is built (an unbuilt one gets them when rebuilt)."""
        if not post_ids or not await self.is_built(user_id):
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            self._add(pipe, user_id, post_ids)
            await pipe.execute()

    async def follow_celebrity(self, user_id: int, author_id: int, *, following: bool) -> None:
        """Add an author to (or take them from) a built feed's read-time merges."""
        if following:
            if await self.is_built(user_id):
                await self._redis.sadd(celebs_key(user_id), str(author_id))
        else:
            await self._redis.srem(celebs_key(user_id), str(author_id))

    async def remove(self, user_ids: Sequence[int], post_ids: Sequence[int]) -> None:
        """Take posts out of these users' feeds."""
        if not post_ids:
            return
        members = [member(p) for p in post_ids]
        async with self._redis.pipeline(transaction=False) as pipe:
            for user_id in user_ids:
                pipe.zrem(feed_key(user_id), *members)
            await pipe.execute()

    async def feed_ids(self, user_id: int, *, before: int | None, count: int) -> list[int]:
        """Return up to `count` post ids of a feed older than `before` (or the newest)."""
        top = f"({member(before)}".encode() if before is not None else _TOP
        raw = await self._redis.zrevrangebylex(feed_key(user_id), top, b"-", start=0, num=count)
        return _ids(raw)

    async def read(
        self, user_id: int, *, before: int | None, count: int, seen_ttl: int
    ) -> tuple[bool, list[int], list[int]]:
        """Mark a user active and read their feed in one round trip (one slot): whether it is
        built, up to `count` post ids older than `before`, and the celebrities it merges."""
        built, ids, celebs, _ = await self.read_with_ranking(
            user_id, before=before, count=count, seen_ttl=seen_ttl, ranking=False
        )
        return built, ids, celebs

    async def read_with_ranking(
        self, user_id: int, *, before: int | None, count: int, seen_ttl: int, ranking: bool
    ) -> tuple[bool, list[int], list[int], KeptRanking | None]:
        """As read(), with the user's latest ranking in the same round trip when asked (None
        without one)."""
        top = f"({member(before)}".encode() if before is not None else _TOP
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(seen_key(user_id), b"1", ex=seen_ttl)
            pipe.zscore(feed_key(user_id), SENTINEL)
            pipe.zrevrangebylex(feed_key(user_id), top, b"-", start=0, num=count)
            pipe.smembers(celebs_key(user_id))
            if ranking:
                pipe.get(ranking_key(user_id))
            answers = await pipe.execute()
        built, raw, celebs = answers[1], answers[2], answers[3]
        latest = _ranking(answers[4]) if ranking and answers[4] is not None else None
        return built is not None, _ids(raw), sorted(int(c) for c in celebs), latest

    async def read_for_ranking(
        self, user_id: int, *, count: int, seen_ttl: int, ranking: bool
    ) -> tuple[bool, list[int], list[int], KeptRanking | None, bool]:
        """As read_with_ranking() for a first page, in one script call; the last value says the
        latest ranking's signature matched the feed's ids, checked in Redis (a user without
        celebrities only): then the ids are not read (empty) and the ranking is to be reused."""
        keys = [seen_key(user_id), feed_key(user_id), celebs_key(user_id), ranking_key(user_id)]
        return ranked_answer(
            await self._read_ranked(keys=keys, args=[seen_ttl, count, "1" if ranking else "0"])
        )

    async def save_ranked(
        self,
        user_id: int,
        *,
        ids: str,
        snapshot_ttl: int,
        ranking: RankingToKeep | None,
    ) -> str:
        """Store a ranked snapshot (`ids`: its post ids, comma-separated) for paging and, given
        `ranking`, remember it as the user's latest ranking too, in one round trip; return the
        snapshot's id."""
        snapshot_id = secrets.token_urlsafe(9)
        text = ids.encode()
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(snapshot_key(user_id, snapshot_id), text, ex=snapshot_ttl)
            if ranking is not None:
                head = f"{snapshot_id}|{ids}|{ranking.signature}|{ranking.reference}|"
                value = b"".join((head.encode(), f"{ranking.expires}|".encode(), ranking.scores))
                pipe.set(ranking_key(user_id), value, ex=ranking.ttl)
            await pipe.execute()
        return snapshot_id

    async def celebs(self, user_id: int) -> list[int]:
        """Return the celebrities whose posts a user's feed merges at read time."""
        return sorted(int(c) for c in await self._redis.smembers(celebs_key(user_id)))

    async def recent_add(self, author_id: int, post_id: int) -> None:
        """Add a post to its author's recent posts if that list is built."""
        key = recent_key(author_id)
        if await self._redis.zscore(key, SENTINEL) is None:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {member(post_id): 0})
            pipe.zremrangebyrank(key, 0, -(self._recent + 2))
            await pipe.execute()

    async def recent_remove(self, author_id: int, post_id: int) -> None:
        """Take a post out of its author's recent posts."""
        await self._redis.zrem(recent_key(author_id), member(post_id))

    async def recent_install(self, author_id: int, post_ids: Sequence[int]) -> None:
        """Replace an author's recent posts (built from the source of truth)."""
        key = recent_key(author_id)
        newest = sorted(set(post_ids), reverse=True)[: self._recent]
        async with self._redis.pipeline(transaction=True) as pipe:
            _queue_unlink(pipe, key)
            pipe.zadd(key, {**{member(p): 0 for p in newest}, "~": 0})
            await pipe.execute()

    async def recent_ids(
        self, author_ids: Sequence[int], *, before: int | None, count: int
    ) -> dict[int, list[int] | None]:
        """Return each author's recent post ids older than `before`, newest first; None for an
        author whose list is not built."""
        top = f"({member(before)}".encode() if before is not None else _TOP
        async with self._redis.pipeline(transaction=False) as pipe:
            for author_id in author_ids:
                pipe.zscore(recent_key(author_id), SENTINEL)
                pipe.zrevrangebylex(recent_key(author_id), top, b"-", start=0, num=count)
            answers = await pipe.execute()
        return {
            author_id: _ids(answers[2 * i + 1]) if answers[2 * i] is not None else None
            for i, author_id in enumerate(author_ids)
        }

    async def save_snapshot(self, user_id: int, post_ids: Sequence[int], *, ttl: int) -> str:
        """Store an ordered list of post ids for paging; return its id."""
        snapshot_id = secrets.token_urlsafe(9)
        value = ",".join(str(p) for p in post_ids)
        await self._redis.set(snapshot_key(user_id, snapshot_id), value.encode(), ex=ttl)
        return snapshot_id

    async def load_snapshot(self, user_id: int, snapshot_id: str) -> list[int] | None:
        """Return a snapshot's post ids, or None when it expired or was lost."""
        raw = await self._redis.get(snapshot_key(user_id, snapshot_id))
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return [int(p) for p in text.split(",") if p]

    async def try_lock(self, user_id: int, token: str, *, ttl_seconds: float) -> bool:
        """Take the rebuild lock of a user's feed unless another holder has it."""
        taken = await self._redis.set(
            lock_key(user_id), token.encode(), nx=True, px=int(ttl_seconds * 1000)
        )
        return bool(taken)

    async def unlock(self, user_id: int, token: str) -> None:
        """Release the rebuild lock if this holder still has it."""
        held = await self._redis.get(lock_key(user_id))
        if held is not None and (held.decode() if isinstance(held, bytes) else held) == token:
            await self._redis.delete(lock_key(user_id))
