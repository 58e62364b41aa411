"""feed_svc persistence: its projection of posts, engagement and affinities (SQLAlchemy Core).

This is the source of truth feeds are rebuilt from when Redis loses them: every post (author,
time, deletion), its like and comment counts, and how much each viewer engaged with each author,
all kept from post_svc's events. Events arrive at least once, so every change records the event
id in `processed_events` in the same transaction and an event seen before changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    any_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mesh import db
from mesh.deadletters import dead_letters_table
from mesh.deletion import ledger_table

metadata = MetaData()
# The steps of removing deleted accounts that are done (mesh.deletion).
deletion_ledger = ledger_table(metadata)
# Dead letters of this service's consumer groups, kept here so they outlive Redis.
dead_letters = dead_letters_table(metadata)

posts = Table(
    "posts",
    metadata,
    Column("post_id", BigInteger, primary_key=True, autoincrement=False),
    Column("author_id", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # As the author's account was when they posted; explore leaves private accounts out, and
    # hydration applies the privacy rule as it is now.
    Column("author_is_private", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    # An author's posts newest first (rebuilds, follow merges, unfollow removals).
    Index("ix_posts_author_recent", "author_id", "post_id"),
)

engagement = Table(
    "engagement",
    metadata,
    # No foreign key: a like may arrive before the post it likes when consumers run in parallel.
    Column("post_id", BigInteger, primary_key=True, autoincrement=False),
    Column("like_count", BigInteger, nullable=False, default=0),
    Column("comment_count", BigInteger, nullable=False, default=0),
    # How many engagement events changed the counts: a version that only grows, so the read
    # model's copy of the counts in Redis takes a newer answer and never an older one.
    Column("version", BigInteger, nullable=False, default=0, server_default="0"),
    # A reel's views (ReelViewed: once per viewer per day); 0 for feed posts.
    Column("view_count", BigInteger, nullable=False, default=0, server_default="0"),
)

affinities = Table(
    "affinities",
    metadata,
    Column("viewer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("author_id", BigInteger, primary_key=True, autoincrement=False),
    # The viewer's likes plus comments on the author's posts, minus likes taken back.
    Column("score", BigInteger, nullable=False, default=0),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("producer", String(64), primary_key=True),
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

celebrities = Table(
    "celebrities",
    metadata,
    # Authors once found above the follower threshold; sticky, so that an author hovering at the
    # threshold does not flip their followers between push and pull.
    Column("author_id", BigInteger, primary_key=True, autoincrement=False),
    Column("marked_at", DateTime(timezone=True), nullable=False),
)

# A new post recorded, whether it is live and whether its author is a celebrity, in one
# statement (PostgreSQL): what every PostCreated asks, once as post_svc answers (ApplyEvents)
# and once from the bus. The insert's CTE answers for a row it made; the statement's snapshot
# shows a row that was there before; a row another transaction made meanwhile shows in neither
# (NULL), and is read again.
_NEW_POST = (
    postgresql.insert(posts)
    .values(
        post_id=bindparam("post_id"),
        author_id=bindparam("author_id"),
        created_at=bindparam("created_at"),
        author_is_private=bindparam("author_is_private"),
        deleted=False,
    )
    .on_conflict_do_nothing()
    .returning(posts.c.deleted)
    .cte("new_post")
)
_POST_DELETED = select(posts.c.deleted).where(posts.c.post_id == bindparam("post_id"))
_RECORD_POST = select(
    func.coalesce(
        select(_NEW_POST.c.deleted).scalar_subquery(), _POST_DELETED.scalar_subquery()
    ).label("deleted"),
    exists().where(celebrities.c.author_id == bindparam("author_id")).label("celebrity"),
)


@dataclass(frozen=True)
class PostRef:
    """A post as feeds know it."""

    post_id: int
    author_id: int


@dataclass(frozen=True)
class RankingFacts:
    """What ranking needs of one live post: its author, counts and the viewer's affinity."""

    post_id: int
    author_id: int
    like_count: int
    comment_count: int
    affinity: int


@dataclass(frozen=True)
class Engagement:
    """A post's engagement counts, and how many events made them (0 without any)."""

    post_id: int
    like_count: int
    comment_count: int
    version: int = 0
    view_count: int = 0


class FeedStore(Protocol):
    """What feed_svc's rules need from storage."""

    # True when read_transaction() reads a replica, which may lag behind transaction().
    has_replica: bool

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]: ...
    def read_transaction(self) -> AbstractAsyncContextManager[AsyncSession]: ...
    async def claim_event(self, session: AsyncSession, *, producer: str, event_id: int) -> bool: ...
    async def claim_events(
        self, session: AsyncSession, *, events: Sequence[tuple[str, int]]
    ) -> set[tuple[str, int]]: ...
    async def count_engagement(
        self,
        *,
        producer: str,
        event_id: int,
        post_id: int,
        likes: int,
        comments: int,
        views: int,
        affinity: tuple[int, int, int] | None,
    ) -> Engagement | None: ...
    async def add_engagement_many(
        self, session: AsyncSession, *, deltas: Mapping[int, Sequence[tuple[int, int, int]]]
    ) -> None: ...
    async def add_affinity_many(
        self, session: AsyncSession, *, deltas: Mapping[tuple[int, int], Sequence[int]]
    ) -> None: ...
    async def forget_account(self, session: AsyncSession, *, user_id: int) -> None: ...
    async def add_post(
        self,
        session: AsyncSession,
        *,
        post_id: int,
        author_id: int,
        created_at: datetime,
        author_is_private: bool,
    ) -> bool: ...
    async def record_post(
        self, *, post_id: int, author_id: int, created_at: datetime, author_is_private: bool
    ) -> tuple[bool, bool]: ...
    async def add_posts(
        self, session: AsyncSession, *, posts_made: Sequence[tuple[int, int, datetime, bool]]
    ) -> set[int]: ...
    async def delete_post(
        self, session: AsyncSession, *, post_id: int, author_id: int, created_at: datetime
    ) -> None: ...
    async def add_engagement(
        self, session: AsyncSession, *, post_id: int, likes: int, comments: int, views: int = 0
    ) -> None: ...
    async def add_affinity(
        self, session: AsyncSession, *, viewer_id: int, author_id: int, delta: int
    ) -> None: ...
    async def recent_posts(
        self, session: AsyncSession, *, author_ids: Sequence[int], limit: int
    ) -> list[PostRef]: ...
    async def author_posts(
        self, session: AsyncSession, *, author_id: int, before: int | None, limit: int
    ) -> list[int]: ...
    async def authors_of(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, int]: ...
    async def engagement_of(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, Engagement]: ...
    async def affinities_of(
        self, session: AsyncSession, *, viewer_id: int, author_ids: Sequence[int]
    ) -> dict[int, int]: ...
    async def ranking_facts(
        self, session: AsyncSession, *, viewer_id: int, post_ids: Sequence[int]
    ) -> dict[int, RankingFacts]: ...
    async def current_ranking_facts(
        self, *, viewer_id: int, post_ids: Sequence[int]
    ) -> dict[int, RankingFacts]: ...
    async def popular_posts(
        self, session: AsyncSession, *, since_post_id: int, limit: int
    ) -> list[PostRef]: ...
    async def celebrities_among(
        self, session: AsyncSession, *, author_ids: Sequence[int]
    ) -> list[int]: ...
    async def feed_sources(
        self, session: AsyncSession, *, viewer_id: int, following: Sequence[int], limit: int
    ) -> tuple[list[int], list[PostRef]]: ...
    async def current_feed_sources(
        self, *, viewer_id: int, following: Sequence[int], limit: int
    ) -> tuple[list[int], list[PostRef]]: ...
    async def current_engagement(self, *, post_ids: Sequence[int]) -> dict[int, Engagement]: ...
    async def mark_celebrity(self, session: AsyncSession, *, author_id: int) -> bool: ...
    async def clear_projection(self, session: AsyncSession) -> None: ...
    async def put_post(
        self,
        session: AsyncSession,
        *,
        post_id: int,
        author_id: int,
        created_at: datetime,
        author_is_private: bool,
        likes: int,
        comments: int,
    ) -> None: ...


# Bound parameters per IN list, well below SQLite's and PostgreSQL's limits.
_IN_CHUNK = 500


def _feed_sources_query(viewer: Any, followed: Callable[[Any], Any], limit: Any) -> Any:
    """Return the statement feed_sources runs: the celebrities among the followed accounts (as
    post id 0: post ids are positive), then the newest `limit` live posts of the viewer and of
    the other followed accounts. `followed(column)` says whether an account is followed."""
    marked = select(celebrities.c.author_id).where(followed(celebrities.c.author_id))
    newest = (
        select(posts.c.post_id, posts.c.author_id)
        .where(
            or_(
                posts.c.author_id == viewer,
                and_(followed(posts.c.author_id), posts.c.author_id.not_in(marked)),
            ),
            posts.c.deleted.is_(False),
        )
        .order_by(posts.c.post_id.desc())
        .limit(limit)
        .subquery()
    )
    return union_all(
        select(literal(0).label("post_id"), celebrities.c.author_id).where(
            followed(celebrities.c.author_id)
        ),
        select(newest.c.post_id, newest.c.author_id),
    )


def _as_arrays(query: Any) -> Any:
    """Return the statement that answers a (post_id, author_id) query as one row of two arrays
    (PostgreSQL): psycopg reads an array of integers in C, where a row each goes through
    SQLAlchemy's row machinery (a third of a cold feed's rebuild statement)."""
    rows = query.subquery()
    return select(func.array_agg(rows.c.post_id), func.array_agg(rows.c.author_id))


# PostgreSQL's prebuilt statements (one statement string whatever the number of ids, so
# neither SQLAlchemy nor psycopg builds or parses it again per call): the accounts and posts
# are one array parameter each.
_FOLLOWING = bindparam("following", type_=postgresql.ARRAY(BigInteger))
_CURRENT_FEED_SOURCES = _as_arrays(
    _feed_sources_query(
        bindparam("viewer", type_=BigInteger),
        lambda column: column == any_(_FOLLOWING),
        bindparam("limit", type_=Integer),
    )
)
_CURRENT_ENGAGEMENT = select(engagement).where(
    engagement.c.post_id == any_(bindparam("post_ids", type_=postgresql.ARRAY(BigInteger)))
)


def _ranking_facts_query(viewer: Any, wanted: Any) -> Any:
    """Return the statement ranking_facts runs for the live posts `wanted` selects: each one's
    author, counts and the viewer's affinity to its author (0 for what has none)."""
    joined = posts.outerjoin(engagement, engagement.c.post_id == posts.c.post_id).outerjoin(
        affinities,
        and_(affinities.c.viewer_id == viewer, affinities.c.author_id == posts.c.author_id),
    )
    return (
        select(
            posts.c.post_id,
            posts.c.author_id,
            func.coalesce(engagement.c.like_count, 0),
            func.coalesce(engagement.c.comment_count, 0),
            func.coalesce(affinities.c.score, 0),
        )
        .select_from(joined)
        .where(wanted, posts.c.deleted.is_(False))
    )


_RANKING_FACTS = _ranking_facts_query(
    bindparam("viewer", type_=BigInteger),
    posts.c.post_id == any_(bindparam("post_ids", type_=postgresql.ARRAY(BigInteger))),
)
# Elsewhere (SQLite) the same statement built once, its ids an IN list expanded per call.
_RANKING_FACTS_LISTED = _ranking_facts_query(
    bindparam("viewer", type_=BigInteger),
    posts.c.post_id.in_(bindparam("post_ids", expanding=True)),
)


def _ranking_facts_answer(rows: Any) -> dict[int, RankingFacts]:
    return {row[0]: RankingFacts(*(int(v) for v in row)) for row in rows}


async def _listed_ranking_facts(
    session: AsyncSession, viewer_id: int, post_ids: Sequence[int]
) -> dict[int, RankingFacts]:
    """Return ranking_facts with the ids in IN lists, one statement per chunk."""
    found: dict[int, RankingFacts] = {}
    for chunk in _chunks(post_ids):
        rows = await session.execute(
            _RANKING_FACTS_LISTED, {"viewer": viewer_id, "post_ids": chunk}
        )
        found.update(_ranking_facts_answer(rows))
    return found


def _feed_sources_answer(rows: Any) -> tuple[list[int], list[PostRef]]:
    celebs: list[int] = []
    recent: list[PostRef] = []
    for post_id, author_id in rows:
        if post_id == 0:
            celebs.append(author_id)
        else:
            recent.append(PostRef(post_id, author_id))
    recent.sort(key=lambda p: p.post_id, reverse=True)
    return celebs, recent


def _engagement_answer(rows: Any) -> dict[int, Engagement]:
    return {
        r.post_id: Engagement(r.post_id, r.like_count, r.comment_count, r.version, r.view_count)
        for r in rows
    }


# Rows per multi-row INSERT (at most five columns: under SQLite's oldest limit of 999 parameters).
_ROWS_CHUNK = 150


def _floored(start: int, deltas: Sequence[int]) -> int:
    """Return a count after adding each delta in turn, never below zero after any of them:
    exactly what applying them one by one (add_engagement, add_affinity) leaves."""
    value = start
    for delta in deltas:
        value = max(0, value + delta)
    return value


def _chunks(values: Sequence[int]) -> list[list[int]]:
    unique = list(dict.fromkeys(values))
    return [unique[i : i + _IN_CHUNK] for i in range(0, len(unique), _IN_CHUNK)]


# SqlFeedStore.count_engagement on PostgreSQL: the claim, the counts and the affinity as one
# statement; the counts it returns are the upsert's when the event is new (the statement's own
# changes are invisible to its reads), else the row as it is.
_COUNT_ENGAGEMENT = text(
    """
WITH claimed AS (
    INSERT INTO processed_events (producer, event_id, processed_at)
    VALUES (:producer, :event_id, now())
    ON CONFLICT DO NOTHING
    RETURNING event_id
), counted AS (
    INSERT INTO engagement (post_id, like_count, comment_count, view_count, version)
    SELECT :post_id, greatest(:likes, 0), greatest(:comments, 0), greatest(:views, 0), 1
    FROM claimed
    ON CONFLICT (post_id) DO UPDATE SET
        like_count = greatest(0, engagement.like_count + :likes),
        comment_count = greatest(0, engagement.comment_count + :comments),
        view_count = greatest(0, engagement.view_count + :views),
        version = engagement.version + 1
    RETURNING post_id, like_count, comment_count, version, view_count
), liked AS (
    INSERT INTO affinities (viewer_id, author_id, score)
    SELECT :viewer_id, :author_id, greatest(:delta, 0) FROM claimed WHERE :delta <> 0
    ON CONFLICT (viewer_id, author_id) DO UPDATE SET
        score = greatest(0, affinities.score + :delta)
)
SELECT post_id, like_count, comment_count, version, view_count FROM counted
UNION ALL
SELECT post_id, like_count, comment_count, version, view_count FROM engagement
WHERE post_id = :post_id AND NOT EXISTS (SELECT 1 FROM claimed)
"""
).bindparams(
    *(
        bindparam(name, type_=BigInteger)
        for name in (
            "event_id",
            "post_id",
            "likes",
            "comments",
            "views",
            "viewer_id",
            "author_id",
            "delta",
        )
    ),
    bindparam("producer", type_=String),
)


class SqlFeedStore:
    """The relational implementation of FeedStore (SQLite embedded, PostgreSQL in production)."""

    def __init__(self, engine: AsyncEngine, *, replica: AsyncEngine | None = None) -> None:
        self._sessions = db.session_factory(engine)
        self._read_sessions = db.read_session_factory(engine, replica)
        self.has_replica = replica is not None
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._postgres else sqlite.insert
        # A statement that is a whole transaction by itself runs on an autocommit connection
        # (no BEGIN and COMMIT round trips).
        self._autocommit = db.autocommit(engine)

    async def forget_account(self, session: AsyncSession, *, user_id: int) -> None:
        """Forget a deleted account's affinities both ways and its celebrity mark."""
        await session.execute(
            affinities.delete().where(
                or_(affinities.c.viewer_id == user_id, affinities.c.author_id == user_id)
            )
        )
        await session.execute(celebrities.delete().where(celebrities.c.author_id == user_id))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a transaction: committed when the block ends, rolled back on any error."""
        async with db.transaction(self._sessions) as session:
            yield session

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a read-only transaction on the replica (else the primary); a write fails."""
        async with db.transaction(self._read_sessions) as session:
            yield session

    async def claim_event(self, session: AsyncSession, *, producer: str, event_id: int) -> bool:
        """Record an event as processed; return False when it was processed before."""
        result = await session.execute(
            self._insert(processed_events)
            .values(producer=producer, event_id=event_id, processed_at=datetime.now(UTC))
            .on_conflict_do_nothing()
            .returning(processed_events.c.event_id)
        )
        # RETURNING, not rowcount: drivers disagree on the rowcount of a skipped insert.
        return result.first() is not None

    async def count_engagement(
        self,
        *,
        producer: str,
        event_id: int,
        post_id: int,
        likes: int,
        comments: int,
        views: int,
        affinity: tuple[int, int, int] | None,
    ) -> Engagement | None:
        """Count one engagement event once, in one transaction: claim it and, when it is new,
        add to the post's counts (never below zero) and to the (viewer, author, delta)
        `affinity`; return the post's counts after it (None for a post without any). On
        PostgreSQL one prebuilt statement on an autocommit connection (what ApplyEvents runs
        for every like and comment), elsewhere the four statements of a transaction."""
        if not self._postgres:
            async with self.transaction() as tx:
                if await self.claim_event(tx, producer=producer, event_id=event_id):
                    await self.add_engagement(
                        tx, post_id=post_id, likes=likes, comments=comments, views=views
                    )
                    if affinity is not None:
                        viewer_id, author_id, delta = affinity
                        await self.add_affinity(
                            tx, viewer_id=viewer_id, author_id=author_id, delta=delta
                        )
                return (await self.engagement_of(tx, post_ids=[post_id])).get(post_id)
        viewer_id, author_id, delta = affinity or (0, 0, 0)
        async with self._autocommit.connect() as connection:
            row = (
                await connection.execute(
                    _COUNT_ENGAGEMENT,
                    {
                        "producer": producer,
                        "event_id": event_id,
                        "post_id": post_id,
                        "likes": likes,
                        "comments": comments,
                        "views": views,
                        "viewer_id": viewer_id,
                        "author_id": author_id,
                        "delta": delta,
                    },
                )
            ).first()
        if row is None:
            return None
        return Engagement(
            row.post_id, row.like_count, row.comment_count, row.version, row.view_count
        )

    async def claim_events(
        self, session: AsyncSession, *, events: Sequence[tuple[str, int]]
    ) -> set[tuple[str, int]]:
        """Record many (producer, event id) as processed, a statement per few hundred; return
        those that were not processed before."""
        unique = list(dict.fromkeys(events))
        claimed: set[tuple[str, int]] = set()
        now = datetime.now(UTC)
        for start in range(0, len(unique), _ROWS_CHUNK):
            rows = [
                {"producer": producer, "event_id": event_id, "processed_at": now}
                for producer, event_id in unique[start : start + _ROWS_CHUNK]
            ]
            result = await session.execute(
                self._insert(processed_events)
                .values(rows)
                .on_conflict_do_nothing()
                .returning(processed_events.c.producer, processed_events.c.event_id)
            )
            claimed.update((str(r.producer), int(r.event_id)) for r in result)
        return claimed

    async def add_engagement_many(
        self, session: AsyncSession, *, deltas: Mapping[int, Sequence[tuple[int, int, int]]]
    ) -> None:
        """Add to many posts' counts: each post's (likes, comments, views) deltas in order,
        leaving exactly what add_engagement one delta at a time would (floors at zero, the
        version bumped once per delta), in three statements per few hundred posts.

        Each row is first taken with a no-op upsert (created at zero, version 0, when absent),
        which locks it, in post id order, and returns what it holds; the new values are then
        computed here and written under that lock."""
        post_ids = sorted(p for p, changes in deltas.items() if changes)
        for start in range(0, len(post_ids), _ROWS_CHUNK):
            chunk = post_ids[start : start + _ROWS_CHUNK]
            statement = self._insert(engagement).values(
                [
                    {"post_id": p, "like_count": 0, "comment_count": 0, "view_count": 0,
                     "version": 0}
                    for p in chunk
                ]
            )  # fmt: skip
            held = await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[engagement.c.post_id],
                    set_={"version": engagement.c.version},
                ).returning(
                    engagement.c.post_id,
                    engagement.c.like_count,
                    engagement.c.comment_count,
                    engagement.c.view_count,
                    engagement.c.version,
                )
            )
            rows = []
            for row in held:
                changes = deltas[int(row.post_id)]
                rows.append(
                    {
                        "b_post": int(row.post_id),
                        "b_likes": _floored(int(row.like_count), [c[0] for c in changes]),
                        "b_comments": _floored(int(row.comment_count), [c[1] for c in changes]),
                        "b_views": _floored(int(row.view_count), [c[2] for c in changes]),
                        "b_version": int(row.version) + len(changes),
                    }
                )
            await session.execute(
                update(engagement)
                .where(engagement.c.post_id == bindparam("b_post"))
                .values(
                    like_count=bindparam("b_likes"),
                    comment_count=bindparam("b_comments"),
                    view_count=bindparam("b_views"),
                    version=bindparam("b_version"),
                ),
                rows,
            )

    async def add_affinity_many(
        self, session: AsyncSession, *, deltas: Mapping[tuple[int, int], Sequence[int]]
    ) -> None:
        """Add to many (viewer, author) affinities, each pair's deltas in order, leaving
        exactly what add_affinity one delta at a time would (never below zero), locking the
        rows in key order as add_engagement_many does."""
        pairs = sorted(k for k, changes in deltas.items() if changes)
        for start in range(0, len(pairs), _ROWS_CHUNK):
            chunk = pairs[start : start + _ROWS_CHUNK]
            statement = self._insert(affinities).values(
                [{"viewer_id": v, "author_id": a, "score": 0} for v, a in chunk]
            )
            held = await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[affinities.c.viewer_id, affinities.c.author_id],
                    set_={"score": affinities.c.score},
                ).returning(affinities.c.viewer_id, affinities.c.author_id, affinities.c.score)
            )
            rows = [
                {
                    "b_viewer": int(row.viewer_id),
                    "b_author": int(row.author_id),
                    "b_score": _floored(
                        int(row.score), deltas[(int(row.viewer_id), int(row.author_id))]
                    ),
                }
                for row in held
            ]
            await session.execute(
                update(affinities)
                .where(
                    affinities.c.viewer_id == bindparam("b_viewer"),
                    affinities.c.author_id == bindparam("b_author"),
                )
                .values(score=bindparam("b_score")),
                rows,
            )

    async def add_posts(
        self, session: AsyncSession, *, posts_made: Sequence[tuple[int, int, datetime, bool]]
    ) -> set[int]:
        """Record many posts (post id, author id, created at, author is private) as add_post
        does, in two statements per few hundred; return the ids of those that are live (not
        deleted already)."""
        live: set[int] = set()
        unique = list({p[0]: p for p in posts_made}.values())
        for start in range(0, len(unique), _ROWS_CHUNK):
            chunk = unique[start : start + _ROWS_CHUNK]
            await session.execute(
                self._insert(posts)
                .values(
                    [
                        {
                            "post_id": post_id,
                            "author_id": author_id,
                            "created_at": created_at,
                            "author_is_private": private,
                            "deleted": False,
                        }
                        for post_id, author_id, created_at, private in chunk
                    ]
                )
                .on_conflict_do_nothing()
            )
            rows = await session.execute(
                select(posts.c.post_id).where(
                    posts.c.post_id.in_([p[0] for p in chunk]), posts.c.deleted.is_(False)
                )
            )
            live.update(int(r.post_id) for r in rows)
        return live

    async def record_post(
        self, *, post_id: int, author_id: int, created_at: datetime, author_is_private: bool
    ) -> tuple[bool, bool]:
        """Record a post as add_post does; return whether it is live and whether its author
        is a celebrity. On PostgreSQL one statement on an autocommit connection, without a
        session's BEGIN, three statements and COMMIT."""
        if not self._postgres:
            async with self.transaction() as session:
                live = await self.add_post(
                    session,
                    post_id=post_id,
                    author_id=author_id,
                    created_at=created_at,
                    author_is_private=author_is_private,
                )
                celebrity = bool(await self.celebrities_among(session, author_ids=[author_id]))
            return live, celebrity
        made = {
            "post_id": post_id,
            "author_id": author_id,
            "created_at": created_at,
            "author_is_private": author_is_private,
        }
        async with self._autocommit.connect() as connection:
            row = (await connection.execute(_RECORD_POST, made)).one()
            deleted = row.deleted
            if deleted is None:  # made by another transaction meanwhile: read it committed
                deleted = await connection.scalar(_POST_DELETED, {"post_id": post_id})
        return not deleted, bool(row.celebrity)

    async def add_post(
        self,
        session: AsyncSession,
        *,
        post_id: int,
        author_id: int,
        created_at: datetime,
        author_is_private: bool,
    ) -> bool:
        """Record a post; return False when it was deleted already (a redelivered or late
        PostCreated), in which case it stays deleted."""
        await session.execute(
            self._insert(posts)
            .values(
                post_id=post_id,
                author_id=author_id,
                created_at=created_at,
                author_is_private=author_is_private,
                deleted=False,
            )
            .on_conflict_do_nothing()
        )
        deleted = await session.scalar(select(posts.c.deleted).where(posts.c.post_id == post_id))
        return not deleted

    async def delete_post(
        self, session: AsyncSession, *, post_id: int, author_id: int, created_at: datetime
    ) -> None:
        """Mark a post deleted; an unknown one is recorded deleted, so that a PostCreated arriving
        after its PostDeleted cannot bring it back."""
        await session.execute(
            self._insert(posts)
            .values(
                post_id=post_id,
                author_id=author_id,
                created_at=created_at,
                author_is_private=False,
                deleted=True,
            )
            .on_conflict_do_update(index_elements=[posts.c.post_id], set_={"deleted": True})
        )

    async def add_engagement(
        self, session: AsyncSession, *, post_id: int, likes: int, comments: int, views: int = 0
    ) -> None:
        """Add to a post's counts, never below zero."""
        floor = func.max if self._insert is sqlite.insert else func.greatest
        statement = self._insert(engagement).values(
            post_id=post_id,
            like_count=max(likes, 0),
            comment_count=max(comments, 0),
            view_count=max(views, 0),
            version=1,
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[engagement.c.post_id],
                set_={
                    "like_count": floor(0, engagement.c.like_count + likes),
                    "comment_count": floor(0, engagement.c.comment_count + comments),
                    "view_count": floor(0, engagement.c.view_count + views),
                    "version": engagement.c.version + 1,
                },
            )
        )

    async def add_affinity(
        self, session: AsyncSession, *, viewer_id: int, author_id: int, delta: int
    ) -> None:
        """Add to how much a viewer engages with an author, never below zero."""
        floor = func.max if self._insert is sqlite.insert else func.greatest
        await session.execute(
            self._insert(affinities)
            .values(viewer_id=viewer_id, author_id=author_id, score=max(delta, 0))
            .on_conflict_do_update(
                index_elements=[affinities.c.viewer_id, affinities.c.author_id],
                set_={"score": floor(0, affinities.c.score + delta)},
            )
        )

    async def recent_posts(
        self, session: AsyncSession, *, author_ids: Sequence[int], limit: int
    ) -> list[PostRef]:
        """Return the newest `limit` live posts of these authors together, newest first."""
        found: list[PostRef] = []
        for chunk in _chunks(author_ids):
            rows = await session.execute(
                select(posts.c.post_id, posts.c.author_id)
                .where(posts.c.author_id.in_(chunk), posts.c.deleted.is_(False))
                .order_by(posts.c.post_id.desc())
                .limit(limit)
            )
            found.extend(PostRef(r.post_id, r.author_id) for r in rows)
        found.sort(key=lambda p: p.post_id, reverse=True)
        return found[:limit]

    async def author_posts(
        self, session: AsyncSession, *, author_id: int, before: int | None, limit: int
    ) -> list[int]:
        """Return an author's newest `limit` live post ids older than `before`, newest first."""
        query = select(posts.c.post_id).where(
            posts.c.author_id == author_id, posts.c.deleted.is_(False)
        )
        if before is not None:
            query = query.where(posts.c.post_id < before)
        rows = await session.execute(query.order_by(posts.c.post_id.desc()).limit(limit))
        return [r.post_id for r in rows]

    async def authors_of(self, session: AsyncSession, *, post_ids: Sequence[int]) -> dict[int, int]:
        """Return the author of each known live post among these."""
        found: dict[int, int] = {}
        for chunk in _chunks(post_ids):
            rows = await session.execute(
                select(posts.c.post_id, posts.c.author_id).where(
                    posts.c.post_id.in_(chunk), posts.c.deleted.is_(False)
                )
            )
            found.update({r.post_id: r.author_id for r in rows})
        return found

    async def engagement_of(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, Engagement]:
        """Return the counts of the posts that have any."""
        found: dict[int, Engagement] = {}
        for chunk in _chunks(post_ids):
            rows = await session.execute(select(engagement).where(engagement.c.post_id.in_(chunk)))
            found.update(_engagement_answer(rows))
        return found

    async def current_engagement(self, *, post_ids: Sequence[int]) -> dict[int, Engagement]:
        """Return the counts of the posts that have any, as committed now on the primary (what
        a read fills the read model's counts from): on PostgreSQL one prebuilt statement on an
        autocommit connection."""
        ids = list(dict.fromkeys(post_ids))
        if not ids:
            return {}
        if not self._postgres:
            async with self.transaction() as session:
                return await self.engagement_of(session, post_ids=ids)
        async with self._autocommit.connect() as connection:
            return _engagement_answer(
                await connection.execute(_CURRENT_ENGAGEMENT, {"post_ids": ids})
            )

    async def affinities_of(
        self, session: AsyncSession, *, viewer_id: int, author_ids: Sequence[int]
    ) -> dict[int, int]:
        """Return the viewer's affinity to each of these authors that has one."""
        found: dict[int, int] = {}
        for chunk in _chunks(author_ids):
            rows = await session.execute(
                select(affinities.c.author_id, affinities.c.score).where(
                    affinities.c.viewer_id == viewer_id, affinities.c.author_id.in_(chunk)
                )
            )
            found.update({r.author_id: r.score for r in rows})
        return found

    async def ranking_facts(
        self, session: AsyncSession, *, viewer_id: int, post_ids: Sequence[int]
    ) -> dict[int, RankingFacts]:
        """Return, for each known live post among these, its author, its counts (0 without any)
        and the viewer's affinity to its author (0 without any): on PostgreSQL one prebuilt
        statement with the ids as one array, elsewhere one statement per chunk."""
        if self._postgres:
            ids = list(dict.fromkeys(post_ids))
            if not ids:
                return {}
            return _ranking_facts_answer(
                await session.execute(_RANKING_FACTS, {"viewer": viewer_id, "post_ids": ids})
            )
        return await _listed_ranking_facts(session, viewer_id, post_ids)

    async def current_ranking_facts(
        self, *, viewer_id: int, post_ids: Sequence[int]
    ) -> dict[int, RankingFacts]:
        """Return ranking_facts as committed now on the primary (for posts made a moment ago,
        which a replica may not hold yet): on PostgreSQL one prebuilt statement on an
        autocommit connection."""
        ids = list(dict.fromkeys(post_ids))
        if not ids:
            return {}
        if not self._postgres:
            async with self.transaction() as session:
                return await _listed_ranking_facts(session, viewer_id, ids)
        async with self._autocommit.connect() as connection:
            return _ranking_facts_answer(
                await connection.execute(_RANKING_FACTS, {"viewer": viewer_id, "post_ids": ids})
            )

    async def popular_posts(
        self, session: AsyncSession, *, since_post_id: int, limit: int
    ) -> list[PostRef]:
        """Return live posts of public authors newer than an id, most engaged first, then newest."""
        likes = func.coalesce(engagement.c.like_count, 0)
        comments = func.coalesce(engagement.c.comment_count, 0)
        rows = await session.execute(
            select(posts.c.post_id, posts.c.author_id)
            .select_from(posts.outerjoin(engagement, engagement.c.post_id == posts.c.post_id))
            .where(
                posts.c.post_id >= since_post_id,
                posts.c.deleted.is_(False),
                posts.c.author_is_private.is_(False),
            )
            .order_by((likes + 2 * comments).desc(), posts.c.post_id.desc())
            .limit(limit)
        )
        return [PostRef(r.post_id, r.author_id) for r in rows]

    async def celebrities_among(
        self, session: AsyncSession, *, author_ids: Sequence[int]
    ) -> list[int]:
        """Return the authors among these that were marked celebrities."""
        found: list[int] = []
        for chunk in _chunks(author_ids):
            rows = await session.execute(
                select(celebrities.c.author_id).where(celebrities.c.author_id.in_(chunk))
            )
            found.extend(r.author_id for r in rows)
        return found

    async def feed_sources(
        self, session: AsyncSession, *, viewer_id: int, following: Sequence[int], limit: int
    ) -> tuple[list[int], list[PostRef]]:
        """Return what a home feed is rebuilt from: the celebrities among the accounts the
        viewer follows (pulled at read time), and the newest `limit` live posts of the viewer
        and of the other followed accounts, newest first. One statement (a cold read waits for
        it); a follow list too long for one IN list takes the two queries."""
        if len(following) + 1 > _IN_CHUNK:
            among = await self.celebrities_among(session, author_ids=following)
            pulled = set(among)
            authors = [viewer_id, *(a for a in following if a not in pulled)]
            return among, await self.recent_posts(session, author_ids=authors, limit=limit)
        rows = await session.execute(
            _feed_sources_query(viewer_id, lambda column: column.in_(following), limit)
        )
        return _feed_sources_answer(rows)

    async def current_feed_sources(
        self, *, viewer_id: int, following: Sequence[int], limit: int
    ) -> tuple[list[int], list[PostRef]]:
        """Return feed_sources as committed now on the primary (a rebuild's one statement): on
        PostgreSQL one prebuilt statement on an autocommit connection, whatever the length of
        the follow list."""
        if not self._postgres:
            async with self.transaction() as session:
                return await self.feed_sources(
                    session, viewer_id=viewer_id, following=following, limit=limit
                )
        async with self._autocommit.connect() as connection:
            post_ids, author_ids = (
                await connection.execute(
                    _CURRENT_FEED_SOURCES,
                    {"viewer": viewer_id, "following": list(following), "limit": limit},
                )
            ).one()
            return _feed_sources_answer(zip(post_ids or (), author_ids or (), strict=True))

    async def clear_projection(self, session: AsyncSession) -> None:
        """Forget every post, count and celebrity (a rebuild from post_svc follows). Processed
        event ids and affinities stay: a redelivered old event must still change nothing."""
        for table in (posts, engagement, celebrities):
            await session.execute(table.delete())

    async def put_post(
        self,
        session: AsyncSession,
        *,
        post_id: int,
        author_id: int,
        created_at: datetime,
        author_is_private: bool,
        likes: int,
        comments: int,
    ) -> None:
        """Record a live post with its counts as its owner has them now (a rebuild)."""
        await session.execute(
            self._insert(posts)
            .values(
                post_id=post_id,
                author_id=author_id,
                created_at=created_at,
                author_is_private=author_is_private,
                deleted=False,
            )
            .on_conflict_do_nothing()
        )
        await session.execute(
            self._insert(engagement)
            .values(post_id=post_id, like_count=likes, comment_count=comments, version=1)
            .on_conflict_do_nothing()
        )

    async def mark_celebrity(self, session: AsyncSession, *, author_id: int) -> bool:
        """Mark an author a celebrity; return False when they already were."""
        result = await session.execute(
            self._insert(celebrities)
            .values(author_id=author_id, marked_at=datetime.now(UTC))
            .on_conflict_do_nothing()
            .returning(celebrities.c.author_id)
        )
        return result.first() is not None
