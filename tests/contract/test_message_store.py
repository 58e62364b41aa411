"""message_svc's store, one suite on every backend: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from mesh import db
from mesh.config import MeshSettings
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir
from message_svc import events, store
from message_svc.store import ConversationRecord, MemberRecord, MessageRecord, SqlMessageStore
from tests.conftest import unique_service

ids = IdGenerator()
AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sql(data_dir: Path, database_url: str | None) -> AsyncIterator[SqlMessageStore]:
    name = "message_svc" if database_url is None else unique_service("message_svc")
    engine = db.create_engine(name, MeshSettings(data_dir=data_dir), database_url)
    await db.migrate(engine, name, migrations_dir("message_svc"))
    yield SqlMessageStore(engine, outbox=Outbox(store.outbox, producer="message_svc", ids=ids))
    await engine.dispose()


def member(conversation_id: int, user_id: int, **changes: object) -> MemberRecord:
    values: dict[str, object] = {
        "conversation_id": conversation_id,
        "user_id": user_id,
        "accepted": True,
        "visible_after": 0,
        "left_at": 0,
        "last_read_id": 0,
        "last_incoming_id": 0,
        "activity_id": conversation_id,
        "hidden": False,
    }
    values.update(changes)
    return MemberRecord(**values)  # type: ignore[arg-type]


async def conversation(
    sql: SqlMessageStore, users: tuple[int, ...] = (1, 2), *, pair: str | None = None
) -> int:
    conversation_id = ids.next_id()
    async with sql.transaction() as session:
        await sql.insert_conversation(
            session,
            record=ConversationRecord(
                conversation_id=conversation_id,
                is_group=len(users) > 2,
                title="",
                creator_id=users[0],
                last_message_id=0,
                created_at=AT,
            ),
            pair_key=pair,
        )
        for user_id in users:
            await sql.put_member(session, record=member(conversation_id, user_id))
    return conversation_id


async def send(
    sql: SqlMessageStore, conversation_id: int, sender: int, text: str = "hi", key: str = ""
) -> int:
    message_id = ids.next_id()
    async with sql.transaction() as session:
        await sql.lock_conversation(session, conversation_id=conversation_id)
        event = sql.outbox.row(
            session,
            aggregate_id=conversation_id,
            event=events.message_sent(
                conversation_id=conversation_id,
                message_id=message_id,
                sender_id=sender,
                recipient_ids=[],
                request_recipient_ids=[],
                is_group=False,
                sent_at=AT,
            ),
        )
        inserted = await sql.insert_message(
            session,
            event=event,
            record=MessageRecord(
                conversation_id=conversation_id,
                message_id=message_id,
                sender_id=sender,
                client_message_id=key or f"k{message_id}",
                text=text,
                media_id=0,
                shared_post_id=0,
                unsent=False,
                created_at=AT,
            ),
        )
        if not inserted:  # the key was used before: nothing written
            return 0
    return message_id


async def outbox_rows(sql: SqlMessageStore) -> int:
    async with sql.transaction() as session:
        return len((await session.execute(select(store.outbox.c.event_id))).all())


async def row(sql: SqlMessageStore, conversation_id: int, user_id: int) -> MemberRecord:
    async with sql.transaction() as session:
        found = await sql.get_member(session, conversation_id=conversation_id, user_id=user_id)
    assert found is not None
    return found


async def test_a_pair_key_finds_its_one_to_one_and_cannot_be_taken_twice(
    sql: SqlMessageStore,
) -> None:
    key = store.pair_key(7, 3)
    assert key == store.pair_key(3, 7)
    made = await conversation(sql, (3, 7), pair=key)
    async with sql.transaction() as session:
        await sql.lock_pair(session, pair_key=key)
        assert await sql.find_pair(session, pair_key=key) == made
        assert await sql.find_pair(session, pair_key=store.pair_key(3, 8)) is None
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        await conversation(sql, (3, 7), pair=key)


async def test_a_send_updates_every_present_members_row_and_the_last_message(
    sql: SqlMessageStore,
) -> None:
    c = await conversation(sql, (1, 2, 3))
    async with sql.transaction() as session:
        await sql.hide(session, conversation_id=c, user_id=3, through_id=0)
    m = await send(sql, c, 1)
    sender, other, hidden = await row(sql, c, 1), await row(sql, c, 2), await row(sql, c, 3)
    assert sender.activity_id == m and sender.last_read_id == m and sender.last_incoming_id == 0
    assert other.activity_id == m and other.last_incoming_id == m and other.last_read_id == 0
    assert not hidden.hidden  # a new message brings a removed conversation back
    async with sql.transaction() as session:
        found = await sql.get_conversation(session, conversation_id=c)
    assert found is not None and found.last_message_id == m


async def test_pages_of_messages_are_ranges_of_the_key_newest_first(sql: SqlMessageStore) -> None:
    c = await conversation(sql)
    sent = [await send(sql, c, 1 + i % 2, text=f"m{i}") for i in range(5)]
    other = await conversation(sql, (1, 4))
    await send(sql, other, 4)
    async with sql.read_transaction() as session:
        first = await sql.list_messages(
            session, conversation_id=c, after_id=0, before_id=None, limit=2, newest_first=True
        )
        second = await sql.list_messages(
            session,
            conversation_id=c,
            after_id=0,
            before_id=first[-1].message_id,
            limit=2,
            newest_first=True,
        )
        floor = await sql.list_messages(
            session,
            conversation_id=c,
            after_id=sent[2],
            before_id=None,
            limit=9,
            newest_first=False,
        )
    assert [r.message_id for r in first] == [sent[4], sent[3]]
    assert [r.message_id for r in second] == [sent[2], sent[1]]
    assert [r.message_id for r in floor] == [sent[3], sent[4]]


async def test_a_client_message_id_finds_the_message_it_made(sql: SqlMessageStore) -> None:
    c = await conversation(sql)
    m = await send(sql, c, 1, key="abc")
    async with sql.transaction() as session:
        found = await sql.find_by_client_id(
            session, conversation_id=c, sender_id=1, client_message_id="abc"
        )
        other_sender = await sql.find_by_client_id(
            session, conversation_id=c, sender_id=2, client_message_id="abc"
        )
    assert found is not None and found.message_id == m and found.text == "hi"
    assert other_sender is None
    # The key taken again: the unique index refuses the row, and the insert says so, and
    # changes no member's row and not the last message either.
    before = (await row(sql, c, 1), await row(sql, c, 2))
    assert await outbox_rows(sql) == 1  # its MessageSent, written with it
    assert await send(sql, c, 1, text="again", key="abc") == 0
    assert (await row(sql, c, 1), await row(sql, c, 2)) == before
    assert await outbox_rows(sql) == 1
    async with sql.transaction() as session:
        last = await sql.get_conversation(session, conversation_id=c)
    assert last is not None and last.last_message_id == m
    assert await send(sql, c, 2, key="abc") != 0  # another sender's key is their own
    async with sql.transaction() as session:
        still = await sql.find_by_client_id(
            session, conversation_id=c, sender_id=1, client_message_id="abc"
        )
    assert still is not None and (still.message_id, still.text) == (m, "hi")


async def test_unsending_steps_the_last_message_and_the_unread_state_back(
    sql: SqlMessageStore,
) -> None:
    c = await conversation(sql)
    first = await send(sql, c, 1, text="one")
    second = await send(sql, c, 1, text="two")
    async with sql.transaction() as session:
        assert await sql.unsend(
            session, conversation_id=c, message_id=second, event_id=ids.next_id()
        )
        assert not await sql.unsend(
            session, conversation_id=c, message_id=second, event_id=ids.next_id()
        )
        gone = await sql.get_message(session, conversation_id=c, message_id=second)
        conv = await sql.get_conversation(session, conversation_id=c)
        listed = await sql.list_messages(
            session, conversation_id=c, after_id=0, before_id=None, limit=9, newest_first=True
        )
    assert gone is not None and gone.unsent and gone.text == ""
    assert conv is not None and conv.last_message_id == first
    assert [r.message_id for r in listed] == [first]
    assert (await row(sql, c, 2)).last_incoming_id == first
    async with sql.transaction() as session:
        await sql.unsend(session, conversation_id=c, message_id=first, event_id=ids.next_id())
    assert (await row(sql, c, 2)).last_incoming_id == 0
    async with sql.transaction() as session:
        assert await sql.unread_conversations(session, user_id=2) == 0


async def test_read_markers_only_move_forward(sql: SqlMessageStore) -> None:
    c = await conversation(sql)
    first = await send(sql, c, 1)
    second = await send(sql, c, 1)
    async with sql.transaction() as session:
        assert await sql.mark_read(session, conversation_id=c, user_id=2, message_id=second)
        assert not await sql.mark_read(session, conversation_id=c, user_id=2, message_id=first)
    assert (await row(sql, c, 2)).last_read_id == second


async def test_inbox_and_requests_are_ordered_by_activity_and_page_by_cursor(
    sql: SqlMessageStore,
) -> None:
    a, b, c = [await conversation(sql, (1, n)) for n in (2, 3, 4)]
    async with sql.transaction() as session:
        await sql.put_member(session, record=member(c, 1, accepted=False))
    await send(sql, a, 2)
    await send(sql, b, 3)
    async with sql.read_transaction() as session:
        inbox = await sql.list_member_rows(session, user_id=1, accepted=True, before=None, limit=1)
        rest = await sql.list_member_rows(
            session,
            user_id=1,
            accepted=True,
            before=(inbox[-1].activity_id, inbox[-1].conversation_id),
            limit=5,
        )
        requests = await sql.list_member_rows(
            session, user_id=1, accepted=False, before=None, limit=5
        )
    assert [r.conversation_id for r in inbox + rest] == [b, a]
    assert [r.conversation_id for r in requests] == [c]
    async with sql.transaction() as session:
        assert await sql.accept(session, conversation_id=c, user_id=1)
        assert not await sql.accept(session, conversation_id=c, user_id=1)


async def test_the_badge_counts_inbox_conversations_with_unread_messages(
    sql: SqlMessageStore,
) -> None:
    a, b = await conversation(sql, (1, 2)), await conversation(sql, (1, 3))
    request = await conversation(sql, (1, 4))
    async with sql.transaction() as session:
        await sql.put_member(session, record=member(request, 1, accepted=False))
    for _ in range(3):
        await send(sql, a, 2)
    in_b = await send(sql, b, 3)
    await send(sql, request, 4)  # a request is not counted
    async with sql.transaction() as session:
        assert await sql.unread_conversations(session, user_id=1) == 2
    await send(sql, a, 1)  # answering marks the conversation read up to there
    async with sql.transaction() as session:
        assert await sql.unread_conversations(session, user_id=1) == 1
        counts = await sql.unread_messages(session, user_id=1, conversation_ids=[a, b], cap=5)
        assert counts == {b: 1}
        await sql.mark_read(session, conversation_id=b, user_id=1, message_id=in_b)
        assert await sql.unread_conversations(session, user_id=1) == 0


async def test_unread_messages_are_counted_up_to_the_cap(sql: SqlMessageStore) -> None:
    c = await conversation(sql)
    for _ in range(4):
        await send(sql, c, 2)
    async with sql.transaction() as session:
        assert await sql.unread_messages(session, user_id=1, conversation_ids=[c], cap=3) == {c: 3}
        assert await sql.unread_messages(session, user_id=1, conversation_ids=[c], cap=9) == {c: 4}


async def test_a_member_who_left_gets_no_activity_and_a_returning_one_starts_afresh(
    sql: SqlMessageStore,
) -> None:
    c = await conversation(sql, (1, 2, 3))
    before = await send(sql, c, 1)
    left_at = ids.next_id()
    async with sql.transaction() as session:
        assert await sql.leave(session, conversation_id=c, user_id=3, at_id=left_at)
        assert not await sql.leave(session, conversation_id=c, user_id=3, at_id=left_at + 1)
    after = await send(sql, c, 1)
    gone = await row(sql, c, 3)
    assert gone.left_at == left_at and gone.hidden and gone.activity_id == before
    assert gone.sees(before) and not gone.sees(after)
    async with sql.transaction() as session:
        rows = await sql.rows_with_events_after(session, user_id=3, after_id=before, limit=9)
        assert rows == []
        await sql.put_member(session, record=member(c, 3, visible_after=after, activity_id=after))
    back = await row(sql, c, 3)
    assert back.present and not back.sees(after)


async def test_rows_with_events_after_an_id_come_oldest_first(sql: SqlMessageStore) -> None:
    a, b = await conversation(sql, (1, 2)), await conversation(sql, (1, 3))
    start = ids.next_id()
    await send(sql, b, 3)
    await send(sql, a, 2)
    async with sql.transaction() as session:
        rows = await sql.rows_with_events_after(session, user_id=1, after_id=start, limit=9)
        members = await sql.members_of(session, conversation_ids=[a, b])
        found = await sql.get_messages(
            session, keys=[(a, rows[1].activity_id), (b, rows[0].activity_id)]
        )
    assert [r.conversation_id for r in rows] == [b, a]
    assert sorted(m.user_id for m in members[a]) == [1, 2]
    assert len(found) == 2


async def test_events_go_to_the_outbox_in_the_same_transaction(sql: SqlMessageStore) -> None:
    from shutter.events.v1 import message_events_pb2

    c = await conversation(sql)
    async with sql.transaction() as session:
        await sql.outbox.add(
            session, aggregate_id=c, event=message_events_pb2.ConversationCreated(conversation_id=c)
        )
    with pytest.raises(RuntimeError):
        async with sql.transaction() as session:
            await sql.outbox.add(
                session, aggregate_id=c, event=message_events_pb2.MessageSent(conversation_id=c)
            )
            raise RuntimeError("rolled back")
    async with sql.transaction() as session:
        types = (await session.scalars(select(store.outbox.c.event_type))).all()
    assert types == ["shutter.events.v1.ConversationCreated"]


async def test_stream_events_give_sends_and_unsends_in_event_order(sql: SqlMessageStore) -> None:
    c = await conversation(sql, (1, 2))
    first = await send(sql, c, 1, text="one")
    start = ids.next_id()
    second = await send(sql, c, 1, text="two")
    unsent_at = ids.next_id()
    async with sql.transaction() as session:
        assert await sql.unsend(session, conversation_id=c, message_id=first, event_id=unsent_at)
        events = await sql.stream_events(
            session, conversation_id=c, after_id=start, visible_after=0, before_id=None, limit=9
        )
        rows = await sql.rows_with_events_after(session, user_id=2, after_id=second, limit=9)
    # The message sent after `start`, then the unsending of one sent before it.
    assert [(r.message_id, r.unsent, r.event_id) for r in events] == [
        (second, False, second),
        (first, True, unsent_at),
    ]
    assert [r.stream_id for r in rows] == [unsent_at]  # the unsend is the member's newest event
    assert (await row(sql, c, 2)).activity_id == second  # the inbox order does not move
