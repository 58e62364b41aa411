"""Reels persistence: reel candidates, views once per viewer per day, and Reels tab snapshots.

Reels are rows of the posts table (kind "reel"), so these queries share the PostStore's
transactions and its tables (post_svc.store holds their definitions, for the migrations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from post_svc.store import (
    _LIVE,
    PostRecord,
    _aware,
    _Dialect,
    _post,
    _rowcount,
    posts,
    reel_feed_snapshots,
    reel_stats,
    reel_views,
)

KIND_REEL = "reel"


@dataclass(frozen=True)
class ReelStats:
    """A reel's views (one per viewer per day) and how many of them reached the end."""

    view_count: int = 0
    completed_count: int = 0


@dataclass(frozen=True)
class ViewOutcome:
    """What recording a view changed."""

    counted: bool
    completed: bool
    stats: ReelStats


@dataclass(frozen=True)
class Snapshot:
    """A viewer's ranked Reels tab."""

    viewer_id: int
    post_ids: list[int]
    created_at: datetime


class ReelStore(Protocol):
    """What the reels rules need from storage, on the PostStore's transactions."""

    async def recent_reels(
        self, session: AsyncSession, *, since: datetime, limit: int
    ) -> list[PostRecord]: ...
    async def list_user_reels(
        self, session: AsyncSession, *, author_id: int, before: int | None, limit: int
    ) -> list[PostRecord]: ...
    async def record_view(
        self,
        session: AsyncSession,
        *,
        post_id: int,
        viewer_id: int,
        day: str,
        watched_ms: int,
        completed: bool,
        at: datetime,
    ) -> ViewOutcome: ...
    async def completed_among(
        self, session: AsyncSession, *, viewer_id: int, post_ids: Sequence[int]
    ) -> set[int]: ...
    async def view_counts(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, int]: ...
    async def stats(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, ReelStats]: ...
    async def save_snapshot(
        self,
        session: AsyncSession,
        *,
        snapshot_id: int,
        viewer_id: int,
        post_ids: Sequence[int],
        at: datetime,
        expire_before: datetime,
    ) -> None: ...
    async def get_snapshot(self, session: AsyncSession, *, snapshot_id: int) -> Snapshot | None: ...


class SqlReelStore:
    """The relational implementation of ReelStore (SQLite embedded, PostgreSQL in production)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._dialect = _Dialect(engine)

    async def recent_reels(
        self, session: AsyncSession, *, since: datetime, limit: int
    ) -> list[PostRecord]:
        """Return the newest live reels made since a moment, newest first."""
        query = (
            select(posts)
            .where(posts.c.kind == KIND_REEL, _LIVE, posts.c.created_at >= since)
            .order_by(posts.c.post_id.desc())
            .limit(limit)
        )
        return [_post(row) for row in await session.execute(query)]

    async def list_user_reels(
        self, session: AsyncSession, *, author_id: int, before: int | None, limit: int
    ) -> list[PostRecord]:
        """Return an author's live reels, newest first, older than post id `before`."""
        query = select(posts).where(
            posts.c.author_id == author_id, posts.c.kind == KIND_REEL, _LIVE
        )
        if before is not None:
            query = query.where(posts.c.post_id < before)
        query = query.order_by(posts.c.post_id.desc()).limit(limit)
        return [_post(row) for row in await session.execute(query)]

    async def record_view(
        self,
        session: AsyncSession,
        *,
        post_id: int,
        viewer_id: int,
        day: str,
        watched_ms: int,
        completed: bool,
        at: datetime,
    ) -> ViewOutcome:
        """Record a viewer's view of a reel on a day: a new view the first time that day, else
        the longest watch of the day; the reel's counts follow."""
        insert = self._dialect.insert(reel_views).values(
            post_id=post_id,
            viewer_id=viewer_id,
            day=day,
            watched_ms=watched_ms,
            completed=completed,
            viewed_at=at,
        )
        added = _rowcount(
            await session.execute(
                insert.on_conflict_do_nothing().execution_options(preserve_rowcount=True)
            )
        )
        newly_completed = completed
        if not added:
            key = (
                reel_views.c.post_id == post_id,
                reel_views.c.viewer_id == viewer_id,
                reel_views.c.day == day,
            )
            row = (
                await session.execute(select(reel_views.c.completed).where(*key).with_for_update())
            ).first()
            was_completed = bool(row.completed) if row else False
            newly_completed = completed and not was_completed
            await session.execute(
                update(reel_views)
                .where(*key, reel_views.c.watched_ms < watched_ms)
                .values(watched_ms=watched_ms, completed=completed or was_completed, viewed_at=at)
            )
        views, ends = (1 if added else 0), (1 if newly_completed else 0)
        if views or ends:
            upsert = self._dialect.insert(reel_stats).values(
                post_id=post_id, view_count=views, completed_count=ends
            )
            await session.execute(
                upsert.on_conflict_do_update(
                    index_elements=[reel_stats.c.post_id],
                    set_={
                        "view_count": reel_stats.c.view_count + views,
                        "completed_count": reel_stats.c.completed_count + ends,
                    },
                )
            )
        stats = (await self.stats(session, post_ids=[post_id])).get(post_id, ReelStats())
        done = await self.completed_among(session, viewer_id=viewer_id, post_ids=[post_id])
        return ViewOutcome(counted=bool(added), completed=post_id in done, stats=stats)

    async def completed_among(
        self, session: AsyncSession, *, viewer_id: int, post_ids: Sequence[int]
    ) -> set[int]:
        """Return which of these reels the viewer watched to the end, on any day."""
        if not post_ids:
            return set()
        query = select(reel_views.c.post_id).where(
            reel_views.c.viewer_id == viewer_id,
            reel_views.c.completed.is_(True),
            reel_views.c.post_id.in_(list(post_ids)),
        )
        return {int(p) for p in await session.scalars(query)}

    async def stats(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, ReelStats]:
        """Return the view counts of the reels among these ids that were ever watched."""
        if not post_ids:
            return {}
        query = select(reel_stats).where(reel_stats.c.post_id.in_(list(post_ids)))
        return {
            row.post_id: ReelStats(int(row.view_count), int(row.completed_count))
            for row in await session.execute(query)
        }

    async def view_counts(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, int]:
        """Return the view counts of the reels among these ids that were ever watched."""
        return {p: s.view_count for p, s in (await self.stats(session, post_ids=post_ids)).items()}

    async def save_snapshot(
        self,
        session: AsyncSession,
        *,
        snapshot_id: int,
        viewer_id: int,
        post_ids: Sequence[int],
        at: datetime,
        expire_before: datetime,
    ) -> None:
        """Keep a ranked Reels tab, and drop the snapshots that expired (no sweeper needed)."""
        await session.execute(
            delete(reel_feed_snapshots).where(reel_feed_snapshots.c.created_at < expire_before)
        )
        await session.execute(
            reel_feed_snapshots.insert().values(
                snapshot_id=snapshot_id, viewer_id=viewer_id, post_ids=list(post_ids), created_at=at
            )
        )

    async def get_snapshot(self, session: AsyncSession, *, snapshot_id: int) -> Snapshot | None:
        """Return a ranked Reels tab by id."""
        query = select(reel_feed_snapshots).where(reel_feed_snapshots.c.snapshot_id == snapshot_id)
        row: Any = (await session.execute(query)).first()
        if row is None:
            return None
        created = _aware(row.created_at)
        return Snapshot(int(row.viewer_id), [int(p) for p in row.post_ids], created)
