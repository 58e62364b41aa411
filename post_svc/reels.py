"""Reel rules: publishing a reel, counting its views, an account's reels and the Reels tab.

A reel is a post of kind "reel" holding one vertical video of 3 to 90 s, so likes, comments,
saves, hashtags, places, deletion, the author's grid and followers' home feeds treat it as any
post; this module adds what only reels have.

Views count once per viewer per UTC day (the author's own views do not count); a view of 95 % or
more of the video marks the reel watched to the end, on any day.

The Reels tab ranks, on its first page, at most CANDIDATES_MAX live reels of the last
CANDIDATE_DAYS days that the viewer may see (public accounts' reels and followed private
accounts' reels), leaving out the viewer's own, muted accounts' and those watched to the end:

    score = W_RECENCY * 0.5 ** (age_hours / HALF_LIFE_HOURS)
          + W_ENGAGEMENT * min(1, log1p(likes + 2 * comments) / log1p(ENGAGEMENT_SCALE))
          + W_AFFINITY * (1 if the viewer follows the author else 0)
          + W_COMPLETION * (completed views + 1) / (views + 2)

The ranking is kept as a snapshot and later pages walk it, so new reels and changing counts never
make a page repeat or skip a reel; every page checks again, at read time, what may be shown
(deleted reels, blocks, privacy, mutes, and reels finished meanwhile drop out), so a snapshot
never shows what the viewer may no longer see. Snapshots last SNAPSHOT_TTL.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from mesh import pagination
from mesh.errors import InvalidArgument
from mesh.ids import IdGenerator
from post_svc import events
from post_svc.domain import (
    PAGE_MAX,
    Audience,
    LocationInput,
    MediaCatalog,
    Posts,
    PostView,
    Privacy,
    _cursor,
    _int_cursor,
    _token,
    check_id,
)
from post_svc.errors import (
    AuthorNotFound,
    MediaNotFound,
    MediaNotReady,
    PageTokenExpired,
    PrivateAccount,
    ReelMediaInvalid,
    ReelNotFound,
)
from post_svc.reel_store import KIND_REEL, ReelStats, ReelStore
from post_svc.store import EngagementStore, PostStore
from shutter.media.v1 import media_pb2

MIN_DURATION_MS = 3_000
MAX_DURATION_MS = 90_000
# Container durations are rounded; a 90 s clip may say 90.02 s.
DURATION_TOLERANCE_MS = 50
COMPLETION_PERCENT = 95
WATCHED_MAX_MS = 86_400_000
FEED_PAGE_DEFAULT = 10
GRID_PAGE_DEFAULT = 12
CANDIDATES_MAX = 500
CANDIDATE_DAYS = 30
SNAPSHOT_TTL = timedelta(hours=1)
HALF_LIFE_HOURS = 24.0
ENGAGEMENT_SCALE = 1000
W_RECENCY = 0.4
W_ENGAGEMENT = 0.25
W_AFFINITY = 0.2
W_COMPLETION = 0.15

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Relation:
    """The viewer's follow and mute of one account."""

    following: bool
    muting: bool


class Relations(Protocol):
    """graph_svc's follows and mutes of one viewer, asked in batches."""

    async def relations(self, viewer: int, user_ids: Sequence[int]) -> dict[int, Relation]:
        """Return whether the viewer follows and mutes each of these accounts."""
        ...


@dataclass(frozen=True)
class ReelView:
    """A reel as one viewer sees it, with its views."""

    post: PostView
    view_count: int


@dataclass(frozen=True)
class ViewRecorded:
    """The outcome of recording a view."""

    post_id: int
    view_count: int
    counted: bool
    completed: bool


@dataclass(frozen=True)
class Candidate:
    """What the ranking knows of one reel."""

    post_id: int
    author_id: int
    created_at: datetime
    likes: int
    comments: int
    following: bool
    stats: ReelStats


def score(candidate: Candidate, *, now: datetime) -> float:
    """Return a reel's rank for one viewer at one moment (higher first)."""
    age_hours = max(0.0, (now - candidate.created_at).total_seconds() / 3600)
    recency: float = 0.5 ** (age_hours / HALF_LIFE_HOURS)
    activity = candidate.likes + 2 * candidate.comments
    engagement = min(1.0, math.log1p(activity) / math.log1p(ENGAGEMENT_SCALE))
    affinity = 1.0 if candidate.following else 0.0
    stats = candidate.stats
    completion = (stats.completed_count + 1) / (stats.view_count + 2)
    return (
        W_RECENCY * recency
        + W_ENGAGEMENT * engagement
        + W_AFFINITY * affinity
        + W_COMPLETION * completion
    )


def check_reel_media(item: media_pb2.Media | None, *, caller: int) -> media_pb2.Media:
    """Return the media if it can make a reel of the caller's, else raise why not."""
    if item is None or item.owner_user_id != caller:
        raise MediaNotFound.field("media_id", "no media of yours has this id")
    if item.status != media_pb2.MEDIA_STATUS_READY:
        raise MediaNotReady(
            "media_id: the media is not ready (still processing, or it failed)",
            metadata={"media_id": str(item.media_id)},
        )
    if item.type != media_pb2.MEDIA_TYPE_VIDEO:
        raise ReelMediaInvalid.field("media_id", "a reel is a video", reason="REEL_NOT_VIDEO")
    if item.height <= item.width:
        raise ReelMediaInvalid.field(
            "media_id",
            f"a reel is vertical (taller than wide); this video is {item.width}x{item.height}",
            reason="REEL_NOT_VERTICAL",
        )
    if not (
        MIN_DURATION_MS - DURATION_TOLERANCE_MS
        <= item.duration_ms
        <= MAX_DURATION_MS + DURATION_TOLERANCE_MS
    ):
        raise ReelMediaInvalid.field(
            "media_id",
            f"a reel lasts {MIN_DURATION_MS // 1000} to {MAX_DURATION_MS // 1000} s; "
            f"this video lasts {item.duration_ms / 1000:.1f} s",
            reason="REEL_DURATION_INVALID",
        )
    return item


class Reels:
    """The rules of reels, their views and the Reels tab."""

    def __init__(
        self,
        posts: Posts,
        post_store: PostStore,
        reels: ReelStore,
        engagement: EngagementStore,
        *,
        privacy: Privacy,
        relations: Relations,
        media: MediaCatalog,
        ids: IdGenerator,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._posts = posts
        self._store = post_store
        self._reels = reels
        self._engagement = engagement
        self._audience = Audience(privacy)
        self._relations = relations
        self._media = media
        self._ids = ids
        self._clock = clock

    async def create_reel(
        self,
        *,
        caller: int,
        media_id: int,
        caption: str,
        location: LocationInput | None,
        idempotency_key: str,
        alt_text: str = "",
    ) -> ReelView:
        """Publish a reel of one of the caller's ready vertical videos of 3 to 90 s."""
        check_id(media_id, "media_id")
        found = await self._media.media([media_id], fresh=True)
        check_reel_media(found.get(media_id), caller=caller)
        view = await self._posts.create_post(
            caller=caller,
            media_ids=[media_id],
            caption=caption,
            location=location,
            idempotency_key=idempotency_key,
            kind=KIND_REEL,
            alt_texts=[alt_text] if alt_text else [],
        )
        return (await self._with_views([view]))[0]

    async def record_view(self, *, caller: int, post_id: int, watched_ms: int) -> ViewRecorded:
        """Count the caller's view of a reel once per day, and whether they watched it all."""
        if not 0 <= watched_ms <= WATCHED_MAX_MS:
            raise InvalidArgument.field("watched_ms", f"must be 0 to {WATCHED_MAX_MS} (a day)")
        reel = await self._visible_reel(caller, post_id)
        if reel.record.author_id == caller:  # authors do not inflate their own counts
            async with self._store.transaction() as tx:
                stats = (await self._reels.stats(tx, post_ids=[post_id])).get(post_id)
            count = stats.view_count if stats else 0
            return ViewRecorded(post_id, count, counted=False, completed=False)
        duration = reel.media[0].duration_ms if reel.media else 0
        completed = duration > 0 and watched_ms * 100 >= duration * COMPLETION_PERCENT
        now = self._clock()
        viewed = None
        async with self._store.transaction() as tx:
            outcome = await self._reels.record_view(
                tx,
                post_id=post_id,
                viewer_id=caller,
                day=now.date().isoformat(),
                watched_ms=watched_ms,
                completed=completed,
                at=now,
            )
            if outcome.counted:
                # feed_svc keeps the count its read model serves the reel with (home feed).
                viewed = await self._store.outbox.add(
                    tx,
                    aggregate_id=post_id,
                    event=events.reel_viewed(reel.record, viewer_id=caller, at=now),
                )
        await self._posts.tell_feed(viewed)
        return ViewRecorded(post_id, outcome.stats.view_count, outcome.counted, outcome.completed)

    async def _visible_reel(self, viewer: int, post_id: int) -> PostView:
        check_id(post_id, "post_id")
        views = await self._posts.batch_get(viewer=viewer, post_ids=[post_id])
        if not views or views[0].record.kind != KIND_REEL:
            raise ReelNotFound("no reel has that id")
        return views[0]

    async def _with_views(self, views: Sequence[PostView]) -> list[ReelView]:
        async with self._store.read_transaction() as tx:
            stats = await self._reels.stats(tx, post_ids=[v.record.post_id for v in views])
        return [
            ReelView(v, stats[v.record.post_id].view_count if v.record.post_id in stats else 0)
            for v in views
        ]

    async def list_user_reels(
        self, *, viewer: int | None, user_id: int, page_size: int, page_token: str
    ) -> tuple[list[ReelView], str]:
        """Return one page of an account's reels, newest first, as its grid shows posts."""
        owner = check_id(user_id, "user_id")
        limit = pagination.page_size(page_size, default=GRID_PAGE_DEFAULT, maximum=PAGE_MAX)
        before = _int_cursor(_cursor(page_token, kind="reels", scope=owner))
        if viewer != owner:
            found = (await self._audience.visibilities(viewer, [owner])).get(owner)
            if found is None or found.blocked:
                raise AuthorNotFound("no user has that id")
            if not found.can_view:
                raise PrivateAccount("this account is private; only its followers see its reels")
        begin = self._store.transaction if viewer == owner else self._store.read_transaction
        async with begin() as tx:
            rows = await self._reels.list_user_reels(
                tx, author_id=owner, before=before, limit=limit + 1
            )
        page = rows[:limit]
        token = _token(page[-1].post_id if len(rows) > limit else None, kind="reels", scope=owner)
        views = await self._posts.batch_get(viewer=viewer, post_ids=[r.post_id for r in page])
        return await self._with_views(views), token

    async def feed(
        self, *, viewer: int, page_size: int, page_token: str
    ) -> tuple[list[ReelView], str]:
        """Return one page of the viewer's Reels tab and the token of the next one."""
        limit = pagination.page_size(page_size, default=FEED_PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = _cursor(page_token, kind="reels-feed", scope=viewer)
        now = self._clock()
        if cursor is None:
            ranked = await self._rank(viewer, now=now)
            snapshot_id, offset = self._ids.next_id(), 0
            async with self._store.transaction() as tx:
                await self._reels.save_snapshot(
                    tx,
                    snapshot_id=snapshot_id,
                    viewer_id=viewer,
                    post_ids=ranked,
                    at=now,
                    expire_before=now - SNAPSHOT_TTL,
                )
        else:
            if not isinstance(cursor, list) or len(cursor) != 2:
                raise InvalidArgument.field("page_token", "does not belong to this list")
            snapshot_id, offset = int(cursor[0]), int(cursor[1])
            async with self._store.transaction() as tx:
                snapshot = await self._reels.get_snapshot(tx, snapshot_id=snapshot_id)
            if (
                snapshot is None
                or snapshot.viewer_id != viewer
                or snapshot.created_at < now - SNAPSHOT_TTL
            ):
                raise PageTokenExpired.field(
                    "page_token", "the ranking this page belongs to expired; start again"
                )
            ranked = snapshot.post_ids
        page: list[ReelView] = []
        while len(page) < limit and offset < len(ranked):
            batch = ranked[offset : offset + limit - len(page)]
            offset += len(batch)
            page += await self._showable(viewer, batch)
        more = offset < len(ranked)
        return page, _token(
            [snapshot_id, offset] if more else None, kind="reels-feed", scope=viewer
        )

    async def _showable(self, viewer: int, post_ids: list[int]) -> list[ReelView]:
        """Return the reels among these the viewer may still be shown, in this order."""
        async with self._store.read_transaction() as tx:
            finished = await self._reels.completed_among(tx, viewer_id=viewer, post_ids=post_ids)
        views = await self._posts.batch_get(
            viewer=viewer, post_ids=[p for p in post_ids if p not in finished]
        )
        authors = list({v.record.author_id for v in views})
        relations = await self._relations.relations(viewer, authors) if authors else {}
        kept = [v for v in views if not (r := relations.get(v.record.author_id)) or not r.muting]
        return await self._with_views(kept)

    async def _rank(self, viewer: int, *, now: datetime) -> list[int]:
        """Return the ids of the reels of the viewer's Reels tab, best first."""
        async with self._store.read_transaction() as tx:
            recent = await self._reels.recent_reels(
                tx, since=now - timedelta(days=CANDIDATE_DAYS), limit=CANDIDATES_MAX
            )
        recent = [r for r in recent if r.author_id != viewer]
        if not recent:
            return []
        authors = list({r.author_id for r in recent})
        visibilities, relations = await asyncio.gather(
            self._audience.visibilities(viewer, authors),
            self._relations.relations(viewer, authors),
        )

        def allowed(author: int) -> bool:
            seen, relation = visibilities.get(author), relations.get(author)
            return bool(seen and seen.can_view and not seen.blocked) and not (
                relation and relation.muting
            )

        recent = [r for r in recent if allowed(r.author_id)]
        ids = [r.post_id for r in recent]
        async with self._store.read_transaction() as tx:
            finished = await self._reels.completed_among(tx, viewer_id=viewer, post_ids=ids)
            counts = await self._engagement.counts(tx, post_ids=ids)
            stats = await self._reels.stats(tx, post_ids=ids)
        scored = []
        for record in recent:
            if record.post_id in finished:
                continue
            count = counts.get(record.post_id)
            relation = relations.get(record.author_id)
            candidate = Candidate(
                post_id=record.post_id,
                author_id=record.author_id,
                created_at=record.created_at,
                likes=count.like_count if count else 0,
                comments=count.comment_count if count else 0,
                following=bool(relation and relation.following),
                stats=stats.get(record.post_id, ReelStats()),
            )
            scored.append((score(candidate, now=now), record.post_id))
        scored.sort(key=lambda item: (-item[0], -item[1]))
        return [post_id for _, post_id in scored]
