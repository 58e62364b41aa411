"""The feed rules: fan-out on write, read-time merges, ranking, rebuilds, explore (no grpc here).

Ordinary authors' posts are pushed into the Redis feeds of their active followers; celebrities'
(authors above the follower threshold) are merged in at read time from their recent-posts lists.
A feed missing from Redis is rebuilt from feed_svc's own tables (see store) and the follow list,
by one reader at a time. Home feed pages are composed from the read model (readmodel.py), kept by
events, with no call to another service when it is warm: a feed entry exists only for a viewer
allowed at fan-out time, and unfollows, blocks and mutes take entries out (synchronously, through
ApplyEvents, before graph_svc answers). Explore pages are still hydrated by post_svc, which
applies the privacy rule on every page.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import secrets
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from feed_svc.cache import (
    BUILT,
    LOCKED,
    FeedCache,
    InstalledFeed,
    KeptRanking,
    RankingToKeep,
    feed_answer,
    pack_scores,
    ranked_answer,
    unpack_scores,
)
from feed_svc.cache import signature as ranking_signature
from feed_svc.errors import AuthorNotFound, PostNotFound, PrivateAccount, SnapshotExpired
from feed_svc.readmodel import HomePage, ReadModel
from feed_svc.settings import FeedSettings
from feed_svc.store import FeedStore, RankingFacts
from mesh import pagination
from mesh.errors import InvalidArgument
from mesh.ids import id_at, id_time
from shutter.feed.v1 import feed_service_pb2
from shutter.post.v1 import post_pb2, post_service_pb2
from shutter.user.v1 import user_pb2

log = logging.getLogger("shutter.feed_svc.domain")

PAGE_DEFAULT = 20
PAGE_MAX = 50
# A profile grid's default page: four rows of three.
GRID_PAGE_DEFAULT = 12
MODE_RANKED = "ranked"
MODE_CHRONOLOGICAL = "chronological"
MODES = (MODE_RANKED, MODE_CHRONOLOGICAL)

# A hashtag's longest form (post_svc's rule for tags; the same refusals for the same input).
HASHTAG_MAX_CHARS = 100
# How many batches of page_size + 1 posts a hashtag page reads before returning a short page
# (post_svc's SCAN_ROUNDS, so the pages and tokens are the ones it gave).
TAG_SCAN_ROUNDS = 5

# Ranking weights: a post loses half its recency weight every RECENCY_HALF_LIFE_HOURS; a comment
# counts as much as COMMENT_WEIGHT likes; each point of affinity (a like or comment by the viewer
# on the author's posts) adds AFFINITY_WEIGHT on a log scale.
RECENCY_HALF_LIFE_HOURS = 24.0
COMMENT_WEIGHT = 2.0
AFFINITY_WEIGHT = 0.5


@dataclass(frozen=True)
class Relation:
    """How a viewer and another account stand, as far as feeds care."""

    following: bool
    blocking: bool
    blocked_by: bool
    muting: bool
    # Only profiles show these (the read model keeps them beside the four above).
    followed_by: bool = False
    requested: bool = False
    incoming_request: bool = False


@dataclass(frozen=True)
class CountedFollowers:
    """An account's follower count (muted followers included) and its followers in batches,
    ascending, both from one call: what a fan-out needs to decide and then push."""

    count: int
    batches: AsyncIterator[list[int]]


class Graph(Protocol):
    """What feeds need from graph_svc."""

    async def following_ids(self, user_id: int, *, exclude_muted: bool) -> list[int]: ...
    def follower_batches(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> AsyncIterator[list[int]]: ...
    async def follower_counts(self, user_ids: Sequence[int]) -> dict[int, int]: ...
    async def counted_followers(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> CountedFollowers: ...
    async def relations(self, viewer_id: int, user_ids: Sequence[int]) -> dict[int, Relation]: ...


class Posts(Protocol):
    """What feeds need from post_svc."""

    async def batch_get(self, viewer_id: int, post_ids: Sequence[int]) -> list[post_pb2.Post]: ...


class PostSource(Protocol):
    """What a projection rebuild needs from post_svc: every live post, page by page."""

    async def export_page(
        self, after_post_id: int, size: int
    ) -> list[post_service_pb2.ExportedPost]: ...


class Directory(Protocol):
    """What a projection rebuild needs from user_svc: who is private."""

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]: ...


# Posts per BatchGetPosts call (post_svc's limit).
BATCH_GET_MAX = 100
# Posts per page a projection rebuild reads from post_svc and writes in one transaction.
REBUILD_PAGE = 500


@dataclass(frozen=True)
class Engaged:
    """One engagement event as feeds count it: a like (+1 like), unlike (-1), comment (+1
    comment), comment deletion (minus it and its replies) or reel view, by an actor on an
    author's post (0 where the event does not say)."""

    producer: str
    event_id: int
    post_id: int
    author_id: int
    actor_id: int
    likes: int
    comments: int
    views: int = 0


@dataclass(frozen=True)
class Created:
    """One PostCreated as feeds need it."""

    post_id: int
    author_id: int
    created_at: datetime
    author_is_private: bool
    hashtags: tuple[str, ...] = ()
    # The post as every viewer sees it, when the event carries it (its media final).
    shared: post_pb2.Post | None = None
    # The event's (producer, id): ApplyEvents marks it once it kept the post (see post_created).
    event: tuple[str, int] | None = None


@dataclass(frozen=True)
class Candidate:
    """A post a ranked page may show, with what its score depends on."""

    post_id: int
    author_id: int
    like_count: int
    comment_count: int
    affinity: int


class ProjectionCounts:
    """The read model's source of counts: feed_svc's own projection, exact and versioned."""

    def __init__(self, store: FeedStore) -> None:
        self._store = store

    async def counts(self, post_ids: Sequence[int]) -> dict[int, tuple[int, int, int, int]]:
        """Return (version, likes, comments, views) of each of these posts that has any
        (primary)."""
        found = await self._store.current_engagement(post_ids=post_ids)
        return {
            p: (e.version, e.like_count, e.comment_count, e.view_count) for p, e in found.items()
        }


class ProjectionPosts:
    """Who posted what, from feed_svc's own projection (the read model's PostList)."""

    def __init__(self, store: FeedStore) -> None:
        self._store = store

    async def author_posts(self, author_id: int, *, before: int | None, limit: int) -> list[int]:
        # The primary: a post made a moment ago was recorded there before its maker was answered.
        async with self._store.transaction() as tx:
            return await self._store.author_posts(
                tx, author_id=author_id, before=before, limit=limit
            )


def check_id(value: int, field: str) -> int:
    """Return a positive id or raise InvalidArgument naming the field."""
    if value <= 0:
        raise InvalidArgument.field(field, "must be a positive id")
    return value


def score(candidate: Candidate, *, now: datetime) -> float:
    """Return a candidate's rank: recency decay x (1 + engagement) x (1 + affinity), log-scaled."""
    age_hours = max((now - id_time(candidate.post_id)).total_seconds() / 3600, 0.0)
    recency = 0.5 ** (age_hours / RECENCY_HALF_LIFE_HOURS)
    engagement = math.log1p(candidate.like_count + COMMENT_WEIGHT * candidate.comment_count)
    affinity = AFFINITY_WEIGHT * math.log1p(candidate.affinity)
    return float(recency * (1.0 + engagement) * (1.0 + affinity))


def scored(candidates: Sequence[Candidate], *, now: datetime) -> list[tuple[float, int]]:
    """Return the candidates' (score, post id) best first; equal scores put the newer post
    first."""
    return sorted(((score(c, now=now), c.post_id) for c in candidates), reverse=True)


def rank(candidates: Sequence[Candidate], *, now: datetime) -> list[int]:
    """Return the candidates' post ids best first; equal scores put the newer post first."""
    return [post_id for _, post_id in scored(candidates, now=now)]


def place(ranked: list[str], scores: list[float], post_id: int, post_score: float) -> None:
    """Insert a post into a ranking (ids as text and their scores, best first) where rank()
    would have put it among them: before the first post it outranks, ties to the newer post."""
    low, high = 0, len(ranked)
    while low < high:
        middle = (low + high) // 2
        if (scores[middle], int(ranked[middle])) > (post_score, post_id):
            low = middle + 1
        else:
            high = middle
    ranked.insert(low, str(post_id))
    scores.insert(low, post_score)


def _micros(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def merge_newest(lists: Sequence[Sequence[int]], *, count: int) -> list[int]:
    """Return the newest `count` distinct ids of several lists, newest first."""
    return sorted({p for ids in lists for p in ids}, reverse=True)[:count]


def parse_mode(mode: str) -> str:
    """Return a feed mode, the empty string meaning ranked."""
    if mode == "":
        return MODE_RANKED
    if mode not in MODES:
        raise InvalidArgument.field("mode", f"must be one of {', '.join(MODES)}")
    return mode


def check_tag(tag: str, field: str) -> str:
    """Return a tag's stored form (NFC, lower-cased, without '#'), refusing what post_svc
    refuses, with the same messages."""
    normal = unicodedata.normalize("NFC", tag).strip().removeprefix("#").lower()
    if not normal:
        raise InvalidArgument.field(field, "is required")
    if len(normal) > HASHTAG_MAX_CHARS:
        raise InvalidArgument.field(field, f"must be at most {HASHTAG_MAX_CHARS} characters")
    if not all(ch == "_" or unicodedata.category(ch)[0] in "LMN" for ch in normal):
        raise InvalidArgument.field(field, "may hold only letters, marks, digits and underscores")
    return normal


def _token_field(cursor: dict[str, object], name: str, kind: type) -> object:
    value = cursor.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidArgument.field("page_token", "is not a token this service issued")
    return value


RANKING_EXPIRY_SPREAD = 0.2  # a saved ranking lives 80-100 % of ranking_reuse_seconds


def spread_expiry(seconds: int) -> int:
    """Return a saved ranking's lifetime, up to a fifth shorter at random: readers who ranked
    together (a deploy, a cold start, a load test's first second) would otherwise all rank
    afresh in the same instant, each with a query, and meet the in-flight read bound."""
    return max(1, round(seconds * (1 - random.uniform(0, RANKING_EXPIRY_SPREAD))))


def _ranking_head(snapshot_id: str, ids: str, size: int) -> tuple[str, list[int]]:
    """Return a ranking's snapshot id and only what a first page needs of its ids
    (comma-separated), and one more to tell whether a second page follows."""
    head = ids.split(",", size + 1)[: size + 1]
    return snapshot_id, [int(p) for p in head if p]


def _candidates(facts: Iterable[RankingFacts]) -> list[Candidate]:
    return [
        Candidate(
            post_id=f.post_id,
            author_id=f.author_id,
            like_count=f.like_count,
            comment_count=f.comment_count,
            affinity=f.affinity,
        )
        for f in facts
    ]


def _posts_field(posts: Sequence[post_pb2.Post]) -> bytes:
    """Return posts as the bytes of a response's `repeated Post posts = 1` field."""
    return feed_service_pb2.GetHomeFeedResponse(posts=posts).SerializeToString()


class Feeds:
    """Home feeds and explore over the cache, the projection store, graph_svc and post_svc."""

    def __init__(
        self,
        cache: FeedCache,
        store: FeedStore,
        graph: Graph,
        posts: Posts,
        settings: FeedSettings,
        *,
        views: ReadModel | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._views = views
        self._cache = cache
        self._store = store
        self._graph = graph
        self._posts = posts
        self._settings = settings
        self._clock = clock
        # In-process single flight: concurrent readers of one missing feed share one rebuild.
        self._rebuilds: dict[int, asyncio.Task[InstalledFeed | None]] = {}
        self.rebuild_count = 0
        # Rankings derived from the latest one (a post added or removed) rather than made afresh.
        self.derived_rankings = 0

    # Reading

    async def home_feed(
        self, *, viewer: int, page_size: int, page_token: str, mode: str
    ) -> tuple[list[post_pb2.Post], str]:
        """Return a page of a viewer's home feed and the next page's token."""
        posts, token = await self.home_feed_wire(
            viewer=viewer, page_size=page_size, page_token=page_token, mode=mode
        )
        return list(feed_service_pb2.GetHomeFeedResponse.FromString(posts).posts), token

    async def home_feed_wire(
        self, *, viewer: int, page_size: int, page_token: str, mode: str
    ) -> tuple[bytes, str]:
        """Return a page of a viewer's home feed as the bytes of its response's posts field (a
        warm page comes composed from Redis, so the servicer sends it without a parse or a
        serialization here) and the next page's token."""
        size = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        chosen = parse_mode(mode)
        cursor = pagination.decode_token(page_token)
        if cursor is not None and cursor.get("m") != chosen[0]:
            raise InvalidArgument.field("page_token", "was issued for another mode")
        if chosen == MODE_CHRONOLOGICAL:
            before = None if cursor is None else int(_token_field(cursor, "b", int))  # type: ignore[call-overload]
            return await self._chronological(viewer, before, size)
        if cursor is None:
            return await self._ranked_first(viewer, size)
        await self._cache.touch(viewer, ttl_seconds=self._inactive_seconds())
        posts, token = await self._from_snapshot(viewer, "r", cursor, size)
        return _posts_field(posts), token

    def _composer(self) -> ReadModel | None:
        """Return the read model when it composes home feed pages in Redis."""
        return self._views if self._views is not None and self._views.composes else None

    async def _chronological(self, viewer: int, before: int | None, size: int) -> tuple[bytes, str]:
        # One more than the page, to know whether another page follows.
        want = size + 1
        seen = self._inactive_seconds()
        composer = self._composer()
        if composer is not None:
            found = await composer.home_page(
                viewer, ranked=False, seen_ttl=seen, count=want, size=size, before=before
            )
            if isinstance(found, HomePage):
                more = found.more
                token = pagination.encode_token({"m": "c", "b": int(found.cursor)}) if more else ""
                return found.posts, token
            built, own, celebs = feed_answer(found)
        else:
            built, own, celebs = await self._cache.read(
                viewer, before=before, count=want, seen_ttl=seen
            )
        if not built:
            # The feed this process installed is paged as it went in, not read back.
            installed = await self.ensure_built(viewer)
            if installed is not None:
                own, celebs = installed.page(before=before, count=want), installed.celebs
            else:
                built, own, celebs = await self._cache.read(
                    viewer, before=before, count=want, seen_ttl=seen
                )
        pulled = await self._pull(celebs, before=before, count=want)
        ids = merge_newest([own, pulled], count=want)
        page, more = ids[:size], len(ids) > size
        token = pagination.encode_token({"m": "c", "b": page[-1]}) if more else ""
        return _posts_field(await self._serve(viewer, page)), token

    async def _ranked_first(self, viewer: int, size: int) -> tuple[bytes, str]:
        """Return a ranked first page: composed in Redis with the feed's read when the latest
        ranking is still current and every post of the page is kept, else as _ranking says."""
        first = None
        composer = self._composer()
        if composer is not None:
            found = await composer.home_page(
                viewer,
                ranked=True,
                seen_ttl=self._inactive_seconds(),
                count=self._settings.ranked_candidates,
                size=size,
                ranking=self._settings.ranking_reuse_seconds > 0,
            )
            if isinstance(found, HomePage):
                more = found.more
                token = (
                    pagination.encode_token({"m": "r", "s": found.cursor, "o": size})
                    if more
                    else ""
                )
                return found.posts, token
            first = ranked_answer(found)
        snapshot, ranked = await self._ranking(viewer, size, first)
        posts, token = await self._snapshot_page(viewer, "r", snapshot, ranked, 0, size)
        return _posts_field(posts), token

    async def _pull(self, celebs: list[int], *, before: int | None, count: int) -> list[int]:
        """Return the newest `count` posts of these celebrities older than `before`."""
        if not celebs:
            return []
        found = await self._cache.recent_ids(celebs, before=before, count=count)
        lists: list[list[int]] = []
        for author_id, ids in found.items():
            if ids is None:
                ids = await self._load_recent(author_id, before=before, count=count)
            lists.append(ids)
        return merge_newest(lists, count=count)

    async def _load_recent(self, author_id: int, *, before: int | None, count: int) -> list[int]:
        """Rebuild an author's recent-posts list from the source of truth; return a page of it."""
        async with self._store.transaction() as tx:
            recent = await self._store.recent_posts(
                tx, author_ids=[author_id], limit=self._settings.author_recent_posts
            )
        ids = [p.post_id for p in recent]
        await self._cache.recent_install(author_id, ids)
        return [p for p in ids if before is None or p < before][:count]

    async def _ranking(
        self,
        viewer: int,
        size: int,
        first: tuple[bool, list[int], list[int], KeptRanking | None, bool] | None = None,
    ) -> tuple[str, list[int]]:
        """Return a ranked first page's snapshot id and its ranked post ids (at least the first
        `size` + 1). The latest ranking is reused while its candidates are the same and it is
        younger than ranking_reuse_seconds (counts and affinities reorder within that time);
        within that time a new or removed post changes it at once, by a ranking derived from
        it (_derive: removed posts dropped, new ones placed); past it, or without a ranking to
        derive from, every candidate is ranked afresh."""
        limit = self._settings.ranked_candidates
        reuse = self._settings.ranking_reuse_seconds
        # One script call marks the viewer active and reads the feed, its celebrities and the
        # latest ranking; for a viewer without celebrities it also checks the ranking's
        # candidates in Redis, sparing this process the parse of hundreds of ids.
        seen = self._inactive_seconds()
        # (`first`: that read, done already with the read model's page script.)
        built, own, celebs, latest, matched = first or await self._cache.read_for_ranking(
            viewer, count=limit, seen_ttl=seen, ranking=reuse > 0
        )
        if matched and latest is not None:
            return _ranking_head(latest.snapshot_id, latest.ids, size)
        if not built:
            installed = await self.ensure_built(viewer)
            if installed is not None:
                own, celebs, latest = (
                    installed.page(before=None, count=limit),
                    installed.celebs,
                    None,
                )
            else:
                built, own, celebs, latest = await self._cache.read_with_ranking(
                    viewer, before=None, count=limit, seen_ttl=seen, ranking=False
                )
        pulled = await self._pull(celebs, before=None, count=limit)
        # The feed's ids come newest first and distinct: only pulled posts need a merge.
        ids = merge_newest([own, pulled], count=limit) if pulled else own[:limit]
        signature = ranking_signature(ids)
        members = signature.split(",") if ids else []
        if latest is not None and latest.signature == signature:
            return _ranking_head(latest.snapshot_id, latest.ids, size)
        if latest is not None and latest.complete:
            derived = await self._derive(viewer, latest, ids, members, signature, size)
            if derived is not None:
                return derived
        now = self._clock()
        best = scored(await self._facts(viewer, ids), now=now)
        text = ",".join(str(p) for _, p in best)
        keep = None
        if reuse > 0:
            # Never past its snapshot's life: the pages after it read the snapshot.
            ttl = spread_expiry(min(reuse, self._settings.snapshot_ttl_seconds))
            reference = _micros(now)
            keep = RankingToKeep(
                signature=signature,
                reference=reference,
                expires=reference + ttl * 1_000_000,
                scores=pack_scores([s for s, _ in best]),
                ttl=ttl,
            )
        snapshot = await self._cache.save_ranked(
            viewer, ids=text, snapshot_ttl=self._settings.snapshot_ttl_seconds, ranking=keep
        )
        return _ranking_head(snapshot, text, size)

    async def _derive(
        self,
        viewer: int,
        latest: KeptRanking,
        ids: list[int],
        members: list[str],
        signature: str,
        size: int,
    ) -> tuple[str, list[int]] | None:
        """Return a first page's snapshot id and head from a ranking derived from the latest
        one for these candidates (newest first, `members` and `signature` theirs): its posts
        that are no longer candidates dropped, and the new candidates scored against its
        reference time, from their facts read now, and placed among the kept posts by score,
        so the order is the one rank() gives at that time for the facts each was scored with.
        It is kept as the latest ranking until the one it came from would have expired, so
        counts and affinities still refresh within ranking_reuse_seconds. None when that time
        has passed (or the ranking is malformed): then everything ranks afresh."""
        now = _micros(self._clock())
        remaining = (latest.expires - now) // 1_000_000
        if remaining < 1 or now - latest.reference >= self._settings.ranking_reuse_seconds * 1e6:
            return None
        ranked = latest.ids.split(",") if latest.ids else []
        scores = unpack_scores(latest.scores)
        if len(scores) != len(ranked):
            return None
        before = set(latest.signature.split(",")) if latest.signature else set()
        current = set(members)
        gone = {str(int(m)) for m in before - current}
        if gone:
            kept = [(t, s) for t, s in zip(ranked, scores, strict=True) if t not in gone]
            ranked, scores = [t for t, _ in kept], [s for _, s in kept]
        added = [p for p, m in zip(ids, members, strict=True) if m not in before]
        if added:
            reference = datetime.fromtimestamp(latest.reference / 1_000_000, UTC)
            # From the primary: posts made a moment ago, which a replica may not hold yet.
            found = await self._store.current_ranking_facts(viewer_id=viewer, post_ids=added)
            for post_score, post_id in scored(_candidates(found.values()), now=reference):
                place(ranked, scores, post_id, post_score)
        text = ",".join(ranked)
        snapshot = await self._cache.save_ranked(
            viewer,
            ids=text,
            snapshot_ttl=self._settings.snapshot_ttl_seconds,
            ranking=RankingToKeep(
                signature=signature,
                reference=latest.reference,
                expires=latest.expires,
                scores=pack_scores(scores),
                ttl=int(remaining),
            ),
        )
        self.derived_rankings += 1
        return _ranking_head(snapshot, text, size)

    async def _facts(self, viewer: int, ids: list[int]) -> list[Candidate]:
        """Return what ranking these posts depends on, for those the store knows alive."""
        async with self._store.read_transaction() as tx:
            facts = await self._store.ranking_facts(tx, viewer_id=viewer, post_ids=ids)
        # Fan-out pushes a post once the primary has it: a lagging replica may not know it yet.
        missing = [p for p in ids if p not in facts]
        if missing and self._store.has_replica:
            async with self._store.transaction() as tx:
                facts.update(
                    await self._store.ranking_facts(tx, viewer_id=viewer, post_ids=missing)
                )
        return _candidates(facts.values())

    async def _snapshot_page(
        self, viewer: int, kind: str, snapshot: str, ids: list[int], offset: int, size: int
    ) -> tuple[list[post_pb2.Post], str]:
        page = ids[offset : offset + size]
        more = offset + size < len(ids)
        token = (
            pagination.encode_token({"m": kind, "s": snapshot, "o": offset + size}) if more else ""
        )
        if kind == "e":
            # Explore shows accounts the viewer does not follow: the privacy rule decides on
            # every page (cached relationships, invalidated by every graph change), as a block
            # or a private switch may have come since the snapshot.
            if self._views is None:
                return await self._posts.batch_get(viewer, page), token
            return await self._views.posts(viewer, page, check_access=True), token
        return await self._serve(viewer, page), token

    async def _serve(self, viewer: int, post_ids: list[int]) -> list[post_pb2.Post]:
        """Return home feed posts from the read model (post_svc hydrates without one)."""
        if self._views is None:
            return await self._posts.batch_get(viewer, post_ids)
        return await self._views.posts(viewer, post_ids)

    async def _from_snapshot(
        self, viewer: int, kind: str, cursor: dict[str, object], size: int
    ) -> tuple[list[post_pb2.Post], str]:
        snapshot = str(_token_field(cursor, "s", str))
        offset = int(_token_field(cursor, "o", int))  # type: ignore[call-overload]
        if offset < 0 or len(snapshot) > 32:
            raise InvalidArgument.field("page_token", "is not a token this service issued")
        ids = await self._cache.load_snapshot(viewer, snapshot)
        if ids is None:
            raise SnapshotExpired("this page token's snapshot expired: start from the first page")
        return await self._snapshot_page(viewer, kind, snapshot, ids, offset, size)

    async def explore(
        self, *, viewer: int, page_size: int, page_token: str
    ) -> tuple[list[post_pb2.Post], str]:
        """Return a page of popular recent posts of public accounts the viewer does not follow."""
        size = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = pagination.decode_token(page_token)
        if cursor is not None:
            if cursor.get("m") != "e":
                raise InvalidArgument.field("page_token", "was issued for another list")
            return await self._from_snapshot(viewer, "e", cursor, size)
        since = id_at(self._clock() - timedelta(days=self._settings.explore_window_days))
        async with self._store.read_transaction() as tx:
            popular = await self._store.popular_posts(
                tx, since_post_id=since, limit=self._settings.explore_candidates
            )
        following = set(await self._graph.following_ids(viewer, exclude_muted=False))
        authors = list(dict.fromkeys(p.author_id for p in popular))
        relations = await self._graph.relations(viewer, [a for a in authors if a != viewer])
        hidden = {
            a for a, r in relations.items() if r.following or r.blocking or r.blocked_by or r.muting
        }
        ids = [
            p.post_id
            for p in popular
            if p.author_id != viewer and p.author_id not in following | hidden
        ]
        snapshot = await self._cache.save_snapshot(
            viewer, ids, ttl=self._settings.snapshot_ttl_seconds
        )
        return await self._snapshot_page(viewer, "e", snapshot, ids, 0, size)

    async def user_posts(
        self, *, viewer: int, user_id: int, page_size: int, page_token: str
    ) -> tuple[list[post_pb2.Post], str]:
        """Return one page of an account's posts, newest first (its profile grid), from the
        read model: the privacy rule from cached relationships, the ids from the grid."""
        views = self._require_views()
        owner = check_id(user_id, "user_id")
        size = pagination.page_size(page_size, default=GRID_PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = pagination.decode_token(page_token)
        before: int | None = None
        if cursor is not None:
            # The same tokens post_svc gives for this list.
            if cursor.get("k") != "user" or cursor.get("s") != owner:
                raise InvalidArgument.field("page_token", "does not belong to this list")
            before = int(_token_field(cursor, "c", int))  # type: ignore[call-overload]
        access, ids = await views.grid_page(viewer, owner, before=before, count=size + 1)
        if access is None or access.blocked:
            raise AuthorNotFound("no user has that id")
        if not access.can_view:
            raise PrivateAccount("this account is private; only its followers see its posts")
        page = ids[:size]
        token = (
            pagination.encode_token({"k": "user", "s": owner, "c": page[-1]})
            if len(ids) > size
            else ""
        )
        return await views.posts(viewer, page, known={owner: access}), token

    async def hashtag_posts(
        self, *, viewer: int, tag: str, page_size: int, page_token: str
    ) -> tuple[str, int, list[post_pb2.Post], str]:
        """Return a tag, how many of its posts the viewer may see, one page of those posts
        (newest first) and the next page's token, from the read model: the ids from the tag's
        index, the privacy rule from cached relationships, the posts composed as everywhere."""
        views = self._require_views()
        normal = check_tag(tag, "tag")
        size = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = pagination.decode_token(page_token)
        before: int | None = None
        if cursor is not None:
            # The same tokens post_svc gives for this list.
            if cursor.get("k") != "tag" or cursor.get("s") != normal or "c" not in cursor:
                raise InvalidArgument.field("page_token", "does not belong to this list")
            value = cursor["c"]
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidArgument.field("page_token", "does not belong to this list")
            before = value
        authors, ids = await views.tag_page(normal, before=before, count=size + 1)
        # Only the posts this viewer may see count: a private account's tags stay private.
        known = await views.access(viewer, list(authors))
        visible = sum(n for a, n in authors.items() if a in known and known[a].can_view)
        page: list[post_pb2.Post] = []
        for round_ in range(TAG_SCAN_ROUNDS):
            if round_:
                ids = await views.tag_ids(normal, before=before, count=size + 1)
            shown = {
                p.post_id: p for p in await views.posts(viewer, ids, check_access=True, known=known)
            }
            for post_id in ids:
                if post_id in shown:
                    if len(page) == size:
                        return normal, visible, page, self._tag_token(normal, page[-1].post_id)
                    page.append(shown[post_id])
                before = post_id
            if len(ids) <= size:
                return normal, visible, page, ""
        return normal, visible, page, self._tag_token(normal, before)

    @staticmethod
    def _tag_token(tag: str, post_id: int | None) -> str:
        if post_id is None:
            return ""
        return pagination.encode_token({"k": "tag", "s": tag, "c": post_id})

    async def get_user(self, *, viewer: int, user_id: int, username: str) -> user_pb2.User:
        """Return one profile, by id or username, as the viewer sees it: by id from the read
        model, by username from user_svc (a username can pass to another account)."""
        views = self._require_views()
        if bool(user_id) == bool(username):
            raise InvalidArgument.field("user_id", "give exactly one of user_id and username")
        if username:
            return await views.profile_by_username(viewer, username)
        if user_id < 0:
            raise InvalidArgument.field("user_id", "must be positive")
        found = await views.profile(viewer, user_id)
        if found is None:
            raise AuthorNotFound("no user has that id")
        return found

    async def get_post(self, *, viewer: int, post_id: int) -> post_pb2.Post:
        """Return one post as the viewer sees it, from the read model."""
        views = self._require_views()
        found = await views.posts(viewer, [check_id(post_id, "post_id")], check_access=True)
        if not found:
            raise PostNotFound("no post has that id")
        return found[0]

    def _require_views(self) -> ReadModel:
        if self._views is None:
            raise RuntimeError("feed_svc serves posts from its read model; none was given")
        return self._views

    # Rebuilding

    async def ensure_built(self, viewer: int) -> InstalledFeed | None:
        """Make sure a viewer's feed is in the cache, rebuilding it once however many ask; return
        what this process installed, None when another process built it."""
        running = self._rebuilds.get(viewer)
        if running is None:
            running = asyncio.ensure_future(self._rebuild_locked(viewer))
            self._rebuilds[viewer] = running
            running.add_done_callback(lambda _t: self._rebuilds.pop(viewer, None))
        return await asyncio.shield(running)

    async def _rebuild_locked(self, viewer: int) -> InstalledFeed | None:
        # Across processes: one holder of the Redis lock rebuilds; the others wait for the feed.
        # Whether the feed is built and the lock are one round trip, and the install releases
        # the lock: a rebuild costs two round trips besides its reads of the sources.
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self._settings.rebuild_lock_seconds
        while True:
            state = await self._cache.lock_unless_built(
                viewer, token, ttl_seconds=self._settings.rebuild_lock_seconds
            )
            if state == BUILT:
                return None
            if state == LOCKED:
                break
            if time.monotonic() > deadline:
                break  # the holder died without releasing; its lock expires on its own
            await asyncio.sleep(0.05)
        try:
            return await self.rebuild(viewer, lock_token=token)
        except BaseException:
            await self._cache.unlock(viewer, token)
            raise

    async def rebuild(self, viewer: int, *, lock_token: str = "") -> InstalledFeed:
        """Build a viewer's feed from the follow list and the post projection (and release the
        rebuild lock `lock_token` holds with the install); return what was installed."""
        self.rebuild_count += 1
        following = await self._graph.following_ids(viewer, exclude_muted=True)
        celebs, recent = await self._store.current_feed_sources(
            viewer_id=viewer, following=following, limit=self._settings.feed_max_length
        )
        return await self._cache.install(
            viewer, [p.post_id for p in recent], sorted(celebs), lock_token=lock_token
        )

    async def rebuild_projection(self, source: PostSource, directory: Directory) -> tuple[int, int]:
        """Replace the projection with post_svc's live posts and their counts as they are now,
        mark the celebrities graph_svc's follower counts make, and drop every cached feed and
        post view (each is built again from the new projection on its next read). Return how
        many posts and celebrities the projection holds. Events handled meanwhile may count a
        like twice or not at all; run it again when in doubt (it is idempotent)."""
        async with self._store.transaction() as tx:
            await self._store.clear_projection(tx)
        after, total, authors = 0, 0, set()
        while True:
            page = await source.export_page(after, REBUILD_PAGE)
            if not page:
                break
            page_authors = {p.author_id for p in page}
            private = {
                u.user_id
                for u in (await directory.summaries(sorted(page_authors))).values()
                if u.is_private
            }
            async with self._store.transaction() as tx:
                for post in page:
                    await self._store.put_post(
                        tx,
                        post_id=post.post_id,
                        author_id=post.author_id,
                        created_at=post.created_at.ToDatetime(tzinfo=UTC),
                        author_is_private=post.author_id in private,
                        likes=post.like_count,
                        comments=post.comment_count,
                    )
            total += len(page)
            authors |= page_authors
            after = page[-1].post_id
            if len(page) < REBUILD_PAGE:
                break
        followers = await self._graph.follower_counts(sorted(authors)) if authors else {}
        celebs = [
            a for a, n in followers.items() if n > self._settings.celebrity_follower_threshold
        ]
        async with self._store.transaction() as tx:
            for author_id in celebs:
                await self._store.mark_celebrity(tx, author_id=author_id)
        await self._cache.drop_all()
        if self._views is not None:
            await self._views.drop_views()
        log.info("projection rebuilt: %d posts, %d celebrities", total, len(celebs))
        return total, len(celebs)

    # Reacting to events

    async def post_created(
        self,
        *,
        post_id: int,
        author_id: int,
        created_at: datetime,
        author_is_private: bool,
        hashtags: Sequence[str] = (),
        shared: post_pb2.Post | None = None,
        event: tuple[str, int] | None = None,
    ) -> None:
        """Record a post and push it to its author's followers, unless the author is a celebrity;
        `shared` is the event's copy of the post, kept instead of reading the post back. The
        read model's part is skipped when ApplyEvents already did it (`post_published` marked
        `event`, its (producer, event id)): doing it twice would also drop the author's profile
        and bump the grid's version a second time."""
        live, celebrity = await self._store.record_post(
            post_id=post_id,
            author_id=author_id,
            created_at=created_at,
            author_is_private=author_is_private,
        )
        if not live:
            return  # deleted before (or while) this event was delivered: fan nothing out
        views = self._views
        if (
            views is not None
            and event is not None
            and await views.applied_among([(post_id, *event)])
        ):
            views = None  # ApplyEvents kept it, with its grid and hashtags
        if views is not None:
            # Kept before fan-out, so followers' first reads find it (no read-through stampede).
            # Best effort: without it the first reader reads it through, so it never holds up
            # the fan-out.
            await views.set_counts(post_id, version=0, likes=0, comments=0)
            try:
                if shared is not None:
                    await views.store_post(shared)
                else:
                    for post in await self._posts.batch_get(author_id, [post_id]):
                        await views.store_post(post)
            except Exception as exc:  # any peer failure: the first reader reads it through
                log.warning("post %s not kept in the read model before fan-out: %r", post_id, exc)
            await views.grid_changed(author_id, post_id, added=True)
            await views.tags_changed(hashtags, post_id, added=True)
        await self._cache.recent_add(author_id, post_id)
        await self._cache.merge(author_id, [post_id])
        if not celebrity:
            # Before the follower list is read: whoever leaves the author after this moment is
            # skipped, as their clean-up may already have run (docs/read-model.md).
            since = await self._cache.clock()
            await self._push(author_id, post_id, since=since)

    async def _push(self, author_id: int, post_id: int, *, since: int) -> bool:
        """Push a new post to its author's followers, or, once they are more than the celebrity
        threshold, mark the author a celebrity and tell the followers' feeds to pull instead;
        return whether the author is a celebrity now. The count and the followers come from one
        graph_svc stream."""
        followers = await self._graph.counted_followers(
            author_id, batch_size=self._settings.fanout_batch_size, exclude_muted=True
        )
        if followers.count > self._settings.celebrity_follower_threshold:
            async with self._store.transaction() as tx:
                await self._store.mark_celebrity(tx, author_id=author_id)
            # From now on followers pull this author's posts: tell their built feeds.
            async for batch in followers.batches:
                await self._cache.add_celebrity(batch, author_id, since=since)
            return True
        async for batch in followers.batches:
            await self._cache.fan_out(batch, post_id, author_id=author_id, since=since)
        return False

    async def posts_created(self, made: Sequence[Created]) -> None:
        """Record and push many new posts as post_created would one by one: one transaction
        records them all, the events' copies of the posts and one BatchGetPosts per author for
        the others (its own posts, as it sees them) keep them in the read model, and one clock
        reading serves every fan-out (taken before any follower list is read, as each needs)."""
        if not made:
            return
        async with self._store.transaction() as tx:
            live = await self._store.add_posts(
                tx,
                posts_made=[
                    (c.post_id, c.author_id, c.created_at, c.author_is_private) for c in made
                ],
            )
            celebrities = set(
                await self._store.celebrities_among(tx, author_ids=[c.author_id for c in made])
            )
        # Deleted before (or while) its event was delivered: fan nothing out.
        kept = list({c.post_id: c for c in made if c.post_id in live}.values())
        if not kept:
            return
        if self._views is not None:
            # As post_created: kept before fan-out, best effort; not again where ApplyEvents did.
            done = await self._views.applied_among(
                [(c.post_id, *c.event) for c in kept if c.event is not None]
            )
            unkept = [c for c in kept if c.event is None or c.event not in done]
            await self._views.set_counts_many([(c.post_id, 0, 0, 0, 0) for c in unkept])
            await self._views.store_posts([c.shared for c in unkept if c.shared is not None])
            by_author: dict[int, list[int]] = {}
            for c in unkept:
                if c.shared is None:
                    by_author.setdefault(c.author_id, []).append(c.post_id)
            for author_id, post_ids in by_author.items():
                for start in range(0, len(post_ids), BATCH_GET_MAX):
                    part = post_ids[start : start + BATCH_GET_MAX]
                    try:
                        await self._views.store_posts(await self._posts.batch_get(author_id, part))
                    except Exception as exc:  # any peer failure: the first reader reads it through
                        log.warning("posts %s not kept in the read model: %r", part, exc)
            for c in unkept:
                await self._views.grid_changed(c.author_id, c.post_id, added=True)
                await self._views.tags_changed(c.hashtags, c.post_id, added=True)
        for c in kept:
            await self._cache.recent_add(c.author_id, c.post_id)
            await self._cache.merge(c.author_id, [c.post_id])
        pushed = [c for c in kept if c.author_id not in celebrities]
        if not pushed:
            return
        since = await self._cache.clock()
        for c in pushed:
            if c.author_id in celebrities:
                continue  # became one with an earlier post of this run: pulled from now on
            if await self._push(c.author_id, c.post_id, since=since):
                celebrities.add(c.author_id)

    async def post_published(
        self,
        *,
        post_id: int,
        author_id: int,
        created_at: datetime,
        author_is_private: bool,
        hashtags: Sequence[str] = (),
        shared: post_pb2.Post | None = None,
        event: tuple[str, int] | None = None,
    ) -> None:
        """Record a new post in the projection and its author's grid, and keep the event's
        copy of it (`shared`) with zero counts (what PostCreated does before fan-out, applied as
        post_svc answers its author; the fan-out is the bus's). Then mark `event` (its producer
        and id) applied, so the bus's delivery skips this part."""
        live, _ = await self._store.record_post(
            post_id=post_id,
            author_id=author_id,
            created_at=created_at,
            author_is_private=author_is_private,
        )
        if live and self._views is not None:
            if shared is not None:
                # The author's next read (and the fan-out's readers) find it kept: nobody
                # reads it back from post_svc.
                await self._views.set_counts(post_id, version=0, likes=0, comments=0)
                await self._views.store_post(shared)
            await self._views.grid_changed(author_id, post_id, added=True)
            await self._views.tags_changed(hashtags, post_id, added=True)
            if shared is not None and event is not None:
                await self._views.mark_applied(post_id, *event)

    async def post_deleted(
        self, *, post_id: int, author_id: int, created_at: datetime, hashtags: Sequence[str] = ()
    ) -> None:
        """Mark a post deleted and take it out of every feed it reached."""
        await self.post_gone(
            post_id=post_id, author_id=author_id, created_at=created_at, hashtags=hashtags
        )
        await self._cache.recent_remove(author_id, post_id)
        await self._cache.remove([author_id], [post_id])
        async for batch in self._graph.follower_batches(
            author_id, batch_size=self._settings.fanout_batch_size, exclude_muted=False
        ):
            await self._cache.remove(batch, [post_id])

    async def post_gone(
        self, *, post_id: int, author_id: int, created_at: datetime, hashtags: Sequence[str] = ()
    ) -> None:
        """Leave a deleted post out of every read from now on: the read model's tombstone, and
        out of the projection, its author's grid and its hashtags' indexes."""
        if self._views is not None:
            # An event sent before PostDeleted carried the tags: the kept post still knows them.
            tags = [*hashtags, *await self._views.kept_tags(post_id)]
            await self._views.tombstone(post_id)
            await self._views.tags_changed(tags, post_id, added=False)
        async with self._store.transaction() as tx:
            await self._store.delete_post(
                tx, post_id=post_id, author_id=author_id, created_at=created_at
            )
        if self._views is not None:
            await self._views.grid_changed(author_id, post_id, added=False)

    async def relation_changed(self, first: int, second: int, *, counts: bool = False) -> None:
        """Forget the cached relationship of two accounts (any follow, request, block or mute
        change) and, with `counts` (a follow made or gone), their profiles."""
        if self._views is not None:
            await self._views.relation_changed(first, second, counts=counts)

    async def relations_changed(self, pairs: Sequence[tuple[int, int]]) -> None:
        """relation_changed, counts included, for a run of follows."""
        if self._views is not None and pairs:
            await self._views.relations_changed(pairs, counts=True)

    async def account_changed(self, *, user_id: int) -> None:
        """Read an account's profile again on its next read (suspended, back, or deleted)."""
        if self._views is not None:
            await self._views.profile_changed(user_id)

    async def engaged(
        self,
        *,
        producer: str,
        event_id: int,
        post_id: int,
        author_id: int,
        actor_id: int,
        likes: int,
        comments: int,
        views: int = 0,
        unless_applied: bool = False,
    ) -> None:
        """Count a like, unlike, comment, comment deletion or reel view once, however often it
        arrives, and give the read model the counts and the liker's flag. `unless_applied` (the
        bus's delivery) first looks for the mark ApplyEvents leaves once it applied the event in
        full, and then does nothing."""
        if (
            unless_applied
            and self._views is not None
            and await self._views.applied_among([(post_id, producer, event_id)])
        ):
            return
        engages = actor_id and author_id and actor_id != author_id and likes + comments
        # The counts come back also for an event applied before: its first application may
        # have stopped before Redis. The version makes an older answer lose to a newer one.
        found = await self._store.count_engagement(
            producer=producer,
            event_id=event_id,
            post_id=post_id,
            likes=likes,
            comments=comments,
            views=views,
            affinity=(actor_id, author_id, likes + comments) if engages else None,
        )
        if self._views is None:
            return
        if found is not None:
            await self._views.set_counts(
                post_id,
                version=found.version,
                likes=found.like_count,
                comments=found.comment_count,
                views=found.view_count,
            )
        if likes and actor_id:
            await self._views.set_flag(
                viewer=actor_id, post_id=post_id, liked=likes > 0, version=event_id
            )
        # Only now, with the counts and the flag kept: a delivery that finds the mark skips the
        # event, so what it would have repaired must be done.
        if found is not None:
            await self._views.mark_applied(post_id, producer, event_id)

    async def engaged_many(self, events: Sequence[Engaged]) -> None:
        """Count many engagement events as `engaged` would one by one, in one transaction:
        the events claimed in one statement, every post's counts and every affinity written
        once with what the claimed events add (in their order, so the floors at zero fall where
        they would), then the read model's counts and like flags in one round trip each.

        Engagement commutes with every other event feed_svc handles (only these events touch
        the counts, affinities and like flags; PostCreated's zero counts have version 0, which
        loses to any counted one), so a batch may count them all together."""
        if self._views is not None:
            # Applied in full already (ApplyEvents right after post_svc's commit, then the bus
            # delivering the same event): nothing left to count or repair.
            done = await self._views.applied_among(
                [(e.post_id, e.producer, e.event_id) for e in events]
            )
            events = [e for e in events if (e.producer, e.event_id) not in done]
        if not events:
            return
        async with self._store.transaction() as tx:
            claimed = await self._store.claim_events(
                tx, events=[(e.producer, e.event_id) for e in events]
            )
            counted: dict[int, list[tuple[int, int, int]]] = {}
            affinity: dict[tuple[int, int], list[int]] = {}
            for event in events:
                claim = (event.producer, event.event_id)
                if claim not in claimed:
                    continue
                claimed.discard(claim)  # the same event twice in one batch counts once
                counted.setdefault(event.post_id, []).append(
                    (event.likes, event.comments, event.views)
                )
                delta = event.likes + event.comments
                actor, author = event.actor_id, event.author_id
                if actor and author and actor != author and delta:
                    affinity.setdefault((actor, author), []).append(delta)
            await self._store.add_engagement_many(tx, deltas=counted)
            await self._store.add_affinity_many(tx, deltas=affinity)
            # Also for events applied before: their first application may have stopped before
            # Redis. The versions make an older answer lose to a newer one already kept.
            found = await self._store.engagement_of(
                tx, post_ids=list(dict.fromkeys(e.post_id for e in events))
            )
        if self._views is None:
            return
        await self._views.set_counts_many(
            [(p, e.version, e.like_count, e.comment_count, e.view_count) for p, e in found.items()]
        )
        # Only the newest like or unlike of a viewer on a post can win (flags keep the newest
        # event id), so the others need not be sent.
        newest: dict[tuple[int, int], Engaged] = {}
        for event in events:
            if event.likes and event.actor_id:
                flag = (event.actor_id, event.post_id)
                if flag not in newest or newest[flag].event_id < event.event_id:
                    newest[flag] = event
        await self._views.set_likes_many(
            [(a, p, e.likes > 0, e.event_id) for (a, p), e in newest.items()]
        )

    async def saved(self, *, event_id: int, post_id: int, user_id: int, saved: bool) -> None:
        """Record a viewer's save or unsave of a post in the read model."""
        if self._views is not None:
            await self._views.set_flag(
                viewer=user_id, post_id=post_id, saved=saved, version=event_id
            )

    async def profile_changed(self, *, user_id: int) -> None:
        """Show an account's new name and picture on every post served from now on, and its new
        profile on its next read."""
        if self._views is not None:
            await self._views.profile_changed(user_id)
            await self._views.refresh_author(user_id)

    async def media_deleted(self, *, media_id: int) -> None:
        """Take deleted media out of the post the read model shows it in."""
        if self._views is not None:
            await self._views.media_deleted(media_id)

    async def media_changed(self, *, media_id: int, owner_id: int) -> None:
        """Read again from post_svc the post the read model shows a piece of media in (a video's
        HLS ladder finished after the post was kept)."""
        if self._views is None:
            return
        post_id = await self._views.post_of_media(media_id)
        if post_id is None:
            return  # no kept post shows it: the first read reads it through, as it is now
        for post in await self._posts.batch_get(owner_id, [post_id]):
            await self._views.refresh_post(post)

    async def followed(self, *, follower_id: int, followee_id: int) -> None:
        """Merge a newly followed account's recent posts into the follower's feed."""
        await self.followed_many([(follower_id, followee_id)])

    async def followed_many(self, follows: Sequence[tuple[int, int]]) -> None:
        """Merge each newly followed account's recent posts into its follower's feed, for
        (follower, followee) pairs: one Redis round trip finds the built feeds, one transaction
        reads what to merge into them. Merging adds to a set, so the pairs' order is free."""
        built = await self._cache.built_among([follower for follower, _ in follows])
        # Nothing to merge into for the rest (most followers are not reading now): the rebuild
        # on their next read takes the follow list from graph_svc, this follow included.
        live = [(follower, followee) for follower, followee in follows if follower in built]
        if not live:
            return
        followees = list(dict.fromkeys(followee for _, followee in live))
        recent: dict[int, list[int]] = {}
        async with self._store.transaction() as tx:
            celebrities = set(await self._store.celebrities_among(tx, author_ids=followees))
            for followee in followees:
                if followee not in celebrities:
                    posts = await self._store.recent_posts(
                        tx, author_ids=[followee], limit=self._settings.author_recent_posts
                    )
                    recent[followee] = [p.post_id for p in posts]
        for follower, followee in live:
            if followee in celebrities:
                await self._cache.follow_celebrity(follower, followee, following=True)
            else:
                await self._cache.merge(follower, recent[followee])

    async def separated(self, *, viewer_id: int, author_id: int) -> None:
        """Take an author's posts out of a viewer's feed (unfollow, block, mute), including what
        a fan-out in flight would push after this clean-up."""
        await self._cache.separate(viewer_id, author_id)
        await self._cache.follow_celebrity(viewer_id, author_id, following=False)
        shown = await self._cache.feed_ids(
            viewer_id, before=None, count=self._settings.feed_max_length
        )
        async with self._store.transaction() as tx:
            authors = await self._store.authors_of(tx, post_ids=shown)
        await self._cache.remove([viewer_id], [p for p, a in authors.items() if a == author_id])

    async def blocked(self, *, blocker_id: int, blocked_id: int) -> None:
        """Hide each of two accounts from the other (the read model refuses to serve their
        posts from now on) and take each one's posts out of the other's feed."""
        if self._views is not None:
            await self._views.block(blocker=blocker_id, blocked=blocked_id, blocking=True)
        await self.separated(viewer_id=blocker_id, author_id=blocked_id)
        await self.separated(viewer_id=blocked_id, author_id=blocker_id)

    async def unblocked(self, *, blocker_id: int, blocked_id: int) -> None:
        """Lift one block (a block the other way, if any, still hides them)."""
        if self._views is not None:
            await self._views.block(blocker=blocker_id, blocked=blocked_id, blocking=False)

    def deletion_steps(self) -> list[tuple[str, Callable[[int], Awaitable[object]]]]:
        """Return the steps that remove a deleted account from feeds (see mesh.deletion). Its
        posts leave others' feeds and the read model by their PostDeleted events, its likes
        and saves by theirs; what is left is what feed_svc keeps of the account itself."""
        return [("feeds", self._forget_account)]

    async def _forget_account(self, user_id: int) -> None:
        await self._cache.drop([user_id])
        if self._views is not None:
            await self._views.forget_account(user_id)
        async with self._store.transaction() as tx:
            await self._store.forget_account(tx, user_id=user_id)

    async def post_hidden(self, *, viewer_id: int, post_id: int) -> None:
        """Take a post the viewer reported out of their feed, and never serve it to them."""
        if self._views is not None:
            await self._views.hide_post(viewer=viewer_id, post_id=post_id)
        await self._cache.remove([viewer_id], [post_id])

    async def forget(self, *, viewer_id: int) -> None:
        """Drop a viewer's feed so that its next read rebuilds it (after an unmute)."""
        await self._cache.drop([viewer_id])

    def _inactive_seconds(self) -> int:
        return max(int(self._settings.inactive_after_days * 86_400), 1)
