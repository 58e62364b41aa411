"""Story rules: 24-hour stories, who may see them, who saw them, and the rings of a story tray.

A story lives for exactly STORY_LIFETIME from the moment it is made: at created_at + 24 h it is
expired, and every read judges that against the injected clock, so an expired story is gone from
every list and answers NOT_FOUND even before anything cleans it up. Expired stories stay in their
author's archive until the author deletes them.

Privacy is graph_svc's rule, as for posts: a private account's stories are seen by its approved
followers only, and a block hides each account's stories from the other. A close-friends story is
seen, besides, only by the accounts on its author's close friends list (kept here, as it decides
nothing but who sees stories). A story the caller may not see answers NOT_FOUND exactly as one that
does not exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mesh import pagination
from mesh.errors import InvalidArgument
from mesh.export import EXPORT_ROWS_MAX, json_file
from mesh.ids import IdGenerator
from post_svc import events, text
from post_svc.domain import (
    DELETION_BATCH,
    SCAN_ROUNDS,
    Audience,
    Directory,
    MediaCatalog,
    Privacy,
    _cursor,
    _int_cursor,
    _token,
    check_id,
    check_ids,
)
from post_svc.errors import (
    AuthorNotFound,
    MediaAlreadyPosted,
    MediaNotFound,
    MediaNotReady,
    NotStoryAuthor,
    StoryNotFound,
)
from post_svc.store import Conflict, Mention, PostStore, StoryRecord, StoryStore
from shutter.media.v1 import media_pb2
from shutter.user.v1 import user_pb2

STORY_LIFETIME = timedelta(hours=24)
# An account rarely has more live stories than this; one page usually holds them all.
STORIES_PAGE_DEFAULT = 100
STORIES_PAGE_MAX = 100
PAGE_DEFAULT = 20
PAGE_MAX = 50
# The most authors one story-tray call summarises (a tray shows the accounts one follows).
RING_AUTHORS_MAX = 500

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class StoryView:
    """A story as one viewer sees it."""

    record: StoryRecord
    author: user_pb2.UserSummary
    media: media_pb2.Media | None
    seen: bool
    # Filled for the story's author only.
    view_count: int


@dataclass(frozen=True)
class StoryViewer:
    """An account that saw a story, and when it first did."""

    user: user_pb2.UserSummary
    seen_at: datetime


@dataclass(frozen=True)
class Ring:
    """One author's live stories summed up for one viewer."""

    author_id: int
    story_count: int
    latest_story_id: int
    latest_created_at: datetime
    has_unseen: bool
    close_friends: bool


class Stories:
    """The rules of stories, their views, the archive and story rings."""

    def __init__(
        self,
        posts: PostStore,
        stories: StoryStore,
        *,
        privacy: Privacy,
        directory: Directory,
        media: MediaCatalog,
        ids: IdGenerator,
        clock: Clock = utc_now,
    ) -> None:
        # The post store supplies the transaction, the outbox and the posted-media check.
        self._posts = posts
        self._stories = stories
        self._audience = Audience(privacy)
        self._directory = directory
        self._media = media
        self._ids = ids
        self._clock = clock

    # -- privacy ---------------------------------------------------------------------------

    async def _may_see(self, viewer: int | None, story: StoryRecord) -> bool:
        """Tell whether a viewer may see a story: its author's content, and its audience."""
        if not await self._audience.can_view(viewer, story.author_id):
            return False
        if not story.close_friends_only or viewer == story.author_id:
            return True
        if viewer is None:
            return False
        async with self._posts.transaction() as tx:
            return await self._stories.is_close_friend(
                tx, owner_id=story.author_id, friend_id=viewer
            )

    async def _live_story(self, viewer: int | None, story_id: int) -> StoryRecord:
        """Return a live story the viewer may see, or raise StoryNotFound either way."""
        check_id(story_id, "story_id")
        async with self._posts.transaction() as tx:
            story = await self._stories.get_story(tx, story_id=story_id, now=self._clock())
        if story is None or not await self._may_see(viewer, story):
            raise StoryNotFound("no story has that id")
        return story

    async def _own_story(self, caller: int, story_id: int, *, live_only: bool) -> StoryRecord:
        """Return one of the caller's stories; another's answers NOT_STORY_AUTHOR only when the
        caller could see it, and STORY_NOT_FOUND otherwise."""
        check_id(story_id, "story_id")
        now = self._clock()
        async with self._posts.transaction() as tx:
            story = await self._stories.get_story(tx, story_id=story_id, now=None)
        if story is None:
            raise StoryNotFound("no story has that id")
        live = story.expires_at > now
        if story.author_id != caller:
            if live and await self._may_see(caller, story):
                raise NotStoryAuthor("only the author of a story can do this")
            raise StoryNotFound("no story has that id")
        if live_only and not live:
            raise StoryNotFound("the story has expired")
        return story

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

    # -- hydration -------------------------------------------------------------------------

    async def _hydrate(self, viewer: int | None, records: Sequence[StoryRecord]) -> list[StoryView]:
        """Return stories with authors, media, the viewer's seen flag and, on the viewer's own
        stories, view counts: one call per peer and one query per fact, whatever the number."""
        if not records:
            return []
        story_ids = [r.story_id for r in records]
        own = [r.story_id for r in records if r.author_id == viewer]

        async def facts() -> tuple[set[int], dict[int, int], set[int]]:
            async with self._posts.transaction() as tx:
                seen: set[int] = set()
                hidden: set[int] = set()
                if viewer is not None:
                    seen = await self._stories.seen_among(tx, viewer_id=viewer, story_ids=story_ids)
                    hidden = await self._posts.hidden_among(
                        tx, viewer_id=viewer, target_type="story", target_ids=story_ids
                    )
                counts = await self._stories.view_counts(tx, story_ids=own)
            return seen, counts, hidden

        authors, media, (seen, counts, hidden) = await asyncio.gather(
            self._directory.summaries(list(dict.fromkeys(r.author_id for r in records))),
            self._media.media([r.media_id for r in records]),
            facts(),
        )
        return [
            StoryView(
                record=r,
                author=authors[r.author_id],
                media=media.get(r.media_id),
                seen=r.author_id == viewer or r.story_id in seen,
                view_count=counts.get(r.story_id, 0) if r.author_id == viewer else 0,
            )
            for r in records
            if r.author_id in authors and r.story_id not in hidden
        ]

    # -- stories ---------------------------------------------------------------------------

    async def create_story(
        self, *, caller: int, media_id: int, caption: str, close_friends_only: bool = False
    ) -> StoryView:
        """Publish a 24-hour story of one of the caller's ready photos or videos, for everyone who
        may see the caller's stories or for the caller's close friends only."""
        check_id(media_id, "media_id")
        parsed = text.parse("caption", caption, required=False)
        found, mentions, authors = await asyncio.gather(
            self._media.media([media_id], fresh=True),
            self._resolve_mentions(caller, parsed.mentions),
            self._directory.summaries([caller]),  # forgotten on every account change
        )
        item = found.get(media_id)
        if item is None or item.owner_user_id != caller:
            raise MediaNotFound.field("media_id", "no media of yours has this id")
        if item.status != media_pb2.MEDIA_STATUS_READY:
            raise MediaNotReady(
                "media_id: the media is not ready (still processing, or it failed)",
                metadata={"media_id": str(media_id)},
            )
        author = authors.get(caller)
        if author is None:
            raise AuthorNotFound("the caller's account does not exist")
        now = self._clock()
        story = StoryRecord(
            story_id=self._ids.next_id(),
            author_id=caller,
            media_id=media_id,
            caption=parsed.text,
            mentions=tuple(mentions),
            created_at=now,
            expires_at=now + STORY_LIFETIME,
            close_friends_only=close_friends_only,
        )
        try:
            async with self._posts.transaction() as tx:
                if await self._posts.posted_media(tx, media_ids=[media_id]):
                    raise MediaAlreadyPosted("media_id: the media is already in a post or story")
                await self._stories.insert_story(tx, story=story)
                await self._posts.outbox.add(
                    tx,
                    aggregate_id=story.story_id,
                    event=events.story_created(story, author_is_private=author.is_private),
                )
        except (Conflict, MediaAlreadyPosted):
            # A retry (its first answer lost) or a concurrent call made this story already: a
            # piece of media is in one story at most, so that story is the answer.
            earlier = await self._story_made_before(caller, story)
            if earlier is None:
                raise MediaAlreadyPosted(
                    "media_id: the media is already in a post or story"
                ) from None
            return earlier
        return StoryView(record=story, author=author, media=item, seen=True, view_count=0)

    async def _story_made_before(self, caller: int, asked: StoryRecord) -> StoryView | None:
        """Return the caller's live story of the same media, caption and audience, if any."""
        async with self._posts.transaction() as tx:
            earlier = await self._stories.get_story_by_media(
                tx, media_id=asked.media_id, now=self._clock()
            )
        if (
            earlier is None
            or earlier.author_id != caller
            or earlier.caption != asked.caption
            or earlier.close_friends_only != asked.close_friends_only
        ):
            return None
        views = await self._hydrate(caller, [earlier])
        return views[0] if views else None

    async def list_user_stories(
        self, *, viewer: int | None, user_id: int, page_size: int, page_token: str
    ) -> tuple[list[StoryView], str]:
        """Return one page of an account's live stories, oldest first."""
        owner = check_id(user_id, "user_id")
        limit = pagination.page_size(
            page_size, default=STORIES_PAGE_DEFAULT, maximum=STORIES_PAGE_MAX
        )
        after = _int_cursor(_cursor(page_token, kind="stories", scope=owner))
        if not await self._audience.can_view(viewer, owner):
            # Unknown, blocked, or private and not followed: stories are the account's to show,
            # so every case answers alike.
            raise AuthorNotFound("no user with stories you may see has that id")
        async with self._posts.transaction() as tx:
            rows = await self._stories.list_live_stories(
                tx,
                author_id=owner,
                viewer_id=viewer,
                now=self._clock(),
                after=after,
                limit=limit + 1,
            )
        page = rows[:limit]
        cursor = page[-1].story_id if len(rows) > limit else None
        return await self._hydrate(viewer, page), _token(cursor, kind="stories", scope=owner)

    async def mark_seen(self, *, caller: int, story_id: int) -> None:
        """Record that the caller saw a live story they may see (idempotent; the author's own
        views are not recorded)."""
        story = await self._live_story(caller, story_id)
        if story.author_id == caller:
            return
        async with self._posts.transaction() as tx:
            await self._stories.add_view(
                tx,
                story_id=story.story_id,
                viewer_id=caller,
                view_id=self._ids.next_id(),
                at=self._clock(),
            )

    async def list_viewers(
        self, *, caller: int, story_id: int, page_size: int, page_token: str
    ) -> tuple[list[StoryViewer], str]:
        """Return one page of the accounts that saw one of the caller's live stories, most
        recent first, leaving out accounts blocked by or blocking the caller."""
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        cursor = _int_cursor(_cursor(page_token, kind="viewers", scope=story_id))
        story = await self._own_story(caller, story_id, live_only=True)
        page: list[tuple[int, int, datetime]] = []
        next_cursor: int | None = None
        for _ in range(SCAN_ROUNDS):
            async with self._posts.transaction() as tx:
                rows = await self._stories.list_views(
                    tx, story_id=story.story_id, before=cursor, limit=limit + 1
                )
            found = await self._audience.visibilities(caller, [user_id for _, user_id, _ in rows])
            full = False
            for view_id, user_id, at in rows:
                seen_by = found.get(user_id)
                if seen_by is not None and not seen_by.blocked:
                    if len(page) == limit:
                        full = True
                        break
                    page.append((view_id, user_id, at))
                cursor = view_id
            if full:
                next_cursor = page[-1][0]
                break
            if len(rows) <= limit:
                next_cursor = None
                break
            next_cursor = cursor
        users = await self._directory.summaries([user_id for _, user_id, _ in page])
        viewers = [StoryViewer(users[u], at) for _, u, at in page if u in users]
        return viewers, _token(next_cursor, kind="viewers", scope=story_id)

    async def delete_story(self, *, caller: int, story_id: int) -> None:
        """Delete one of the caller's stories, live or archived."""
        story = await self._own_story(caller, story_id, live_only=False)
        await self._delete(story)

    async def _delete(self, story: StoryRecord) -> None:
        """Delete a story with its StoryDeleted event (its media goes in the background)."""
        async with self._posts.transaction() as tx:
            if await self._stories.delete_story(tx, story_id=story.story_id, at=self._clock()):
                await self._posts.outbox.add(
                    tx, aggregate_id=story.story_id, event=events.story_deleted(story)
                )

    async def export(self, *, user_id: int) -> dict[str, bytes]:
        """Return the account's part of its data export: every story it has not deleted, live
        or archived."""
        async with self._posts.transaction() as tx:
            found = await self._stories.stories_of(tx, author_id=user_id, limit=EXPORT_ROWS_MAX)
        return {
            "stories.json": json_file(
                [
                    {
                        "storyId": str(s.story_id),
                        "mediaId": str(s.media_id),
                        "caption": s.caption,
                        "closeFriendsOnly": s.close_friends_only,
                        "createdAt": s.created_at,
                        "expiresAt": s.expires_at,
                    }
                    for s in found
                ]
            )
        }

    def deletion_steps(self) -> list[tuple[str, Callable[[int], Awaitable[object]]]]:
        """Return the steps that remove a deleted account's stories, the views it left and its
        close-friends ties (see mesh.deletion)."""
        return [("stories", self._delete_stories_of), ("story_ties", self._forget_viewer)]

    async def _delete_stories_of(self, user_id: int) -> None:
        while True:
            async with self._posts.transaction() as tx:
                found = await self._stories.stories_of(tx, author_id=user_id, limit=DELETION_BATCH)
            for story in found:
                async with self._posts.transaction() as tx:
                    if await self._stories.delete_story(
                        tx, story_id=story.story_id, at=self._clock()
                    ):
                        await self._posts.outbox.add(
                            tx, aggregate_id=story.story_id, event=events.story_deleted(story)
                        )
            if len(found) < DELETION_BATCH:
                return

    async def _forget_viewer(self, user_id: int) -> None:
        async with self._posts.transaction() as tx:
            await self._stories.forget_account(tx, user_id=user_id)

    # -- moderation (internal: user_svc's reports) ------------------------------------------

    async def story_owner(self, *, story_id: int, viewer_id: int) -> int:
        """Return the author of a live story the viewer can see (0: of any story that exists),
        or raise StoryNotFound."""
        if viewer_id:
            return (await self._live_story(viewer_id, story_id)).author_id
        check_id(story_id, "target_id")
        async with self._posts.transaction() as tx:
            story = await self._stories.get_story(tx, story_id=story_id, now=None)
        if story is None:
            raise StoryNotFound("no story has that id")
        return story.author_id

    async def hide(self, *, viewer_id: int, story_id: int, owner_id: int) -> None:
        """Hide a story from a viewer for good (idempotent)."""
        async with self._posts.transaction() as tx:
            await self._posts.hide_content(
                tx,
                viewer_id=viewer_id,
                target_type="story",
                target_id=story_id,
                owner_id=owner_id,
                at=self._clock(),
            )

    async def remove_story(self, *, story_id: int) -> int:
        """Delete a story for a moderator through the author's own delete path; return its
        author (0 when it was already gone)."""
        check_id(story_id, "target_id")
        async with self._posts.transaction() as tx:
            story = await self._stories.get_story(tx, story_id=story_id, now=None)
        if story is None:
            return 0
        await self._delete(story)
        return story.author_id

    async def clean_up_deleted(self, *, media_id: int) -> None:
        """Delete a deleted story's media (idempotent)."""
        await self._media.delete(media_id)

    async def list_archive(
        self, *, caller: int, page_size: int, page_token: str
    ) -> tuple[list[StoryView], str]:
        """Return one page of the caller's expired stories, newest first."""
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        before = _int_cursor(_cursor(page_token, kind="archive", scope=caller))
        async with self._posts.transaction() as tx:
            rows = await self._stories.list_expired_stories(
                tx, author_id=caller, now=self._clock(), before=before, limit=limit + 1
            )
        page = rows[:limit]
        cursor = page[-1].story_id if len(rows) > limit else None
        return await self._hydrate(caller, page), _token(cursor, kind="archive", scope=caller)

    async def rings(self, *, viewer: int | None, author_ids: Sequence[int]) -> list[Ring]:
        """Return, in request order, the story ring of each author with live stories the viewer
        may see: one query and one batched privacy question, whatever the number of authors."""
        wanted = check_ids(author_ids, "author_ids", maximum=RING_AUTHORS_MAX)
        async with self._posts.transaction() as tx:
            found = await self._stories.rings(
                tx, viewer_id=viewer, author_ids=wanted, now=self._clock()
            )
        by_author = {r.author_id: r for r in found}
        # Only authors with live stories are put to the privacy rule.
        visible = await self._audience.visibilities(viewer, list(by_author))
        hidden: dict[int, int] = {}
        if viewer is not None and by_author:
            async with self._posts.transaction() as tx:
                hidden = await self._posts.hidden_live_stories(
                    tx, viewer_id=viewer, author_ids=list(by_author), now=self._clock()
                )
        rings = []
        for author_id in wanted:
            ring = by_author.get(author_id)
            seen_by = visible.get(author_id)
            if ring is None or seen_by is None or not seen_by.can_view:
                continue
            # Stories the viewer reported are not theirs to see: a ring of only those is gone.
            story_count = ring.story_count - hidden.get(author_id, 0)
            if story_count <= 0:
                continue
            rings.append(
                Ring(
                    author_id=author_id,
                    story_count=story_count,
                    latest_story_id=ring.latest_story_id,
                    latest_created_at=ring.latest_created_at,
                    has_unseen=author_id != viewer and ring.seen_count < ring.story_count,
                    close_friends=ring.close_friends,
                )
            )
        return rings

    # -- close friends ---------------------------------------------------------------------

    async def add_close_friend(self, *, caller: int, user_id: int) -> None:
        """Put an account on the caller's close friends list (idempotent)."""
        friend = check_id(user_id, "user_id")
        if friend == caller:
            raise InvalidArgument.field("user_id", "must be another account than the caller's")
        found = (await self._audience.visibilities(caller, [friend])).get(friend)
        if found is None or found.blocked:
            raise AuthorNotFound("no user has that id")
        async with self._posts.transaction() as tx:
            await self._stories.add_close_friend(
                tx,
                owner_id=caller,
                friend_id=friend,
                added_id=self._ids.next_id(),
                at=self._clock(),
            )

    async def remove_close_friend(self, *, caller: int, user_id: int) -> None:
        """Take an account off the caller's close friends list (idempotent)."""
        friend = check_id(user_id, "user_id")
        async with self._posts.transaction() as tx:
            await self._stories.remove_close_friend(tx, owner_id=caller, friend_id=friend)

    async def list_close_friends(
        self, *, caller: int, page_size: int, page_token: str
    ) -> tuple[list[user_pb2.UserSummary], str]:
        """Return one page of the caller's close friends, most recently added first."""
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        before = _int_cursor(_cursor(page_token, kind="close_friends", scope=caller))
        async with self._posts.transaction() as tx:
            rows = await self._stories.list_close_friends(
                tx, owner_id=caller, before=before, limit=limit + 1
            )
        page = rows[:limit]
        found = await self._directory.summaries([friend for _, friend in page])
        cursor = page[-1][0] if len(rows) > limit else None
        users = [found[friend] for _, friend in page if friend in found]
        return users, _token(cursor, kind="close_friends", scope=caller)
