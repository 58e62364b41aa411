"""Post rules: who may post, see, like, comment, save and delete what, and how lists are filled.

Privacy is applied on every read path through one question put to graph_svc in a batch (may this
viewer see these owners' content, and did either block the other?): posts of owners the viewer may
not see are left out of lists and answered as NOT_FOUND when asked for by id; likers and comment
authors that the viewer blocked or that blocked the viewer are left out of likers and comments.
Lists that leave entries out read on until the page is full, at most SCAN_ROUNDS batches, so a
page may be short while more follow (its token then says where to go on).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from mesh import pagination
from mesh.context import Principal
from mesh.errors import InvalidArgument
from mesh.export import EXPORT_PAGE, EXPORT_ROWS_MAX, json_file
from mesh.ids import IdGenerator
from post_svc import events, geo, messages, text
from post_svc.errors import (
    AuthorNotFound,
    CommentNotFound,
    IdempotencyKeyReused,
    MediaAlreadyPosted,
    MediaNotFound,
    MediaNotReady,
    NotCommentAuthor,
    NotPostAuthor,
    NotViewer,
    PostNotFound,
    PrivateAccount,
    ReplyToReply,
    VideoTooLongForPost,
)
from post_svc.store import (
    CommentRecord,
    Conflict,
    Counts,
    EngagementStore,
    HashtagRecord,
    Location,
    Mention,
    PlaceRecord,
    PostRecord,
    PostStore,
)
from shutter.events.v1 import envelope_pb2, post_events_pb2
from shutter.media.v1 import media_pb2
from shutter.user.v1 import user_pb2

MEDIA_MAX = 10
LOCATION_NAME_MAX = 100
BATCH_MAX = 100
# Viewers in one BatchGetViewersFlags call (each on up to BATCH_MAX posts): one statement of at
# most 5 000 (viewer, post) pairs.
VIEWERS_MAX = 50
# Posts of each kind (likes, saves, reports) a viewer's flags list from since_post_id up: the
# highest ids; where a kind has more, the listing starts at the lowest of those kept.
RECENT_FLAGS_MAX = 500
QUERY_MAX = 100
GRID_PAGE_DEFAULT = 12
# Feed posts keep videos of up to a minute (media_svc takes up to 90 s, for reels); the
# tolerance covers container rounding.
POST_VIDEO_MAX_MS = 60_050
PAGE_DEFAULT = 20
PAGE_MAX = 50
RADIUS_DEFAULT_KM = 10.0
RADIUS_MAX_KM = 100.0
# Nearest-first ranks at most this many of the newest posts within the radius.
NEAREST_SCAN_MAX = 2000
# How many batches of page_size + 1 entries a filtered list reads before returning a short page.
SCAN_ROUNDS = 5
# Posts of a blocker looked at per transaction when a block takes the blocked account's likes off.
BLOCK_SCAN_BATCH = 500
# Objects of a deleted account read per query while deleting them one by one.
DELETION_BATCH = 200

# Posts per ExportPosts page (feed_svc's projection rebuild).
EXPORT_PAGE_DEFAULT = 500
EXPORT_PAGE_MAX = 1000
# Posts one ListHashtagIndex call answers at most (feed_svc's tag index fill).
TAG_INDEX_MAX = 1000
# A location search takes the posts of at most this many places, the most used first.
SEARCH_PLACES_MAX = 50

ORDER_NEAREST = "nearest"
ORDER_NEWEST = "newest"
SEARCH_HASHTAG = "hashtag"
SEARCH_LOCATION = "location"

T = TypeVar("T")


@dataclass(frozen=True)
class Visibility:
    """What the privacy rule says about one owner for one viewer."""

    can_view: bool
    blocked: bool


class Privacy(Protocol):
    """graph_svc's privacy rule, asked in batches."""

    async def visibility(
        self, viewer: int | None, owner_ids: Sequence[int]
    ) -> dict[int, Visibility]:
        """Return the rule's answer for each known owner (unknown owners are left out)."""
        ...


class Directory(Protocol):
    """user_svc's accounts, looked up in batches."""

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        """Return the accounts that exist among these ids (as of the last account change the bus
        brought)."""
        ...

    async def by_usernames(self, usernames: Sequence[str]) -> dict[str, user_pb2.UserSummary]:
        """Return the accounts with these usernames, keyed by lower-cased username."""
        ...


class FeedSync(Protocol):
    """feed_svc's read model, told of committed events at once (best effort; the bus delivers
    them anyway)."""

    async def apply(self, events: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Apply these committed events in feed_svc now."""
        ...


class MediaCatalog(Protocol):
    """media_svc's media, seen with post_svc's own service identity."""

    async def media(
        self, media_ids: Sequence[int], *, fresh: bool = False
    ) -> dict[int, media_pb2.Media]:
        """Return the media that exist (not deleted) among these ids; `fresh` when the answer
        decides a write (it may otherwise be a few seconds old)."""
        ...

    async def delete(self, media_id: int) -> None:
        """Delete a piece of media; deleting unknown or deleted media succeeds."""
        ...


@dataclass(frozen=True)
class PostView:
    """A post as one viewer sees it."""

    record: PostRecord
    author: user_pb2.UserSummary
    media: list[media_pb2.Media]
    counts: Counts
    has_liked: bool
    has_saved: bool
    # How many accounts watched it, once per day each: reels only (0 for a feed post).
    view_count: int = 0


class ReelViewCounts(Protocol):
    """The reels' view counts (kept with the reels, counted once per viewer per day)."""

    async def view_counts(
        self, session: AsyncSession, *, post_ids: Sequence[int]
    ) -> dict[int, int]: ...


@dataclass(frozen=True)
class ViewerFlags:
    """A viewer's flags: the posts it likes, saves and reported among those asked, and, from
    listed_since up (0: nothing listed beyond the posts asked), among every post."""

    liked: set[int]
    saved: set[int]
    hidden: set[int]
    listed_since: int = 0


@dataclass(frozen=True)
class CommentView:
    """A comment as one viewer sees it."""

    record: CommentRecord
    author: user_pb2.UserSummary
    reply_count: int


@dataclass(frozen=True)
class LocationInput:
    """A location as a request gave it."""

    name: str
    lat: float
    lng: float


def check_id(value: int, field: str) -> int:
    """Return a positive id or raise InvalidArgument naming the field."""
    if value <= 0:
        raise InvalidArgument.field(field, "must be a positive id")
    return value


def check_ids(values: Sequence[int], field: str, *, maximum: int = BATCH_MAX) -> list[int]:
    """Return distinct positive ids in request order, at most `maximum` of them."""
    if len(values) > maximum:
        raise InvalidArgument.field(field, f"at most {maximum} ids per call")
    for value in values:
        check_id(value, field)
    return list(dict.fromkeys(values))


def check_location(location: LocationInput) -> Location:
    """Return a valid location or raise InvalidArgument naming the bad part."""
    name = text.clean("location.name", location.name, limit=LOCATION_NAME_MAX, required=True)
    if "\n" in name:
        raise InvalidArgument.field("location.name", "must be one line")
    return Location(name, geo.check_point(location.lat, location.lng, prefix="location."))


def check_query(query: str, field: str = "q") -> str:
    """Return a cleaned search text of 1 to QUERY_MAX characters."""
    return text.clean(field, query, limit=QUERY_MAX, required=True)


def check_tag(tag: str, field: str) -> str:
    """Return a tag's stored form, or raise InvalidArgument when it cannot be a tag."""
    normal = text.normalise_tag(tag)
    if not normal:
        raise InvalidArgument.field(field, "is required")
    if len(normal) > text.HASHTAG_MAX_CHARS:
        raise InvalidArgument.field(field, f"must be at most {text.HASHTAG_MAX_CHARS} characters")
    if not all(text.is_tag_char(ch) for ch in normal):
        raise InvalidArgument.field(field, "may hold only letters, marks, digits and underscores")
    return normal


def resolve_viewer(who: Principal, viewer_id: int) -> int | None:
    """Return the viewer an internal call acts for: a user only for themselves (0 meaning them),
    a service for anyone (0 meaning nobody in particular)."""
    if viewer_id < 0:
        raise InvalidArgument.field("viewer_id", "must be 0 or a positive account id")
    if who.user_id is not None:
        if viewer_id not in (0, who.user_id):
            raise NotViewer("a user may ask only on their own behalf")
        return who.user_id
    return viewer_id or None


def request_hash(
    media_ids: Sequence[int],
    caption: str,
    location: Location | None,
    alt_texts: Sequence[str] = (),
) -> str:
    """Return a digest of what a create call asked for, to tell a retry from a reused key."""
    where = None if location is None else [location.name, location.point.lat, location.point.lng]
    asked: list[Any] = [list(media_ids), caption, where]
    if alt_texts:  # posts made before alt texts keep their digest
        asked.append(list(alt_texts))
    raw = json.dumps(asked, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def comment_hash(post_id: int, parent_comment_id: int, body: str) -> str:
    """Return a digest of what a CreateComment call asked for, to tell a retry from a reused key."""
    raw = json.dumps([post_id, parent_comment_id, body], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _cursor(token: str, *, kind: str, scope: Any) -> Any:
    """Return the cursor of a token made for this list (None for the first page)."""
    decoded = pagination.decode_token(token)
    if decoded is None:
        return None
    if decoded.get("k") != kind or decoded.get("s") != scope or "c" not in decoded:
        raise InvalidArgument.field("page_token", "does not belong to this list")
    return decoded["c"]


def _token(cursor: Any, *, kind: str, scope: Any) -> str:
    if cursor is None:
        return ""
    return pagination.encode_token({"k": kind, "s": scope, "c": cursor})


def _int_cursor(cursor: Any) -> int | None:
    if cursor is None:
        return None
    if not isinstance(cursor, int) or isinstance(cursor, bool):
        raise InvalidArgument.field("page_token", "does not belong to this list")
    return cursor


def _with_listed(
    asked: tuple[set[int], set[int], set[int]],
    listed: tuple[list[int], list[int], list[int]] | None,
    since: int,
) -> ViewerFlags:
    """Return the flags on the posts asked with those listed from `since` up (each kind highest
    first, one more than RECENT_FLAGS_MAX where it has more): the listing starts at since, or
    higher where a kind has more than it keeps, and nothing below that start is listed."""
    if listed is None:
        return ViewerFlags(*asked)
    start = since
    for ids in listed:
        if len(ids) > RECENT_FLAGS_MAX:
            start = max(start, ids[RECENT_FLAGS_MAX - 1])
    liked, saved, hidden = (
        flags | {p for p in ids[:RECENT_FLAGS_MAX] if p >= start}
        for flags, ids in zip(asked, listed, strict=True)
    )
    return ViewerFlags(liked, saved, hidden, listed_since=start)


def _keeps(visibility: Visibility | None, need_view: bool) -> bool:
    if visibility is None:  # the owner does not exist (any more)
        return False
    return visibility.can_view if need_view else not visibility.blocked


def _final(media: media_pb2.Media) -> bool:
    """Tell whether a piece of media will not change any more (ready, no HLS ladder in the
    making): a copy of it stays true."""
    return (
        media.status == media_pb2.MEDIA_STATUS_READY
        and media.hls_status != media_pb2.HLS_STATUS_PROCESSING
    )


def _post_created(
    post: PostRecord, author: user_pb2.UserSummary, media: list[media_pb2.Media]
) -> tuple[PostView, post_events_pb2.PostCreated]:
    """Return a new post as its author sees it and its PostCreated event. The event carries the
    post as every viewer sees it, so feed_svc need not read it back (BatchGetPosts: the author,
    media and counts asked again); media still changing would make that copy stale, so then it
    reads the post back as before."""
    answer = PostView(
        record=post, author=author, media=media, counts=Counts(), has_liked=False, has_saved=False
    )
    shared = messages.shared_message(answer) if all(_final(m) for m in media) else None
    return answer, events.post_created(post, author_is_private=author.is_private, shared=shared)


def _already_posted(media_ids: Sequence[int], taken: set[int]) -> MediaAlreadyPosted:
    first = next(i for i, m in enumerate(media_ids) if m in taken)
    return MediaAlreadyPosted(f"media_ids[{first}]: the media is already part of a post")


class Audience:
    """The privacy rule as post_svc applies it: graph_svc decides for every owner but the viewer,
    who always sees their own content."""

    def __init__(self, privacy: Privacy) -> None:
        self._privacy = privacy

    async def visibilities(
        self, viewer: int | None, owner_ids: Sequence[int]
    ) -> dict[int, Visibility]:
        """Return what the viewer may see of each owner, in one call for all of them."""
        others = [o for o in dict.fromkeys(owner_ids) if o != viewer]
        found = await self._privacy.visibility(viewer, others) if others else {}
        if viewer is not None and viewer in owner_ids:
            found = {**found, viewer: Visibility(can_view=True, blocked=False)}
        return found

    async def can_view(self, viewer: int | None, owner_id: int) -> bool:
        """Tell whether the viewer may see one owner's content."""
        found = (await self.visibilities(viewer, [owner_id])).get(owner_id)
        return found is not None and found.can_view


def _exported_post(post: PostRecord) -> dict[str, Any]:
    return {
        "postId": str(post.post_id),
        "kind": post.kind,
        "caption": post.caption,
        "hashtags": list(post.hashtags),
        "mentions": [m.username for m in post.mentions],
        "place": (
            {
                "name": post.location.name,
                "lat": post.location.point.lat,
                "lng": post.location.point.lng,
            }
            if post.location is not None
            else None
        ),
        "mediaIds": [str(m) for m in post.media_ids],
        "createdAt": post.created_at,
    }


class Posts:
    """The rules of posts, likes, comments, saves, hashtags and places."""

    def __init__(
        self,
        store: PostStore,
        engagement: EngagementStore,
        *,
        privacy: Privacy,
        directory: Directory,
        media: MediaCatalog,
        ids: IdGenerator,
        feed: FeedSync | None = None,
        reel_views: ReelViewCounts | None = None,
    ) -> None:
        self._store = store
        self._engagement = engagement
        self._feed = feed
        self._reel_views = reel_views
        self._audience = Audience(privacy)
        self._directory = directory
        self._media = media
        self._ids = ids

    async def tell_feed(self, *envelopes: envelope_pb2.EventEnvelope | None) -> None:
        """Apply committed events in feed_svc's read model before answering (for the reels'
        rules, which write with their own store)."""
        await self._tell_feed(*envelopes)

    async def _tell_feed(self, *envelopes: envelope_pb2.EventEnvelope | None) -> None:
        """Apply committed events in feed_svc's read model before answering, so the caller's
        next read shows the change (read-your-writes); the bus still delivers them."""
        found = [e for e in envelopes if e is not None]
        if found and self._feed is not None:
            await self._feed.apply(found)

    async def _tell_then_hand_over(
        self,
        envelope: envelope_pb2.EventEnvelope | None,
        *,
        then: Sequence[envelope_pb2.EventEnvelope] = (),
    ) -> None:
        """Apply a committed event in feed_svc, then hand it to the relay (it was written with
        `hand_over=False`, or by one statement outside a session): in this order feed_svc has
        marked it applied before the bus brings it, and that delivery skips what is done (a
        like counted, a new post kept) instead of doing it a second time. `then` are the
        transaction's other events (written with `hand_over=False` too), handed over after it
        in their order."""
        try:
            await self._tell_feed(envelope)
        finally:
            self._store.outbox.committed([e for e in (envelope, *then) if e is not None])

    # -- privacy ---------------------------------------------------------------------------

    async def _visible_post(
        self, viewer: int | None, post_id: int, *, replica: bool = False
    ) -> PostRecord:
        """Return a live post the viewer may see, or raise PostNotFound either way; read from
        the primary, or with `replica` from the replica (the primary when it lacks the post)."""
        check_id(post_id, "post_id")
        post = None
        if replica:
            async with self._store.read_transaction() as tx:
                post = await self._store.get_post(tx, post_id=post_id)
        if post is None and (not replica or self._store.has_replica):
            post = await self._store.current_post(post_id=post_id)
        if post is None or not await self._audience.can_view(viewer, post.author_id):
            raise PostNotFound("no post has that id")
        return post

    async def _filtered_page(
        self,
        *,
        viewer: int | None,
        limit: int,
        cursor: Any,
        fetch: Callable[[Any, int], Awaitable[list[tuple[Any, T | None]]]],
        owner_of: Callable[[T], int],
        need_view: bool,
    ) -> tuple[list[T], Any]:
        """Return up to `limit` entries the viewer may see, in list order, and the cursor of the
        next page (None at the end). `fetch(cursor, n)` returns the next n (key, entry) pairs,
        with None for entries gone since they were listed. need_view keeps entries whose owner
        the viewer may see (posts); otherwise entries whose owner exists and is not blocked by or
        blocking the viewer (likers, comments)."""
        page: list[tuple[Any, T]] = []
        for _ in range(SCAN_ROUNDS):
            batch = await fetch(cursor, limit + 1)
            entries = [entry for _, entry in batch if entry is not None]
            found = await self._audience.visibilities(viewer, [owner_of(e) for e in entries])
            for key, entry in batch:
                if entry is not None and _keeps(found.get(owner_of(entry)), need_view):
                    if len(page) == limit:
                        return [e for _, e in page], page[-1][0]
                    page.append((key, entry))
                cursor = key
            if len(batch) <= limit:
                return [e for _, e in page], None
        return [e for _, e in page], cursor

    # -- hydration -------------------------------------------------------------------------

    async def _hydrate(self, viewer: int | None, records: Sequence[PostRecord]) -> list[PostView]:
        """Return posts with authors, media, counts and the viewer's like and save, with one
        call per peer and one query per kind of fact, whatever the number of posts."""
        if not records:
            return []
        post_ids = [r.post_id for r in records]
        reel_ids = [r.post_id for r in records if r.kind == "reel"]
        views: dict[int, int] = {}

        async def engagement() -> tuple[dict[int, Counts], set[int], set[int]]:
            async with self._store.read_transaction() as tx:
                counts = await self._engagement.counts(tx, post_ids=post_ids)
                if reel_ids and self._reel_views is not None:
                    views.update(await self._reel_views.view_counts(tx, post_ids=reel_ids))
                liked: set[int] = set()
                saved: set[int] = set()
                if viewer is not None:
                    liked = await self._engagement.liked_among(
                        tx, user_id=viewer, post_ids=post_ids
                    )
                    saved = await self._store.saved_among(tx, user_id=viewer, post_ids=post_ids)
            return counts, liked, saved

        async def hidden() -> set[int]:
            if viewer is None:
                return set()
            # The primary: a report hides the post from its reporter's very next read.
            async with self._store.transaction() as tx:
                return await self._store.hidden_among(
                    tx, viewer_id=viewer, target_type="post", target_ids=post_ids
                )

        authors, media, (counts, liked, saved), hidden_ids = await asyncio.gather(
            self._directory.summaries(list(dict.fromkeys(r.author_id for r in records))),
            self._media.media([m for r in records for m in r.media_ids]),
            engagement(),
            hidden(),
        )
        return [
            PostView(
                record=r,
                author=authors[r.author_id],
                media=[media[m] for m in r.media_ids if m in media],
                counts=counts.get(r.post_id, Counts()),
                has_liked=r.post_id in liked,
                has_saved=r.post_id in saved,
                view_count=views.get(r.post_id, 0),
            )
            for r in records
            if r.author_id in authors and r.post_id not in hidden_ids
        ]

    async def _resolve_mentions(self, author: int, names: Sequence[str]) -> list[Mention]:
        """Return the mentioned accounts that exist and are not blocked by or blocking the
        author, in order of appearance."""
        if not names:
            return []
        found = await self._directory.by_usernames(list(names))
        accounts = [found[n] for n in names if n in found]
        visibilities = await self._audience.visibilities(author, [a.user_id for a in accounts])
        return [
            Mention(a.user_id, a.username)
            for a in accounts
            if a.user_id in visibilities and not visibilities[a.user_id].blocked
        ]

    async def _add_mention_events(
        self,
        tx: Any,
        *,
        mentions: Sequence[Mention],
        author: int,
        post: PostRecord,
        comment_id: int,
        at: datetime,
    ) -> list[envelope_pb2.EventEnvelope]:
        """Write the mention events of a new post or comment, for the caller to hand to the
        relay after its own event (`_tell_then_hand_over`), so they leave in the order made."""
        written = []
        for mention in mentions:
            if mention.user_id == author:
                continue  # nobody is told they mentioned themselves
            written.append(
                await self._store.outbox.add(
                    tx,
                    aggregate_id=post.post_id,
                    event=events.user_mentioned(
                        mentioned_user_id=mention.user_id,
                        author_id=author,
                        post_id=post.post_id,
                        post_author_id=post.author_id,
                        comment_id=comment_id,
                        created_at=at,
                    ),
                    hand_over=False,
                )
            )
        return written

    # -- posts -----------------------------------------------------------------------------

    async def create_post(
        self,
        *,
        caller: int,
        media_ids: Sequence[int],
        caption: str,
        location: LocationInput | None,
        idempotency_key: str,
        kind: str = "post",
        alt_texts: Sequence[str] = (),
    ) -> PostView:
        """Publish a post of the caller's ready media; a retried key returns the first post.
        `kind` "reel" is for post_svc.reels, which checks a reel's video first."""
        if not media_ids:
            raise InvalidArgument.field("media_ids", "a post needs at least one piece of media")
        if len(media_ids) > MEDIA_MAX:
            raise InvalidArgument.field("media_ids", f"a post holds at most {MEDIA_MAX} media")
        for i, media_id in enumerate(media_ids):
            check_id(media_id, f"media_ids[{i}]")
        if len(set(media_ids)) != len(media_ids):
            raise InvalidArgument.field("media_ids", "must not name the same media twice")
        parsed = text.parse("caption", caption, required=False)
        alts = text.check_alt_texts(
            list(alt_texts),
            media_count=len(media_ids),
            field="alt_text" if kind == "reel" else "alt_texts",
        )
        where = check_location(location) if location is not None else None
        key = text.check_idempotency_key(idempotency_key)
        digest = request_hash(media_ids, parsed.text, where, alts)
        if key is not None:
            earlier = await self._post_made_with(caller, key, digest)
            if earlier is not None:
                return earlier
        found, mentions, authors = await asyncio.gather(
            self._media.media(media_ids, fresh=True),
            self._resolve_mentions(caller, parsed.mentions),
            # Remembered summaries are forgotten on every account change the bus brings.
            self._directory.summaries([caller]),
        )
        for i, media_id in enumerate(media_ids):
            item = found.get(media_id)
            if item is None or item.owner_user_id != caller:
                raise MediaNotFound.field(f"media_ids[{i}]", "no media of yours has this id")
            if item.status != media_pb2.MEDIA_STATUS_READY:
                raise MediaNotReady(
                    f"media_ids[{i}]: the media is not ready (still processing, or it failed)",
                    metadata={"media_id": str(media_id)},
                )
            if kind == "post" and item.duration_ms > POST_VIDEO_MAX_MS:
                raise VideoTooLongForPost.field(
                    f"media_ids[{i}]",
                    f"a post's videos last at most {POST_VIDEO_MAX_MS // 1000} s; make a reel",
                )
        author = authors.get(caller)
        if author is None:
            raise AuthorNotFound("the caller's account does not exist")
        now = datetime.now(UTC)
        post = PostRecord(
            post_id=self._ids.next_id(),
            author_id=caller,
            caption=parsed.text,
            hashtags=parsed.hashtags,
            mentions=tuple(mentions),
            media_ids=tuple(media_ids),
            location=where,
            place_id=None,
            created_at=now,
            idempotency_key=key,
            request_hash=digest,
            kind=kind,
            alt_texts=alts,
        )
        media = [found[m] for m in media_ids]
        mentioned: list[envelope_pb2.EventEnvelope] = []
        try:
            published = None
            if where is None and not mentions:
                # One statement where the store can (PostgreSQL): the hot write of the mix.
                answer, event = _post_created(post, author, media)
                created, row = self._store.outbox.detached_row(
                    aggregate_id=post.post_id, event=event
                )
                published = await self._store.publish_now(post=post, event=row)
                if published:
                    raise _already_posted(media_ids, published)
            if published is None:
                async with self._store.transaction() as tx:
                    taken = await self._store.posted_media(tx, media_ids=media_ids)
                    if taken:
                        raise _already_posted(media_ids, taken)
                    if where is not None:
                        place_id = await self._store.place_for(
                            tx, location=where, new_place_id=self._ids.next_id()
                        )
                        post = replace(post, place_id=place_id)
                    await self._store.insert_post(tx, post=post)
                    answer, event = _post_created(post, author, media)
                    created = await self._store.outbox.add(
                        tx, aggregate_id=post.post_id, event=event, hand_over=False
                    )
                    mentioned = await self._add_mention_events(
                        tx, mentions=mentions, author=caller, post=post, comment_id=0, at=now
                    )
        except (Conflict, MediaAlreadyPosted) as exc:
            # A concurrent call with the same key may have committed first: answer with its post.
            earlier = await self._post_made_with(caller, key, digest) if key else None
            if earlier is not None:
                return earlier
            if isinstance(exc, MediaAlreadyPosted):
                raise
            raise MediaAlreadyPosted("media_ids: the media is already part of a post") from None
        # The author's grid shows it on their next read (the followers' fan-out is the bus's).
        await self._tell_then_hand_over(created, then=mentioned)
        return answer

    async def _post_made_with(self, caller: int, key: str, digest: str) -> PostView | None:
        earlier = await self._store.current_post_by_key(author_id=caller, idempotency_key=key)
        if earlier is None:
            return None
        post, deleted = earlier
        if post.request_hash != digest:
            raise IdempotencyKeyReused(
                "idempotency_key: this key was used for a different post",
                metadata={"post_id": str(post.post_id)},
            )
        if deleted:
            raise PostNotFound("the post made with this idempotency key was deleted")
        views = await self._hydrate(caller, [post])
        if not views:
            raise AuthorNotFound("the caller's account does not exist")
        return views[0]

    async def get_post(self, *, viewer: int | None, post_id: int) -> PostView:
        """Return one post as the viewer sees it (from the replica)."""
        post = await self._visible_post(viewer, post_id, replica=True)
        views = await self._hydrate(viewer, [post])
        if not views:
            raise PostNotFound("no post has that id")
        return views[0]

    async def _live_records(self, wanted: list[int]) -> list[PostRecord]:
        """Return the live posts among these ids, in order, from the replica (the ones it does
        not know yet from the primary)."""
        async with self._store.read_transaction() as tx:
            found = await self._store.get_posts(tx, post_ids=wanted)
        missing = [i for i in wanted if i not in found]
        if missing and self._store.has_replica:
            async with self._store.transaction() as tx:
                found.update(await self._store.get_posts(tx, post_ids=missing))
        return [found[i] for i in wanted if i in found]

    async def shared_posts(self, *, post_ids: Sequence[int]) -> list[PostView]:
        """Return the live posts among these ids as every viewer sees them, whoever may see
        them (a service applies the privacy rule itself): the author as its id only, the media
        as they are now, no counts and no flags. Only media_svc is asked."""
        records = await self._live_records(check_ids(post_ids, "post_ids"))
        media = await self._media.media([m for r in records for m in r.media_ids])
        return [
            PostView(
                record=r,
                author=user_pb2.UserSummary(user_id=r.author_id),
                media=[media[m] for m in r.media_ids if m in media],
                counts=Counts(),
                has_liked=False,
                has_saved=False,
            )
            for r in records
        ]

    async def batch_get(self, *, viewer: int | None, post_ids: Sequence[int]) -> list[PostView]:
        """Return the posts among these ids that exist and the viewer may see, in request order,
        from the replica (the ones it does not know yet from the primary)."""
        records = await self._live_records(check_ids(post_ids, "post_ids"))
        # The privacy rule and the hydration are asked for at once, and the posts the viewer may
        # not see are dropped afterwards: one round of peer calls instead of two in a row (feeds
        # already hold only posts their reader may see, so little is hydrated in vain).
        visibilities, views = await asyncio.gather(
            self._audience.visibilities(viewer, [r.author_id for r in records]),
            self._hydrate(viewer, records),
        )
        return [
            v
            for v in views
            if v.record.author_id in visibilities and visibilities[v.record.author_id].can_view
        ]

    async def viewer_flags(
        self, *, viewer: int, post_ids: Sequence[int], since_post_id: int = 0
    ) -> ViewerFlags:
        """Return which of these posts the viewer likes, saves and reported: the facts
        _hydrate reads per viewer, without the posts (one query each, whatever the posts); with
        since_post_id > 0 also every post from that id up (see _listed)."""
        check_id(viewer, "viewer_id")
        wanted = check_ids(post_ids, "post_ids")
        since = max(since_post_id, 0)
        asked, listed = await asyncio.gather(
            self._flags_among(viewer, wanted), self._listed([(viewer, since)])
        )
        return _with_listed(asked, listed.get((viewer, since)), since)

    async def _flags_among(
        self, viewer: int, wanted: list[int]
    ) -> tuple[set[int], set[int], set[int]]:
        """Return which of these (checked) posts the viewer likes, saves and reported."""
        if not wanted:
            return set(), set(), set()
        # The primary: a report must hide the post from its reporter's very next read (as in
        # _hydrate), and a like or save just made must be seen by the read that keeps it (the
        # read model keeps these answers until an event changes them). On PostgreSQL one
        # statement on an autocommit connection (a cold read's every viewer asks once); likes
        # kept elsewhere (Cassandra) are asked of their store beside it.
        here = self._engagement.in_post_database
        found = await self._store.current_viewer_flags(
            viewer_id=viewer, post_ids=wanted, with_likes=here
        )
        if found is not None and here:
            return found
        async with self._store.transaction() as tx:
            liked = await self._engagement.liked_among(tx, user_id=viewer, post_ids=wanted)
            if found is not None:
                return liked, found[1], found[2]
            saved = await self._store.saved_among(tx, user_id=viewer, post_ids=wanted)
            hidden = await self._store.hidden_among(
                tx, viewer_id=viewer, target_type="post", target_ids=wanted
            )
        return liked, saved, hidden

    async def _listed(
        self, wanted: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], tuple[list[int], list[int], list[int]]]:
        """Return, for each (viewer, since post id) pair with a positive since, the posts from
        that id up the viewer likes, saves and reported, each kind its RECENT_FLAGS_MAX + 1
        highest ids (one more tells a kind that has more), from the primary as _flags_among
        reads. Nothing when the likes are kept elsewhere (Cassandra has no likes by account)."""
        pairs = [(viewer, since) for viewer, since in wanted if since > 0]
        if not pairs or not self._engagement.in_post_database:
            return {}
        return await self._store.current_recent_flags(wanted=pairs, limit=RECENT_FLAGS_MAX + 1)

    async def viewers_flags(
        self, *, wanted: Sequence[tuple[int, Sequence[int], int]]
    ) -> list[ViewerFlags]:
        """viewer_flags for several (viewer, post ids, since post id) entries at once (at most
        VIEWERS_MAX, each on at most BATCH_MAX posts), in the order given: on PostgreSQL with
        the likes in this database one statement for all the posts asked and one for all the
        listings, else each entry as viewer_flags reads it."""
        if len(wanted) > VIEWERS_MAX:
            raise InvalidArgument.field("viewers", f"at most {VIEWERS_MAX} viewers per call")
        entries: list[tuple[int, list[int], int]] = []
        for i, (viewer, post_ids, since) in enumerate(wanted):
            check_id(viewer, f"viewers[{i}].viewer_id")
            entries.append((viewer, check_ids(post_ids, f"viewers[{i}].post_ids"), max(since, 0)))
        asked, listed = await asyncio.gather(
            self._entries_flags([(v, p) for v, p, _ in entries]),
            self._listed([(v, s) for v, _, s in entries]),
        )
        return [
            _with_listed(flags, listed.get((viewer, since)), since)
            for (viewer, _, since), flags in zip(entries, asked, strict=True)
        ]

    async def _entries_flags(
        self, entries: list[tuple[int, list[int]]]
    ) -> list[tuple[set[int], set[int], set[int]]]:
        """Return each (viewer, checked post ids) entry's flags among its posts, in order."""
        if not self._engagement.in_post_database:
            return [await self._flags_among(v, p) for v, p in entries]
        # The primary, as _flags_among reads it (read-your-writes for a like, a save, a report).
        found = await self._store.current_viewers_flags(wanted=entries, with_likes=True)
        if found is None:
            return [await self._flags_among(v, p) for v, p in entries]
        answer = []
        for viewer, post_ids in entries:
            liked, saved, hidden = found[viewer]
            mine = set(post_ids)
            answer.append((liked & mine, saved & mine, hidden & mine))
        return answer

    async def delete_post(self, *, caller: int, post_id: int) -> None:
        """Delete one of the caller's posts everywhere; its media goes in the background."""
        check_id(post_id, "post_id")
        async with self._store.transaction() as tx:
            post = await self._store.get_post(tx, post_id=post_id)
        if post is None:
            raise PostNotFound("no post has that id")
        if post.author_id != caller:
            if await self._audience.can_view(caller, post.author_id):
                raise NotPostAuthor("only the author of a post can delete it")
            raise PostNotFound("no post has that id")
        if not await self._delete_post(post_id):
            raise PostNotFound("no post has that id")

    async def _delete_post(self, post_id: int) -> bool:
        """Delete a post with its PostDeleted event (feeds, counts, media follow from it);
        False when it was already gone."""
        async with self._store.transaction() as tx:
            locked = await self._store.get_post(tx, post_id=post_id, for_update=True)
            if locked is None:
                return False
            await self._store.delete_post(tx, post=locked)
            deleted = await self._store.outbox.add(
                tx, aggregate_id=post_id, event=events.post_deleted(locked)
            )
        await self._tell_feed(deleted)
        return True

    async def list_user_posts(
        self, *, viewer: int | None, user_id: int, page_size: int, page_token: str
    ) -> tuple[list[PostView], str]:
        """Return one page of an account's posts, newest first (its profile grid): the
        replica's, but the primary's for the owner, who expects a new post there at once."""
        owner = check_id(user_id, "user_id")
        limit = pagination.page_size(page_size, default=GRID_PAGE_DEFAULT, maximum=PAGE_MAX)
        before = _int_cursor(_cursor(page_token, kind="user", scope=owner))
        if viewer != owner:
            found = (await self._audience.visibilities(viewer, [owner])).get(owner)
            if found is None or found.blocked:
                raise AuthorNotFound("no user has that id")
            if not found.can_view:
                raise PrivateAccount("this account is private; only its followers see its posts")
        begin = self._store.transaction if viewer == owner else self._store.read_transaction
        async with begin() as tx:
            rows = await self._store.list_user_posts(
                tx, author_id=owner, before=before, limit=limit + 1
            )
        page = rows[:limit]
        token = _token(page[-1].post_id if len(rows) > limit else None, kind="user", scope=owner)
        return await self._hydrate(viewer, page), token

    async def _post_page(
        self,
        *,
        viewer: int | None,
        limit: int,
        cursor: Any,
        fetch: Callable[[Any, int], Awaitable[list[tuple[Any, PostRecord | None]]]],
    ) -> tuple[list[PostView], Any]:
        records, next_cursor = await self._filtered_page(
            viewer=viewer,
            limit=limit,
            cursor=cursor,
            fetch=fetch,
            owner_of=lambda r: r.author_id,
            need_view=True,
        )
        return await self._hydrate(viewer, records), next_cursor

    # -- likes -----------------------------------------------------------------------------

    async def like(self, *, caller: int, post_id: int) -> int:
        """Like a post (idempotent); return its like count."""
        post = await self._visible_post(caller, post_id)
        now = datetime.now(UTC)
        like_id = self._ids.next_id()
        event = events.post_liked(post, liker_id=caller, at=now)
        envelope, row = self._store.outbox.detached_row(aggregate_id=post_id, event=event)
        # One statement where the store can (PostgreSQL): the hot write of the mix.
        done = await self._engagement.like_now(
            post_id=post_id, user_id=caller, like_id=like_id, at=now, event=row
        )
        if done is not None:
            added, like_count = done
            if added:
                await self._tell_then_hand_over(envelope)
            return like_count
        liked = None
        async with self._store.transaction() as tx:
            added = await self._engagement.add_like(
                tx, post_id=post_id, user_id=caller, like_id=like_id, at=now
            )
            if added:
                liked = await self._store.outbox.add(
                    tx, aggregate_id=post_id, event=event, hand_over=False
                )
            counts = await self._engagement.counts(tx, post_ids=[post_id])
        await self._tell_then_hand_over(liked)
        return counts.get(post_id, Counts()).like_count

    async def unlike(self, *, caller: int, post_id: int) -> int:
        """Take back a like (idempotent); return the post's like count."""
        check_id(post_id, "post_id")
        async with self._store.transaction() as tx:
            post = await self._store.get_post(tx, post_id=post_id)
            # The caller's own like goes even when the post is hidden from them now.
            removed = post is not None and await self._engagement.remove_like(
                tx, post_id=post_id, user_id=caller
            )
            unliked = None
            if post is not None and removed:
                unliked = await self._store.outbox.add(
                    tx,
                    aggregate_id=post_id,
                    event=events.post_unliked(post, liker_id=caller),
                    hand_over=False,
                )
            counts = await self._engagement.counts(tx, post_ids=[post_id])
        await self._tell_then_hand_over(unliked)
        # A post hidden from the caller (private, or a block either way) is 404 like any other
        # post they may not see: its like count is not theirs to learn.
        if post is None or not await self._audience.can_view(caller, post.author_id):
            raise PostNotFound("no post has that id")
        return counts.get(post_id, Counts()).like_count

    async def drop_likes_after_block(self, *, blocker_id: int, blocked_id: int) -> int:
        """Take the blocked account's likes off the blocker's posts, as a block does (each
        with its PostUnliked event, so counts and notifications follow); return how many went.
        Idempotent: a redelivered Blocked event finds nothing left to remove."""
        removed_total, before = 0, None
        while True:
            async with self._store.transaction() as tx:
                rows = await self._store.list_user_posts(
                    tx, author_id=blocker_id, before=before, limit=BLOCK_SCAN_BATCH
                )
                liked = await self._engagement.liked_among(
                    tx, user_id=blocked_id, post_ids=[r.post_id for r in rows]
                )
                for post in rows:
                    if post.post_id in liked and await self._engagement.remove_like(
                        tx, post_id=post.post_id, user_id=blocked_id
                    ):
                        removed_total += 1
                        await self._store.outbox.add(
                            tx,
                            aggregate_id=post.post_id,
                            event=events.post_unliked(post, liker_id=blocked_id),
                        )
            if len(rows) < BLOCK_SCAN_BATCH:
                return removed_total
            before = rows[-1].post_id

    async def drop_comments_after_block(self, *, blocker_id: int, blocked_id: int) -> int:
        """Delete the blocked account's comments and replies on the blocker's posts, as a block
        does (each with its CommentDeleted, so counts follow: lists already hide them); return
        how many went. Idempotent: a redelivered Blocked event finds nothing left."""
        removed_total, before = 0, None
        while True:
            async with self._store.transaction() as tx:
                rows = await self._store.list_user_posts(
                    tx, author_id=blocker_id, before=before, limit=BLOCK_SCAN_BATCH
                )
            for post in rows:
                for comment in await self._comments_by(post.post_id, blocked_id):
                    async with self._store.transaction() as tx:
                        reply_ids = await self._engagement.delete_comment(tx, comment=comment)
                        await self._store.outbox.add(
                            tx,
                            aggregate_id=post.post_id,
                            event=events.comment_deleted(
                                comment, deleted_by=blocker_id, reply_ids=reply_ids
                            ),
                        )
                    removed_total += 1
            if len(rows) < BLOCK_SCAN_BATCH:
                return removed_total
            before = rows[-1].post_id

    async def _comments_by(self, post_id: int, author_id: int) -> list[CommentRecord]:
        """Return one account's comments on a post, and its replies under others' comments."""
        found: list[CommentRecord] = []

        async def scan(parent: int) -> list[CommentRecord]:
            everything, after = [], None
            while True:
                async with self._store.transaction() as tx:
                    page = await self._engagement.list_comments(
                        tx,
                        post_id=post_id,
                        parent_comment_id=parent,
                        after=after,
                        limit=BLOCK_SCAN_BATCH,
                    )
                everything += page
                if len(page) < BLOCK_SCAN_BATCH:
                    return everything
                after = page[-1].comment_id

        top = await scan(0)
        found += [c for c in top if c.author_id == author_id]
        others = [c.comment_id for c in top if c.author_id != author_id]
        if others:
            async with self._store.transaction() as tx:
                replied = await self._engagement.reply_counts(
                    tx, post_id=post_id, comment_ids=others
                )
            for parent, count in replied.items():
                if count:
                    found += [c for c in await scan(parent) if c.author_id == author_id]
        return found

    async def list_likers(
        self, *, viewer: int | None, post_id: int, page_size: int, page_token: str
    ) -> tuple[list[user_pb2.UserSummary], str]:
        """Return one page of the accounts that like a post, most recent like first."""
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = _int_cursor(_cursor(page_token, kind="likers", scope=post_id))
        await self._visible_post(viewer, post_id)

        async def fetch(before: Any, n: int) -> list[tuple[Any, int | None]]:
            async with self._store.read_transaction() as tx:
                rows = await self._engagement.list_likers(
                    tx, post_id=post_id, before=before, limit=n
                )
            return [(like_id, user_id) for like_id, user_id in rows]

        liker_ids, next_cursor = await self._filtered_page(
            viewer=viewer,
            limit=limit,
            cursor=cursor,
            fetch=fetch,
            owner_of=lambda user_id: user_id,
            need_view=False,
        )
        found = await self._directory.summaries(liker_ids)
        token = _token(next_cursor, kind="likers", scope=post_id)
        return [found[i] for i in liker_ids if i in found], token

    # -- comments --------------------------------------------------------------------------

    async def create_comment(
        self,
        *,
        caller: int,
        post_id: int,
        body: str,
        parent_comment_id: int,
        idempotency_key: str = "",
    ) -> CommentView:
        """Comment on a post the caller may see, or reply to one of its top-level comments; a
        retried key returns the first comment."""
        if parent_comment_id < 0:
            raise InvalidArgument.field("parent_comment_id", "must be 0 or a comment id")
        parsed = text.parse("text", body, required=True)
        key = text.check_idempotency_key(idempotency_key)
        digest = comment_hash(post_id, parent_comment_id, parsed.text)
        if key is not None:
            earlier = await self._comment_made_with(caller, key, digest)
            if earlier is not None:
                return earlier
        post = await self._visible_post(caller, post_id)
        parent: CommentRecord | None = None
        if parent_comment_id:
            parent = await self._visible_comment(caller, parent_comment_id, post_id=post_id)
            if parent.parent_comment_id != 0:
                raise ReplyToReply(
                    "parent_comment_id: replies go one level deep; reply to the top-level comment"
                )
        mentions, authors = await asyncio.gather(
            self._resolve_mentions(caller, parsed.mentions), self._directory.summaries([caller])
        )
        author = authors.get(caller)
        if author is None:
            raise AuthorNotFound("the caller's account does not exist")
        now = datetime.now(UTC)
        comment = CommentRecord(
            comment_id=self._ids.next_id(),
            post_id=post_id,
            author_id=caller,
            parent_comment_id=parent_comment_id,
            text=parsed.text,
            mentions=tuple(mentions),
            created_at=now,
        )
        try:
            await self._add_comment(
                tx_key=key,
                digest=digest,
                comment=comment,
                parent=parent,
                post=post,
                mentions=mentions,
                caller=caller,
                now=now,
            )
        except Conflict:
            # A concurrent call with the same key committed first: answer with its comment.
            earlier = await self._comment_made_with(caller, key, digest) if key else None
            if earlier is None:
                raise
            return earlier
        return CommentView(record=comment, author=author, reply_count=0)

    async def _add_comment(
        self,
        *,
        tx_key: str | None,
        digest: str,
        comment: CommentRecord,
        parent: CommentRecord | None,
        post: PostRecord,
        mentions: Sequence[Mention],
        caller: int,
        now: datetime,
    ) -> None:
        created_event = events.comment_created(
            comment,
            post_author_id=post.author_id,
            parent_author_id=parent.author_id if parent else 0,
        )
        if tx_key is None and parent is None and all(m.user_id == caller for m in mentions):
            # The common comment (no key, no parent to lock, nobody to tell of a mention): one
            # statement where the store can (PostgreSQL).
            envelope, row = self._store.outbox.detached_row(
                aggregate_id=comment.post_id, event=created_event
            )
            if await self._engagement.comment_now(comment=comment, event=row):
                await self._tell_then_hand_over(envelope)
                return
        async with self._store.transaction() as tx:
            if tx_key is not None:
                # First, in the transaction of the comment and its event: both or neither.
                await self._store.add_comment_key(
                    tx,
                    author_id=caller,
                    idempotency_key=tx_key,
                    comment_id=comment.comment_id,
                    request_hash=digest,
                )
            if parent is not None:
                # Held until commit, so the parent cannot be deleted without this reply.
                still = await self._engagement.get_comment(
                    tx, comment_id=parent.comment_id, lock=True
                )
                if still is None:
                    raise CommentNotFound("no comment has that id")
            await self._engagement.add_comment(tx, comment=comment)
            created = await self._store.outbox.add(
                tx, aggregate_id=comment.post_id, event=created_event, hand_over=False
            )
            mentioned = await self._add_mention_events(
                tx,
                mentions=mentions,
                author=caller,
                post=post,
                comment_id=comment.comment_id,
                at=now,
            )
        await self._tell_then_hand_over(created, then=mentioned)

    async def _comment_made_with(self, caller: int, key: str, digest: str) -> CommentView | None:
        async with self._store.transaction() as tx:
            earlier = await self._store.get_comment_key(tx, author_id=caller, idempotency_key=key)
            if earlier is None:
                return None
            comment_id, first_digest = earlier
            if first_digest != digest:
                raise IdempotencyKeyReused(
                    "idempotency_key: this key was used for a different comment",
                    metadata={"comment_id": str(comment_id)},
                )
            comment = await self._engagement.get_comment(tx, comment_id=comment_id)
            if comment is None:
                raise CommentNotFound("the comment made with this idempotency key was deleted")
            replies = await self._engagement.reply_counts(
                tx, post_id=comment.post_id, comment_ids=[comment_id]
            )
        authors = await self._directory.summaries([caller])
        author = authors.get(caller)
        if author is None:
            raise AuthorNotFound("the caller's account does not exist")
        return CommentView(record=comment, author=author, reply_count=replies.get(comment_id, 0))

    async def _visible_comment(
        self, viewer: int | None, comment_id: int, *, post_id: int
    ) -> CommentRecord:
        """Return a comment of a post whose author the viewer did not block nor was blocked by."""
        check_id(comment_id, "parent_comment_id")
        async with self._store.transaction() as tx:
            comment = await self._engagement.get_comment(tx, comment_id=comment_id)
        if comment is None or comment.post_id != post_id:
            raise CommentNotFound("no comment of this post has that id")
        found = (await self._audience.visibilities(viewer, [comment.author_id])).get(
            comment.author_id
        )
        if found is None or found.blocked:
            raise CommentNotFound("no comment of this post has that id")
        return comment

    async def list_comments(
        self,
        *,
        viewer: int | None,
        post_id: int,
        parent_comment_id: int,
        page_size: int,
        page_token: str,
    ) -> tuple[list[CommentView], str]:
        """Return one page of a post's top-level comments, or of one comment's replies, oldest
        first."""
        if parent_comment_id < 0:
            raise InvalidArgument.field("parent_comment_id", "must be 0 or a comment id")
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        scope = [post_id, parent_comment_id]
        cursor = _int_cursor(_cursor(page_token, kind="comments", scope=scope))
        await self._visible_post(viewer, post_id)
        if parent_comment_id:
            parent = await self._visible_comment(viewer, parent_comment_id, post_id=post_id)
            if parent.parent_comment_id != 0:
                raise ReplyToReply("parent_comment_id: replies have no replies")

        async def fetch(after: Any, n: int) -> list[tuple[Any, CommentRecord | None]]:
            async with self._store.read_transaction() as tx:
                rows = await self._engagement.list_comments(
                    tx, post_id=post_id, parent_comment_id=parent_comment_id, after=after, limit=n
                )
            return [(row.comment_id, row) for row in rows]

        found, next_cursor = await self._filtered_page(
            viewer=viewer,
            limit=limit,
            cursor=cursor,
            fetch=fetch,
            owner_of=lambda c: c.author_id,
            need_view=False,
        )
        replies: dict[int, int] = {}
        if parent_comment_id == 0 and found:
            async with self._store.read_transaction() as tx:
                replies = await self._engagement.reply_counts(
                    tx, post_id=post_id, comment_ids=[c.comment_id for c in found]
                )
        authors = await self._directory.summaries(list(dict.fromkeys(c.author_id for c in found)))
        hidden: set[int] = set()
        if viewer is not None and found:
            async with self._store.transaction() as tx:
                hidden = await self._store.hidden_among(
                    tx,
                    viewer_id=viewer,
                    target_type="comment",
                    target_ids=[c.comment_id for c in found],
                )
        views = [
            CommentView(c, authors[c.author_id], replies.get(c.comment_id, 0))
            for c in found
            if c.author_id in authors and c.comment_id not in hidden
        ]
        return views, _token(next_cursor, kind="comments", scope=scope)

    async def delete_comment(self, *, caller: int, comment_id: int) -> None:
        """Delete a comment and its replies: the comment's author or the post's author may."""
        check_id(comment_id, "comment_id")
        async with self._store.transaction() as tx:
            comment = await self._engagement.get_comment(tx, comment_id=comment_id)
            post = await self._store.get_post(tx, post_id=comment.post_id) if comment else None
        if comment is None or post is None:
            raise CommentNotFound("no comment has that id")
        if caller != post.author_id:
            found = await self._audience.visibilities(caller, [post.author_id, comment.author_id])
            sees_post = post.author_id in found and found[post.author_id].can_view
            sees_comment = comment.author_id in found and not found[comment.author_id].blocked
            if not sees_post or not sees_comment:
                raise CommentNotFound("no comment has that id")
            if caller != comment.author_id:
                raise NotCommentAuthor(
                    "only the comment's author or the post's author can delete a comment"
                )
        await self._delete_comment(comment, deleted_by=caller)

    async def _delete_comment(self, comment: CommentRecord, *, deleted_by: int) -> None:
        """Delete a comment and its replies with their CommentDeleted event."""
        async with self._store.transaction() as tx:
            reply_ids = await self._engagement.delete_comment(tx, comment=comment)
            removed = await self._store.outbox.add(
                tx,
                aggregate_id=comment.post_id,
                event=events.comment_deleted(comment, deleted_by=deleted_by, reply_ids=reply_ids),
                hand_over=False,
            )
        await self._tell_then_hand_over(removed)

    # -- moderation (internal: user_svc's reports) ------------------------------------------

    async def post_owner(self, *, post_id: int, viewer_id: int) -> int:
        """Return the author of a post the viewer can see (0: that exists), or raise
        PostNotFound."""
        if viewer_id:
            post = await self._visible_post(viewer_id, post_id)
        else:
            check_id(post_id, "target_id")
            async with self._store.transaction() as tx:
                found = await self._store.get_post(tx, post_id=post_id)
            if found is None:
                raise PostNotFound("no post has that id")
            post = found
        return post.author_id

    async def comment_owner(self, *, comment_id: int, viewer_id: int) -> int:
        """Return the author of a comment the viewer can see (0: that exists), or raise
        CommentNotFound."""
        check_id(comment_id, "target_id")
        async with self._store.transaction() as tx:
            comment = await self._engagement.get_comment(tx, comment_id=comment_id)
        if comment is None:
            raise CommentNotFound("no comment has that id")
        if viewer_id:
            try:
                await self._visible_post(viewer_id, comment.post_id)
            except PostNotFound:
                raise CommentNotFound("no comment has that id") from None
            await self._visible_comment(viewer_id, comment_id, post_id=comment.post_id)
        return comment.author_id

    async def hide(
        self, *, viewer_id: int, target_type: str, target_id: int, owner_id: int
    ) -> None:
        """Hide a post or comment from a viewer for good (idempotent); a hidden post also
        leaves the viewer's home feed (feed_svc's read model) before this answers."""
        now = datetime.now(UTC)
        told = None
        async with self._store.transaction() as tx:
            added = await self._store.hide_content(
                tx,
                viewer_id=viewer_id,
                target_type=target_type,
                target_id=target_id,
                owner_id=owner_id,
                at=now,
            )
            if added and target_type == "post":
                told = await self._store.outbox.add(
                    tx,
                    aggregate_id=target_id,
                    event=events.post_hidden_from_viewer(post_id=target_id, viewer_id=viewer_id),
                )
        await self._tell_feed(told)

    async def remove_post(self, *, post_id: int) -> int:
        """Delete a post for a moderator through the author's own delete path; return its
        author (0 when it was already gone)."""
        check_id(post_id, "target_id")
        async with self._store.transaction() as tx:
            post = await self._store.get_post(tx, post_id=post_id)
        if post is None or not await self._delete_post(post_id):
            return 0
        return post.author_id

    async def remove_comment(self, *, comment_id: int) -> int:
        """Delete a comment (and its replies) for a moderator through the ordinary delete path;
        return its author (0 when it was already gone)."""
        check_id(comment_id, "target_id")
        async with self._store.transaction() as tx:
            comment = await self._engagement.get_comment(tx, comment_id=comment_id)
        if comment is None:
            return 0
        await self._delete_comment(comment, deleted_by=comment.author_id)
        return comment.author_id

    # -- saves -----------------------------------------------------------------------------

    async def save(self, *, caller: int, post_id: int) -> None:
        """Save a post the caller may see (idempotent)."""
        await self._visible_post(caller, post_id)
        saved = None
        async with self._store.transaction() as tx:
            if await self._store.add_save(
                tx,
                user_id=caller,
                post_id=post_id,
                save_id=self._ids.next_id(),
                at=datetime.now(UTC),
            ):
                saved = await self._store.outbox.add(
                    tx,
                    aggregate_id=post_id,
                    event=events.post_saved(post_id=post_id, user_id=caller),
                )
        await self._tell_feed(saved)

    async def unsave(self, *, caller: int, post_id: int) -> None:
        """Remove a post from the caller's saved posts (idempotent)."""
        check_id(post_id, "post_id")
        unsaved = None
        async with self._store.transaction() as tx:
            removed = await self._store.remove_save(tx, user_id=caller, post_id=post_id)
            if removed:
                unsaved = await self._store.outbox.add(
                    tx,
                    aggregate_id=post_id,
                    event=events.post_unsaved(post_id=post_id, user_id=caller),
                )
        await self._tell_feed(unsaved)
        if not removed:
            # Nothing was saved: answer as for any post the caller may or may not see.
            await self._visible_post(caller, post_id)

    async def list_saved(
        self, *, caller: int, page_size: int, page_token: str
    ) -> tuple[list[PostView], str]:
        """Return one page of the caller's saved posts, most recently saved first."""
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = _int_cursor(_cursor(page_token, kind="saved", scope=caller))

        async def fetch(before: Any, n: int) -> list[tuple[Any, PostRecord | None]]:
            async with self._store.read_transaction() as tx:
                rows = await self._store.list_saves(tx, user_id=caller, before=before, limit=n)
                found = await self._store.get_posts(tx, post_ids=[p for _, p in rows])
            return [(save_id, found.get(post_id)) for save_id, post_id in rows]

        views, next_cursor = await self._post_page(
            viewer=caller, limit=limit, cursor=cursor, fetch=fetch
        )
        return views, _token(next_cursor, kind="saved", scope=caller)

    # -- hashtags and places ---------------------------------------------------------------

    async def search_hashtags(
        self, *, viewer: int | None, query: str, page_size: int, page_token: str
    ) -> tuple[list[HashtagRecord], str]:
        """Return one page of the tags that start with the text, most used first, each counting
        only the posts the viewer may see; a tag on none of those is left out."""
        prefix = text.normalise_tag(check_query(query))
        if not prefix:
            raise InvalidArgument.field("q", "is required")
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = _cursor(page_token, kind="tags", scope=prefix)
        after: tuple[int, str] | None = None
        if cursor is not None:
            if (
                not isinstance(cursor, list)
                or len(cursor) != 2
                or not isinstance(cursor[0], int)
                or not isinstance(cursor[1], str)
            ):
                raise InvalidArgument.field("page_token", "does not belong to this list")
            after = (cursor[0], cursor[1])

        async def fetch(at: Any, n: int) -> list[tuple[Any, HashtagRecord]]:
            async with self._store.read_transaction() as tx:
                rows = await self._store.search_hashtags(tx, prefix=prefix, after=at, limit=n)
            return [((r.post_count, r.tag), r) for r in rows]

        async def authors(rows: Sequence[HashtagRecord]) -> dict[Any, dict[int, int]]:
            async with self._store.read_transaction() as tx:
                found = await self._store.hashtag_authors(tx, tags=[r.tag for r in rows])
            return dict(found)

        page, next_cursor = await self._visible_index_page(
            viewer=viewer,
            limit=limit,
            cursor=after,
            fetch=fetch,
            authors=authors,
            key_of=lambda r: r.tag,
        )
        hashtags = [HashtagRecord(r.tag, count) for r, count in page]
        token_cursor = list(next_cursor) if next_cursor is not None else None
        return hashtags, _token(token_cursor, kind="tags", scope=prefix)

    async def _visible_index_page(
        self,
        *,
        viewer: int | None,
        limit: int,
        cursor: Any,
        fetch: Callable[[Any, int], Awaitable[list[tuple[Any, T]]]],
        authors: Callable[[Sequence[T]], Awaitable[dict[Any, dict[int, int]]]],
        key_of: Callable[[T], Any],
    ) -> tuple[list[tuple[T, int]], Any]:
        """Return up to `limit` index entries (tags, places) with the number of their posts the
        viewer may see, leaving out entries with none, and the cursor of the next page. The
        index's own counts include private and blocked accounts' posts: they choose the order
        and the cursor, never what is shown, so a search reveals no post it would not list."""
        page: list[tuple[Any, T, int]] = []
        for _ in range(SCAN_ROUNDS):
            batch = await fetch(cursor, limit + 1)
            by_entry = await authors([entry for _, entry in batch])
            owners = {owner for counts in by_entry.values() for owner in counts}
            found = await self._audience.visibilities(viewer, list(owners))
            for key, entry in batch:
                counts = by_entry.get(key_of(entry), {})
                visible = sum(
                    n for owner, n in counts.items() if _keeps(found.get(owner), need_view=True)
                )
                if visible > 0:
                    if len(page) == limit:
                        return [(e, n) for _, e, n in page], page[-1][0]
                    page.append((key, entry, visible))
                cursor = key
            if len(batch) <= limit:
                return [(e, n) for _, e, n in page], None
        return [(e, n) for _, e, n in page], cursor

    async def posts_by_hashtag(
        self, *, viewer: int | None, tag: str, page_size: int, page_token: str
    ) -> tuple[HashtagRecord, list[PostView], str]:
        """Return a hashtag with one page of the posts the viewer may see that carry it."""
        normal = check_tag(tag, "tag")
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = _int_cursor(_cursor(page_token, kind="tag", scope=normal))
        views, next_cursor = await self._tag_posts(viewer, normal, limit, cursor)
        async with self._store.read_transaction() as tx:
            by_author = (await self._store.hashtag_authors(tx, tags=[normal])).get(normal, {})
        # Only the posts this viewer may see count: a private account's tags stay private.
        found = await self._audience.visibilities(viewer, list(by_author))
        visible = sum(n for o, n in by_author.items() if _keeps(found.get(o), need_view=True))
        hashtag = HashtagRecord(normal, visible)
        return hashtag, views, _token(next_cursor, kind="tag", scope=normal)

    async def hashtag_index(
        self, *, tag: str, before_post_id: int, page_size: int, with_author_counts: bool
    ) -> tuple[str, list[tuple[int, int]], dict[int, int]]:
        """Return a tag's normal form, up to `page_size` (post id, author id) of its live posts
        older than `before_post_id` (0: the newest), newest first, whoever the authors are, and
        on request how many live posts of each author carry it: feed_svc's tag index, which
        applies the privacy rule itself."""
        normal = check_tag(tag, "tag")
        if before_post_id < 0:
            raise InvalidArgument.field("before_post_id", "must be 0 or a post id")
        limit = max(0, min(page_size, TAG_INDEX_MAX))
        entries: list[tuple[int, int]] = []
        authors: dict[int, int] = {}
        # The primary: feed_svc keeps what it reads here against a version its events bump, so
        # a replica's lag behind a post just made would be kept until the tag's next post.
        async with self._store.transaction() as tx:
            if limit:
                rows = await self._store.list_hashtag_posts(
                    tx, tag=normal, before=before_post_id or None, limit=limit
                )
                entries = [(r.post_id, r.author_id) for r in rows]
            if with_author_counts:
                found = await self._store.hashtag_authors(tx, tags=[normal])
                authors = dict(found.get(normal, {}))
        return normal, entries, authors

    async def _tag_posts(
        self, viewer: int | None, tag: str, limit: int, cursor: int | None
    ) -> tuple[list[PostView], Any]:
        async def fetch(before: Any, n: int) -> list[tuple[Any, PostRecord | None]]:
            async with self._store.read_transaction() as tx:
                rows = await self._store.list_hashtag_posts(tx, tag=tag, before=before, limit=n)
            return [(r.post_id, r) for r in rows]

        return await self._post_page(viewer=viewer, limit=limit, cursor=cursor, fetch=fetch)

    async def search_places(
        self, *, viewer: int | None, query: str, page_size: int, page_token: str
    ) -> tuple[list[PlaceRecord], str]:
        """Return one page of the places whose name starts with the text, most used first, each
        counting only the posts the viewer may see; a place with none of those is left out."""
        prefix = check_query(query)
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = _cursor(page_token, kind="places", scope=prefix.casefold())
        after: tuple[int, str, int] | None = None
        if cursor is not None:
            if (
                not isinstance(cursor, list)
                or len(cursor) != 3
                or not isinstance(cursor[0], int)
                or not isinstance(cursor[1], str)
                or not isinstance(cursor[2], int)
            ):
                raise InvalidArgument.field("page_token", "does not belong to this list")
            after = (cursor[0], cursor[1], cursor[2])

        async def fetch(at: Any, n: int) -> list[tuple[Any, PlaceRecord]]:
            async with self._store.read_transaction() as tx:
                rows = await self._store.search_places(tx, prefix=prefix, after=at, limit=n)
            return [((r.post_count, r.name.casefold(), r.place_id), r) for r in rows]

        async def authors(rows: Sequence[PlaceRecord]) -> dict[Any, dict[int, int]]:
            async with self._store.read_transaction() as tx:
                found = await self._store.place_authors(tx, place_ids=[r.place_id for r in rows])
            return dict(found)

        page, next_cursor = await self._visible_index_page(
            viewer=viewer,
            limit=limit,
            cursor=after,
            fetch=fetch,
            authors=authors,
            key_of=lambda r: r.place_id,
        )
        places = [replace(r, post_count=count) for r, count in page]
        token_cursor = list(next_cursor) if next_cursor is not None else None
        return places, _token(token_cursor, kind="places", scope=prefix.casefold())

    async def posts_near(
        self,
        *,
        viewer: int | None,
        lat: float | None,
        lng: float | None,
        radius_km: float,
        order: str,
        page_size: int,
        page_token: str,
    ) -> tuple[list[tuple[PostView, float]], str]:
        """Return one page of the posts within a radius of a point, with their distances."""
        if lat is None:
            raise InvalidArgument.field("lat", "is required")
        if lng is None:
            raise InvalidArgument.field("lng", "is required")
        centre = geo.check_point(lat, lng)
        if not math.isfinite(radius_km) or radius_km < 0 or radius_km > RADIUS_MAX_KM:
            raise InvalidArgument.field(
                "radius_km", f"must be more than 0 and at most {RADIUS_MAX_KM:g} kilometres"
            )
        radius = radius_km or RADIUS_DEFAULT_KM
        if order not in (ORDER_NEAREST, ORDER_NEWEST):
            raise InvalidArgument.field("order", "must be nearest or newest")
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        scope = [centre.lat, centre.lng, radius, order]
        cursor = _cursor(page_token, kind="near", scope=scope)
        area = geo.area(centre, radius)
        distances: dict[int, float] = {}

        def within(rows: Sequence[PostRecord]) -> list[PostRecord]:
            kept = []
            for row in rows:
                assert row.location is not None
                distance = geo.distance_km(centre, row.location.point)
                if distance <= radius:
                    distances[row.post_id] = distance
                    kept.append(row)
            return kept

        if order == ORDER_NEWEST:

            async def fetch(at: Any, n: int) -> list[tuple[Any, PostRecord | None]]:
                # Rows outside the circle come back as gaps, so the scan still moves on.
                async with self._store.read_transaction() as tx:
                    rows = await self._store.nearby_posts(tx, area=area, before=at, limit=n)
                inside = {r.post_id for r in within(rows)}
                return [(r.post_id, r if r.post_id in inside else None) for r in rows]

            start = _int_cursor(cursor)
        else:
            async with self._store.read_transaction() as tx:
                rows = await self._store.nearby_posts(
                    tx, area=area, before=None, limit=NEAREST_SCAN_MAX
                )
            ranked = sorted(within(rows), key=lambda r: (distances[r.post_id], -r.post_id))
            keys = [[distances[r.post_id], r.post_id] for r in ranked]

            async def fetch(at: Any, n: int) -> list[tuple[Any, PostRecord | None]]:
                first = 0
                if at is not None:
                    mark = (at[0], -at[1])
                    first = next((i for i, k in enumerate(keys) if (k[0], -k[1]) > mark), len(keys))
                return [(keys[i], ranked[i]) for i in range(first, min(first + n, len(keys)))]

            start = cursor
            if start is not None and (
                not isinstance(start, list)
                or len(start) != 2
                or not isinstance(start[0], (int, float))
                or not isinstance(start[1], int)
            ):
                raise InvalidArgument.field("page_token", "does not belong to this list")
        views, next_cursor = await self._post_page(
            viewer=viewer, limit=limit, cursor=start, fetch=fetch
        )
        token = _token(next_cursor, kind="near", scope=scope)
        return [(v, distances[v.record.post_id]) for v in views], token

    async def search_posts(
        self, *, viewer: int | None, query: str, kind: str, page_size: int, page_token: str
    ) -> tuple[list[PostView], str]:
        """Return one page of the posts found by hashtag or by place name, newest first."""
        kind = kind.strip().lower() or SEARCH_HASHTAG
        if kind not in (SEARCH_HASHTAG, SEARCH_LOCATION):
            raise InvalidArgument.field("type", "must be hashtag or location")
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        if kind == SEARCH_HASHTAG:
            tag = check_tag(query, "q")
            cursor = _int_cursor(_cursor(page_token, kind="search_tag", scope=tag))
            views, next_cursor = await self._tag_posts(viewer, tag, limit, cursor)
            return views, _token(next_cursor, kind="search_tag", scope=tag)
        prefix = check_query(query)
        scope = prefix.casefold()
        cursor = _int_cursor(_cursor(page_token, kind="search_place", scope=scope))
        async with self._store.read_transaction() as tx:
            found = await self._store.search_places(
                tx, prefix=prefix, after=None, limit=SEARCH_PLACES_MAX
            )
        place_ids = [p.place_id for p in found]

        async def fetch(before: Any, n: int) -> list[tuple[Any, PostRecord | None]]:
            async with self._store.read_transaction() as tx:
                rows = await self._store.list_place_posts(
                    tx, place_ids=place_ids, before=before, limit=n
                )
            return [(r.post_id, r) for r in rows]

        views, next_cursor = await self._post_page(
            viewer=viewer, limit=limit, cursor=cursor, fetch=fetch
        )
        return views, _token(next_cursor, kind="search_place", scope=scope)

    # -- internal --------------------------------------------------------------------------

    async def post_counts(self, *, user_ids: Sequence[int]) -> list[tuple[int, int]]:
        """Return (user_id, live post count) for each distinct id, in request order."""
        wanted = check_ids(user_ids, "user_ids")
        async with self._store.read_transaction() as tx:
            found = await self._store.post_counts(tx, user_ids=wanted)
        return [(user_id, found.get(user_id, 0)) for user_id in wanted]

    # -- data export -------------------------------------------------------------------------

    async def export(self, *, user_id: int) -> dict[str, bytes]:
        """Return the account's part of its data export: posts (with captions, tags, mentions,
        places and media ids), comments, likes and saves."""
        posts: list[dict[str, Any]] = []
        before = None
        while len(posts) < EXPORT_ROWS_MAX:
            async with self._store.transaction() as tx:
                page = await self._store.list_user_posts(
                    tx, author_id=user_id, before=before, limit=EXPORT_PAGE
                )
            posts += [_exported_post(p) for p in page]
            if len(page) < EXPORT_PAGE:
                break
            before = page[-1].post_id
        async with self._store.transaction() as tx:
            comments = await self._engagement.comments_by(
                tx, author_id=user_id, limit=EXPORT_ROWS_MAX
            )
            liked = await self._engagement.liked_by(tx, user_id=user_id, limit=EXPORT_ROWS_MAX)
            saves = await self._store.list_saves(
                tx, user_id=user_id, before=None, limit=EXPORT_ROWS_MAX
            )
        return {
            "posts.json": json_file(posts),
            "comments.json": json_file(
                [
                    {
                        "commentId": str(c.comment_id),
                        "postId": str(c.post_id),
                        "parentCommentId": str(c.parent_comment_id or ""),
                        "text": c.text,
                        "createdAt": c.created_at,
                    }
                    for c in comments
                ]
            ),
            "likes.json": json_file([{"postId": str(p)} for p in liked]),
            "saves.json": json_file([{"postId": str(p)} for _, p in saves]),
        }

    # -- account deletion ------------------------------------------------------------------

    def deletion_steps(self) -> list[tuple[str, Callable[[int], Awaitable[object]]]]:
        """Return the steps that remove a deleted account's posts and engagement, in order (see
        mesh.deletion): each object goes as its ordinary delete makes it go, with its event."""
        return [
            ("posts", self._delete_posts_of),
            ("comments", self._delete_comments_of),
            ("likes", self._delete_likes_of),
            ("saves", self._delete_saves_of),
        ]

    async def _delete_posts_of(self, user_id: int) -> None:
        while True:
            async with self._store.transaction() as tx:
                rows = await self._store.list_user_posts(
                    tx, author_id=user_id, before=None, limit=DELETION_BATCH
                )
            for post in rows:
                async with self._store.transaction() as tx:
                    locked = await self._store.get_post(tx, post_id=post.post_id, for_update=True)
                    if locked is None:
                        continue
                    await self._store.delete_post(tx, post=locked)
                    await self._store.outbox.add(
                        tx, aggregate_id=locked.post_id, event=events.post_deleted(locked)
                    )
            if len(rows) < DELETION_BATCH:
                return

    async def _delete_comments_of(self, user_id: int) -> None:
        while True:
            async with self._store.transaction() as tx:
                found = await self._engagement.comments_by(
                    tx, author_id=user_id, limit=DELETION_BATCH
                )
            for comment in found:
                async with self._store.transaction() as tx:
                    still = await self._engagement.get_comment(tx, comment_id=comment.comment_id)
                    if still is None:
                        continue  # a reply that went with its parent
                    reply_ids = await self._engagement.delete_comment(tx, comment=still)
                    await self._store.outbox.add(
                        tx,
                        aggregate_id=still.post_id,
                        event=events.comment_deleted(
                            still, deleted_by=user_id, reply_ids=reply_ids
                        ),
                    )
            if len(found) < DELETION_BATCH:
                return

    async def _delete_likes_of(self, user_id: int) -> None:
        while True:
            async with self._store.transaction() as tx:
                post_ids = await self._engagement.liked_by(
                    tx, user_id=user_id, limit=DELETION_BATCH
                )
            for post_id in post_ids:
                async with self._store.transaction() as tx:
                    post = await self._store.get_post(tx, post_id=post_id)
                    removed = await self._engagement.remove_like(
                        tx, post_id=post_id, user_id=user_id
                    )
                    if post is not None and removed:
                        await self._store.outbox.add(
                            tx,
                            aggregate_id=post_id,
                            event=events.post_unliked(post, liker_id=user_id),
                        )
            if len(post_ids) < DELETION_BATCH:
                return

    async def _delete_saves_of(self, user_id: int) -> None:
        while True:
            async with self._store.transaction() as tx:
                rows = await self._store.list_saves(
                    tx, user_id=user_id, before=None, limit=DELETION_BATCH
                )
            for _save_id, post_id in rows:
                async with self._store.transaction() as tx:
                    if await self._store.remove_save(tx, user_id=user_id, post_id=post_id):
                        await self._store.outbox.add(
                            tx,
                            aggregate_id=post_id,
                            event=events.post_unsaved(post_id=post_id, user_id=user_id),
                        )
            if len(rows) < DELETION_BATCH:
                return

    async def export_posts(
        self, *, after_post_id: int, page_size: int
    ) -> list[tuple[PostRecord, Counts]]:
        """Return one page of live posts after an id, oldest first, with their counts (what
        feed_svc's projection is rebuilt from)."""
        if after_post_id < 0:
            raise InvalidArgument.field("after_post_id", "must be 0 or a post id")
        limit = pagination.page_size(
            page_size, default=EXPORT_PAGE_DEFAULT, maximum=EXPORT_PAGE_MAX
        )
        async with self._store.read_transaction() as tx:
            rows = await self._store.list_posts_after(tx, after=after_post_id, limit=limit)
            counts = await self._engagement.counts(tx, post_ids=[r.post_id for r in rows])
        return [(r, counts.get(r.post_id, Counts())) for r in rows]

    async def clean_up_deleted(self, *, post_id: int, media_ids: Sequence[int]) -> None:
        """Delete a deleted post's media and its likes, comments and counters (idempotent)."""
        for media_id in media_ids:
            await self._media.delete(media_id)
        async with self._store.transaction() as tx:
            await self._engagement.purge_post(tx, post_id=post_id)
