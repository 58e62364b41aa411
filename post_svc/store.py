"""post_svc persistence behind three small interfaces, relational (SQLite or PostgreSQL) for now.

- PostStore: posts, their media, the hashtag and place indexes, per-account post counts, saves.
- EngagementStore: likes, comments and their counts. Every table is keyed by post id first (the
  partition key a wide-column store such as Cassandra wants), and every method names the post, or
  a comment id that a lookup table turns into one, so likes and comments can move to such a store
  without touching the rules. The relational implementation shares the PostStore's transaction,
  so an engagement change and its outbox event commit together.
- StoryStore: 24-hour stories and who saw them, on the PostStore's transactions too. Every read
  takes the moment it reads at and leaves out stories expired by then, so nothing depends on a
  clean-up job having run.

Counts are exact. A post's like and comment counts are spread over `shards` counter rows: a like
adds 1 to the row its liker's id hashes to, in the transaction that inserts the like (only when
the insert added a row), so concurrent likes of one post wait on different row locks, and the
count is the sum of the rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    MetaData,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    delete,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mesh import db
from mesh.deadletters import dead_letters_table
from mesh.deletion import ledger_table
from mesh.outbox import Outbox, outbox_table
from post_svc import geo

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
    Column("caption", Text, nullable=False),
    # Lists kept with the post so that hydrating a page of posts is one query.
    Column("hashtags", JSON, nullable=False),
    Column("mentions", JSON, nullable=False),  # [[user_id, username], ...]
    Column("media_ids", JSON, nullable=False),
    # One alt text per media id, in the same order; NULL when the author gave none.
    Column("alt_texts", JSON, nullable=True),
    Column("place_id", BigInteger, nullable=True),
    Column("location_name", String(100), nullable=True),
    Column("lat", Double, nullable=True),
    Column("lng", Double, nullable=True),
    Column("cell_fine", BigInteger, nullable=True),
    Column("cell_coarse", BigInteger, nullable=True),
    Column("idempotency_key", String(128), nullable=True),
    # A digest of what the first call asked for, to tell a retry from a reused key.
    Column("request_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    # "post" or "reel" (post_svc.reels): a reel is a post, so engagement works on both alike.
    Column("kind", String(8), nullable=False, default="post"),
    Index("ix_posts_author", "author_id", "post_id"),
    Index("ix_posts_place", "place_id", "post_id"),
    Index("ix_posts_cell_fine", "cell_fine", "post_id"),
    Index("ix_posts_cell_coarse", "cell_coarse", "post_id"),
    Index("ux_posts_idempotency", "author_id", "idempotency_key", unique=True),
    Index("ix_posts_kind", "kind", "post_id"),
)

# The comments made with an idempotency key (whichever store holds comments): a retried
# CreateComment finds its first comment here instead of making another.
comment_keys = Table(
    "comment_keys",
    metadata,
    Column("author_id", BigInteger, primary_key=True, autoincrement=False),
    Column("idempotency_key", String(128), primary_key=True),
    Column("comment_id", BigInteger, nullable=False),
    # A digest of what the first call asked for, to tell a retry from a reused key.
    Column("request_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# One row per media id ever posted: a piece of media belongs to one post only.
post_media = Table(
    "post_media",
    metadata,
    Column("media_id", BigInteger, primary_key=True, autoincrement=False),
    Column("post_id", BigInteger, nullable=False, index=True),
    Column("position", BigInteger, nullable=False),
)

hashtags = Table(
    "hashtags",
    metadata,
    Column("tag", String(100), primary_key=True),
    Column("post_count", BigInteger, nullable=False),
    Index("ix_hashtags_tag_prefix", "tag", postgresql_ops={"tag": "varchar_pattern_ops"}),
)

post_hashtags = Table(
    "post_hashtags",
    metadata,
    Column("tag", String(100), primary_key=True),
    Column("post_id", BigInteger, primary_key=True, autoincrement=False, index=True),
)

places = Table(
    "places",
    metadata,
    Column("place_id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("name_key", String(100), nullable=False),
    # The coordinates rounded to 4 decimals (about 11 m): one place per name and spot.
    Column("lat_e4", BigInteger, nullable=False),
    Column("lng_e4", BigInteger, nullable=False),
    Column("lat", Double, nullable=False),
    Column("lng", Double, nullable=False),
    Column("post_count", BigInteger, nullable=False),
    Index("ux_places_spot", "name_key", "lat_e4", "lng_e4", unique=True),
    Index("ix_places_name_prefix", "name_key", postgresql_ops={"name_key": "varchar_pattern_ops"}),
)

user_post_counts = Table(
    "user_post_counts",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("post_count", BigInteger, nullable=False),
)

saves = Table(
    "saves",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("post_id", BigInteger, primary_key=True, autoincrement=False, index=True),
    Column("save_id", BigInteger, nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
    Index("ix_saves_user_recent", "user_id", "save_id"),
)

# Engagement: every table starts with post_id.
likes = Table(
    "likes",
    metadata,
    Column("post_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("like_id", BigInteger, nullable=False),
    Column("liked_at", DateTime(timezone=True), nullable=False),
    Index("ix_likes_post_recent", "post_id", "like_id"),
    # An account's likes: found when the account is deleted, and listed from a post id up (its
    # flags on every recent post, BatchGetViewersFlags' since_post_id) as one index range.
    Index("ix_likes_user", "user_id", "post_id"),
)

comments = Table(
    "comments",
    metadata,
    Column("comment_id", BigInteger, primary_key=True, autoincrement=False),
    Column("post_id", BigInteger, nullable=False),
    Column("author_id", BigInteger, nullable=False),
    # 0 for a top-level comment.
    Column("parent_comment_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("mentions", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_comments_thread", "post_id", "parent_comment_id", "comment_id"),
    # An account's comments, found when the account is deleted.
    Index("ix_comments_author", "author_id"),
)

post_counters = Table(
    "post_counters",
    metadata,
    Column("post_id", BigInteger, primary_key=True, autoincrement=False),
    Column("shard", BigInteger, primary_key=True, autoincrement=False),
    Column("like_count", BigInteger, nullable=False),
    Column("comment_count", BigInteger, nullable=False),
)

stories = Table(
    "stories",
    metadata,
    Column("story_id", BigInteger, primary_key=True, autoincrement=False),
    Column("author_id", BigInteger, nullable=False),
    # A piece of media makes one story only (and posts are checked in the same transaction).
    Column("media_id", BigInteger, nullable=False, unique=True),
    Column("caption", Text, nullable=False),
    Column("mentions", JSON, nullable=False),  # [[user_id, username], ...]
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
    # Shown only to the author's close friends (and the author).
    Column("close_friends_only", Boolean, nullable=False),
    Index("ix_stories_author_recent", "author_id", "story_id"),
    Index("ix_stories_author_expiry", "author_id", "expires_at"),
)

# What a viewer reported and so never sees again: posts, comments and stories, with their owner
# (story rings count a viewer's hidden live stories per author without another lookup).
hidden_content = Table(
    "hidden_content",
    metadata,
    Column("viewer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("target_type", String(16), primary_key=True),
    Column("target_id", BigInteger, primary_key=True, autoincrement=False),
    Column("owner_id", BigInteger, nullable=False),
    Column("hidden_at", DateTime(timezone=True), nullable=False),
)

story_views = Table(
    "story_views",
    metadata,
    Column("story_id", BigInteger, primary_key=True, autoincrement=False),
    Column("viewer_id", BigInteger, primary_key=True, autoincrement=False),
    # Time-ordered, so a story's viewers list most recent first with a stable cursor.
    Column("view_id", BigInteger, nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_story_views_recent", "story_id", "view_id"),
)

# Each account's close friends: who sees its close-friends stories.
close_friends = Table(
    "close_friends",
    metadata,
    Column("owner_id", BigInteger, primary_key=True, autoincrement=False),
    Column("friend_id", BigInteger, primary_key=True, autoincrement=False),
    # Time-ordered, so the list pages most recently added first with a stable cursor.
    Column("added_id", BigInteger, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Index("ix_close_friends_recent", "owner_id", "added_id"),
)

# Reels (post_svc.reels, post_svc.reel_store): views once per viewer per UTC day, and how far.
reel_views = Table(
    "reel_views",
    metadata,
    Column("post_id", BigInteger, primary_key=True, autoincrement=False),
    Column("viewer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC
    Column("watched_ms", BigInteger, nullable=False),
    Column("completed", Boolean, nullable=False),
    Column("viewed_at", DateTime(timezone=True), nullable=False),
    Index("ix_reel_views_viewer", "viewer_id", "completed", "post_id"),
)

# Per reel: views (one per viewer per day) and how many of them reached the end.
reel_stats = Table(
    "reel_stats",
    metadata,
    Column("post_id", BigInteger, primary_key=True, autoincrement=False),
    Column("view_count", BigInteger, nullable=False),
    Column("completed_count", BigInteger, nullable=False),
)

# A viewer's Reels tab as ranked on its first page; later pages walk it.
reel_feed_snapshots = Table(
    "reel_feed_snapshots",
    metadata,
    Column("snapshot_id", BigInteger, primary_key=True, autoincrement=False),
    Column("viewer_id", BigInteger, nullable=False),
    Column("post_ids", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

outbox = outbox_table(metadata)


@dataclass(frozen=True)
class Mention:
    """An account a text mentions, as it was when the text was written."""

    user_id: int
    username: str


@dataclass(frozen=True)
class Location:
    """A named point a post was made at."""

    name: str
    point: geo.Point


@dataclass(frozen=True)
class PostRecord:
    """One post as stored."""

    post_id: int
    author_id: int
    caption: str
    hashtags: tuple[str, ...]
    mentions: tuple[Mention, ...]
    media_ids: tuple[int, ...]
    location: Location | None
    place_id: int | None
    created_at: datetime
    idempotency_key: str | None = None
    request_hash: str = ""
    kind: str = "post"
    # One per media id ("" for none), or empty when the author described none of them.
    alt_texts: tuple[str, ...] = ()

    def alt_text_of(self, media_id: int) -> str:
        """Return the alt text the author gave one of the post's media ("" for none)."""
        if not self.alt_texts:
            return ""
        return dict(zip(self.media_ids, self.alt_texts, strict=False)).get(media_id, "")


@dataclass(frozen=True)
class CommentRecord:
    """One comment as stored."""

    comment_id: int
    post_id: int
    author_id: int
    parent_comment_id: int
    text: str
    mentions: tuple[Mention, ...]
    created_at: datetime


@dataclass(frozen=True)
class Counts:
    """A post's exact like and comment counts."""

    like_count: int = 0
    comment_count: int = 0


@dataclass(frozen=True)
class HashtagRecord:
    """A hashtag and how many live posts carry it."""

    tag: str
    post_count: int


@dataclass(frozen=True)
class PlaceRecord:
    """A place posts are filed under."""

    place_id: int
    name: str
    point: geo.Point
    post_count: int


@dataclass(frozen=True)
class StoryRecord:
    """One story as stored."""

    story_id: int
    author_id: int
    media_id: int
    caption: str
    mentions: tuple[Mention, ...]
    created_at: datetime
    expires_at: datetime
    close_friends_only: bool = False


@dataclass(frozen=True)
class RingRecord:
    """An author's live stories summed up for one viewer."""

    author_id: int
    story_count: int
    latest_story_id: int
    latest_created_at: datetime
    seen_count: int
    # Whether any of the live stories counted is a close-friends story.
    close_friends: bool = False


class Conflict(Exception):
    """A unique key is taken: `what` is "idempotency_key" or "media"."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class PostStore(Protocol):
    """What the post rules need from storage, besides engagement."""

    outbox: Outbox
    # True when read_transaction() reads a replica, which may lag behind transaction().
    has_replica: bool

    def transaction(self) -> Any: ...
    def read_transaction(self) -> Any: ...
    async def insert_post(self, session: AsyncSession, *, post: PostRecord) -> None: ...
    async def publish_now(self, *, post: PostRecord, event: dict[str, Any]) -> set[int] | None: ...
    async def posted_media(
        self, session: AsyncSession, *, media_ids: Sequence[int]
    ) -> set[int]: ...
    async def get_post_by_key(
        self, session: AsyncSession, *, author_id: int, idempotency_key: str
    ) -> tuple[PostRecord, bool] | None: ...
    async def get_post(
        self, session: AsyncSession, *, post_id: int, for_update: bool = False
    ) -> PostRecord | None: ...
    async def current_post(self, *, post_id: int) -> PostRecord | None: ...
    async def current_post_by_key(
        self, *, author_id: int, idempotency_key: str
    ) -> tuple[PostRecord, bool] | None: ...
    async def current_viewer_flags(
        self, *, viewer_id: int, post_ids: Sequence[int], with_likes: bool
    ) -> tuple[set[int], set[int], set[int]] | None: ...
    async def current_viewers_flags(
        self, *, wanted: Sequence[tuple[int, Sequence[int]]], with_likes: bool
    ) -> dict[int, tuple[set[int], set[int], set[int]]] | None: ...
    async def current_recent_flags(
        self, *, wanted: Sequence[tuple[int, int]], limit: int
    ) -> dict[tuple[int, int], tuple[list[int], list[int], list[int]]]: ...
    async def get_posts(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, PostRecord]: ...
    async def delete_post(self, session: AsyncSession, *, post: PostRecord) -> None: ...
    async def add_comment_key(
        self,
        session: AsyncSession,
        *,
        author_id: int,
        idempotency_key: str,
        comment_id: int,
        request_hash: str,
    ) -> None: ...
    async def get_comment_key(
        self, session: AsyncSession, *, author_id: int, idempotency_key: str
    ) -> tuple[int, str] | None: ...
    async def list_user_posts(
        self, session: AsyncSession, *, author_id: int, before: int | None, limit: int
    ) -> list[PostRecord]: ...
    async def list_posts_after(
        self, session: AsyncSession, *, after: int, limit: int
    ) -> list[PostRecord]: ...
    async def list_hashtag_posts(
        self, session: AsyncSession, *, tag: str, before: int | None, limit: int
    ) -> list[PostRecord]: ...
    async def list_place_posts(
        self, session: AsyncSession, *, place_ids: Sequence[int], before: int | None, limit: int
    ) -> list[PostRecord]: ...
    async def nearby_posts(
        self, session: AsyncSession, *, area: geo.Area, before: int | None, limit: int
    ) -> list[PostRecord]: ...
    async def get_hashtag(self, session: AsyncSession, *, tag: str) -> HashtagRecord | None: ...
    async def search_hashtags(
        self, session: AsyncSession, *, prefix: str, after: tuple[int, str] | None, limit: int
    ) -> list[HashtagRecord]: ...
    async def hashtag_authors(
        self, session: AsyncSession, *, tags: Sequence[str]
    ) -> dict[str, dict[int, int]]: ...
    async def place_authors(
        self, session: AsyncSession, *, place_ids: Sequence[int]
    ) -> dict[int, dict[int, int]]: ...
    async def place_for(
        self, session: AsyncSession, *, location: Location, new_place_id: int
    ) -> int: ...
    async def search_places(
        self,
        session: AsyncSession,
        *,
        prefix: str,
        after: tuple[int, str, int] | None,
        limit: int,
    ) -> list[PlaceRecord]: ...
    async def post_counts(
        self, session: AsyncSession, *, user_ids: Sequence[int]
    ) -> dict[int, int]: ...
    async def add_save(
        self, session: AsyncSession, *, user_id: int, post_id: int, save_id: int, at: datetime
    ) -> bool: ...
    async def remove_save(self, session: AsyncSession, *, user_id: int, post_id: int) -> bool: ...
    async def saved_among(
        self, session: AsyncSession, *, user_id: int, post_ids: Sequence[int]
    ) -> set[int]: ...
    async def list_saves(
        self, session: AsyncSession, *, user_id: int, before: int | None, limit: int
    ) -> list[tuple[int, int]]: ...
    async def hide_content(
        self,
        session: AsyncSession,
        *,
        viewer_id: int,
        target_type: str,
        target_id: int,
        owner_id: int,
        at: datetime,
    ) -> bool: ...
    async def hidden_among(
        self, session: AsyncSession, *, viewer_id: int, target_type: str, target_ids: Sequence[int]
    ) -> set[int]: ...
    async def hidden_live_stories(
        self, session: AsyncSession, *, viewer_id: int, author_ids: Sequence[int], now: datetime
    ) -> dict[int, int]: ...


class EngagementStore(Protocol):
    """Likes, comments and their counts, every one addressed by its post (see the module doc)."""

    # Whether its tables are in the post store's database (a post store's statement reads them).
    in_post_database: bool

    async def add_like(
        self, session: AsyncSession, *, post_id: int, user_id: int, like_id: int, at: datetime
    ) -> bool: ...
    async def like_now(
        self,
        *,
        post_id: int,
        user_id: int,
        like_id: int,
        at: datetime,
        event: dict[str, Any],
    ) -> tuple[bool, int] | None: ...
    async def remove_like(self, session: AsyncSession, *, post_id: int, user_id: int) -> bool: ...
    async def liked_among(
        self, session: AsyncSession, *, user_id: int, post_ids: Sequence[int]
    ) -> set[int]: ...
    async def list_likers(
        self, session: AsyncSession, *, post_id: int, before: int | None, limit: int
    ) -> list[tuple[int, int]]: ...
    async def add_comment(self, session: AsyncSession, *, comment: CommentRecord) -> None: ...
    async def comment_now(self, *, comment: CommentRecord, event: dict[str, Any]) -> bool: ...
    async def get_comment(
        self, session: AsyncSession, *, comment_id: int, lock: bool = False
    ) -> CommentRecord | None: ...
    async def delete_comment(
        self, session: AsyncSession, *, comment: CommentRecord
    ) -> list[int]: ...
    async def list_comments(
        self,
        session: AsyncSession,
        *,
        post_id: int,
        parent_comment_id: int,
        after: int | None,
        limit: int,
    ) -> list[CommentRecord]: ...
    async def reply_counts(
        self, session: AsyncSession, *, post_id: int, comment_ids: Sequence[int]
    ) -> dict[int, int]: ...
    async def counts(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, Counts]: ...
    async def purge_post(self, session: AsyncSession, *, post_id: int) -> None: ...
    async def liked_by(self, session: AsyncSession, *, user_id: int, limit: int) -> list[int]: ...
    async def comments_by(
        self, session: AsyncSession, *, author_id: int, limit: int
    ) -> list[CommentRecord]: ...


class StoryStore(Protocol):
    """Stories and their views; `now` on every read is the moment expiry is judged at."""

    async def insert_story(self, session: AsyncSession, *, story: StoryRecord) -> None: ...
    async def get_story(
        self, session: AsyncSession, *, story_id: int, now: datetime | None
    ) -> StoryRecord | None: ...
    async def delete_story(self, session: AsyncSession, *, story_id: int, at: datetime) -> bool: ...
    async def stories_of(
        self, session: AsyncSession, *, author_id: int, limit: int
    ) -> list[StoryRecord]: ...
    async def forget_account(self, session: AsyncSession, *, user_id: int) -> None: ...
    async def get_story_by_media(
        self, session: AsyncSession, *, media_id: int, now: datetime
    ) -> StoryRecord | None: ...
    async def list_live_stories(
        self,
        session: AsyncSession,
        *,
        author_id: int,
        viewer_id: int | None,
        now: datetime,
        after: int | None,
        limit: int,
    ) -> list[StoryRecord]: ...
    async def list_expired_stories(
        self,
        session: AsyncSession,
        *,
        author_id: int,
        now: datetime,
        before: int | None,
        limit: int,
    ) -> list[StoryRecord]: ...
    async def add_view(
        self, session: AsyncSession, *, story_id: int, viewer_id: int, view_id: int, at: datetime
    ) -> bool: ...
    async def seen_among(
        self, session: AsyncSession, *, viewer_id: int, story_ids: Sequence[int]
    ) -> set[int]: ...
    async def view_counts(
        self, session: AsyncSession, *, story_ids: Sequence[int]
    ) -> dict[int, int]: ...
    async def list_views(
        self, session: AsyncSession, *, story_id: int, before: int | None, limit: int
    ) -> list[tuple[int, int, datetime]]: ...
    async def rings(
        self,
        session: AsyncSession,
        *,
        viewer_id: int | None,
        author_ids: Sequence[int],
        now: datetime,
    ) -> list[RingRecord]: ...
    async def is_close_friend(
        self, session: AsyncSession, *, owner_id: int, friend_id: int
    ) -> bool: ...
    async def add_close_friend(
        self, session: AsyncSession, *, owner_id: int, friend_id: int, added_id: int, at: datetime
    ) -> bool: ...
    async def remove_close_friend(
        self, session: AsyncSession, *, owner_id: int, friend_id: int
    ) -> bool: ...
    async def list_close_friends(
        self, session: AsyncSession, *, owner_id: int, before: int | None, limit: int
    ) -> list[tuple[int, int]]: ...


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _mentions(raw: Any) -> tuple[Mention, ...]:
    return tuple(Mention(int(user_id), str(name)) for user_id, name in raw or ())


def _post(row: Any) -> PostRecord:
    location = None
    if row.location_name is not None:
        location = Location(row.location_name, geo.Point(row.lat, row.lng))
    return PostRecord(
        post_id=row.post_id,
        author_id=row.author_id,
        caption=row.caption,
        hashtags=tuple(row.hashtags),
        mentions=_mentions(row.mentions),
        media_ids=tuple(int(m) for m in row.media_ids),
        location=location,
        place_id=row.place_id,
        created_at=_aware(row.created_at),
        idempotency_key=row.idempotency_key,
        request_hash=row.request_hash,
        kind=row.kind,
        alt_texts=tuple(str(a) for a in row.alt_texts or ()),
    )


def _comment(row: Any) -> CommentRecord:
    return CommentRecord(
        comment_id=row.comment_id,
        post_id=row.post_id,
        author_id=row.author_id,
        parent_comment_id=row.parent_comment_id,
        text=row.text,
        mentions=_mentions(row.mentions),
        created_at=_aware(row.created_at),
    )


def _story(row: Any) -> StoryRecord:
    return StoryRecord(
        story_id=row.story_id,
        author_id=row.author_id,
        media_id=row.media_id,
        caption=row.caption,
        mentions=_mentions(row.mentions),
        created_at=_aware(row.created_at),
        expires_at=_aware(row.expires_at),
        close_friends_only=bool(row.close_friends_only),
    )


def _rowcount(result: Any) -> int:
    # INSERTs report how many rows they added only when run with preserve_rowcount.
    return int(cast(CursorResult[Any], result).rowcount)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def name_key(name: str) -> str:
    """Return the form place names are matched in."""
    return name.casefold()


_LIVE = posts.c.deleted_at.is_(None)
# Built once: the statement is the same on every call (only its parameter changes).
_CURRENT_POST = select(posts).where(posts.c.post_id == bindparam("post_id"), _LIVE)
_POST_BY_KEY = select(posts).where(
    posts.c.author_id == bindparam("author_id"),
    posts.c.idempotency_key == bindparam("idempotency_key"),
)


def _current_flags_query(*, with_likes: bool) -> Any:
    """Return the one statement that reads a viewer's flags on some posts (PostgreSQL, array
    parameters): rows of (kind, post id), kind 0 liked, 1 saved, 2 reported (hidden)."""
    viewer = bindparam("viewer", type_=BigInteger)
    wanted = any_(bindparam("post_ids", type_=postgresql.ARRAY(BigInteger)))
    parts = [
        select(literal_column("1").label("kind"), saves.c.post_id).where(
            saves.c.user_id == viewer, saves.c.post_id == wanted
        ),
        select(literal_column("2"), hidden_content.c.target_id).where(
            hidden_content.c.viewer_id == viewer,
            hidden_content.c.target_type == "post",
            hidden_content.c.target_id == wanted,
        ),
    ]
    if with_likes:
        parts.append(
            select(literal_column("0"), likes.c.post_id).where(
                likes.c.post_id == wanted, likes.c.user_id == viewer
            )
        )
    return union_all(*parts)


_CURRENT_FLAGS = {
    True: _current_flags_query(with_likes=True),
    False: _current_flags_query(with_likes=False),
}


def _like_statement() -> Any:
    """Return PostgreSQL's one statement of a like (built once: only parameters change): add the
    like; only when it is new, add to its counter shard and write its event (an outbox row);
    answer whether it was new and the post's like count. The counters are read in the
    statement's snapshot, which does not hold its own increment: the caller adds it."""
    post_id = bindparam("like_post_id", type_=BigInteger)
    inserted = (
        postgresql.insert(likes)
        .values(
            post_id=post_id,
            user_id=bindparam("like_user_id", type_=BigInteger),
            like_id=bindparam("like_like_id", type_=BigInteger),
            liked_at=bindparam("like_at", type_=DateTime(timezone=True)),
        )
        .on_conflict_do_nothing()
        .returning(likes.c.post_id)
        .cte("inserted")
    )
    happened = select(inserted.c.post_id).exists()
    counter = postgresql.insert(post_counters).from_select(
        ["post_id", "shard", "like_count", "comment_count"],
        select(
            inserted.c.post_id,
            bindparam("like_shard", type_=BigInteger),
            literal(1, BigInteger),
            literal(0, BigInteger),
        ),
    )
    counted = counter.on_conflict_do_update(
        index_elements=[post_counters.c.post_id, post_counters.c.shard],
        set_={"like_count": post_counters.c.like_count + counter.excluded.like_count},
    ).cte("counted")
    columns = list(_OUTBOX_COLUMNS)
    row = select(*(bindparam(f"like_event_{k}", type_=outbox.c[k].type) for k in columns))
    event = outbox.insert().from_select(columns, row.where(happened)).cte("event")
    total = (
        select(func.coalesce(func.sum(post_counters.c.like_count), 0))
        .where(post_counters.c.post_id == post_id)
        .scalar_subquery()
    )
    return select(happened.label("added"), total.label("like_count")).add_cte(counted, event)


_OUTBOX_COLUMNS = ("event_id", "aggregate_id", "event_type", "envelope", "created_at")
_LIKE = _like_statement()


def _comment_statement() -> Any:
    """Return PostgreSQL's one statement of a top-level comment (built once): the comment, its
    counter shard and its event (an outbox row)."""
    c = comments.c
    post_id = bindparam("comment_post_id", type_=BigInteger)
    added = comments.insert().values(
        comment_id=bindparam("comment_comment_id", type_=BigInteger),
        post_id=post_id,
        author_id=bindparam("comment_author_id", type_=BigInteger),
        parent_comment_id=bindparam("comment_parent_id", type_=BigInteger),
        text=bindparam("comment_text", type_=c.text.type),
        mentions=bindparam("comment_mentions", type_=c.mentions.type),
        created_at=bindparam("comment_created_at", type_=DateTime(timezone=True)),
    )
    counter = postgresql.insert(post_counters).values(
        post_id=post_id,
        shard=bindparam("comment_shard", type_=BigInteger),
        like_count=literal(0, BigInteger),
        comment_count=literal(1, BigInteger),
    )
    counted = counter.on_conflict_do_update(
        index_elements=[post_counters.c.post_id, post_counters.c.shard],
        set_={"comment_count": post_counters.c.comment_count + counter.excluded.comment_count},
    )
    event = outbox.insert().values(
        {k: bindparam(f"comment_event_{k}", type_=outbox.c[k].type) for k in _OUTBOX_COLUMNS}
    )
    return select(literal(True)).add_cte(
        added.cte("added"), counted.cte("counted"), event.cte("event")
    )


_COMMENT = _comment_statement()


# The columns of a post without a place that _POST writes (the others stay NULL).
_POST_COLUMNS = (
    "post_id",
    "author_id",
    "caption",
    "hashtags",
    "mentions",
    "media_ids",
    "alt_texts",
    "idempotency_key",
    "request_hash",
    "created_at",
    "kind",
)


def _post_statement() -> Any:
    """Return PostgreSQL's one statement of a new post without a place (built once): unless one
    of its media already belongs to a post or a story, add the post, its media rows, its
    hashtags (rows and counts), its author's post count and its event (an outbox row); answer
    the media ids already taken (none: it was published)."""
    media = bindparam("post_media", type_=postgresql.ARRAY(BigInteger))
    taken = union_all(
        select(post_media.c.media_id).where(post_media.c.media_id == any_(media)),
        select(stories.c.media_id).where(stories.c.media_id == any_(media)),
    ).cte("taken")
    values = [bindparam(f"post_{name}", type_=posts.c[name].type) for name in _POST_COLUMNS]
    free = ~select(taken.c.media_id).exists()
    inserted = (
        posts.insert()
        .from_select(list(_POST_COLUMNS), select(*values).where(free))
        .returning(posts.c.post_id, posts.c.author_id)
        .cte("inserted")
    )
    listed = (
        func.unnest(media).table_valued("media_id", with_ordinality="position").render_derived()
    )
    placed = post_media.insert().from_select(
        ["media_id", "post_id", "position"],
        select(listed.c.media_id, inserted.c.post_id, listed.c.position - 1).select_from(
            inserted.join(listed, true())
        ),
    )
    tags = bindparam("post_tags", type_=postgresql.ARRAY(String))
    tag_rows = func.unnest(tags).table_valued("tag").render_derived()
    tagged = post_hashtags.insert().from_select(
        ["tag", "post_id"],
        select(tag_rows.c.tag, inserted.c.post_id).select_from(inserted.join(tag_rows, true())),
    )
    tag_counts = func.unnest(tags).table_valued("tag").render_derived()
    tag_count = postgresql.insert(hashtags).from_select(
        ["tag", "post_count"],
        select(tag_counts.c.tag, literal(1, BigInteger)).select_from(
            inserted.join(tag_counts, true())
        ),
    )
    author_count = postgresql.insert(user_post_counts).from_select(
        ["user_id", "post_count"], select(inserted.c.author_id, literal(1, BigInteger))
    )
    columns = list(_OUTBOX_COLUMNS)
    row = select(*(bindparam(f"post_event_{k}", type_=outbox.c[k].type) for k in columns))
    event = outbox.insert().from_select(columns, row.select_from(inserted))
    return select(taken.c.media_id).add_cte(
        placed.cte("placed"),
        tagged.cte("tagged"),
        tag_count.on_conflict_do_update(
            index_elements=[hashtags.c.tag], set_={"post_count": hashtags.c.post_count + 1}
        ).cte("tag_count"),
        author_count.on_conflict_do_update(
            index_elements=[user_post_counts.c.user_id],
            set_={"post_count": user_post_counts.c.post_count + 1},
        ).cte("author_count"),
        event.cte("event"),
    )


_POST = _post_statement()


def _viewers_flags_query(*, with_likes: bool) -> Any:
    """Return the one statement that reads several viewers' flags, each on its own posts
    (PostgreSQL, two arrays of the same length zipped into (viewer, post) pairs): rows of (kind,
    viewer, post id), kinds as in _current_flags_query."""
    wanted = select(
        func.unnest(bindparam("viewers", type_=postgresql.ARRAY(BigInteger))).label("viewer"),
        func.unnest(bindparam("post_ids", type_=postgresql.ARRAY(BigInteger))).label("post_id"),
    ).cte("wanted")
    parts = [
        select(literal_column("1").label("kind"), saves.c.user_id, saves.c.post_id).where(
            saves.c.user_id == wanted.c.viewer, saves.c.post_id == wanted.c.post_id
        ),
        select(literal_column("2"), hidden_content.c.viewer_id, hidden_content.c.target_id).where(
            hidden_content.c.viewer_id == wanted.c.viewer,
            hidden_content.c.target_type == "post",
            hidden_content.c.target_id == wanted.c.post_id,
        ),
    ]
    if with_likes:
        parts.append(
            select(literal_column("0"), likes.c.user_id, likes.c.post_id).where(
                likes.c.post_id == wanted.c.post_id, likes.c.user_id == wanted.c.viewer
            )
        )
    return union_all(*parts)


_VIEWERS_FLAGS = {
    True: _viewers_flags_query(with_likes=True),
    False: _viewers_flags_query(with_likes=False),
}


def _recent_kinds(viewer: Any, since: Any) -> list[tuple[int, Any, Any]]:
    """Return (kind, post id column, conditions) of each flag a viewer's posts from `since` up
    are listed by, kinds as in _current_flags_query: each an index range (likes by
    ix_likes_user, saves and hidden_content by their primary keys)."""
    return [
        (0, likes.c.post_id, (likes.c.user_id == viewer, likes.c.post_id >= since)),
        (1, saves.c.post_id, (saves.c.user_id == viewer, saves.c.post_id >= since)),
        (
            2,
            hidden_content.c.target_id,
            (
                hidden_content.c.viewer_id == viewer,
                hidden_content.c.target_type == "post",
                hidden_content.c.target_id >= since,
            ),
        ),
    ]


def _recent_flags_query() -> Any:
    """Return the one statement that lists several viewers' flags from a post id up (PostgreSQL,
    two arrays of the same length zipped into (viewer, since) pairs): for each pair and kind the
    `limit` highest post ids, rows of (kind, viewer, since, post id)."""
    wanted = select(
        func.unnest(bindparam("viewers", type_=postgresql.ARRAY(BigInteger))).label("viewer"),
        func.unnest(bindparam("sinces", type_=postgresql.ARRAY(BigInteger))).label("since"),
    ).cte("wanted")
    limit = bindparam("limit", type_=BigInteger)
    parts = []
    for kind, post_id, where in _recent_kinds(wanted.c.viewer, wanted.c.since):
        listed = (
            select(post_id.label("post_id"))
            .where(*where)
            .order_by(post_id.desc())
            .limit(limit)
            .lateral(f"listed_{kind}")
        )
        parts.append(
            select(
                literal_column(str(kind)).label("kind"),
                wanted.c.viewer,
                wanted.c.since,
                listed.c.post_id,
            ).select_from(wanted.join(listed, true()))
        )
    return union_all(*parts)


_RECENT_FLAGS = _recent_flags_query()


class _Dialect:
    """Inserts that skip or merge on a key conflict, in the dialect of the engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._postgres = engine.dialect.name == "postgresql"

    def insert(self, table: Table) -> Any:
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)


class SqlPostStore:
    """The relational implementation of PostStore (SQLite embedded, PostgreSQL in production)."""

    def __init__(
        self, engine: AsyncEngine, *, outbox: Outbox, replica: AsyncEngine | None = None
    ) -> None:
        self._sessions = db.session_factory(engine)
        self._read_sessions = db.read_session_factory(engine, replica)
        self.has_replica = replica is not None
        self._dialect = _Dialect(engine)
        self._postgres = engine.dialect.name == "postgresql"
        # One statement needs no transaction of its own: on PostgreSQL, reads that are a single
        # statement run on an autocommit connection of the primary (no BEGIN and COMMIT).
        self._autocommit = db.autocommit(engine)
        self.outbox = outbox

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a transaction: committed when the block ends, rolled back on any error."""
        async with db.transaction(self._sessions) as session:
            yield session

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a read-only transaction on the replica (else the primary); a write fails. The
        relational engagement store reads through it too (same tables, same session)."""
        async with db.transaction(self._read_sessions) as session:
            yield session

    async def insert_post(self, session: AsyncSession, *, post: PostRecord) -> None:
        """Add a post with its media, hashtag and place entries and its author's count; raise
        Conflict("idempotency_key" | "media") when the key or a media id is taken."""
        cells: dict[str, Any] = {"cell_fine": None, "cell_coarse": None}
        location = post.location
        if location is not None:
            cells = {
                "cell_fine": geo.cell(location.point, geo.FINE),
                "cell_coarse": geo.cell(location.point, geo.COARSE),
            }
        try:
            await session.execute(
                posts.insert().values(
                    post_id=post.post_id,
                    author_id=post.author_id,
                    caption=post.caption,
                    hashtags=list(post.hashtags),
                    mentions=[[m.user_id, m.username] for m in post.mentions],
                    media_ids=list(post.media_ids),
                    alt_texts=list(post.alt_texts) if post.alt_texts else None,
                    place_id=post.place_id,
                    location_name=location.name if location else None,
                    lat=location.point.lat if location else None,
                    lng=location.point.lng if location else None,
                    idempotency_key=post.idempotency_key,
                    request_hash=post.request_hash,
                    created_at=post.created_at,
                    kind=post.kind,
                    **cells,
                )
            )
            await session.execute(
                post_media.insert(),
                [
                    {"media_id": media_id, "post_id": post.post_id, "position": position}
                    for position, media_id in enumerate(post.media_ids)
                ],
            )
        except IntegrityError as exc:
            raise Conflict(
                "media" if "post_media" in str(exc.orig) else "idempotency_key"
            ) from None
        if post.hashtags:
            await session.execute(
                post_hashtags.insert(),
                [{"tag": tag, "post_id": post.post_id} for tag in post.hashtags],
            )
            upsert = self._dialect.insert(hashtags).values(
                [{"tag": tag, "post_count": 1} for tag in post.hashtags]
            )
            await session.execute(
                upsert.on_conflict_do_update(
                    index_elements=[hashtags.c.tag],
                    set_={"post_count": hashtags.c.post_count + 1},
                )
            )
        if post.place_id is not None:
            await session.execute(
                update(places)
                .where(places.c.place_id == post.place_id)
                .values(post_count=places.c.post_count + 1)
            )
        await self._add_to_post_count(session, user_id=post.author_id, delta=1)

    async def publish_now(self, *, post: PostRecord, event: dict[str, Any]) -> set[int] | None:
        """Add a post without a place, as insert_post does, and its event (an Outbox row)
        outside any transaction, unless one of its media already belongs to a post or a story;
        return those media ids (empty: published). On PostgreSQL one statement on an
        autocommit connection: one round trip instead of ten. None on SQLite (INSERTs cannot be
        CTEs there): the caller then writes it in a transaction. Raise Conflict as insert_post."""
        if not self._postgres:
            return None
        if post.location is not None:
            raise ValueError("a post with a location is written in a transaction (place_for)")
        params: dict[str, Any] = {
            "post_post_id": post.post_id,
            "post_author_id": post.author_id,
            "post_caption": post.caption,
            "post_hashtags": list(post.hashtags),
            "post_mentions": [[m.user_id, m.username] for m in post.mentions],
            "post_media_ids": list(post.media_ids),
            "post_alt_texts": list(post.alt_texts) if post.alt_texts else None,
            "post_idempotency_key": post.idempotency_key,
            "post_request_hash": post.request_hash,
            "post_created_at": post.created_at,
            "post_kind": post.kind,
            "post_media": list(post.media_ids),
            "post_tags": list(post.hashtags),
        }
        params.update({f"post_event_{k}": event[k] for k in _OUTBOX_COLUMNS})
        try:
            async with self._autocommit.connect() as connection:
                return {int(m) for m in (await connection.execute(_POST, params)).scalars()}
        except IntegrityError as exc:
            raise Conflict(
                "media" if "post_media" in str(exc.orig) else "idempotency_key"
            ) from None

    async def _add_to_post_count(self, session: AsyncSession, *, user_id: int, delta: int) -> None:
        upsert = self._dialect.insert(user_post_counts).values(
            user_id=user_id, post_count=max(delta, 0)
        )
        await session.execute(
            upsert.on_conflict_do_update(
                index_elements=[user_post_counts.c.user_id],
                set_={"post_count": user_post_counts.c.post_count + delta},
            )
        )

    async def posted_media(self, session: AsyncSession, *, media_ids: Sequence[int]) -> set[int]:
        """Return which of these media ids already belong to a post or a story (deleted ones
        included): a piece of media is published once."""
        if not media_ids:
            return set()
        wanted = list(media_ids)
        query = union(
            select(post_media.c.media_id).where(post_media.c.media_id.in_(wanted)),
            select(stories.c.media_id).where(stories.c.media_id.in_(wanted)),
        )
        return {int(m) for m in (await session.scalars(query))}

    async def add_comment_key(
        self,
        session: AsyncSession,
        *,
        author_id: int,
        idempotency_key: str,
        comment_id: int,
        request_hash: str,
    ) -> None:
        """Record the comment an author made with an idempotency key; raise
        Conflict("idempotency_key") when the key is taken."""
        try:
            async with session.begin_nested():
                await session.execute(
                    comment_keys.insert().values(
                        author_id=author_id,
                        idempotency_key=idempotency_key,
                        comment_id=comment_id,
                        request_hash=request_hash,
                        created_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            raise Conflict("idempotency_key") from None

    async def get_comment_key(
        self, session: AsyncSession, *, author_id: int, idempotency_key: str
    ) -> tuple[int, str] | None:
        """Return the comment id an author's idempotency key made, and its request digest."""
        row = (
            await session.execute(
                select(comment_keys.c.comment_id, comment_keys.c.request_hash).where(
                    comment_keys.c.author_id == author_id,
                    comment_keys.c.idempotency_key == idempotency_key,
                )
            )
        ).first()
        return (int(row.comment_id), str(row.request_hash)) if row else None

    async def get_post_by_key(
        self, session: AsyncSession, *, author_id: int, idempotency_key: str
    ) -> tuple[PostRecord, bool] | None:
        """Return the post an author made with an idempotency key, and whether it is deleted."""
        key = {"author_id": author_id, "idempotency_key": idempotency_key}
        row = (await session.execute(_POST_BY_KEY, key)).first()
        return (_post(row), row.deleted_at is not None) if row else None

    async def current_post_by_key(
        self, *, author_id: int, idempotency_key: str
    ) -> tuple[PostRecord, bool] | None:
        """get_post_by_key as committed now on the primary, outside any transaction (what every
        CreatePost with a key asks first): on PostgreSQL one statement on an autocommit
        connection."""
        if not self._postgres:
            async with self.transaction() as session:
                return await self.get_post_by_key(
                    session, author_id=author_id, idempotency_key=idempotency_key
                )
        key = {"author_id": author_id, "idempotency_key": idempotency_key}
        async with self._autocommit.connect() as connection:
            row = (await connection.execute(_POST_BY_KEY, key)).first()
        return (_post(row), row.deleted_at is not None) if row else None

    async def get_post(
        self, session: AsyncSession, *, post_id: int, for_update: bool = False
    ) -> PostRecord | None:
        """Return a live post; `for_update` locks its row until the transaction ends."""
        query = select(posts).where(posts.c.post_id == post_id, _LIVE)
        if for_update:
            query = query.with_for_update()
        row = (await session.execute(query)).first()
        return _post(row) if row else None

    async def current_post(self, *, post_id: int) -> PostRecord | None:
        """Return a live post as committed now on the primary, outside any transaction (what a
        like or comment checks first): on PostgreSQL one statement on an autocommit connection,
        without a session's BEGIN and COMMIT."""
        if not self._postgres:
            async with self.transaction() as session:
                return await self.get_post(session, post_id=post_id)
        async with self._autocommit.connect() as connection:
            row = (await connection.execute(_CURRENT_POST, {"post_id": post_id})).first()
        return _post(row) if row else None

    async def current_viewer_flags(
        self, *, viewer_id: int, post_ids: Sequence[int], with_likes: bool
    ) -> tuple[set[int], set[int], set[int]] | None:
        """Return which of these posts the viewer likes (with_likes: the likes are this
        database's table; else an empty set), saves and reported, as committed now on the
        primary: on PostgreSQL one prebuilt statement on an autocommit connection. None where
        that is not how this store reads (then a transaction asks each)."""
        if not self._postgres:
            return None
        found: tuple[set[int], set[int], set[int]] = (set(), set(), set())
        async with self._autocommit.connect() as connection:
            rows = await connection.execute(
                _CURRENT_FLAGS[with_likes], {"viewer": viewer_id, "post_ids": list(post_ids)}
            )
            for kind, post_id in rows:
                found[int(kind)].add(int(post_id))
        return found

    async def current_viewers_flags(
        self, *, wanted: Sequence[tuple[int, Sequence[int]]], with_likes: bool
    ) -> dict[int, tuple[set[int], set[int], set[int]]] | None:
        """current_viewer_flags for several (viewer, post ids) at once, in one prebuilt
        statement: each viewer's (liked, saved, reported) among the posts asked for it (a viewer
        asked twice gets the union). None where that is not how this store reads."""
        if not self._postgres:
            return None
        found: dict[int, tuple[set[int], set[int], set[int]]] = {
            viewer: (set(), set(), set()) for viewer, _ in wanted
        }
        pairs = [(viewer, post_id) for viewer, post_ids in wanted for post_id in post_ids]
        if not pairs:
            return found
        async with self._autocommit.connect() as connection:
            rows = await connection.execute(
                _VIEWERS_FLAGS[with_likes],
                {"viewers": [v for v, _ in pairs], "post_ids": [p for _, p in pairs]},
            )
            for kind, viewer, post_id in rows:
                found[int(viewer)][int(kind)].add(int(post_id))
        return found

    async def current_recent_flags(
        self, *, wanted: Sequence[tuple[int, int]], limit: int
    ) -> dict[tuple[int, int], tuple[list[int], list[int], list[int]]]:
        """Return, for each (viewer, since post id) pair, the posts from that id up the viewer
        likes (this database's table), saves and reported: each kind its `limit` highest post
        ids, highest first, as committed now on the primary. On PostgreSQL one prebuilt
        statement on an autocommit connection; on SQLite three queries a pair."""
        pairs = list(dict.fromkeys(wanted))
        found: dict[tuple[int, int], tuple[list[int], list[int], list[int]]] = {
            pair: ([], [], []) for pair in pairs
        }
        if not pairs:
            return found
        if self._postgres:
            async with self._autocommit.connect() as connection:
                rows = await connection.execute(
                    _RECENT_FLAGS,
                    {
                        "viewers": [v for v, _ in pairs],
                        "sinces": [s for _, s in pairs],
                        "limit": limit,
                    },
                )
                for kind, viewer, since, post_id in rows:
                    found[(int(viewer), int(since))][int(kind)].append(int(post_id))
            for lists in found.values():
                for listed in lists:
                    listed.sort(reverse=True)
            return found
        async with self.transaction() as session:
            for (viewer, since), lists in found.items():
                for kind, post_id, where in _recent_kinds(viewer, since):
                    query = select(post_id).where(*where).order_by(post_id.desc()).limit(limit)
                    lists[kind].extend(int(p) for p in await session.scalars(query))
        return found

    async def get_posts(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, PostRecord]:
        """Return the live posts among these ids, in one query."""
        if not post_ids:
            return {}
        query = select(posts).where(posts.c.post_id.in_(list(post_ids)), _LIVE)
        return {row.post_id: _post(row) for row in await session.execute(query)}

    async def delete_post(self, session: AsyncSession, *, post: PostRecord) -> None:
        """Mark a post deleted and take it out of every index, count and saved list."""
        await session.execute(
            update(posts)
            .where(posts.c.post_id == post.post_id)
            .values(deleted_at=datetime.now(UTC), cell_fine=None, cell_coarse=None, place_id=None)
        )
        if post.hashtags:
            await session.execute(
                delete(post_hashtags).where(post_hashtags.c.post_id == post.post_id)
            )
            await session.execute(
                update(hashtags)
                .where(hashtags.c.tag.in_(list(post.hashtags)))
                .values(post_count=hashtags.c.post_count - 1)
            )
        if post.place_id is not None:
            await session.execute(
                update(places)
                .where(places.c.place_id == post.place_id)
                .values(post_count=places.c.post_count - 1)
            )
        await self._add_to_post_count(session, user_id=post.author_id, delta=-1)
        await session.execute(delete(saves).where(saves.c.post_id == post.post_id))

    async def list_user_posts(
        self, session: AsyncSession, *, author_id: int, before: int | None, limit: int
    ) -> list[PostRecord]:
        """Return an author's live posts, newest first, older than post id `before`."""
        query = select(posts).where(posts.c.author_id == author_id, _LIVE)
        if before is not None:
            query = query.where(posts.c.post_id < before)
        query = query.order_by(posts.c.post_id.desc()).limit(limit)
        return [_post(row) for row in await session.execute(query)]

    async def list_posts_after(
        self, session: AsyncSession, *, after: int, limit: int
    ) -> list[PostRecord]:
        """Return live posts with ids above `after`, oldest first (rebuilding projections)."""
        query = (
            select(posts)
            .where(posts.c.post_id > after, _LIVE)
            .order_by(posts.c.post_id)
            .limit(limit)
        )
        return [_post(row) for row in await session.execute(query)]

    async def list_hashtag_posts(
        self, session: AsyncSession, *, tag: str, before: int | None, limit: int
    ) -> list[PostRecord]:
        """Return the live posts carrying a tag, newest first, older than post id `before`."""
        query = (
            select(posts)
            .join(post_hashtags, post_hashtags.c.post_id == posts.c.post_id)
            .where(post_hashtags.c.tag == tag, _LIVE)
        )
        if before is not None:
            query = query.where(post_hashtags.c.post_id < before)
        query = query.order_by(post_hashtags.c.post_id.desc()).limit(limit)
        return [_post(row) for row in await session.execute(query)]

    async def list_place_posts(
        self, session: AsyncSession, *, place_ids: Sequence[int], before: int | None, limit: int
    ) -> list[PostRecord]:
        """Return the live posts filed under any of these places, newest first."""
        if not place_ids:
            return []
        query = select(posts).where(posts.c.place_id.in_(list(place_ids)), _LIVE)
        if before is not None:
            query = query.where(posts.c.post_id < before)
        query = query.order_by(posts.c.post_id.desc()).limit(limit)
        return [_post(row) for row in await session.execute(query)]

    async def nearby_posts(
        self, session: AsyncSession, *, area: geo.Area, before: int | None, limit: int
    ) -> list[PostRecord]:
        """Return live posts in an area's cells and bounding box, newest first; some may lie
        outside its circle (the caller measures exact distances)."""
        column = posts.c.cell_fine if area.fine else posts.c.cell_coarse
        lat_lo, lat_hi = area.lat_range
        query = select(posts).where(
            or_(*(column.between(lo, hi) for lo, hi in area.cell_ranges)),
            posts.c.lat.between(lat_lo, lat_hi),
            or_(*(posts.c.lng.between(lo, hi) for lo, hi in area.lng_ranges)),
            _LIVE,
        )
        if before is not None:
            query = query.where(posts.c.post_id < before)
        query = query.order_by(posts.c.post_id.desc()).limit(limit)
        return [_post(row) for row in await session.execute(query)]

    async def get_hashtag(self, session: AsyncSession, *, tag: str) -> HashtagRecord | None:
        """Return a hashtag and its post count."""
        row = (await session.execute(select(hashtags).where(hashtags.c.tag == tag))).first()
        return HashtagRecord(row.tag, row.post_count) if row else None

    async def search_hashtags(
        self, session: AsyncSession, *, prefix: str, after: tuple[int, str] | None, limit: int
    ) -> list[HashtagRecord]:
        """Return tags on at least one post that start with `prefix`, most posts first, then by
        tag; `after` is the (post_count, tag) of the previous page's last tag."""
        query = select(hashtags).where(
            hashtags.c.tag.like(_escape_like(prefix) + "%", escape="\\"), hashtags.c.post_count > 0
        )
        if after is not None:
            count, tag = after
            query = query.where(
                or_(
                    hashtags.c.post_count < count,
                    and_(hashtags.c.post_count == count, hashtags.c.tag > tag),
                )
            )
        query = query.order_by(hashtags.c.post_count.desc(), hashtags.c.tag).limit(limit)
        return [HashtagRecord(row.tag, row.post_count) for row in await session.execute(query)]

    async def hashtag_authors(
        self, session: AsyncSession, *, tags: Sequence[str]
    ) -> dict[str, dict[int, int]]:
        """Return, for each of these tags, how many live posts each author filed under it:
        what a search needs to count only the posts a viewer may see."""
        if not tags:
            return {}
        query = (
            select(post_hashtags.c.tag, posts.c.author_id, func.count())
            .join(posts, posts.c.post_id == post_hashtags.c.post_id)
            .where(post_hashtags.c.tag.in_(list(tags)), _LIVE)
            .group_by(post_hashtags.c.tag, posts.c.author_id)
        )
        found: dict[str, dict[int, int]] = {}
        for tag, author_id, count in await session.execute(query):
            found.setdefault(str(tag), {})[int(author_id)] = int(count)
        return found

    async def place_authors(
        self, session: AsyncSession, *, place_ids: Sequence[int]
    ) -> dict[int, dict[int, int]]:
        """Return, for each of these places, how many live posts each author filed there."""
        if not place_ids:
            return {}
        query = (
            select(posts.c.place_id, posts.c.author_id, func.count())
            .where(posts.c.place_id.in_(list(place_ids)), _LIVE)
            .group_by(posts.c.place_id, posts.c.author_id)
        )
        found: dict[int, dict[int, int]] = {}
        for place_id, author_id, count in await session.execute(query):
            found.setdefault(int(place_id), {})[int(author_id)] = int(count)
        return found

    async def place_for(
        self, session: AsyncSession, *, location: Location, new_place_id: int
    ) -> int:
        """Return the place of a name and spot, making it (with `new_place_id`) the first time."""
        key = name_key(location.name)
        lat_e4, lng_e4 = round(location.point.lat * 10_000), round(location.point.lng * 10_000)
        insert = self._dialect.insert(places).values(
            place_id=new_place_id,
            name=location.name,
            name_key=key,
            lat_e4=lat_e4,
            lng_e4=lng_e4,
            lat=location.point.lat,
            lng=location.point.lng,
            post_count=0,
        )
        await session.execute(insert.on_conflict_do_nothing())
        query = select(places.c.place_id).where(
            places.c.name_key == key, places.c.lat_e4 == lat_e4, places.c.lng_e4 == lng_e4
        )
        return int((await session.execute(query)).scalar_one())

    async def search_places(
        self,
        session: AsyncSession,
        *,
        prefix: str,
        after: tuple[int, str, int] | None,
        limit: int,
    ) -> list[PlaceRecord]:
        """Return places with posts whose name starts with `prefix` (matched case-insensitively),
        most posts first, then by name and id; `after` is the previous page's last
        (post_count, name_key, place_id)."""
        query = select(places).where(
            places.c.name_key.like(_escape_like(name_key(prefix)) + "%", escape="\\"),
            places.c.post_count > 0,
        )
        if after is not None:
            count, key, place_id = after
            query = query.where(
                or_(
                    places.c.post_count < count,
                    and_(places.c.post_count == count, places.c.name_key > key),
                    and_(
                        places.c.post_count == count,
                        places.c.name_key == key,
                        places.c.place_id > place_id,
                    ),
                )
            )
        query = query.order_by(
            places.c.post_count.desc(), places.c.name_key, places.c.place_id
        ).limit(limit)
        return [
            PlaceRecord(row.place_id, row.name, geo.Point(row.lat, row.lng), row.post_count)
            for row in await session.execute(query)
        ]

    async def post_counts(
        self, session: AsyncSession, *, user_ids: Sequence[int]
    ) -> dict[int, int]:
        """Return the live post counts of the accounts among these ids that ever posted."""
        if not user_ids:
            return {}
        query = select(user_post_counts).where(user_post_counts.c.user_id.in_(list(user_ids)))
        return {row.user_id: row.post_count for row in await session.execute(query)}

    async def add_save(
        self, session: AsyncSession, *, user_id: int, post_id: int, save_id: int, at: datetime
    ) -> bool:
        """Save a post for a user; False when it was saved already."""
        insert = self._dialect.insert(saves).values(
            user_id=user_id, post_id=post_id, save_id=save_id, saved_at=at
        )
        result = await session.execute(
            insert.on_conflict_do_nothing().execution_options(preserve_rowcount=True)
        )
        return _rowcount(result) == 1

    async def hide_content(
        self,
        session: AsyncSession,
        *,
        viewer_id: int,
        target_type: str,
        target_id: int,
        owner_id: int,
        at: datetime,
    ) -> bool:
        """Hide a post, comment or story from a viewer; False when it already was."""
        insert = self._dialect.insert(hidden_content).values(
            viewer_id=viewer_id,
            target_type=target_type,
            target_id=target_id,
            owner_id=owner_id,
            hidden_at=at,
        )
        result = await session.execute(
            insert.on_conflict_do_nothing().execution_options(preserve_rowcount=True)
        )
        return _rowcount(result) == 1

    async def hidden_among(
        self, session: AsyncSession, *, viewer_id: int, target_type: str, target_ids: Sequence[int]
    ) -> set[int]:
        """Return which of these posts, comments or stories the viewer hid, in one query."""
        if not target_ids:
            return set()
        query = select(hidden_content.c.target_id).where(
            hidden_content.c.viewer_id == viewer_id,
            hidden_content.c.target_type == target_type,
            hidden_content.c.target_id.in_(list(target_ids)),
        )
        return set((await session.execute(query)).scalars())

    async def hidden_live_stories(
        self, session: AsyncSession, *, viewer_id: int, author_ids: Sequence[int], now: datetime
    ) -> dict[int, int]:
        """Return, per author, how many of their live stories the viewer hid (one query)."""
        if not author_ids:
            return {}
        query = (
            select(stories.c.author_id, func.count())
            .join(
                hidden_content,
                and_(
                    hidden_content.c.target_id == stories.c.story_id,
                    hidden_content.c.target_type == "story",
                    hidden_content.c.viewer_id == viewer_id,
                ),
            )
            .where(
                stories.c.author_id.in_(list(author_ids)),
                stories.c.expires_at > now,
                stories.c.deleted_at.is_(None),
            )
            .group_by(stories.c.author_id)
        )
        return {int(a): int(n) for a, n in await session.execute(query)}

    async def remove_save(self, session: AsyncSession, *, user_id: int, post_id: int) -> bool:
        """Unsave a post; False when it was not saved."""
        result = await session.execute(
            delete(saves).where(saves.c.user_id == user_id, saves.c.post_id == post_id)
        )
        return _rowcount(result) == 1

    async def saved_among(
        self, session: AsyncSession, *, user_id: int, post_ids: Sequence[int]
    ) -> set[int]:
        """Return which of these posts the user saved."""
        if not post_ids:
            return set()
        query = select(saves.c.post_id).where(
            saves.c.user_id == user_id, saves.c.post_id.in_(list(post_ids))
        )
        return {int(p) for p in await session.scalars(query)}

    async def list_saves(
        self, session: AsyncSession, *, user_id: int, before: int | None, limit: int
    ) -> list[tuple[int, int]]:
        """Return (save_id, post_id) of a user's saves, most recent first, before `before`."""
        query = select(saves.c.save_id, saves.c.post_id).where(saves.c.user_id == user_id)
        if before is not None:
            query = query.where(saves.c.save_id < before)
        query = query.order_by(saves.c.save_id.desc()).limit(limit)
        return [(int(s), int(p)) for s, p in await session.execute(query)]


def shard_of(key: int, shards: int) -> int:
    """Return the counter row a key (a liker's or a comment's id) adds to: a well-mixed hash, as
    ids made in the same millisecond differ only in their low bits."""
    mixed = (key * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    return (mixed >> 32) % shards


class SqlEngagementStore:
    """The relational implementation of EngagementStore, on the PostStore's transactions."""

    # Its tables are the post store's database's: a statement of the post store may read them.
    in_post_database = True

    def __init__(self, engine: AsyncEngine, *, shards: int) -> None:
        if not 1 <= shards <= 256:
            raise ValueError(f"shards must be within 1..256, got {shards}")
        self._dialect = _Dialect(engine)
        self._shards = shards
        self._postgres = engine.dialect.name == "postgresql"
        self._autocommit = db.autocommit(engine)

    async def _add_to_counts(
        self, session: AsyncSession, *, post_id: int, shard: int, likes: int, comments: int
    ) -> None:
        upsert = self._dialect.insert(post_counters).values(
            post_id=post_id, shard=shard, like_count=likes, comment_count=comments
        )
        await session.execute(
            upsert.on_conflict_do_update(
                index_elements=[post_counters.c.post_id, post_counters.c.shard],
                set_={
                    "like_count": post_counters.c.like_count + likes,
                    "comment_count": post_counters.c.comment_count + comments,
                },
            )
        )

    async def add_like(
        self, session: AsyncSession, *, post_id: int, user_id: int, like_id: int, at: datetime
    ) -> bool:
        """Add a like and count it; False (nothing counted) when the user liked it already."""
        insert = self._dialect.insert(likes).values(
            post_id=post_id, user_id=user_id, like_id=like_id, liked_at=at
        )
        result = await session.execute(
            insert.on_conflict_do_nothing().execution_options(preserve_rowcount=True)
        )
        if _rowcount(result) != 1:
            return False
        await self._add_to_counts(
            session, post_id=post_id, shard=shard_of(user_id, self._shards), likes=1, comments=0
        )
        return True

    async def like_now(
        self,
        *,
        post_id: int,
        user_id: int,
        like_id: int,
        at: datetime,
        event: dict[str, Any],
    ) -> tuple[bool, int] | None:
        """Add a like, count it and write its event (an Outbox row, written only when the like
        is new) outside any transaction; return whether it was new and the post's like count.
        On PostgreSQL one statement on an autocommit connection (atomic like any statement):
        no session, no BEGIN and COMMIT, one round trip instead of six. None on SQLite, whose
        INSERTs cannot be CTEs: the caller then writes them in a transaction."""
        if not self._postgres:
            return None
        params: dict[str, Any] = {
            "like_post_id": post_id,
            "like_user_id": user_id,
            "like_like_id": like_id,
            "like_at": at,
            "like_shard": shard_of(user_id, self._shards),
        }
        params.update({f"like_event_{k}": event[k] for k in _OUTBOX_COLUMNS})
        async with self._autocommit.connect() as connection:
            added, counted = (await connection.execute(_LIKE, params)).one()
        # The count was read before this statement's own increment.
        return bool(added), int(counted) + (1 if added else 0)

    async def remove_like(self, session: AsyncSession, *, post_id: int, user_id: int) -> bool:
        """Remove a like and uncount it; False when there was none."""
        result = await session.execute(
            delete(likes).where(likes.c.post_id == post_id, likes.c.user_id == user_id)
        )
        if _rowcount(result) != 1:
            return False
        await self._add_to_counts(
            session, post_id=post_id, shard=shard_of(user_id, self._shards), likes=-1, comments=0
        )
        return True

    async def liked_by(self, session: AsyncSession, *, user_id: int, limit: int) -> list[int]:
        """Return up to `limit` ids of posts the user likes."""
        query = select(likes.c.post_id).where(likes.c.user_id == user_id).limit(limit)
        return [int(p) for p in await session.scalars(query)]

    async def comments_by(
        self, session: AsyncSession, *, author_id: int, limit: int
    ) -> list[CommentRecord]:
        """Return up to `limit` of an author's comments, top-level ones first (deleting one
        takes its replies with it)."""
        query = (
            select(comments)
            .where(comments.c.author_id == author_id)
            .order_by(comments.c.parent_comment_id, comments.c.comment_id)
            .limit(limit)
        )
        return [_comment(row) for row in await session.execute(query)]

    async def liked_among(
        self, session: AsyncSession, *, user_id: int, post_ids: Sequence[int]
    ) -> set[int]:
        """Return which of these posts the user likes."""
        if not post_ids:
            return set()
        query = select(likes.c.post_id).where(
            likes.c.post_id.in_(list(post_ids)), likes.c.user_id == user_id
        )
        return {int(p) for p in await session.scalars(query)}

    async def list_likers(
        self, session: AsyncSession, *, post_id: int, before: int | None, limit: int
    ) -> list[tuple[int, int]]:
        """Return (like_id, user_id) of a post's likes, most recent first, before `before`."""
        query = select(likes.c.like_id, likes.c.user_id).where(likes.c.post_id == post_id)
        if before is not None:
            query = query.where(likes.c.like_id < before)
        query = query.order_by(likes.c.like_id.desc()).limit(limit)
        return [(int(like_id), int(user_id)) for like_id, user_id in await session.execute(query)]

    async def add_comment(self, session: AsyncSession, *, comment: CommentRecord) -> None:
        """Add a comment and count it."""
        await session.execute(
            comments.insert().values(
                comment_id=comment.comment_id,
                post_id=comment.post_id,
                author_id=comment.author_id,
                parent_comment_id=comment.parent_comment_id,
                text=comment.text,
                mentions=[[m.user_id, m.username] for m in comment.mentions],
                created_at=comment.created_at,
            )
        )
        await self._add_to_counts(
            session,
            post_id=comment.post_id,
            shard=shard_of(comment.comment_id, self._shards),
            likes=0,
            comments=1,
        )

    async def comment_now(self, *, comment: CommentRecord, event: dict[str, Any]) -> bool:
        """Add a top-level comment, count it and write its event (an Outbox row) outside any
        transaction: on PostgreSQL one statement on an autocommit connection (atomic like any
        statement), one round trip instead of five. False, and nothing written, on SQLite,
        whose INSERTs cannot be CTEs: the caller then writes them in a transaction."""
        if not self._postgres or comment.parent_comment_id:
            return False
        params: dict[str, Any] = {
            "comment_comment_id": comment.comment_id,
            "comment_post_id": comment.post_id,
            "comment_author_id": comment.author_id,
            "comment_parent_id": comment.parent_comment_id,
            "comment_text": comment.text,
            "comment_mentions": [[m.user_id, m.username] for m in comment.mentions],
            "comment_created_at": comment.created_at,
            "comment_shard": shard_of(comment.comment_id, self._shards),
        }
        params.update({f"comment_event_{k}": event[k] for k in _OUTBOX_COLUMNS})
        async with self._autocommit.connect() as connection:
            await connection.execute(_COMMENT, params)
        return True

    async def get_comment(
        self, session: AsyncSession, *, comment_id: int, lock: bool = False
    ) -> CommentRecord | None:
        """Return a comment; `lock` keeps it from being deleted until the transaction ends."""
        query = select(comments).where(comments.c.comment_id == comment_id)
        if lock:
            query = query.with_for_update(read=True)
        row = (await session.execute(query)).first()
        return _comment(row) if row else None

    async def delete_comment(self, session: AsyncSession, *, comment: CommentRecord) -> list[int]:
        """Delete a comment with its replies, uncount them, and return the replies' ids."""
        # Lock the comment first: a reply being added holds a share lock on it, so by the time
        # this lock is granted every such reply has committed and the next statement sees it.
        locked = await session.execute(
            select(comments.c.comment_id)
            .where(comments.c.comment_id == comment.comment_id)
            .with_for_update()
        )
        if locked.first() is None:
            return []
        reply_ids: list[int] = []
        if comment.parent_comment_id == 0:
            replies = await session.scalars(
                select(comments.c.comment_id).where(
                    comments.c.post_id == comment.post_id,
                    comments.c.parent_comment_id == comment.comment_id,
                )
            )
            reply_ids = [int(r) for r in replies]
        gone = [comment.comment_id, *reply_ids]
        await session.execute(delete(comments).where(comments.c.comment_id.in_(gone)))
        await self._add_to_counts(
            session,
            post_id=comment.post_id,
            shard=shard_of(comment.comment_id, self._shards),
            likes=0,
            comments=-len(gone),
        )
        return reply_ids

    async def list_comments(
        self,
        session: AsyncSession,
        *,
        post_id: int,
        parent_comment_id: int,
        after: int | None,
        limit: int,
    ) -> list[CommentRecord]:
        """Return a post's top-level comments (parent 0) or one comment's replies, oldest first,
        after comment id `after`."""
        query = select(comments).where(
            comments.c.post_id == post_id, comments.c.parent_comment_id == parent_comment_id
        )
        if after is not None:
            query = query.where(comments.c.comment_id > after)
        query = query.order_by(comments.c.comment_id).limit(limit)
        return [_comment(row) for row in await session.execute(query)]

    async def reply_counts(
        self, session: AsyncSession, *, post_id: int, comment_ids: Sequence[int]
    ) -> dict[int, int]:
        """Return how many replies each of these comments of a post has (absent: none)."""
        if not comment_ids:
            return {}
        query = (
            select(comments.c.parent_comment_id, func.count())
            .where(
                comments.c.post_id == post_id,
                comments.c.parent_comment_id.in_(list(comment_ids)),
            )
            .group_by(comments.c.parent_comment_id)
        )
        return {int(parent): int(n) for parent, n in await session.execute(query)}

    async def counts(self, session: AsyncSession, *, post_ids: Sequence[int]) -> dict[int, Counts]:
        """Return the like and comment counts of these posts, in one query."""
        if not post_ids:
            return {}
        query = (
            select(
                post_counters.c.post_id,
                func.sum(post_counters.c.like_count),
                func.sum(post_counters.c.comment_count),
            )
            .where(post_counters.c.post_id.in_(list(post_ids)))
            .group_by(post_counters.c.post_id)
        )
        return {
            int(post_id): Counts(int(like_count), int(comment_count))
            for post_id, like_count, comment_count in await session.execute(query)
        }

    async def purge_post(self, session: AsyncSession, *, post_id: int) -> None:
        """Delete every like, comment and counter of a (deleted) post."""
        for table in (likes, comments, post_counters):
            await session.execute(delete(table).where(table.c.post_id == post_id))


_STORY_KEPT = stories.c.deleted_at.is_(None)


def _live_at(now: datetime) -> Any:
    # A story is live strictly before its expiry: at exactly 24 hours it is gone.
    return and_(_STORY_KEPT, stories.c.expires_at > now)


def _audience(viewer_id: int | None) -> Any:
    """Return the condition that a viewer is in a story's audience: everyone for ordinary
    stories; the author and the author's close friends for close-friends stories."""
    everyone = stories.c.close_friends_only == false()
    if viewer_id is None:
        return everyone
    listed = (
        select(close_friends.c.friend_id)
        .where(
            close_friends.c.owner_id == stories.c.author_id,
            close_friends.c.friend_id == viewer_id,
        )
        .exists()
    )
    return or_(everyone, stories.c.author_id == viewer_id, listed)


class SqlStoryStore:
    """The relational implementation of StoryStore, on the PostStore's transactions."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._dialect = _Dialect(engine)

    async def insert_story(self, session: AsyncSession, *, story: StoryRecord) -> None:
        """Add a story; raise Conflict("media") when its media already made a story."""
        try:
            await session.execute(
                stories.insert().values(
                    story_id=story.story_id,
                    author_id=story.author_id,
                    media_id=story.media_id,
                    caption=story.caption,
                    mentions=[[m.user_id, m.username] for m in story.mentions],
                    created_at=story.created_at,
                    expires_at=story.expires_at,
                    close_friends_only=story.close_friends_only,
                )
            )
        except IntegrityError:
            raise Conflict("media") from None

    async def get_story(
        self, session: AsyncSession, *, story_id: int, now: datetime | None
    ) -> StoryRecord | None:
        """Return an undeleted story, and only if it is live at `now` (None: expired or not)."""
        query = select(stories).where(stories.c.story_id == story_id, _STORY_KEPT)
        if now is not None:
            query = query.where(stories.c.expires_at > now)
        row = (await session.execute(query)).first()
        return _story(row) if row else None

    async def get_story_by_media(
        self, session: AsyncSession, *, media_id: int, now: datetime
    ) -> StoryRecord | None:
        """Return the live, undeleted story of a piece of media (a media item is in one at most)."""
        query = select(stories).where(
            stories.c.media_id == media_id, _STORY_KEPT, stories.c.expires_at > now
        )
        row = (await session.execute(query)).first()
        return _story(row) if row else None

    async def delete_story(self, session: AsyncSession, *, story_id: int, at: datetime) -> bool:
        """Mark a story deleted and forget who saw it; False when it was deleted already."""
        result = await session.execute(
            update(stories).where(stories.c.story_id == story_id, _STORY_KEPT).values(deleted_at=at)
        )
        if _rowcount(result) != 1:
            return False
        await session.execute(delete(story_views).where(story_views.c.story_id == story_id))
        return True

    async def forget_account(self, session: AsyncSession, *, user_id: int) -> None:
        """Forget a deleted account's story views and its close-friends ties both ways."""
        await session.execute(delete(story_views).where(story_views.c.viewer_id == user_id))
        await session.execute(
            delete(close_friends).where(
                or_(close_friends.c.owner_id == user_id, close_friends.c.friend_id == user_id)
            )
        )

    async def stories_of(
        self, session: AsyncSession, *, author_id: int, limit: int
    ) -> list[StoryRecord]:
        """Return up to `limit` of an author's undeleted stories, live or expired."""
        query = (
            select(stories)
            .where(stories.c.author_id == author_id, _STORY_KEPT)
            .order_by(stories.c.story_id)
            .limit(limit)
        )
        return [_story(row) for row in await session.execute(query)]

    async def list_live_stories(
        self,
        session: AsyncSession,
        *,
        author_id: int,
        viewer_id: int | None,
        now: datetime,
        after: int | None,
        limit: int,
    ) -> list[StoryRecord]:
        """Return an author's stories live at `now` whose audience holds the viewer, oldest
        first, after story id `after`."""
        query = select(stories).where(
            stories.c.author_id == author_id, _live_at(now), _audience(viewer_id)
        )
        if after is not None:
            query = query.where(stories.c.story_id > after)
        query = query.order_by(stories.c.story_id).limit(limit)
        return [_story(row) for row in await session.execute(query)]

    async def list_expired_stories(
        self,
        session: AsyncSession,
        *,
        author_id: int,
        now: datetime,
        before: int | None,
        limit: int,
    ) -> list[StoryRecord]:
        """Return an author's undeleted stories expired at `now`, newest first, before `before`."""
        query = select(stories).where(
            stories.c.author_id == author_id, _STORY_KEPT, stories.c.expires_at <= now
        )
        if before is not None:
            query = query.where(stories.c.story_id < before)
        query = query.order_by(stories.c.story_id.desc()).limit(limit)
        return [_story(row) for row in await session.execute(query)]

    async def add_view(
        self, session: AsyncSession, *, story_id: int, viewer_id: int, view_id: int, at: datetime
    ) -> bool:
        """Record that a viewer saw a story; False when they had already."""
        insert = self._dialect.insert(story_views).values(
            story_id=story_id, viewer_id=viewer_id, view_id=view_id, seen_at=at
        )
        result = await session.execute(
            insert.on_conflict_do_nothing().execution_options(preserve_rowcount=True)
        )
        return _rowcount(result) == 1

    async def seen_among(
        self, session: AsyncSession, *, viewer_id: int, story_ids: Sequence[int]
    ) -> set[int]:
        """Return which of these stories the viewer saw."""
        if not story_ids:
            return set()
        query = select(story_views.c.story_id).where(
            story_views.c.story_id.in_(list(story_ids)), story_views.c.viewer_id == viewer_id
        )
        return {int(s) for s in await session.scalars(query)}

    async def view_counts(
        self, session: AsyncSession, *, story_ids: Sequence[int]
    ) -> dict[int, int]:
        """Return how many accounts saw each of these stories (absent: none), in one query."""
        if not story_ids:
            return {}
        query = (
            select(story_views.c.story_id, func.count())
            .where(story_views.c.story_id.in_(list(story_ids)))
            .group_by(story_views.c.story_id)
        )
        return {int(story_id): int(n) for story_id, n in await session.execute(query)}

    async def list_views(
        self, session: AsyncSession, *, story_id: int, before: int | None, limit: int
    ) -> list[tuple[int, int, datetime]]:
        """Return (view_id, viewer_id, seen_at) of a story, most recent first, before `before`."""
        query = select(story_views.c.view_id, story_views.c.viewer_id, story_views.c.seen_at).where(
            story_views.c.story_id == story_id
        )
        if before is not None:
            query = query.where(story_views.c.view_id < before)
        query = query.order_by(story_views.c.view_id.desc()).limit(limit)
        return [(int(v), int(u), _aware(at)) for v, u, at in await session.execute(query)]

    async def rings(
        self,
        session: AsyncSession,
        *,
        viewer_id: int | None,
        author_ids: Sequence[int],
        now: datetime,
    ) -> list[RingRecord]:
        """Return, for each of these authors with stories live at `now` whose audience holds the
        viewer, how many there are, the newest, how many of them the viewer saw (0 for nobody)
        and whether any is a close-friends story: one query, one row per author, in no
        particular order."""
        if not author_ids:
            return []
        source: Any = stories
        seen_count: Any = literal(0)
        if viewer_id is not None:
            # The views' key is (story_id, viewer_id): at most one row joins each story.
            source = stories.outerjoin(
                story_views,
                and_(
                    story_views.c.story_id == stories.c.story_id,
                    story_views.c.viewer_id == viewer_id,
                ),
            )
            seen_count = func.count(story_views.c.viewer_id)
        query = (
            select(
                stories.c.author_id,
                func.count(stories.c.story_id),
                func.max(stories.c.story_id),
                func.max(stories.c.created_at),
                seen_count,
                func.max(case((stories.c.close_friends_only, 1), else_=0)),
            )
            .select_from(source)
            .where(stories.c.author_id.in_(list(author_ids)), _live_at(now), _audience(viewer_id))
            .group_by(stories.c.author_id)
        )
        return [
            RingRecord(
                author_id=int(author),
                story_count=int(count),
                latest_story_id=int(latest_id),
                latest_created_at=_aware(latest_at),
                seen_count=int(seen_count),
                close_friends=bool(close),
            )
            for author, count, latest_id, latest_at, seen_count, close in await session.execute(
                query
            )
        ]

    async def is_close_friend(
        self, session: AsyncSession, *, owner_id: int, friend_id: int
    ) -> bool:
        """Tell whether an account is on another's close friends list."""
        query = select(close_friends.c.friend_id).where(
            close_friends.c.owner_id == owner_id, close_friends.c.friend_id == friend_id
        )
        return (await session.execute(query)).first() is not None

    async def add_close_friend(
        self, session: AsyncSession, *, owner_id: int, friend_id: int, added_id: int, at: datetime
    ) -> bool:
        """Put an account on an owner's close friends list; False when it was there already."""
        insert = self._dialect.insert(close_friends).values(
            owner_id=owner_id, friend_id=friend_id, added_id=added_id, added_at=at
        )
        result = await session.execute(
            insert.on_conflict_do_nothing().execution_options(preserve_rowcount=True)
        )
        return _rowcount(result) == 1

    async def remove_close_friend(
        self, session: AsyncSession, *, owner_id: int, friend_id: int
    ) -> bool:
        """Take an account off an owner's close friends list; False when it was not on it."""
        result = await session.execute(
            delete(close_friends).where(
                close_friends.c.owner_id == owner_id, close_friends.c.friend_id == friend_id
            )
        )
        return _rowcount(result) == 1

    async def list_close_friends(
        self, session: AsyncSession, *, owner_id: int, before: int | None, limit: int
    ) -> list[tuple[int, int]]:
        """Return (added_id, friend_id) of an owner's close friends, most recently added first."""
        query = select(close_friends.c.added_id, close_friends.c.friend_id).where(
            close_friends.c.owner_id == owner_id
        )
        if before is not None:
            query = query.where(close_friends.c.added_id < before)
        query = query.order_by(close_friends.c.added_id.desc()).limit(limit)
        return [(int(a), int(f)) for a, f in await session.execute(query)]
