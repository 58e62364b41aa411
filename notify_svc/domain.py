"""Notification rules: who is notified of what, aggregation, read state, streams and retention."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from mesh import pagination
from mesh.errors import InvalidArgument
from mesh.ids import IdGenerator, id_at
from notify_svc.errors import NotificationNotFound, ShuttingDown, TooManyStreams
from notify_svc.store import NotificationRecord, NotificationWrite, NotifyStore
from shutter.user.v1 import user_pb2

log = logging.getLogger("shutter.notify_svc")

# Actors shown with each notification (the rest are only counted).
ACTORS_SHOWN = 3
# Characters of a comment kept as a notification's text.
TEXT_MAX = 200
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 50
# Notifications a stream reads from the store at a time while catching up.
STREAM_BATCH = 50
# Rows of a deleted account handled per transaction.
DELETION_BATCH = 200
# Rows one pruning transaction deletes at most (of each kind).
PRUNE_BATCH = 1000


class Kind(enum.StrEnum):
    """What a notification tells its recipient (stored as its value)."""

    LIKE = "like"
    COMMENT = "comment"
    COMMENT_REPLY = "comment_reply"
    FOLLOWED = "followed"
    FOLLOW_REQUESTED = "follow_requested"
    FOLLOW_APPROVED = "follow_approved"
    MENTION = "mention"
    REPORT_RESOLVED = "report_resolved"


# What a reporter is told, by the moderator's action.
REPORT_OUTCOMES = {
    "dismiss": "We reviewed the {thing} you reported and found it does not break our guidelines.",
    "remove": "We removed the {thing} you reported. Thank you for telling us.",
    "suspend": "We suspended the account behind the {thing} you reported. Thank you for "
    "telling us.",
}


@dataclass(frozen=True)
class EventKey:
    """Who published an event and its id: what a redelivery repeats."""

    producer: str
    event_id: int


@dataclass(frozen=True)
class Plan:
    """One notification an event asks for, before the suppression rules."""

    recipient_id: int
    actor_id: int
    kind: Kind
    post_id: int = 0
    comment_id: int = 0
    text: str = ""


@dataclass(frozen=True)
class NotificationView:
    """A notification with what its recipient sees of it: actors and the post's thumbnail."""

    record: NotificationRecord
    actors: list[user_pb2.UserSummary]
    post_thumbnail_url: str


@dataclass(frozen=True)
class Page:
    """One page of notifications."""

    notifications: list[NotificationView]
    next_page_token: str


@dataclass(frozen=True)
class StreamOpened:
    """The first item of every stream."""

    heartbeat_seconds: float


@dataclass(frozen=True)
class StreamHeartbeat:
    """Nothing happened for a heartbeat interval."""


@dataclass(frozen=True)
class MessagesBadge:
    """A direct message arrived: the recipient's DM badge (inbox conversations with unread
    messages) now. Direct messages make no notifications; they have this badge of their own."""

    unread_conversations: int


StreamItem = StreamOpened | StreamHeartbeat | NotificationView | MessagesBadge


class Relationships(Protocol):
    """graph_svc's answer to "should this recipient hear from this actor?"."""

    async def suppressed(self, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        """Return the (recipient, actor) pairs where either blocked the other or the recipient
        muted the actor."""
        ...

    def forget(self, user_id: int) -> None:
        """Drop what is kept of an account's ties: a block, unblock, mute or unmute changed them."""
        ...


class Directory(Protocol):
    """user_svc's account summaries."""

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        """Return the accounts that exist among these ids."""
        ...


class PostCatalog(Protocol):
    """post_svc's posts, as thumbnails."""

    async def thumbnails(self, viewer_id: int, post_ids: Sequence[int]) -> dict[int, str]:
        """Return the first media thumbnail URL of each post the viewer may see."""
        ...


class MessageBadges(Protocol):
    """message_svc's DM badge of each account."""

    async def unread_conversations(self, user_ids: Sequence[int]) -> dict[int, int]:
        """Return each account's inbox conversations with unread messages (0s left out)."""
        ...


class Wakeups:
    """Per-account wake-up signals of this process's open streams, with a limit per account.

    A stream re-reads the store when woken (and at every heartbeat), so a signal carries no data:
    it can be lost or repeated without a notification being lost or sent twice. Several replicas
    would forward wake-ups to each other with Redis pub/sub (PUBLISH notify:wake <user id>, one
    SUBSCRIBE per process calling wake); until then a stream on another replica than the consumer
    that made a notification receives it at its next heartbeat.
    """

    def __init__(self, *, max_per_user: int) -> None:
        self._max = max_per_user
        self._events: dict[int, set[asyncio.Event]] = {}
        # The newest DM badge of accounts with open streams: (version, count). Each stream sends
        # the badge once per version it has not sent; kept only while the account listens.
        self._badges: dict[int, tuple[int, int]] = {}
        self._badge_versions = 0
        # Set when the process stops: every stream ends, and no new one opens.
        self.closed = False

    def close(self) -> None:
        """End every open stream (each is woken and sees `closed`) and refuse new ones."""
        self.closed = True
        for events in list(self._events.values()):
            for event in events:
                event.set()

    def open_streams(self, user_id: int) -> int:
        """Return how many streams an account holds open in this process."""
        return len(self._events.get(user_id, ()))

    @contextlib.contextmanager
    def listen(self, user_id: int) -> Iterator[asyncio.Event]:
        """Hold one stream of an account open; TooManyStreams past the limit."""
        if self.closed:
            raise ShuttingDown("the notification service is stopping; reconnect in a moment")
        events = self._events.setdefault(user_id, set())
        if len(events) >= self._max:
            raise TooManyStreams(
                f"at most {self._max} notification streams may be open at once",
                metadata={"max_streams": str(self._max)},
            )
        event = asyncio.Event()
        events.add(event)
        try:
            yield event
        finally:
            events.discard(event)
            if not events:
                self._events.pop(user_id, None)
                self._badges.pop(user_id, None)

    def wake(self, user_ids: Sequence[int]) -> None:
        """Wake every stream of these accounts."""
        for user_id in user_ids:
            for event in self._events.get(user_id, ()):
                event.set()

    def listening(self, user_ids: Sequence[int]) -> list[int]:
        """Return the accounts among these that hold a stream open in this process."""
        return [u for u in dict.fromkeys(user_ids) if u in self._events]

    def post_badge(self, user_id: int, unread_conversations: int) -> None:
        """Give an account's open streams its DM badge, and wake them."""
        if user_id not in self._events:
            return
        self._badge_versions += 1
        self._badges[user_id] = (self._badge_versions, unread_conversations)
        self.wake([user_id])

    def badge(self, user_id: int) -> tuple[int, int]:
        """Return an account's newest badge as (version, count); (0, 0) when none was posted."""
        return self._badges.get(user_id, (0, 0))


def _utcnow() -> datetime:
    return datetime.now(UTC)


def snippet(text: str) -> str:
    """Return the part of a comment a notification keeps."""
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


@dataclass(frozen=True)
class Planned:
    """The notifications one event asks for, before the suppression rules."""

    key: EventKey
    plans: Sequence[Plan]
    at: datetime


def like_plans(*, post_id: int, author_id: int, liker_id: int) -> list[Plan]:
    """A like notifies the post's author (aggregated with the post's recent likes)."""
    return [Plan(author_id, liker_id, Kind.LIKE, post_id=post_id)]


def comment_plans(
    *,
    comment_id: int,
    post_id: int,
    post_author_id: int,
    commenter_id: int,
    parent_comment_author_id: int,
    text: str,
) -> list[Plan]:
    """A comment notifies the post's author, and a reply the replied-to comment's author too
    (the post's author only once when they wrote the comment replied to)."""
    shown = snippet(text)
    plans = []
    if parent_comment_author_id:
        plans.append(
            Plan(
                parent_comment_author_id,
                commenter_id,
                Kind.COMMENT_REPLY,
                post_id=post_id,
                comment_id=comment_id,
                text=shown,
            )
        )
    if post_author_id != parent_comment_author_id:
        plans.append(
            Plan(
                post_author_id,
                commenter_id,
                Kind.COMMENT,
                post_id=post_id,
                comment_id=comment_id,
                text=shown,
            )
        )
    return plans


def followed_plans(*, follower_id: int, followee_id: int) -> list[Plan]:
    """A follow notifies the account followed (replacing that follower's request, if any)."""
    return [Plan(followee_id, follower_id, Kind.FOLLOWED)]


def follow_requested_plans(*, requester_id: int, target_id: int) -> list[Plan]:
    """A request notifies the private account asked."""
    return [Plan(target_id, requester_id, Kind.FOLLOW_REQUESTED)]


def follow_approved_plans(*, requester_id: int, target_id: int, automatic: bool) -> list[Plan]:
    """An approval by the account's owner notifies the requester (an account turning public
    approves its requests without anyone deciding, so nobody is told)."""
    return [] if automatic else [Plan(requester_id, target_id, Kind.FOLLOW_APPROVED)]


def mention_plans(
    *, mentioned_user_id: int, author_id: int, post_id: int, comment_id: int
) -> list[Plan]:
    """A mention in a caption or a comment notifies the account mentioned."""
    return [
        Plan(mentioned_user_id, author_id, Kind.MENTION, post_id=post_id, comment_id=comment_id)
    ]


class Notifications:
    """The rules of notifications."""

    def __init__(
        self,
        store: NotifyStore,
        *,
        relationships: Relationships,
        directory: Directory,
        posts: PostCatalog,
        wakeups: Wakeups,
        ids: IdGenerator,
        like_window: timedelta,
        retention: timedelta,
        processed_retention: timedelta,
        heartbeat_seconds: float,
        badges: MessageBadges | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._badges = badges
        self._relationships = relationships
        self._directory = directory
        self._posts = posts
        self._wakeups = wakeups
        self._ids = ids
        self._like_window = like_window
        self._retention = retention
        self._processed_retention = processed_retention
        self._heartbeat = heartbeat_seconds
        self._clock = clock

    # -- events -----------------------------------------------------------------------------

    async def on_message_sent(self, *, recipient_ids: Sequence[int]) -> None:
        """A direct message reached these accounts' inboxes: no notification (direct messages
        have a badge of their own, as on Instagram), but the badge of those with a stream open
        here is asked of message_svc and pushed on their streams."""
        listening = self._wakeups.listening(recipient_ids)
        if not listening or self._badges is None:
            return
        counts = await self._badges.unread_conversations(listening)
        for user_id in listening:
            self._wakeups.post_badge(user_id, counts.get(user_id, 0))

    async def on_post_liked(
        self, key: EventKey, *, post_id: int, author_id: int, liker_id: int, at: datetime
    ) -> None:
        """Notify a post's author of a like, aggregated with the post's recent likes."""
        plans = like_plans(post_id=post_id, author_id=author_id, liker_id=liker_id)
        await self._notify(key, plans, at=at)

    async def on_post_unliked(
        self, key: EventKey, *, post_id: int, author_id: int, liker_id: int
    ) -> None:
        """Take a like back out of the author's notification, unless the author has seen it."""
        if author_id == liker_id:
            return
        async with self._store.transaction() as session:
            if not await self._store.mark_processed(
                session, producer=key.producer, event_id=key.event_id, at=self._clock()
            ):
                return
            await self._store.lock_recipient(session, recipient_id=author_id)
            await self._store.remove_unseen_actor(
                session, recipient_id=author_id, kind=Kind.LIKE, post_id=post_id, actor_id=liker_id
            )

    async def on_comment_created(
        self,
        key: EventKey,
        *,
        comment_id: int,
        post_id: int,
        post_author_id: int,
        commenter_id: int,
        parent_comment_author_id: int,
        text: str,
        at: datetime,
    ) -> None:
        """Notify the post's author of a comment, and a replied-to comment's author of a reply
        (the post's author only once when they wrote the comment replied to)."""
        plans = comment_plans(
            comment_id=comment_id,
            post_id=post_id,
            post_author_id=post_author_id,
            commenter_id=commenter_id,
            parent_comment_author_id=parent_comment_author_id,
            text=text,
        )
        await self._notify(key, plans, at=at)

    async def on_followed(
        self, key: EventKey, *, follower_id: int, followee_id: int, at: datetime
    ) -> None:
        """Notify an account of a new follower (replacing that follower's request, if any)."""
        await self._notify(
            key, followed_plans(follower_id=follower_id, followee_id=followee_id), at=at
        )

    async def notify_many(self, events: Sequence[Planned]) -> None:
        """Write the notifications of a batch of events, in their order: one relationship
        question and one transaction for all of them (each still recorded as processed on its
        own, so a redelivery of any of them changes nothing)."""
        await self._notify_many([(e.key, e.plans, e.at) for e in events])

    async def on_follow_requested(
        self, key: EventKey, *, requester_id: int, target_id: int, at: datetime
    ) -> None:
        """Notify a private account of a request to follow it."""
        plans = follow_requested_plans(requester_id=requester_id, target_id=target_id)
        await self._notify(key, plans, at=at)

    async def on_follow_approved(
        self, key: EventKey, *, requester_id: int, target_id: int, automatic: bool, at: datetime
    ) -> None:
        """Notify a requester that their request was approved by the account's owner (an account
        turning public approves its requests without anyone deciding, so nobody is told)."""
        plans = follow_approved_plans(
            requester_id=requester_id, target_id=target_id, automatic=automatic
        )
        await self._notify(key, plans, at=at)

    async def on_user_mentioned(
        self,
        key: EventKey,
        *,
        mentioned_user_id: int,
        author_id: int,
        post_id: int,
        comment_id: int,
        at: datetime,
    ) -> None:
        """Notify an account mentioned in a caption or a comment."""
        plans = mention_plans(
            mentioned_user_id=mentioned_user_id,
            author_id=author_id,
            post_id=post_id,
            comment_id=comment_id,
        )
        await self._notify(key, plans, at=at)

    def ties_changed(self, *accounts: int) -> None:
        """Forget what is kept of these accounts' ties (a block, unblock, mute or unmute between
        them), so that the next notification between them asks graph_svc again."""
        for user_id in accounts:
            self._relationships.forget(user_id)

    async def on_blocked(self, *, blocker_id: int, blocked_id: int) -> None:
        """Take each of the two off the other's notifications, read or not (idempotent): a block
        hides each from the other everywhere."""
        async with self._store.transaction() as session:
            for recipient, actor in sorted([(blocker_id, blocked_id), (blocked_id, blocker_id)]):
                await self._store.lock_recipient(session, recipient_id=recipient)
                await self._store.remove_actor_everywhere(
                    session, recipient_id=recipient, actor_id=actor
                )

    def deletion_steps(self) -> list[tuple[str, Callable[[int], Awaitable[object]]]]:
        """Return the steps that remove a deleted account's notifications (see mesh.deletion):
        it leaves every notification it acted in (as a block takes an account off them), then
        its own notifications go."""
        return [("caused", self._remove_actor), ("received", self._delete_received)]

    async def _remove_actor(self, user_id: int) -> None:
        while True:
            async with self._store.transaction() as session:
                recipients = await self._store.recipients_of_actor(
                    session, actor_id=user_id, limit=DELETION_BATCH
                )
            for recipient in recipients:
                async with self._store.transaction() as session:
                    await self._store.lock_recipient(session, recipient_id=recipient)
                    await self._store.remove_actor_everywhere(
                        session, recipient_id=recipient, actor_id=user_id
                    )
            if len(recipients) < DELETION_BATCH:
                return

    async def _delete_received(self, user_id: int) -> None:
        while True:
            async with self._store.transaction() as session:
                gone = await self._store.delete_for_recipient(
                    session, recipient_id=user_id, limit=DELETION_BATCH
                )
            if gone < DELETION_BATCH:
                return

    async def on_report_resolved(
        self, key: EventKey, *, reporter_id: int, target_type: str, outcome: str, at: datetime
    ) -> None:
        """Tell a reporter what a moderator did about their report (no actor: moderators act
        anonymously); once per event."""
        if reporter_id <= 0:
            return
        text = REPORT_OUTCOMES.get(outcome, "").format(thing=target_type or "content")
        if not text:
            log.warning("report outcome %r is not one this service knows", outcome)
            return
        async with self._store.transaction() as session:
            if not await self._store.mark_processed(
                session, producer=key.producer, event_id=key.event_id, at=self._clock()
            ):
                return
            await self._store.lock_recipient(session, recipient_id=reporter_id)
            notification_id = self._ids.next_id()
            await self._store.insert_notification(
                session,
                record=NotificationRecord(
                    notification_id=notification_id,
                    recipient_id=reporter_id,
                    kind=Kind.REPORT_RESOLVED,
                    post_id=0,
                    comment_id=0,
                    text=text,
                    actor_count=0,
                    sequence=notification_id,
                    seen_through=0,
                    created_at=at,
                    updated_at=at,
                ),
            )
        self._wakeups.wake([reporter_id])

    async def on_post_deleted(self, *, post_id: int) -> None:
        """Delete every notification about a deleted post (idempotent)."""
        async with self._store.transaction() as session:
            await self._store.delete_for_post(session, post_id=post_id)

    async def _notify(self, key: EventKey, plans: Sequence[Plan], *, at: datetime) -> None:
        await self._notify_many([(key, plans, at)])

    async def _notify_many(
        self, events: Sequence[tuple[EventKey, Sequence[Plan], datetime]]
    ) -> None:
        """Write the notifications of events, in their order, in one transaction."""
        oldest = self._clock() - self._retention
        planned: list[tuple[EventKey, list[Plan], datetime]] = []
        for key, plans, at in events:
            # A consumer group starting for the first time reads the bus from its oldest event:
            # what happened longer ago than notifications are kept for notifies nobody.
            wanted = [p for p in plans if p.recipient_id > 0 and p.actor_id > 0]
            wanted = [p for p in wanted if p.recipient_id != p.actor_id]  # never about yourself
            if at >= oldest and wanted:
                planned.append((key, wanted, at))
        if not planned:
            return
        hidden = await self._relationships.suppressed(
            list(
                dict.fromkeys(
                    (p.recipient_id, p.actor_id) for _, plans, _ in planned for p in plans
                )
            )
        )
        planned = [
            (key, [p for p in plans if (p.recipient_id, p.actor_id) not in hidden], at)
            for key, plans, at in planned
        ]
        planned = [(key, plans, at) for key, plans, at in planned if plans]
        if not planned:
            return
        woken: list[int] = []
        async with self._store.transaction() as session:
            # Every event recorded and every recipient locked in one step (in id order, so two
            # transactions never wait for each other in a circle); the events not claimed are
            # redeliveries, whose notifications exist already (and an event twice in one batch
            # counts once).
            claimed = await self._store.claim_events(
                session,
                events=[(key.producer, key.event_id) for key, _, _ in planned],
                recipient_ids=sorted({p.recipient_id for _, plans, _ in planned for p in plans}),
                at=self._clock(),
            )
            for key, plans, at in planned:
                if (key.producer, key.event_id) not in claimed:
                    continue
                claimed.discard((key.producer, key.event_id))
                for plan in sorted(plans, key=lambda p: p.recipient_id):
                    if await self._store.write_notification(session, write=self._write(plan, at)):
                        woken.append(plan.recipient_id)
        self._wakeups.wake(woken)

    def _write(self, plan: Plan, at: datetime) -> NotificationWrite:
        """Return the write of one plan: likes aggregate within the window, a follow replaces
        the follower's request (the request is settled)."""
        return NotificationWrite(
            notification_id=self._ids.next_id(),
            recipient_id=plan.recipient_id,
            actor_id=plan.actor_id,
            kind=plan.kind.value,
            post_id=plan.post_id,
            comment_id=plan.comment_id,
            text=plan.text,
            at=at,
            aggregate_since=id_at(at - self._like_window) if plan.kind is Kind.LIKE else None,
            replaces=Kind.FOLLOW_REQUESTED.value if plan.kind is Kind.FOLLOWED else None,
        )

    # -- reading ----------------------------------------------------------------------------

    async def list_notifications(
        self, recipient_id: int, *, page_size: int, page_token: str
    ) -> Page:
        """Return a page of a recipient's notifications, most recently changed first (from the
        replica: a notification made a moment ago may show a moment later)."""
        size = pagination.page_size(page_size, default=DEFAULT_PAGE_SIZE, maximum=MAX_PAGE_SIZE)
        cursor = pagination.decode_token(page_token)
        before: int | None = None
        if cursor is not None:
            value = cursor.get("s")
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise InvalidArgument.field("page_token", "is not a token this service issued")
            before = value
        async with self._store.read_transaction() as session:
            records = await self._store.list_before(
                session, recipient_id=recipient_id, before_sequence=before, limit=size + 1
            )
        more = len(records) > size
        records = records[:size]
        token = pagination.encode_token({"s": records[-1].sequence}) if more else ""
        views = await self.hydrate(recipient_id, records, replica=True)
        return Page(notifications=[v for v in views if _shows_someone(v)], next_page_token=token)

    async def hydrate(
        self, recipient_id: int, records: Sequence[NotificationRecord], *, replica: bool = False
    ) -> list[NotificationView]:
        """Return notifications with their latest actors and their posts' thumbnails: one batch
        call to user_svc and one to post_svc, whatever the number of notifications. Actors are
        read from the replica when asked (records read there), else from the primary."""
        if not records:
            return []
        begin = self._store.read_transaction if replica else self._store.transaction
        async with begin() as session:
            actor_ids = await self._store.recent_actors(
                session,
                notification_ids=[r.notification_id for r in records],
                per_notification=ACTORS_SHOWN,
            )
        everyone = list(dict.fromkeys(a for ids in actor_ids.values() for a in ids))
        post_ids = list(dict.fromkeys(r.post_id for r in records if r.post_id))
        users, thumbnails = await asyncio.gather(
            self._directory.summaries(everyone),
            self._posts.thumbnails(recipient_id, post_ids) if post_ids else _no_thumbnails(),
        )
        return [
            NotificationView(
                record=record,
                actors=[users[a] for a in actor_ids.get(record.notification_id, []) if a in users],
                post_thumbnail_url=thumbnails.get(record.post_id, ""),
            )
            for record in records
        ]

    async def unread_count(self, recipient_id: int) -> int:
        """Return how many of a recipient's notifications are unread (from the primary: the
        recipient's own MarkRead changes it, and the badge shows it at once)."""
        async with self._store.transaction() as session:
            return await self._store.unread_count(session, recipient_id=recipient_id)

    async def mark_read(self, recipient_id: int, *, notification_id: int) -> NotificationView:
        """Mark one of the recipient's notifications read and return it."""
        if notification_id <= 0:
            raise InvalidArgument.field("notification_id", "must be a positive id")
        async with self._store.transaction() as session:
            await self._store.mark_read(
                session, recipient_id=recipient_id, notification_id=notification_id
            )
            record = await self._store.get(
                session, recipient_id=recipient_id, notification_id=notification_id
            )
        if record is None:
            raise NotificationNotFound("no such notification")
        [view] = await self.hydrate(recipient_id, [record])
        return view

    async def mark_all_read(self, recipient_id: int, *, max_sequence: int) -> int:
        """Mark the recipient's notifications read (up to a sequence, 0: all); return how many."""
        if max_sequence < 0:
            raise InvalidArgument.field("max_sequence", "must not be negative")
        async with self._store.transaction() as session:
            return await self._store.mark_all_read(
                session, recipient_id=recipient_id, max_sequence=max_sequence or None
            )

    async def stream(
        self, recipient_id: int, *, after_sequence: int
    ) -> AsyncGenerator[StreamItem, None]:
        """Yield an opening item, then the recipient's notifications as they are made or move to
        the top (after `after_sequence` first, when given), each at its latest state and once per
        change; a heartbeat whenever a heartbeat interval passes with nothing new. It reads the
        primary: a wakeup follows a commit there, which a replica may not have yet."""
        if after_sequence < 0:
            raise InvalidArgument.field("after_sequence", "must not be negative")
        with self._wakeups.listen(recipient_id) as woken:
            # Listening before reading the cursor: a change committed in between still wakes us.
            cursor = after_sequence
            if cursor == 0:
                async with self._store.transaction() as session:
                    top = await self._store.list_before(
                        session, recipient_id=recipient_id, before_sequence=None, limit=1
                    )
                cursor = top[0].sequence if top else 0
            yield StreamOpened(heartbeat_seconds=self._heartbeat)
            badge_sent, _ = self._wakeups.badge(recipient_id)
            if after_sequence:
                # A resume (Last-Event-ID): badges carry no id, so those posted while the client
                # was away are lost with the old stream; the badge now replaces them. Taken after
                # badge_sent, so a newer one posted meanwhile still follows it.
                resumed = await self._badge_now(recipient_id)
                if resumed is not None:
                    yield resumed
            while not self._wakeups.closed:
                woken.clear()  # before reading, so a change during the read is not missed
                sent = False
                version, unread = self._wakeups.badge(recipient_id)
                if version > badge_sent:
                    badge_sent = version
                    yield MessagesBadge(unread_conversations=unread)
                    sent = True
                while True:
                    async with self._store.transaction() as session:
                        batch = await self._store.list_after(
                            session,
                            recipient_id=recipient_id,
                            after_sequence=cursor,
                            limit=STREAM_BATCH,
                        )
                    for view in await self.hydrate(recipient_id, batch):
                        if not _shows_someone(view):
                            continue
                        yield view
                        sent = True
                    if batch:
                        cursor = batch[-1].sequence
                    if len(batch) < STREAM_BATCH:
                        break
                if sent:
                    continue  # look again before sleeping: more may have come meanwhile
                try:
                    async with asyncio.timeout(self._heartbeat):
                        await woken.wait()
                except TimeoutError:
                    yield StreamHeartbeat()

    async def _badge_now(self, recipient_id: int) -> MessagesBadge | None:
        """Return an account's DM badge as message_svc counts it now; None when there is no
        message_svc, or it did not answer (the stream goes on: the next message's badge comes
        as usual, and the client can read GET /api/v1/conversations/unread-count)."""
        if self._badges is None:
            return None
        try:
            counts = await self._badges.unread_conversations([recipient_id])
        except Exception:  # any peer failure: a badge is not worth ending the stream
            log.warning(
                "no DM badge on a resumed stream: message_svc did not answer", exc_info=True
            )
            return None
        return MessagesBadge(unread_conversations=counts.get(recipient_id, 0))

    def end_streams(self) -> None:
        """End every live stream of this process now, and refuse new ones: the service stops."""
        self._wakeups.close()

    # -- retention --------------------------------------------------------------------------

    async def prune(self) -> tuple[int, int]:
        """Delete notifications unchanged for longer than the retention, and forget handled
        events older than theirs; return how many of each."""
        now = self._clock()
        totals = (0, 0)
        # In bounded transactions, so a large backlog never holds one long write lock.
        while True:
            async with self._store.transaction() as session:
                pruned, forgotten = await self._store.prune(
                    session,
                    before_sequence=id_at(now - self._retention),
                    processed_before=now - self._processed_retention,
                    limit=PRUNE_BATCH,
                )
            totals = (totals[0] + pruned, totals[1] + forgotten)
            if pruned < PRUNE_BATCH and forgotten < PRUNE_BATCH:
                return totals

    async def prune_forever(self, interval_seconds: float) -> None:
        """Prune now and then every interval, until cancelled; a failed round is logged."""
        while True:
            try:
                notifications, events = await self.prune()
                if notifications or events:
                    log.info("pruned %d notifications and %d event ids", notifications, events)
            except Exception:
                log.exception("pruning notifications failed; trying again next interval")
            await asyncio.sleep(interval_seconds)


async def _no_thumbnails() -> dict[int, str]:
    return {}


def _shows_someone(view: NotificationView) -> bool:
    """Whether a notification still has an actor to show: one whose every shown actor is gone
    (suspended, deleted) is left out of lists and streams, and comes back when a suspension is
    lifted. Report outcomes have no actor by design."""
    return bool(view.actors) or view.record.kind == Kind.REPORT_RESOLVED
