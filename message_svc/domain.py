"""Direct-message rules: who may talk with whom, conversations and their members, messages,
read markers, requests, and the live stream of new messages.

- Only members read or write a conversation; anyone else is told it does not exist.
- A 1:1 between two accounts is one conversation: creating it again finds it.
- Nobody starts or continues a 1:1 with an account they blocked or that blocked them, and nobody
  puts such an account into a group; a block hides nothing of a group already shared. graph_svc
  decides; when it cannot answer, the write fails (never a guess).
- A conversation started by someone a member does not follow is a request for that member
  until they accept it (or answer in it); senders never learn whether a request was read. Each
  account may start only so many requests per period (a GCRA limit, mesh.ratelimit); finding a
  1:1 that exists, or starting one with a follower, costs nothing.
- Read markers only move forward; unsending removes a message for everyone; a member who left
  sees what was sent until they left, and members added later see what was sent from then on.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from mesh import pagination
from mesh.errors import InvalidArgument
from mesh.export import EXPORT_ROWS_MAX, json_file
from mesh.ids import SEQUENCE_BITS, SHARD_BITS, IdGenerator, id_time
from mesh.ratelimit import Limiter, Rate
from mesh.text import check_client_key, clean
from message_svc import events
from message_svc.blocks import BlockAnswers
from message_svc.errors import (
    CannotMessage,
    ConversationNotFound,
    GroupFull,
    HasLeft,
    MediaNotFound,
    MediaNotReady,
    MessageNotFound,
    NotAGroup,
    NotMessageSender,
    PostNotFound,
    TooManyRequests,
    UserNotFound,
)
from message_svc.live import Delivery, Listener, Wakeups
from message_svc.store import (
    ConversationRecord,
    MemberRecord,
    MessageRecord,
    MessageStore,
    pair_key,
)
from shutter.media.v1 import media_pb2
from shutter.post.v1 import post_pb2
from shutter.user.v1 import user_pb2

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

# Members of a conversation, the creator included.
MAX_MEMBERS = 32
TEXT_MAX = 1000
TITLE_MAX = 100
CLIENT_MESSAGE_ID_MAX = 128
DEFAULT_CONVERSATION_PAGE = 20
MAX_CONVERSATION_PAGE = 50
DEFAULT_MESSAGE_PAGE = 30
MAX_MESSAGE_PAGE = 100
# Unread messages of one conversation are counted up to this ("99+" in clients).
UNREAD_CAP = 100
# Accounts one unread_counts call counts at most.
MAX_COUNTED_USERS = 100
# Conversations and messages a stream reads from the store at a time.
STREAM_BATCH = 100
# How far back (in id time) a live stream looks again on each wake-up: a message whose id was
# made before another's may commit after it (two conversations, two transactions), and must
# still be delivered, once.
STREAM_LOOKBACK_MS = 2000
_LOOKBACK_IDS = STREAM_LOOKBACK_MS << (SHARD_BITS + SEQUENCE_BITS)


@dataclass(frozen=True)
class Relationship:
    """How a viewer and one other account are connected, from the viewer's side."""

    following: bool = False
    followed_by: bool = False
    blocking: bool = False
    blocked_by: bool = False

    @property
    def blocked(self) -> bool:
        """Whether either of the two blocked the other."""
        return self.blocking or self.blocked_by


class Relationships(Protocol):
    """graph_svc's follows and blocks."""

    async def relationships(
        self, viewer_id: int, user_ids: Sequence[int]
    ) -> dict[int, Relationship]:
        """Return how the viewer and each account are connected, from the viewer's side."""
        ...


class Directory(Protocol):
    """user_svc's account summaries."""

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        """Return the accounts that exist among these ids."""
        ...


class MediaLibrary(Protocol):
    """media_svc's photos and videos."""

    async def media(self, media_ids: Sequence[int]) -> dict[int, media_pb2.Media]:
        """Return the media that exist among these ids, in any state."""
        ...


class PostCatalog(Protocol):
    """post_svc's posts, through its privacy rule."""

    async def visible_posts(
        self, viewer_id: int, post_ids: Sequence[int]
    ) -> dict[int, post_pb2.Post]:
        """Return the posts among these ids that exist and the viewer may see."""
        ...


@dataclass(frozen=True)
class MessageView:
    """A message as one reader sees it: its media and its shared post at read time."""

    record: MessageRecord
    media: media_pb2.Media | None
    # The post as the reader may see it; None when unavailable (or no post was shared).
    shared_post: post_pb2.Post | None


@dataclass(frozen=True)
class ParticipantView:
    """A member of a conversation as the viewer sees them."""

    record: MemberRecord
    # None when the account no longer exists: shown as "deleted account".
    user: user_pb2.UserSummary | None
    # The member's read marker as the viewer may know it (0 for a pending request's recipient).
    last_read_message_id: int


@dataclass(frozen=True)
class ConversationView:
    """A conversation as one of its members sees it."""

    conversation: ConversationRecord
    me: MemberRecord
    participants: list[ParticipantView]
    last_message: MessageView | None
    unread_count: int

    @property
    def updated_at(self) -> datetime:
        """When something last happened in it for the viewer."""
        return id_time(self.me.activity_id)


@dataclass(frozen=True)
class ConversationPage:
    """One page of the inbox or of the requests."""

    conversations: list[ConversationView]
    next_page_token: str


@dataclass(frozen=True)
class MessagePage:
    """One page of a conversation's messages."""

    messages: list[MessageView]
    next_page_token: str


@dataclass(frozen=True)
class StreamOpened:
    """The first item of every stream."""

    heartbeat_seconds: float


@dataclass(frozen=True)
class StreamHeartbeat:
    """Nothing happened for a heartbeat interval."""


@dataclass(frozen=True)
class StreamUnsent:
    """A message the reader could see was unsent."""

    event_id: int
    conversation_id: int
    message_id: int


StreamItem = StreamOpened | StreamHeartbeat | MessageView | StreamUnsent


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _positive_ids(field: str, values: Sequence[int]) -> list[int]:
    if any(v <= 0 for v in values):
        raise InvalidArgument.field(field, "must hold positive ids")
    return list(dict.fromkeys(values))


def _cursor_int(token: str, key: str) -> int | None:
    cursor = pagination.decode_token(token)
    if cursor is None:
        return None
    value = cursor.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidArgument.field("page_token", "is not a token this service issued")
    return value


class Messenger:
    """The rules of direct messages."""

    async def export(self, *, user_id: int) -> dict[str, bytes]:
        """Return the account's part of its data export: the messages it sent (what others
        sent it is theirs)."""
        async with self._store.transaction() as tx:
            sent = await self._store.messages_sent_by(tx, sender_id=user_id, limit=EXPORT_ROWS_MAX)
        return {
            "messages.json": json_file(
                [
                    {
                        "conversationId": str(m.conversation_id),
                        "messageId": str(m.message_id),
                        "text": m.text,
                        "mediaId": str(m.media_id or ""),
                        "sharedPostId": str(m.shared_post_id or ""),
                        "createdAt": m.created_at,
                    }
                    for m in sent
                ]
            )
        }

    def __init__(
        self,
        store: MessageStore,
        *,
        relationships: Relationships,
        directory: Directory,
        media: MediaLibrary,
        posts: PostCatalog,
        wakeups: Wakeups,
        ids: IdGenerator,
        heartbeat_seconds: float,
        blocks: BlockAnswers | None = None,
        request_limit: tuple[Limiter, Rate] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._relationships = relationships
        # The block answer of a send into a 1:1, cached per pair and forgotten on graph events.
        self.blocks = blocks or BlockAnswers(relationships, ttl_seconds=300, max_entries=100_000)
        self._directory = directory
        self._media = media
        self._posts = posts
        self._wakeups = wakeups
        # The limiter and rate of message requests per account; None: unlimited.
        self._request_limit = request_limit
        self._ids = ids
        self._heartbeat = heartbeat_seconds
        self._clock = clock

    # -- conversations ----------------------------------------------------------------------

    async def create_conversation(
        self, caller: int, *, participant_ids: Sequence[int], title: str
    ) -> ConversationView:
        """Create a conversation between the caller and 1 to 31 others (a group when more than
        one); a 1:1 that exists already is returned as it is."""
        others = _positive_ids("participant_ids", participant_ids)
        if caller in others:
            raise InvalidArgument.field(
                "participant_ids", "must not include the caller", reason="CANNOT_TARGET_SELF"
            )
        if not others:
            raise InvalidArgument.field("participant_ids", "must name at least one account")
        if len(others) > MAX_MEMBERS - 1:
            raise InvalidArgument.field(
                "participant_ids", f"may name at most {MAX_MEMBERS - 1} accounts"
            )
        is_group = len(others) > 1
        title = clean("title", title, limit=TITLE_MAX, required=False)
        if title and not is_group:
            raise InvalidArgument.field("title", "only a group has a title")
        accepted = await self._allowed_recipients(caller, others)
        key = None if is_group else pair_key(caller, others[0])
        existing: int | None = None
        conversation_id = 0
        async with self._store.transaction() as session:
            if key is not None:
                await self._store.lock_pair(session, pair_key=key)
                existing = await self._store.find_pair(session, pair_key=key)
            if existing is None:
                if not all(accepted.values()):
                    await self._count_request(caller)
                conversation_id = self._ids.next_id()
                await self._insert_conversation(
                    session,
                    caller,
                    conversation_id=conversation_id,
                    others=others,
                    accepted=accepted,
                    is_group=is_group,
                    title=title,
                    pair=key,
                )
        return await self._reload(caller, existing or conversation_id)

    async def _insert_conversation(
        self,
        session: AsyncSession,
        caller: int,
        *,
        conversation_id: int,
        others: Sequence[int],
        accepted: dict[int, bool],
        is_group: bool,
        title: str,
        pair: str | None,
    ) -> None:
        """Write a new conversation, its members and its ConversationCreated event."""
        record = ConversationRecord(
            conversation_id=conversation_id,
            is_group=is_group,
            title=title,
            creator_id=caller,
            last_message_id=0,
            created_at=self._clock(),
        )
        await self._store.insert_conversation(session, record=record, pair_key=pair)
        for user_id in [caller, *others]:
            await self._store.put_member(
                session,
                record=MemberRecord(
                    conversation_id=conversation_id,
                    user_id=user_id,
                    accepted=user_id == caller or accepted[user_id],
                    visible_after=0,
                    left_at=0,
                    last_read_id=0,
                    last_incoming_id=0,
                    activity_id=conversation_id,
                    # A 1:1 reaches the other's lists with its first message; a group at once.
                    hidden=user_id != caller and not is_group,
                ),
            )
        await self._store.outbox.add(
            session,
            aggregate_id=conversation_id,
            event=events.conversation_created(
                conversation_id=conversation_id,
                creator_id=caller,
                participant_ids=[caller, *others],
                is_group=is_group,
            ),
        )

    async def _count_request(self, caller: int) -> None:
        """Take one message request from the caller's limit; TooManyRequests when none is left."""
        if self._request_limit is None:
            return
        limiter, rate = self._request_limit
        decision = await limiter.hit(f"message-requests:{caller}", rate)
        if not decision.allowed:
            seconds = max(1, math.ceil(decision.retry_after))
            raise TooManyRequests(
                f"you started {rate.limit} conversations with people who do not follow you "
                f"recently; try again in {seconds} s",
                metadata={"retry_after_seconds": str(seconds), "limit": str(rate.limit)},
            )

    async def _allowed_recipients(self, caller: int, others: Sequence[int]) -> dict[int, bool]:
        """Check that every account exists and that no block stands between it and the caller;
        return, for each, whether it follows the caller (else the conversation is a request)."""
        found, relations = await asyncio.gather(
            self._directory.summaries(others), self._relationships.relationships(caller, others)
        )
        missing = [u for u in others if u not in found]
        if missing:
            raise UserNotFound("no such account", metadata={"user_id": str(missing[0])})
        if any(relations.get(u, Relationship()).blocked for u in others):
            raise CannotMessage("you cannot message this account")
        return {u: relations.get(u, Relationship()).followed_by for u in others}

    async def _member(
        self, session: AsyncSession, caller: int, conversation_id: int
    ) -> tuple[ConversationRecord, MemberRecord]:
        if conversation_id <= 0:
            raise InvalidArgument.field("conversation_id", "must be a positive id")
        me = await self._store.get_member(session, conversation_id=conversation_id, user_id=caller)
        conversation = (
            None
            if me is None
            else await self._store.get_conversation(session, conversation_id=conversation_id)
        )
        if me is None or conversation is None:
            raise ConversationNotFound("no such conversation")
        return conversation, me

    async def _membership(
        self, session: AsyncSession, caller: int, conversation_id: int, *, lock: bool = False
    ) -> tuple[ConversationRecord, MemberRecord, list[MemberRecord]]:
        """Return a conversation, the caller's row and every member's row (two queries); with
        `lock`, hold the conversation until the transaction ends."""
        if conversation_id <= 0:
            raise InvalidArgument.field("conversation_id", "must be a positive id")
        conversation = await self._store.get_conversation(
            session, conversation_id=conversation_id, lock=lock
        )
        members = (
            []
            if conversation is None
            else (await self._store.members_of(session, conversation_ids=[conversation_id])).get(
                conversation_id, []
            )
        )
        me = next((m for m in members if m.user_id == caller), None)
        if conversation is None or me is None:
            raise ConversationNotFound("no such conversation")
        return conversation, me, members

    async def get_conversation(self, caller: int, *, conversation_id: int) -> ConversationView:
        """Return one of the caller's conversations."""
        async with self._store.primary_read_transaction() as session:
            _, me = await self._member(session, caller, conversation_id)
        return await self._view(caller, me)

    async def list_conversations(
        self, caller: int, *, requests: bool, page_size: int, page_token: str
    ) -> ConversationPage:
        """Return a page of the caller's inbox (or requests), most recent activity first."""
        size = pagination.page_size(
            page_size, default=DEFAULT_CONVERSATION_PAGE, maximum=MAX_CONVERSATION_PAGE
        )
        cursor = pagination.decode_token(page_token)
        before: tuple[int, int] | None = None
        if cursor is not None:
            activity, conversation = cursor.get("a"), cursor.get("c")
            if not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0
                for v in (activity, conversation)
            ):
                raise InvalidArgument.field("page_token", "is not a token this service issued")
            assert isinstance(activity, int) and isinstance(conversation, int)
            before = (activity, conversation)
        async with self._store.read_transaction() as session:
            rows = await self._store.list_member_rows(
                session, user_id=caller, accepted=not requests, before=before, limit=size + 1
            )
            more = len(rows) > size
        rows = rows[:size]
        views = await self._views(caller, rows, replica=True)
        token = (
            pagination.encode_token({"a": rows[-1].activity_id, "c": rows[-1].conversation_id})
            if more
            else ""
        )
        return ConversationPage(conversations=views, next_page_token=token)

    async def accept(self, caller: int, *, conversation_id: int) -> ConversationView:
        """Accept a message request (idempotent)."""
        async with self._store.transaction() as session:
            await self._member(session, caller, conversation_id)
            await self._store.accept(session, conversation_id=conversation_id, user_id=caller)
        return await self._reload(caller, conversation_id)

    async def delete_conversation(self, caller: int, *, conversation_id: int) -> None:
        """Take a conversation off the caller's lists, with what was sent so far (idempotent)."""
        async with self._store.transaction() as session:
            await self._store.lock_conversation(session, conversation_id=conversation_id)
            conversation, me = await self._member(session, caller, conversation_id)
            through = max(conversation.last_message_id, me.visible_after)
            if me.left_at:
                through = min(through, me.left_at)
            await self._store.hide(
                session, conversation_id=conversation_id, user_id=caller, through_id=through
            )

    async def add_participants(
        self, caller: int, *, conversation_id: int, user_ids: Sequence[int]
    ) -> ConversationView:
        """Add accounts to a group; they see what is sent from now on."""
        wanted = _positive_ids("user_ids", user_ids)
        if not wanted:
            raise InvalidArgument.field("user_ids", "must name at least one account")
        if len(wanted) > MAX_MEMBERS - 1:
            raise InvalidArgument.field("user_ids", f"may name at most {MAX_MEMBERS - 1} accounts")
        async with self._store.primary_read_transaction() as session:
            conversation, me = await self._member(session, caller, conversation_id)
            members = (
                await self._store.members_of(session, conversation_ids=[conversation_id])
            ).get(conversation_id, [])
        if not me.present:
            raise HasLeft("you left this conversation")
        if not conversation.is_group:
            raise NotAGroup("only a group takes new members")
        present = {m.user_id for m in members if m.present}
        new = [u for u in wanted if u not in present]
        if not new:
            return await self._view(caller, me)
        accepted = await self._allowed_recipients(caller, new)
        async with self._store.transaction() as session:
            await self._store.lock_conversation(session, conversation_id=conversation_id)
            conversation, me = await self._member(session, caller, conversation_id)
            if not me.present:
                raise HasLeft("you left this conversation")
            members = (
                await self._store.members_of(session, conversation_ids=[conversation_id])
            ).get(conversation_id, [])
            present = {m.user_id for m in members if m.present}
            new = [u for u in new if u not in present]
            if len(present) + len(new) > MAX_MEMBERS:
                raise GroupFull(
                    f"a group holds at most {MAX_MEMBERS} members",
                    metadata={"max_members": str(MAX_MEMBERS)},
                )
            joined = self._ids.next_id()
            for user_id in new:
                await self._store.put_member(
                    session,
                    record=MemberRecord(
                        conversation_id=conversation_id,
                        user_id=user_id,
                        accepted=accepted[user_id],
                        visible_after=joined,
                        left_at=0,
                        last_read_id=joined,
                        last_incoming_id=0,
                        activity_id=joined,
                        hidden=False,
                    ),
                )
        return await self._reload(caller, conversation_id)

    async def leave(self, caller: int, *, conversation_id: int) -> ConversationView:
        """Leave a group: the caller sees nothing sent after (idempotent)."""
        async with self._store.transaction() as session:
            await self._store.lock_conversation(session, conversation_id=conversation_id)
            conversation, me = await self._member(session, caller, conversation_id)
            if not conversation.is_group:
                raise NotAGroup("only a group can be left")
            # Made under the conversation's lock: every message committed so far has a smaller
            # id, every later one a larger.
            await self._store.leave(
                session, conversation_id=conversation_id, user_id=caller, at_id=self._ids.next_id()
            )
        return await self._reload(caller, conversation_id)

    # -- messages ---------------------------------------------------------------------------

    async def send(
        self,
        caller: int,
        *,
        conversation_id: int,
        client_message_id: str,
        text: str,
        media_id: int,
        shared_post_id: int,
    ) -> MessageView:
        """Send a message; a retry with the same client_message_id returns the first one."""
        key = check_client_key("client_message_id", client_message_id, limit=CLIENT_MESSAGE_ID_MAX)
        if key is None:
            raise InvalidArgument.field("client_message_id", "is required")
        if media_id < 0 or shared_post_id < 0:
            field = "media_id" if media_id < 0 else "shared_post_id"
            raise InvalidArgument.field(field, "must be a positive id")
        given = sum(1 for present in (text, media_id, shared_post_id) if present)
        if given != 1:
            raise InvalidArgument.field(
                "text", "exactly one of text, media_id and shared_post_id is required"
            )
        if text:
            text = clean("text", text, limit=TEXT_MAX, required=True)
        if media_id or shared_post_id:
            # A retry is answered as the first attempt was, even if its post is gone since.
            async with self._store.primary_read_transaction() as session:
                await self._membership(session, caller, conversation_id)
                existing = await self._store.find_by_client_id(
                    session,
                    conversation_id=conversation_id,
                    sender_id=caller,
                    client_message_id=key,
                )
            if existing is not None:
                return await self._answer_retry(caller, existing)
            await self._check_content(caller, media_id=media_id, shared_post_id=shared_post_id)
        # One transaction in the usual case: the block answer of a 1:1 comes from the cache. On
        # a miss the transaction ends without writing, graph_svc is asked outside it (never
        # while holding the conversation's lock), and the send starts again with that answer.
        asked: bool | None = None
        other = 0
        record: MessageRecord | None = None
        while True:
            async with self._store.transaction() as session:
                conversation, me, members = await self._membership(
                    session, caller, conversation_id, lock=True
                )
                blocked: bool | None = False
                if not conversation.is_group:
                    [other] = [m.user_id for m in members if m.user_id != caller]
                    blocked = self.blocks.cached(caller, other)
                    if blocked is None:
                        blocked = asked
                if me.present and blocked is False:
                    # The usual case: the insert finds a retry itself (the unique index).
                    record = self._new_message(
                        caller, conversation_id, key, text, media_id, shared_post_id
                    )
                    if await self._write_message(session, conversation.is_group, record, members):
                        break
                    record = None
                # A retry is answered as the first attempt was, even after leaving or a block.
                existing = await self._store.find_by_client_id(
                    session,
                    conversation_id=conversation_id,
                    sender_id=caller,
                    client_message_id=key,
                )
                if existing is not None:
                    break
                if not me.present:
                    raise HasLeft("you left this conversation")
                if blocked:
                    raise CannotMessage("you cannot message this account")
            asked = await self.blocks.blocked(caller, other)
        if record is None:
            assert existing is not None
            return await self._answer_retry(caller, existing)
        # Each member's row as the lock found it says what came before: their streams need
        # not read the store to send this message (live.Wakeups.deliver).
        self._wakeups.deliver(
            (m.user_id, Delivery(record, m.stream_id, m.visible_after))
            for m in members
            if m.present
        )
        [view] = await self.hydrate(caller, [record])
        return view

    def _new_message(
        self,
        caller: int,
        conversation_id: int,
        key: str,
        text: str,
        media_id: int,
        shared_post_id: int,
    ) -> MessageRecord:
        return MessageRecord(
            conversation_id=conversation_id,
            message_id=self._ids.next_id(),
            sender_id=caller,
            client_message_id=key,
            text=text,
            media_id=media_id,
            shared_post_id=shared_post_id,
            unsent=False,
            created_at=self._clock(),
        )

    async def _write_message(
        self,
        session: AsyncSession,
        is_group: bool,
        record: MessageRecord,
        members: Sequence[MemberRecord],
    ) -> bool:
        """Write a new message, the members' rows it changes and its MessageSent event; False,
        and nothing written, when its client_message_id was used before (a retry)."""
        recipients = [m for m in members if m.present and m.user_id != record.sender_id]
        event = self._store.outbox.row(
            session,
            aggregate_id=record.conversation_id,
            event=events.message_sent(
                conversation_id=record.conversation_id,
                message_id=record.message_id,
                sender_id=record.sender_id,
                recipient_ids=[m.user_id for m in recipients],
                request_recipient_ids=[m.user_id for m in recipients if not m.accepted],
                is_group=is_group,
                sent_at=record.created_at,
            ),
        )
        # The event is written with the message, or not at all (a retry).
        return await self._store.insert_message(session, record=record, event=event)

    async def _answer_retry(self, caller: int, record: MessageRecord) -> MessageView:
        if record.unsent:
            raise MessageNotFound("that message was unsent")
        [view] = await self.hydrate(caller, [record])
        return view

    async def _check_content(self, caller: int, *, media_id: int, shared_post_id: int) -> None:
        if media_id:
            found = (await self._media.media([media_id])).get(media_id)
            if found is None or found.owner_user_id != caller:
                raise MediaNotFound("no such media of yours")
            if found.status != media_pb2.MEDIA_STATUS_READY:
                raise MediaNotReady(
                    "media_id: the media is not ready yet",
                    metadata={"status": media_pb2.MediaStatus.Name(found.status)},
                )
        if shared_post_id:
            posts = await self._posts.visible_posts(caller, [shared_post_id])
            if shared_post_id not in posts:
                raise PostNotFound("no such post")

    async def list_messages(
        self, caller: int, *, conversation_id: int, page_size: int, page_token: str
    ) -> MessagePage:
        """Return a page of a conversation's messages the caller may see, newest first."""
        size = pagination.page_size(
            page_size, default=DEFAULT_MESSAGE_PAGE, maximum=MAX_MESSAGE_PAGE
        )
        before = _cursor_int(page_token, "b")
        async with self._store.read_transaction() as session:
            _, me = await self._member(session, caller, conversation_id)
            if me.left_at:
                before = me.left_at + 1 if before is None else min(before, me.left_at + 1)
            records = await self._store.list_messages(
                session,
                conversation_id=conversation_id,
                after_id=me.visible_after,
                before_id=before,
                limit=size + 1,
                newest_first=True,
            )
            hidden = await self._store.hidden_among(
                session, viewer_id=caller, message_ids=[r.message_id for r in records]
            )
        more = len(records) > size
        records = records[:size]
        token = pagination.encode_token({"b": records[-1].message_id}) if more else ""
        # Messages the caller reported are left out (the page may then hold fewer).
        shown = [r for r in records if r.message_id not in hidden]
        return MessagePage(messages=await self.hydrate(caller, shown), next_page_token=token)

    # -- reports (internal: user_svc) --------------------------------------------------------

    async def _reported(self, session: AsyncSession, viewer: int, message_id: int) -> MessageRecord:
        """Return a live message; with a viewer, one that viewer can see (MessageNotFound
        otherwise, alike for every reason)."""
        if message_id <= 0:
            raise InvalidArgument.field("message_id", "must be a positive id")
        record = await self._store.find_message(session, message_id=message_id)
        if record is None or record.unsent:
            raise MessageNotFound("no such message")
        if viewer:
            me = await self._store.get_member(
                session, conversation_id=record.conversation_id, user_id=viewer
            )
            if me is None or not me.sees(message_id):
                raise MessageNotFound("no such message")
        return record

    async def reported_sender(self, *, viewer: int, message_id: int) -> int:
        """Return the sender of a message the viewer can see."""
        async with self._store.transaction() as session:
            return (await self._reported(session, viewer, message_id)).sender_id

    async def hide_reported(self, *, viewer: int, message_id: int) -> None:
        """Hide a message the viewer reported from them for good (idempotent)."""
        if viewer <= 0:
            raise InvalidArgument.field("viewer_id", "must be a positive id")
        async with self._store.transaction() as session:
            record = await self._reported(session, viewer, message_id)
            await self._store.hide_message(
                session,
                viewer_id=viewer,
                conversation_id=record.conversation_id,
                message_id=message_id,
            )

    async def remove_reported(self, *, message_id: int) -> None:
        """Unsend a message for a moderator, as its sender would (idempotent)."""
        if message_id <= 0:
            raise InvalidArgument.field("message_id", "must be a positive id")
        async with self._store.transaction() as session:
            record = await self._store.find_message(session, message_id=message_id)
            if record is None or record.unsent:
                return
            await self._store.lock_conversation(session, conversation_id=record.conversation_id)
            # Made under the conversation's lock, as in unsend: its stream events stay in order.
            unsent = await self._store.unsend(
                session,
                conversation_id=record.conversation_id,
                message_id=message_id,
                event_id=self._ids.next_id(),
            )
            members = (
                await self._store.members_of(session, conversation_ids=[record.conversation_id])
            ).get(record.conversation_id, [])
        if unsent:
            self._wakeups.wake(m.user_id for m in members if m.sees(message_id))

    async def unsend(self, caller: int, *, conversation_id: int, message_id: int) -> None:
        """Unsend one of the caller's messages: gone for everyone, and off the open streams of
        everyone who could see it (idempotent)."""
        if message_id <= 0:
            raise InvalidArgument.field("message_id", "must be a positive id")
        async with self._store.transaction() as session:
            await self._store.lock_conversation(session, conversation_id=conversation_id)
            _, me = await self._member(session, caller, conversation_id)
            record = await self._store.get_message(
                session, conversation_id=conversation_id, message_id=message_id
            )
            if record is None or not me.sees(message_id):
                raise MessageNotFound("no such message")
            if record.sender_id != caller:
                raise NotMessageSender("only its sender can unsend a message")
            # Made under the conversation's lock, as message ids are: its events stay in order.
            unsent = await self._store.unsend(
                session,
                conversation_id=conversation_id,
                message_id=message_id,
                event_id=self._ids.next_id(),
            )
            members = (
                await self._store.members_of(session, conversation_ids=[conversation_id])
            ).get(conversation_id, [])
        if unsent:
            self._wakeups.wake(m.user_id for m in members if m.sees(message_id))

    async def mark_read(
        self, caller: int, *, conversation_id: int, message_id: int
    ) -> ConversationView:
        """Move the caller's read marker forward to a message they may see."""
        if message_id <= 0:
            raise InvalidArgument.field("message_id", "must be a positive id")
        async with self._store.transaction() as session:
            _, me = await self._member(session, caller, conversation_id)
            record = await self._store.get_message(
                session, conversation_id=conversation_id, message_id=message_id
            )
            if record is None or not me.sees(message_id):
                raise MessageNotFound("no such message")
            await self._store.mark_read(
                session, conversation_id=conversation_id, user_id=caller, message_id=message_id
            )
        return await self._reload(caller, conversation_id)

    async def unread_count(self, caller: int) -> int:
        """Count the caller's inbox conversations with unread messages (from the primary: the
        caller's own reads change it, and the badge shows it at once)."""
        async with self._store.primary_read_transaction() as session:
            return await self._store.unread_conversations(session, user_id=caller)

    async def unread_counts(self, user_ids: Sequence[int]) -> dict[int, int]:
        """Return each account's unread_count (left out when 0), in one query on the primary."""
        wanted = _positive_ids("user_ids", user_ids)
        if not wanted or len(wanted) > MAX_COUNTED_USERS:
            raise InvalidArgument.field("user_ids", f"give 1 to {MAX_COUNTED_USERS} ids")
        async with self._store.primary_read_transaction() as session:
            return await self._store.unread_conversations_of(session, user_ids=wanted)

    # -- hydration --------------------------------------------------------------------------

    async def hydrate(self, reader: int, records: Sequence[MessageRecord]) -> list[MessageView]:
        """Return messages as a reader sees them: one batch call to media_svc and one to
        post_svc (its privacy rule decides, at read time, which shared posts the reader sees)."""
        media_ids = list(dict.fromkeys(r.media_id for r in records if r.media_id))
        post_ids = list(dict.fromkeys(r.shared_post_id for r in records if r.shared_post_id))
        media, posts = await asyncio.gather(
            self._media.media(media_ids) if media_ids else _nothing_media(),
            self._posts.visible_posts(reader, post_ids) if post_ids else _nothing_posts(),
        )
        return [
            MessageView(
                record=r,
                media=media.get(r.media_id) if r.media_id else None,
                shared_post=posts.get(r.shared_post_id) if r.shared_post_id else None,
            )
            for r in records
        ]

    async def _reload(self, viewer: int, conversation_id: int) -> ConversationView:
        async with self._store.primary_read_transaction() as session:
            me = await self._store.get_member(
                session, conversation_id=conversation_id, user_id=viewer
            )
        if me is None:
            raise ConversationNotFound("no such conversation")
        return await self._view(viewer, me)

    async def _view(self, viewer: int, me: MemberRecord) -> ConversationView:
        [view] = await self._views(viewer, [me])
        return view

    async def _views(
        self, viewer: int, rows: Sequence[MemberRecord], *, replica: bool = False
    ) -> list[ConversationView]:
        """Return conversations as the viewer sees them: a few queries (on the replica when
        asked, else the primary), then, outside any transaction, one batch call to user_svc and
        one each to media_svc and post_svc for the last messages."""
        if not rows:
            return []
        ids = [r.conversation_id for r in rows]
        begin = self._store.read_transaction if replica else self._store.primary_read_transaction
        async with begin() as session:
            conversations = await self._store.get_conversations(session, conversation_ids=ids)
            members = await self._store.members_of(session, conversation_ids=ids)
            last_ids: dict[int, int] = {}
            for me in rows:
                conversation = conversations[me.conversation_id]
                if me.present and me.sees(conversation.last_message_id):
                    last_ids[me.conversation_id] = conversation.last_message_id
                elif not me.present:
                    newest = await self._store.list_messages(
                        session,
                        conversation_id=me.conversation_id,
                        after_id=me.visible_after,
                        before_id=me.left_at + 1,
                        limit=1,
                        newest_first=True,
                    )
                    if newest:
                        last_ids[me.conversation_id] = newest[0].message_id
            last = await self._store.get_messages(session, keys=list(last_ids.items()))
            # A last message the viewer reported is no preview of theirs.
            hidden = await self._store.hidden_among(
                session, viewer_id=viewer, message_ids=[k[1] for k in last]
            )
            last = {k: v for k, v in last.items() if k[1] not in hidden}
            unread = await self._store.unread_messages(
                session,
                user_id=viewer,
                conversation_ids=[
                    r.conversation_id for r in rows if r.last_incoming_id > r.last_read_id
                ],
                cap=UNREAD_CAP,
            )
        everyone = list(dict.fromkeys(m.user_id for ms in members.values() for m in ms))
        summaries, hydrated = await asyncio.gather(
            self._directory.summaries(everyone), self.hydrate(viewer, list(last.values()))
        )
        by_key = {(v.record.conversation_id, v.record.message_id): v for v in hydrated}
        views = []
        for me in rows:
            cid = me.conversation_id
            views.append(
                ConversationView(
                    conversation=conversations[cid],
                    me=me,
                    participants=[
                        ParticipantView(
                            record=m,
                            user=summaries.get(m.user_id),
                            last_read_message_id=m.last_read_id
                            if m.accepted or m.user_id == viewer
                            else 0,
                        )
                        for m in members.get(cid, [])
                    ],
                    last_message=by_key.get((cid, last_ids.get(cid, 0))),
                    unread_count=unread.get(cid, 0),
                )
            )
        return views

    # -- live -------------------------------------------------------------------------------

    async def stream(
        self, caller: int, *, after_message_id: int
    ) -> AsyncGenerator[StreamItem, None]:
        """Yield an opening item, then every new message of the caller's conversations and every
        unsending of one they could see (after the event id `after_message_id` first, when
        given), oldest first and each once, and a heartbeat whenever a heartbeat interval passes
        with nothing new. It reads the primary (a wake-up follows a commit there) unless the
        process that took a send handed its message over with proof that nothing came between."""
        if after_message_id < 0:
            raise InvalidArgument.field("after_message_id", "must not be negative")
        with self._wakeups.listen(caller) as woken:
            # Listening before choosing the floor: a message committed in between still wakes us.
            floor = after_message_id or self._ids.next_id()
            cursor = floor
            # The newest event sent of each conversation: the events of one conversation commit
            # in id order (its lock), so none of them is read twice or skipped.
            sent: dict[int, int] = {}
            yield StreamOpened(heartbeat_seconds=self._heartbeat)
            while True:
                woken.event.clear()  # before reading, so a send during the read is not missed
                low = max(floor, cursor - _LOOKBACK_IDS)
                handed = self._handed_over(woken, low=low, sent=sent)
                fresh: list[MessageView | StreamUnsent] = []
                full = False
                if handed is None:
                    # A read covers every message handed over so far: each committed before.
                    woken.reread = False
                    woken.take()
                    fresh = await self._new_events(caller, after_id=low, sent=sent)
                    full = len(fresh) >= STREAM_BATCH
                elif handed:
                    fresh.extend(await self.hydrate(caller, handed))
                for item in fresh:
                    conversation, event = (
                        (item.conversation_id, item.event_id)
                        if isinstance(item, StreamUnsent)
                        else (item.record.conversation_id, item.record.message_id)
                    )
                    sent[conversation] = event
                    cursor = max(cursor, event)
                    yield item
                low = max(floor, cursor - _LOOKBACK_IDS)
                sent = {c: m for c, m in sent.items() if m > low}
                if full:
                    woken.reread = True  # a full batch: more is waiting
                    continue
                # Otherwise sleep: whatever committed after this read began has woken us.
                try:
                    async with asyncio.timeout(self._heartbeat):
                        await woken.event.wait()
                except TimeoutError:
                    woken.reread = True  # another replica's sends reach us this way
                    yield StreamHeartbeat()

    @staticmethod
    def _handed_over(
        woken: Listener, *, low: int, sent: dict[int, int]
    ) -> list[MessageRecord] | None:
        """Return the messages handed to a stream that it has not sent, in order; None when the
        stream must read the store instead: it was told to, or a message handed over follows an
        event of its conversation that the stream has not sent (a gap only a read fills)."""
        if woken.reread:
            return None
        positions: dict[int, int] = {}
        records = []
        for delivery in woken.pending:
            record = delivery.record
            conversation = record.conversation_id
            # As _new_events reads: after the newest event sent there, else after `low`.
            position = positions.get(conversation) or max(
                sent.get(conversation, low), delivery.visible_after
            )
            if record.message_id <= position:
                continue  # sent already, or before this stream's floor
            if delivery.previous_event_id > position:
                return None
            positions[conversation] = record.message_id
            records.append(record)
        woken.take()
        return records

    async def _new_events(
        self, caller: int, *, after_id: int, sent: dict[int, int]
    ) -> list[MessageView | StreamUnsent]:
        """Return the oldest STREAM_BATCH events (messages, unsendings) not sent yet of the
        caller's conversations with events above an id: index ranges of the caller's rows,
        then, in each such conversation, of the events after the last one sent (else after the
        id).

        Sends into different conversations may commit out of id order, so the rows are looked
        up STREAM_LOOKBACK_MS behind the newest message sent. Each conversation gives its oldest
        messages not sent (up to a batch), so the batch kept after merging is the oldest
        overall, and whatever is left is newer than all of it."""
        found: list[MessageRecord] = []
        async with self._store.primary_read_transaction() as session:
            rows: list[MemberRecord] = []
            activity = after_id
            while True:
                page = await self._store.rows_with_events_after(
                    session, user_id=caller, after_id=activity, limit=STREAM_BATCH
                )
                rows.extend(page)
                if len(page) < STREAM_BATCH:
                    break
                activity = page[-1].stream_id
            for row in rows:
                position = max(sent.get(row.conversation_id, after_id), row.visible_after)
                if row.stream_id <= position:
                    continue  # nothing new there
                found.extend(
                    await self._store.stream_events(
                        session,
                        conversation_id=row.conversation_id,
                        after_id=position,
                        visible_after=row.visible_after,
                        before_id=row.left_at + 1 if row.left_at else None,
                        limit=STREAM_BATCH,
                    )
                )
        found.sort(key=lambda r: r.event_id)
        batch = found[:STREAM_BATCH]
        views = iter(await self.hydrate(caller, [r for r in batch if not r.unsent]))
        return [
            StreamUnsent(
                event_id=r.unsent_id, conversation_id=r.conversation_id, message_id=r.message_id
            )
            if r.unsent
            else next(views)
            for r in batch
        ]


async def _nothing_media() -> dict[int, media_pb2.Media]:
    return {}


async def _nothing_posts() -> dict[int, post_pb2.Post]:
    return {}
