"""message_svc persistence: conversations, their members and their messages, via SQLAlchemy Core.

Messages are keyed by (conversation_id, message_id) with time-ordered ids, so a page of a
conversation is one range of that key, the layout a wide-column store (Cassandra) partitions the
same way. Each member's row (`participants`) carries what their inbox needs: `activity_id` (the
newest message or their joining, which orders the inbox), `last_incoming_id` (the newest message
from someone else) and `last_read_id`, all updated in the transaction of a send, so the inbox and
the badge never scan messages. A member sees the messages with `visible_after < id` and, once they
left, `id <= left_at`.

Writers of one conversation take its lock first (PostgreSQL: its row FOR UPDATE; SQLite: the
write lock every writable mesh.db transaction takes when it begins), so sends, unsends and
membership changes of one conversation apply one at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    literal,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.selectable import Select

from mesh import db
from mesh.outbox import Outbox, outbox_table

metadata = MetaData()

conversations = Table(
    "conversations",
    metadata,
    Column("conversation_id", BigInteger, primary_key=True, autoincrement=False),
    Column("is_group", Boolean, nullable=False),
    Column("title", Text, nullable=False),
    Column("creator_id", BigInteger, nullable=False),
    # "<low id>:<high id>" of a 1:1, so asking again finds it; NULL for groups.
    Column("pair_key", String(48), nullable=True),
    # The newest message not unsent; 0 when there is none.
    Column("last_message_id", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ux_conversations_pair", "pair_key", unique=True),
)

participants = Table(
    "participants",
    metadata,
    Column("conversation_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    # False while the conversation is a message request for this member.
    Column("accepted", Boolean, nullable=False),
    # The member sees messages above this id (their joining, or what they deleted).
    Column("visible_after", BigInteger, nullable=False),
    # 0 while a member; else the last id they may see.
    Column("left_at", BigInteger, nullable=False),
    Column("last_read_id", BigInteger, nullable=False),
    Column("last_incoming_id", BigInteger, nullable=False),
    # What orders the member's inbox: their newest message or their joining.
    Column("activity_id", BigInteger, nullable=False),
    # Off the member's lists (deleted or left) until a new message arrives.
    Column("hidden", Boolean, nullable=False),
    # The newest event of the conversation the member can see (a message, or an unsend's id).
    Column("stream_id", BigInteger, nullable=False, server_default="0"),
    # The member's inbox or requests, most recent activity first.
    Index("ix_participants_inbox", "user_id", "accepted", "activity_id"),
    # A resuming stream: the member's conversations with events after an id.
    Index("ix_participants_stream", "user_id", "stream_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("conversation_id", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", BigInteger, primary_key=True, autoincrement=False),
    Column("sender_id", BigInteger, nullable=False),
    Column("client_message_id", String(128), nullable=False),
    Column("text", Text, nullable=False),
    Column("media_id", BigInteger, nullable=False),  # 0: no media
    Column("shared_post_id", BigInteger, nullable=False),  # 0: no post
    # An unsent message keeps its row (without content) so a retry of its send stays answered.
    Column("unsent", Boolean, nullable=False),
    # The event id of its unsending (made under the conversation's lock); 0 while sent.
    Column("unsent_id", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index(
        "ux_messages_client_id", "conversation_id", "sender_id", "client_message_id", unique=True
    ),
    # Reports name a message by its id alone.
    Index("ix_messages_message_id", "message_id"),
    # A stream's unsends of a conversation after an event id.
    Index("ix_messages_unsent", "conversation_id", "unsent_id"),
)

# The messages a member reported and no longer sees.
hidden_messages = Table(
    "hidden_messages",
    metadata,
    Column("viewer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", BigInteger, primary_key=True, autoincrement=False),
    Column("conversation_id", BigInteger, nullable=False),
)

outbox = outbox_table(metadata)


@dataclass(frozen=True)
class ConversationRecord:
    """One stored conversation."""

    conversation_id: int
    is_group: bool
    title: str
    creator_id: int
    last_message_id: int
    created_at: datetime


@dataclass(frozen=True)
class MemberRecord:
    """One member's row of a conversation."""

    conversation_id: int
    user_id: int
    accepted: bool
    visible_after: int
    left_at: int
    last_read_id: int
    last_incoming_id: int
    activity_id: int
    hidden: bool
    # The newest event of the conversation the member can see (0: as activity_id, for records
    # made before they are stored).
    stream_id: int = 0

    @property
    def present(self) -> bool:
        """Whether they are still a member."""
        return self.left_at == 0

    def sees(self, message_id: int) -> bool:
        """Whether this member may see a message id."""
        return self.visible_after < message_id and (self.left_at == 0 or message_id <= self.left_at)


@dataclass(frozen=True)
class MessageRecord:
    """One stored message."""

    conversation_id: int
    message_id: int
    sender_id: int
    client_message_id: str
    text: str
    media_id: int
    shared_post_id: int
    unsent: bool
    created_at: datetime
    # The event id of its unsending; 0 while sent.
    unsent_id: int = 0

    @property
    def event_id(self) -> int:
        """Its id in a stream: the message id, or its unsending's."""
        return self.unsent_id or self.message_id


class MessageStore(Protocol):
    """What the message rules need from storage."""

    outbox: Outbox

    def transaction(self) -> Any: ...
    def read_transaction(self) -> Any: ...
    def primary_read_transaction(self) -> Any: ...
    async def lock_pair(self, session: AsyncSession, *, pair_key: str) -> None: ...
    async def lock_conversation(self, session: AsyncSession, *, conversation_id: int) -> None: ...
    async def find_pair(self, session: AsyncSession, *, pair_key: str) -> int | None: ...
    async def insert_conversation(
        self, session: AsyncSession, *, record: ConversationRecord, pair_key: str | None
    ) -> None: ...
    async def put_member(self, session: AsyncSession, *, record: MemberRecord) -> None: ...
    async def get_conversation(
        self, session: AsyncSession, *, conversation_id: int, lock: bool = False
    ) -> ConversationRecord | None: ...
    async def get_conversations(
        self, session: AsyncSession, *, conversation_ids: Sequence[int]
    ) -> dict[int, ConversationRecord]: ...
    async def get_member(
        self, session: AsyncSession, *, conversation_id: int, user_id: int
    ) -> MemberRecord | None: ...
    async def members_of(
        self, session: AsyncSession, *, conversation_ids: Sequence[int]
    ) -> dict[int, list[MemberRecord]]: ...
    async def find_by_client_id(
        self, session: AsyncSession, *, conversation_id: int, sender_id: int, client_message_id: str
    ) -> MessageRecord | None: ...
    async def insert_message(
        self,
        session: AsyncSession,
        *,
        record: MessageRecord,
        event: dict[str, Any] | None = None,
    ) -> bool: ...
    async def messages_sent_by(
        self, session: AsyncSession, *, sender_id: int, limit: int
    ) -> list[MessageRecord]: ...
    async def get_message(
        self, session: AsyncSession, *, conversation_id: int, message_id: int
    ) -> MessageRecord | None: ...
    async def get_messages(
        self, session: AsyncSession, *, keys: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], MessageRecord]: ...
    async def list_messages(
        self,
        session: AsyncSession,
        *,
        conversation_id: int,
        after_id: int,
        before_id: int | None,
        limit: int,
        newest_first: bool,
    ) -> list[MessageRecord]: ...
    async def unsend(
        self, session: AsyncSession, *, conversation_id: int, message_id: int, event_id: int
    ) -> bool: ...
    async def find_message(
        self, session: AsyncSession, *, message_id: int
    ) -> MessageRecord | None: ...
    async def hide_message(
        self, session: AsyncSession, *, viewer_id: int, conversation_id: int, message_id: int
    ) -> None: ...
    async def hidden_among(
        self, session: AsyncSession, *, viewer_id: int, message_ids: Sequence[int]
    ) -> set[int]: ...
    async def mark_read(
        self, session: AsyncSession, *, conversation_id: int, user_id: int, message_id: int
    ) -> bool: ...
    async def accept(
        self, session: AsyncSession, *, conversation_id: int, user_id: int
    ) -> bool: ...
    async def hide(
        self, session: AsyncSession, *, conversation_id: int, user_id: int, through_id: int
    ) -> None: ...
    async def leave(
        self, session: AsyncSession, *, conversation_id: int, user_id: int, at_id: int
    ) -> bool: ...
    async def list_member_rows(
        self,
        session: AsyncSession,
        *,
        user_id: int,
        accepted: bool,
        before: tuple[int, int] | None,
        limit: int,
    ) -> list[MemberRecord]: ...
    async def rows_with_events_after(
        self, session: AsyncSession, *, user_id: int, after_id: int, limit: int
    ) -> list[MemberRecord]: ...
    async def stream_events(
        self,
        session: AsyncSession,
        *,
        conversation_id: int,
        after_id: int,
        visible_after: int,
        before_id: int | None,
        limit: int,
    ) -> list[MessageRecord]: ...
    async def unread_conversations(self, session: AsyncSession, *, user_id: int) -> int: ...
    async def unread_conversations_of(
        self, session: AsyncSession, *, user_ids: Sequence[int]
    ) -> dict[int, int]: ...
    async def unread_messages(
        self, session: AsyncSession, *, user_id: int, conversation_ids: Sequence[int], cap: int
    ) -> dict[int, int]: ...


def _changed(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def pair_key(a: int, b: int) -> str:
    """Return the key of the 1:1 between two accounts, the same whoever asks."""
    low, high = sorted((a, b))
    return f"{low}:{high}"


def pair_lock_key(key: str) -> int:
    """Return the signed 64-bit advisory-lock key of a 1:1's pair key."""
    digest = hashlib.blake2b(f"message_svc:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _conversation(row: Any) -> ConversationRecord:
    return ConversationRecord(
        conversation_id=int(row.conversation_id),
        is_group=bool(row.is_group),
        title=str(row.title),
        creator_id=int(row.creator_id),
        last_message_id=int(row.last_message_id),
        created_at=_aware(row.created_at),
    )


def _member(row: Any) -> MemberRecord:
    return MemberRecord(
        conversation_id=int(row.conversation_id),
        user_id=int(row.user_id),
        accepted=bool(row.accepted),
        visible_after=int(row.visible_after),
        left_at=int(row.left_at),
        last_read_id=int(row.last_read_id),
        last_incoming_id=int(row.last_incoming_id),
        activity_id=int(row.activity_id),
        hidden=bool(row.hidden),
        stream_id=int(row.stream_id),
    )


def _message(row: Any) -> MessageRecord:
    return MessageRecord(
        conversation_id=int(row.conversation_id),
        message_id=int(row.message_id),
        sender_id=int(row.sender_id),
        client_message_id=str(row.client_message_id),
        text=str(row.text),
        media_id=int(row.media_id),
        shared_post_id=int(row.shared_post_id),
        unsent=bool(row.unsent),
        created_at=_aware(row.created_at),
        unsent_id=int(row.unsent_id),
    )


def _last_message(record: MessageRecord) -> Update:
    """The conversation's last message becomes a new one."""
    return (
        update(conversations)
        .where(conversations.c.conversation_id == record.conversation_id)
        .values(last_message_id=record.message_id)
    )


def _members_of_send(record: MessageRecord) -> Update:
    """Every present member's row takes a new message: their newest activity and event, back
    on their lists, unread for the others, read (and accepted) for its sender."""
    p = participants.c
    mine = p.user_id == record.sender_id
    message_id = literal(record.message_id, BigInteger)
    return (
        update(participants)
        .where(p.conversation_id == record.conversation_id, p.left_at == 0)
        .values(
            activity_id=message_id,
            stream_id=message_id,
            hidden=False,
            last_incoming_id=case((mine, p.last_incoming_id), else_=message_id),
            last_read_id=case((mine, message_id), else_=p.last_read_id),
            accepted=case((mine, True), else_=p.accepted),
        )
    )


def _send_statement(with_event: bool) -> Select[Any]:
    """Return, built once, PostgreSQL's statement of a send (as insert_message writes it):
    only parameters change from one send to the next, so it is not built again each time. The
    parameters are named apart from every column: an execution's parameter named as a column
    would be set by the UPDATEs too."""
    found = _SEND_STATEMENTS.get(with_event)
    if found is not None:
        return found
    m, p = messages.c, participants.c
    conversation_id = bindparam("send_conversation_id", type_=BigInteger)
    message_id = bindparam("send_message_id", type_=BigInteger)
    mine = p.user_id == bindparam("send_sender_id", type_=BigInteger)
    written = (
        postgresql.insert(messages)
        .values(
            conversation_id=conversation_id,
            message_id=message_id,
            sender_id=bindparam("send_sender_id", type_=BigInteger),
            client_message_id=bindparam("send_client_message_id", type_=String),
            text=bindparam("send_text", type_=Text),
            media_id=bindparam("send_media_id", type_=BigInteger),
            shared_post_id=bindparam("send_shared_post_id", type_=BigInteger),
            unsent=bindparam("send_unsent", type_=Boolean),
            created_at=bindparam("send_created_at", type_=DateTime(timezone=True)),
        )
        .on_conflict_do_nothing(
            index_elements=[m.conversation_id, m.sender_id, m.client_message_id]
        )
        .returning(m.message_id)
        .cte("inserted")
    )
    happened = select(written.c.message_id).exists()
    writes = [
        update(conversations)
        .where(conversations.c.conversation_id == conversation_id, happened)
        .values(last_message_id=message_id)
        .cte("last_message"),
        update(participants)
        .where(p.conversation_id == conversation_id, p.left_at == 0, happened)
        .values(
            activity_id=message_id,
            stream_id=message_id,
            hidden=False,
            last_incoming_id=case((mine, p.last_incoming_id), else_=message_id),
            last_read_id=case((mine, message_id), else_=p.last_read_id),
            accepted=case((mine, True), else_=p.accepted),
        )
        .cte("members"),
    ]
    if with_event:
        columns = list(_OUTBOX_COLUMNS)
        row = select(*(bindparam(f"send_event_{k}", type_=outbox.c[k].type) for k in columns))
        writes.append(outbox.insert().from_select(columns, row.where(happened)).cte("event"))
    statement = select(written.c.message_id).add_cte(*writes)
    _SEND_STATEMENTS[with_event] = statement
    return statement


_OUTBOX_COLUMNS = ("event_id", "aggregate_id", "event_type", "envelope", "created_at")
_SEND_STATEMENTS: dict[bool, Select[Any]] = {}


class SqlMessageStore:
    """The relational implementation of MessageStore (SQLite embedded, PostgreSQL in production)."""

    def __init__(
        self, engine: AsyncEngine, *, outbox: Outbox, replica: AsyncEngine | None = None
    ) -> None:
        self._sessions = db.session_factory(engine)
        self._read_sessions = db.read_session_factory(engine, replica)
        # Reads that must see the primary (streams, checks, one's own state) without holding
        # SQLite's write lock, which a writable transaction takes as it begins.
        self._primary_reads = db.read_session_factory(engine, None)
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._postgres else sqlite.insert
        self.outbox = outbox

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

    @asynccontextmanager
    async def primary_read_transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a read-only transaction on the primary (never the replica); a write fails."""
        async with db.transaction(self._primary_reads) as session:
            yield session

    async def lock_pair(self, session: AsyncSession, *, pair_key: str) -> None:
        """Hold a 1:1's pair key until the transaction ends, so two creations of the same 1:1
        find one another's; call before find_pair."""
        if self._postgres:
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": pair_lock_key(pair_key)}
            )

    async def lock_conversation(self, session: AsyncSession, *, conversation_id: int) -> None:
        """Hold a conversation until the transaction ends (its writers apply one at a time)."""
        if self._postgres:
            await session.execute(
                select(conversations.c.conversation_id)
                .where(conversations.c.conversation_id == conversation_id)
                .with_for_update()
            )

    async def find_pair(self, session: AsyncSession, *, pair_key: str) -> int | None:
        """Return the id of the 1:1 with this pair key, if there is one."""
        found = await session.scalar(
            select(conversations.c.conversation_id).where(conversations.c.pair_key == pair_key)
        )
        return None if found is None else int(found)

    async def insert_conversation(
        self, session: AsyncSession, *, record: ConversationRecord, pair_key: str | None
    ) -> None:
        """Add a conversation (its members are added separately)."""
        await session.execute(
            conversations.insert().values(
                conversation_id=record.conversation_id,
                is_group=record.is_group,
                title=record.title,
                creator_id=record.creator_id,
                pair_key=pair_key,
                last_message_id=record.last_message_id,
                created_at=record.created_at,
            )
        )

    async def put_member(self, session: AsyncSession, *, record: MemberRecord) -> None:
        """Add a member, or replace the row of one who left and comes back."""
        p = participants.c
        values = {
            "accepted": record.accepted,
            "visible_after": record.visible_after,
            "left_at": record.left_at,
            "last_read_id": record.last_read_id,
            "last_incoming_id": record.last_incoming_id,
            "activity_id": record.activity_id,
            "hidden": record.hidden,
            "stream_id": record.stream_id or record.activity_id,
        }
        result = await session.execute(
            update(participants)
            .where(p.conversation_id == record.conversation_id, p.user_id == record.user_id)
            .values(**values)
        )
        if _changed(result) == 0:
            await session.execute(
                participants.insert().values(
                    conversation_id=record.conversation_id, user_id=record.user_id, **values
                )
            )

    async def get_conversation(
        self, session: AsyncSession, *, conversation_id: int, lock: bool = False
    ) -> ConversationRecord | None:
        """Return one conversation; with `lock`, hold it as lock_conversation does."""
        query = select(conversations).where(conversations.c.conversation_id == conversation_id)
        if lock and self._postgres:
            query = query.with_for_update()
        row = (await session.execute(query)).first()
        return None if row is None else _conversation(row)

    async def get_conversations(
        self, session: AsyncSession, *, conversation_ids: Sequence[int]
    ) -> dict[int, ConversationRecord]:
        """Return the conversations that exist among these ids."""
        if not conversation_ids:
            return {}
        rows = await session.execute(
            select(conversations).where(conversations.c.conversation_id.in_(list(conversation_ids)))
        )
        return {int(r.conversation_id): _conversation(r) for r in rows}

    async def get_member(
        self, session: AsyncSession, *, conversation_id: int, user_id: int
    ) -> MemberRecord | None:
        """Return one member's row (present or past)."""
        p = participants.c
        row = (
            await session.execute(
                select(participants).where(
                    p.conversation_id == conversation_id, p.user_id == user_id
                )
            )
        ).first()
        return None if row is None else _member(row)

    async def members_of(
        self, session: AsyncSession, *, conversation_ids: Sequence[int]
    ) -> dict[int, list[MemberRecord]]:
        """Return every member row (present and past) of these conversations, by user id."""
        if not conversation_ids:
            return {}
        p = participants.c
        rows = await session.execute(
            select(participants)
            .where(p.conversation_id.in_(list(conversation_ids)))
            .order_by(p.conversation_id, p.user_id)
        )
        found: dict[int, list[MemberRecord]] = {}
        for row in rows:
            found.setdefault(int(row.conversation_id), []).append(_member(row))
        return found

    async def find_by_client_id(
        self, session: AsyncSession, *, conversation_id: int, sender_id: int, client_message_id: str
    ) -> MessageRecord | None:
        """Return the message a sender sent with this key in a conversation, unsent or not."""
        m = messages.c
        row = (
            await session.execute(
                select(messages).where(
                    m.conversation_id == conversation_id,
                    m.sender_id == sender_id,
                    m.client_message_id == client_message_id,
                )
            )
        ).first()
        return None if row is None else _message(row)

    async def messages_sent_by(
        self, session: AsyncSession, *, sender_id: int, limit: int
    ) -> list[MessageRecord]:
        """Return up to `limit` of the messages an account sent and did not unsend, oldest
        first (its data export; a scan, as exports are rare)."""
        query = (
            select(messages)
            .where(messages.c.sender_id == sender_id, messages.c.unsent.is_(False))
            .order_by(messages.c.message_id)
            .limit(limit)
        )
        return [_message(row) for row in await session.execute(query)]

    async def insert_message(
        self,
        session: AsyncSession,
        *,
        record: MessageRecord,
        event: dict[str, Any] | None = None,
    ) -> bool:
        """Add a message and make it the conversation's last and every present member's newest
        activity: it brings the conversation back to lists it was removed from, is unread for
        the others, and is read (and the conversation accepted) for its sender; with `event`
        (an Outbox.row), write its event too. False, and nothing written, when its sender
        already used its client_message_id in the conversation (a retry: the unique index
        answers, so a send needs no lookup first).

        PostgreSQL does it in one statement (the rest waits on the inserted row, in CTEs);
        SQLite, which has no writing CTEs, in three or four."""
        if self._postgres:
            params: dict[str, Any] = {
                "send_conversation_id": record.conversation_id,
                "send_message_id": record.message_id,
                "send_sender_id": record.sender_id,
                "send_client_message_id": record.client_message_id,
                "send_text": record.text,
                "send_media_id": record.media_id,
                "send_shared_post_id": record.shared_post_id,
                "send_unsent": record.unsent,
                "send_created_at": record.created_at,
            }
            if event is not None:
                params.update({f"send_event_{k}": event[k] for k in _OUTBOX_COLUMNS})
            statement = _send_statement(event is not None)
            return (await session.execute(statement, params)).first() is not None
        m = messages.c
        inserted = (
            self._insert(messages)
            .values(
                conversation_id=record.conversation_id,
                message_id=record.message_id,
                sender_id=record.sender_id,
                client_message_id=record.client_message_id,
                text=record.text,
                media_id=record.media_id,
                shared_post_id=record.shared_post_id,
                unsent=record.unsent,
                created_at=record.created_at,
            )
            .on_conflict_do_nothing(
                index_elements=[m.conversation_id, m.sender_id, m.client_message_id]
            )
        )
        result = await session.execute(inserted.execution_options(preserve_rowcount=True))
        if _changed(result) != 1:
            return False
        await session.execute(_last_message(record))
        await session.execute(_members_of_send(record))
        if event is not None:
            await session.execute(outbox.insert().values(**event))
        return True

    async def get_message(
        self, session: AsyncSession, *, conversation_id: int, message_id: int
    ) -> MessageRecord | None:
        """Return one message of a conversation, unsent or not."""
        m = messages.c
        row = (
            await session.execute(
                select(messages).where(
                    m.conversation_id == conversation_id, m.message_id == message_id
                )
            )
        ).first()
        return None if row is None else _message(row)

    async def find_message(self, session: AsyncSession, *, message_id: int) -> MessageRecord | None:
        """Return a message by its id alone (reports name it so), unsent or not."""
        row = (
            await session.execute(select(messages).where(messages.c.message_id == message_id))
        ).first()
        return None if row is None else _message(row)

    async def hide_message(
        self, session: AsyncSession, *, viewer_id: int, conversation_id: int, message_id: int
    ) -> None:
        """Hide a message from a member (idempotent)."""
        h = hidden_messages.c
        found = (
            await session.execute(
                select(h.message_id).where(h.viewer_id == viewer_id, h.message_id == message_id)
            )
        ).first()
        if found is None:
            await session.execute(
                hidden_messages.insert().values(
                    viewer_id=viewer_id, conversation_id=conversation_id, message_id=message_id
                )
            )

    async def hidden_among(
        self, session: AsyncSession, *, viewer_id: int, message_ids: Sequence[int]
    ) -> set[int]:
        """Return which of these messages the member hid, in one query."""
        if not message_ids:
            return set()
        h = hidden_messages.c
        query = select(h.message_id).where(
            h.viewer_id == viewer_id, h.message_id.in_(list(message_ids))
        )
        return {int(i) for i in (await session.execute(query)).scalars()}

    async def get_messages(
        self, session: AsyncSession, *, keys: Sequence[tuple[int, int]]
    ) -> dict[tuple[int, int], MessageRecord]:
        """Return messages by (conversation id, message id), unsent ones left out."""
        if not keys:
            return {}
        m = messages.c
        rows = await session.execute(
            select(messages).where(
                tuple_(m.conversation_id, m.message_id).in_(list(keys)), m.unsent.is_(False)
            )
        )
        return {(int(r.conversation_id), int(r.message_id)): _message(r) for r in rows}

    async def list_messages(
        self,
        session: AsyncSession,
        *,
        conversation_id: int,
        after_id: int,
        before_id: int | None,
        limit: int,
        newest_first: bool,
    ) -> list[MessageRecord]:
        """Return a conversation's messages with after_id < id < before_id (None: no upper
        bound), unsent ones left out: one range of the (conversation, message) key."""
        m = messages.c
        query = select(messages).where(
            m.conversation_id == conversation_id, m.message_id > after_id, m.unsent.is_(False)
        )
        if before_id is not None:
            query = query.where(m.message_id < before_id)
        order = m.message_id.desc() if newest_first else m.message_id
        rows = await session.execute(query.order_by(order).limit(limit))
        return [_message(r) for r in rows]

    async def unsend(
        self, session: AsyncSession, *, conversation_id: int, message_id: int, event_id: int
    ) -> bool:
        """Unsend a message as the stream event `event_id` (made under the conversation's lock):
        its content goes, the conversation's last message and the members' newest incoming
        message step back past it, and it is the newest event of every member who could see it.
        False when it was unsent already."""
        m, p, c = messages.c, participants.c, conversations.c
        result = await session.execute(
            update(messages)
            .where(
                m.conversation_id == conversation_id,
                m.message_id == message_id,
                m.unsent.is_(False),
            )
            .values(unsent=True, unsent_id=event_id, text="", media_id=0, shared_post_id=0)
        )
        if _changed(result) == 0:
            return False
        await session.execute(
            update(participants)
            .where(
                p.conversation_id == conversation_id,
                p.visible_after < message_id,
                (p.left_at == 0) | (p.left_at >= message_id),
            )
            .values(stream_id=event_id)
        )
        latest = await session.scalar(
            select(func.max(m.message_id)).where(
                m.conversation_id == conversation_id, m.unsent.is_(False)
            )
        )
        await session.execute(
            update(conversations)
            .where(c.conversation_id == conversation_id, c.last_message_id == message_id)
            .values(last_message_id=int(latest or 0))
        )
        affected = (
            await session.scalars(
                select(p.user_id).where(
                    p.conversation_id == conversation_id, p.last_incoming_id == message_id
                )
            )
        ).all()
        for user_id in affected:
            previous = await session.scalar(
                select(func.max(m.message_id)).where(
                    m.conversation_id == conversation_id,
                    m.unsent.is_(False),
                    m.sender_id != user_id,
                )
            )
            await session.execute(
                update(participants)
                .where(p.conversation_id == conversation_id, p.user_id == user_id)
                .values(last_incoming_id=int(previous or 0))
            )
        return True

    async def mark_read(
        self, session: AsyncSession, *, conversation_id: int, user_id: int, message_id: int
    ) -> bool:
        """Move a member's read marker forward to a message id; False when it was there or past."""
        p = participants.c
        result = await session.execute(
            update(participants)
            .where(
                p.conversation_id == conversation_id,
                p.user_id == user_id,
                p.last_read_id < message_id,
            )
            .values(last_read_id=message_id)
        )
        return _changed(result) == 1

    async def accept(self, session: AsyncSession, *, conversation_id: int, user_id: int) -> bool:
        """Accept a message request; False when it was accepted already."""
        p = participants.c
        result = await session.execute(
            update(participants)
            .where(
                p.conversation_id == conversation_id,
                p.user_id == user_id,
                p.accepted.is_(False),
            )
            .values(accepted=True)
        )
        return _changed(result) == 1

    async def hide(
        self, session: AsyncSession, *, conversation_id: int, user_id: int, through_id: int
    ) -> None:
        """Take a conversation off a member's lists, with its messages up to through_id."""
        p = participants.c
        await session.execute(
            update(participants)
            .where(p.conversation_id == conversation_id, p.user_id == user_id)
            .values(
                hidden=True,
                visible_after=case(
                    (p.visible_after < through_id, through_id), else_=p.visible_after
                ),
                last_read_id=case((p.last_read_id < through_id, through_id), else_=p.last_read_id),
            )
        )

    async def leave(
        self, session: AsyncSession, *, conversation_id: int, user_id: int, at_id: int
    ) -> bool:
        """Make a present member a past one who sees messages up to at_id; False when they had
        left already."""
        p = participants.c
        result = await session.execute(
            update(participants)
            .where(p.conversation_id == conversation_id, p.user_id == user_id, p.left_at == 0)
            .values(left_at=at_id, hidden=True)
        )
        return _changed(result) == 1

    async def list_member_rows(
        self,
        session: AsyncSession,
        *,
        user_id: int,
        accepted: bool,
        before: tuple[int, int] | None,
        limit: int,
    ) -> list[MemberRecord]:
        """Return a member's rows of listed (not hidden) conversations, accepted or requests,
        most recent activity first, strictly after the (activity id, conversation id) cursor."""
        p = participants.c
        query = select(participants).where(
            p.user_id == user_id, p.accepted.is_(accepted), p.hidden.is_(False)
        )
        if before is not None:
            activity, conversation = before
            query = query.where(
                (p.activity_id < activity)
                | and_(p.activity_id == activity, p.conversation_id < conversation)
            )
        rows = await session.execute(
            query.order_by(p.activity_id.desc(), p.conversation_id.desc()).limit(limit)
        )
        return [_member(r) for r in rows]

    async def rows_with_events_after(
        self, session: AsyncSession, *, user_id: int, after_id: int, limit: int
    ) -> list[MemberRecord]:
        """Return a member's rows whose newest event is newer than an id, oldest first."""
        p = participants.c
        rows = await session.execute(
            select(participants)
            .where(p.user_id == user_id, p.stream_id > after_id)
            .order_by(p.stream_id)
            .limit(limit)
        )
        return [_member(r) for r in rows]

    async def stream_events(
        self,
        session: AsyncSession,
        *,
        conversation_id: int,
        after_id: int,
        visible_after: int,
        before_id: int | None,
        limit: int,
    ) -> list[MessageRecord]:
        """Return a conversation's events after an event id, oldest first: messages sent (not
        unsent) and messages unsent (without content), among those with
        visible_after < id < before_id."""
        m = messages.c
        event = case((m.unsent_id > 0, m.unsent_id), else_=m.message_id)
        query = select(messages).where(
            m.conversation_id == conversation_id,
            m.message_id > visible_after,
            ((m.message_id > after_id) & m.unsent.is_(False)) | (m.unsent_id > after_id),
        )
        if before_id is not None:
            query = query.where(m.message_id < before_id)
        rows = await session.execute(query.order_by(event).limit(limit))
        return [_message(r) for r in rows]

    async def unread_conversations(self, session: AsyncSession, *, user_id: int) -> int:
        """Count a member's inbox conversations with a message from others they have not read."""
        p = participants.c
        count = await session.scalar(
            select(func.count())
            .select_from(participants)
            .where(
                p.user_id == user_id,
                p.accepted.is_(True),
                p.hidden.is_(False),
                p.left_at == 0,
                p.last_incoming_id > p.last_read_id,
            )
        )
        return int(count or 0)

    async def unread_conversations_of(
        self, session: AsyncSession, *, user_ids: Sequence[int]
    ) -> dict[int, int]:
        """Count, in one query, each account's inbox conversations with unread messages (as
        unread_conversations); accounts with none are left out."""
        if not user_ids:
            return {}
        p = participants.c
        rows = await session.execute(
            select(p.user_id, func.count())
            .where(
                p.user_id.in_(list(user_ids)),
                p.accepted.is_(True),
                p.hidden.is_(False),
                p.left_at == 0,
                p.last_incoming_id > p.last_read_id,
            )
            .group_by(p.user_id)
        )
        return {int(user_id): int(count) for user_id, count in rows.all()}

    async def unread_messages(
        self, session: AsyncSession, *, user_id: int, conversation_ids: Sequence[int], cap: int
    ) -> dict[int, int]:
        """Return how many visible messages from others each conversation holds past the
        member's read marker, counted up to `cap` (one bounded range per conversation)."""
        if not conversation_ids:
            return {}
        m, p = messages.c, participants.c
        found: dict[int, int] = {}
        rows = await session.execute(
            select(participants).where(
                p.user_id == user_id,
                p.conversation_id.in_(list(conversation_ids)),
                p.last_incoming_id > p.last_read_id,
            )
        )
        for row in rows:
            member = _member(row)
            floor = max(member.last_read_id, member.visible_after)
            query = select(m.message_id).where(
                m.conversation_id == member.conversation_id,
                m.message_id > floor,
                m.sender_id != user_id,
                m.unsent.is_(False),
            )
            if member.left_at:
                query = query.where(m.message_id <= member.left_at)
            bounded = query.limit(cap).subquery()
            count = await session.scalar(select(func.count()).select_from(bounded))
            if count:
                found[member.conversation_id] = int(count)
        return found
