"""The direct-message rules on a real SQLite store, with graph_svc, user_svc, media_svc and
post_svc in memory."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from mesh.errors import InvalidArgument, Unavailable
from mesh.ids import IdGenerator
from message_svc import domain, store
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
    TooManyStreams,
    UserNotFound,
)
from message_svc.live import Wakeups
from shutter.media.v1 import media_pb2
from tests.message_svc.conftest import World

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


async def messages_of(w: World, reader: int, conversation_id: int) -> list[str]:
    page = await w.m.list_messages(
        reader, conversation_id=conversation_id, page_size=100, page_token=""
    )
    return [v.record.text for v in page.messages]


# -- conversations ----------------------------------------------------------------------------


async def test_a_one_to_one_is_found_again_whoever_asks(world: World) -> None:
    first = await world.dm(ALICE, BOB)
    assert await world.dm(ALICE, BOB) == first
    assert await world.dm(BOB, ALICE) == first
    assert await world.dm(ALICE, CAROL) != first


async def test_a_group_holds_the_caller_and_up_to_31_others(world: World) -> None:
    others = list(range(100, 131))
    view = await world.m.create_conversation(ALICE, participant_ids=others, title=" Trip ")
    assert view.conversation.is_group and view.conversation.title == "Trip"
    assert len(view.participants) == 32
    with pytest.raises(InvalidArgument, match="at most 31"):
        await world.m.create_conversation(ALICE, participant_ids=[*others, 131], title="")
    with pytest.raises(GroupFull):
        await world.m.add_participants(
            ALICE, conversation_id=view.conversation.conversation_id, user_ids=[500]
        )


@pytest.mark.parametrize(
    ("ids", "title", "message"),
    [
        ([], "", "at least one"),
        ([ALICE], "", "must not include the caller"),
        ([0], "", "positive"),
        ([BOB], "a title", "only a group"),
        ([BOB, CAROL], "x" * 101, "at most 100"),
    ],
)
async def test_bad_conversations_are_refused(
    world: World, ids: list[int], title: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await world.m.create_conversation(ALICE, participant_ids=ids, title=title)


async def test_a_conversation_with_an_unknown_account_is_not_found(world: World) -> None:
    world.directory.deleted.add(BOB)
    with pytest.raises(UserNotFound):
        await world.dm(ALICE, BOB)


async def test_only_members_see_a_conversation_everyone_else_gets_not_found(world: World) -> None:
    c = await world.dm(ALICE, BOB)
    await world.say(ALICE, c)
    for call in (
        world.m.get_conversation(CAROL, conversation_id=c),
        world.m.list_messages(CAROL, conversation_id=c, page_size=0, page_token=""),
        world.m.send(
            CAROL, conversation_id=c, client_message_id="x", text="hi", media_id=0, shared_post_id=0
        ),
        world.m.accept(CAROL, conversation_id=c),
        world.m.get_conversation(ALICE, conversation_id=c + 1),
    ):
        with pytest.raises(ConversationNotFound):
            await call


# -- requests ---------------------------------------------------------------------------------


async def test_a_stranger_s_conversation_is_a_request_until_accepted(world: World) -> None:
    c = await world.dm(ALICE, BOB)  # Bob does not follow Alice
    requests = await world.m.list_conversations(BOB, requests=True, page_size=0, page_token="")
    assert requests.conversations == []  # nothing to see before the first message
    await world.say(ALICE, c, "hi Bob")
    requests = await world.m.list_conversations(BOB, requests=True, page_size=0, page_token="")
    inbox = await world.m.list_conversations(BOB, requests=False, page_size=0, page_token="")
    assert [v.conversation.conversation_id for v in requests.conversations] == [c]
    assert requests.conversations[0].me.accepted is False
    assert inbox.conversations == []
    assert await world.m.unread_count(BOB) == 0  # requests are not in the badge
    # Bob reads it: Alice is not told while it is a request.
    last = requests.conversations[0].last_message
    assert last is not None
    await world.m.mark_read(BOB, conversation_id=c, message_id=last.record.message_id)
    seen_by_alice = await world.m.get_conversation(ALICE, conversation_id=c)
    assert {p.record.user_id: p.last_read_message_id for p in seen_by_alice.participants}[BOB] == 0
    accepted = await world.m.accept(BOB, conversation_id=c)
    assert accepted.me.accepted
    inbox = await world.m.list_conversations(BOB, requests=False, page_size=0, page_token="")
    assert [v.conversation.conversation_id for v in inbox.conversations] == [c]
    seen_by_alice = await world.m.get_conversation(ALICE, conversation_id=c)
    marker = {p.record.user_id: p.last_read_message_id for p in seen_by_alice.participants}[BOB]
    assert marker == last.record.message_id


async def test_someone_the_recipient_follows_lands_in_the_inbox(world: World) -> None:
    world.graph.follows.add((BOB, ALICE))
    c = await world.dm(ALICE, BOB)
    await world.say(ALICE, c)
    inbox = await world.m.list_conversations(BOB, requests=False, page_size=0, page_token="")
    assert [v.conversation.conversation_id for v in inbox.conversations] == [c]
    assert inbox.conversations[0].unread_count == 1
    assert await world.m.unread_count(BOB) == 1


async def test_deleting_a_conversation_removes_it_from_the_caller_s_lists_only(
    world: World,
) -> None:
    world.graph.follows.update({(BOB, ALICE), (ALICE, BOB)})
    c = await world.dm(ALICE, BOB)
    await world.say(ALICE, c, "old")
    await world.m.delete_conversation(BOB, conversation_id=c)
    await world.m.delete_conversation(BOB, conversation_id=c)  # idempotent
    assert (
        await world.m.list_conversations(BOB, requests=False, page_size=0, page_token="")
    ).conversations == []
    alice_inbox = await world.m.list_conversations(
        ALICE, requests=False, page_size=0, page_token=""
    )
    assert len(alice_inbox.conversations) == 1
    await world.say(ALICE, c, "new")
    bob_inbox = await world.m.list_conversations(BOB, requests=False, page_size=0, page_token="")
    assert len(bob_inbox.conversations) == 1
    assert await messages_of(world, BOB, c) == ["new"]
    assert await messages_of(world, ALICE, c) == ["new", "old"]


# -- blocks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [(ALICE, BOB), (BOB, ALICE)])
async def test_a_block_either_way_stops_new_and_continued_one_to_ones(
    world: World, block: tuple[int, int]
) -> None:
    c = await world.dm(ALICE, BOB)
    await world.say(ALICE, c)
    await world.block(*block)
    with pytest.raises(CannotMessage):
        await world.say(ALICE, c)
    with pytest.raises(CannotMessage):
        await world.say(BOB, c)
    with pytest.raises(CannotMessage):
        await world.dm(BOB, ALICE)
    with pytest.raises(CannotMessage):
        await world.m.create_conversation(ALICE, participant_ids=[BOB, CAROL], title="")
    assert await messages_of(world, BOB, c) == ["hello"]  # what was said stays readable


async def test_sends_into_a_one_to_one_reuse_the_block_answer_until_a_block_event(
    world: World,
) -> None:
    c = await world.dm(ALICE, BOB)
    await world.say(ALICE, c)
    asked = world.graph.asked
    await world.say(BOB, c)
    await world.say(ALICE, c)
    assert world.graph.asked == asked  # answered from the cache: graph_svc was not asked
    await world.block(BOB, ALICE)
    with pytest.raises(CannotMessage):  # the very next send
        await world.say(ALICE, c)
    await world.block(BOB, ALICE, lifted=True)
    await world.say(ALICE, c, "again")  # the unblock holds at once too
    assert (await messages_of(world, BOB, c))[0] == "again"


async def test_a_block_in_a_group_hides_nothing_of_it(world: World) -> None:
    group = await world.m.create_conversation(ALICE, participant_ids=[BOB, CAROL], title="")
    g = group.conversation.conversation_id
    await world.block(BOB, CAROL)
    await world.say(CAROL, g, "from carol")
    assert await messages_of(world, BOB, g) == ["from carol"]
    with pytest.raises(CannotMessage):
        await world.dm(BOB, CAROL)


async def test_writes_fail_closed_when_graph_svc_does_not_answer(world: World) -> None:
    c = await world.dm(ALICE, BOB)
    world.graph.down = True
    with pytest.raises(Unavailable):
        await world.say(ALICE, c)
    with pytest.raises(Unavailable):
        await world.dm(ALICE, CAROL)
    assert await messages_of(world, ALICE, c) == []


# -- messages ---------------------------------------------------------------------------------


async def test_a_retry_with_the_same_client_message_id_returns_the_same_message(
    world: World,
) -> None:
    c = await world.dm(ALICE, BOB)

    async def send() -> int:
        view = await world.m.send(
            ALICE,
            conversation_id=c,
            client_message_id="same",
            text="once",
            media_id=0,
            shared_post_id=0,
        )
        return view.record.message_id

    first = await send()
    again = await asyncio.gather(send(), send())
    assert list(again) == [first, first]
    assert await messages_of(world, BOB, c) == ["once"]
    async with world.store.transaction() as session:
        types = (await session.scalars(select(store.outbox.c.event_type))).all()
    assert types.count("shutter.events.v1.MessageSent") == 1
    assert types.count("shutter.events.v1.ConversationCreated") == 1


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("x" * 1000, True),
        ("  " + "x" * 1000 + "\n", True),
        ("x" * 1001, False),
        ("   ", False),
        ("bell\x07", False),
        ("two\nlines", True),
    ],
)
async def test_text_follows_the_caption_rules_up_to_1000_characters(
    world: World, text: str, accepted: bool
) -> None:
    c = await world.dm(ALICE, BOB)
    if accepted:
        await world.say(ALICE, c, text)
        assert await messages_of(world, BOB, c) == [text.strip()]
    else:
        with pytest.raises(InvalidArgument):
            await world.say(ALICE, c, text)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"client_message_id": "", "text": "hi"}, "client_message_id: is required"),
        ({"client_message_id": "has space", "text": "hi"}, "printable ASCII"),
        ({"client_message_id": "k" * 129, "text": "hi"}, "at most 128"),
        ({"client_message_id": "k"}, "exactly one"),
        ({"client_message_id": "k", "text": "hi", "media_id": 5}, "exactly one"),
        ({"client_message_id": "k", "media_id": -1}, "positive"),
    ],
)
async def test_bad_messages_are_refused(
    world: World, fields: dict[str, object], message: str
) -> None:
    c = await world.dm(ALICE, BOB)
    request: dict[str, object] = {"text": "", "media_id": 0, "shared_post_id": 0, **fields}
    with pytest.raises(InvalidArgument, match=message):
        await world.m.send(ALICE, conversation_id=c, **request)  # type: ignore[arg-type]


async def test_media_must_be_the_sender_s_and_ready(world: World) -> None:
    c = await world.dm(ALICE, BOB)
    world.media.items = {
        10: (ALICE, media_pb2.MEDIA_STATUS_READY),
        11: (ALICE, media_pb2.MEDIA_STATUS_PROCESSING),
        12: (BOB, media_pb2.MEDIA_STATUS_READY),
    }

    async def send(media_id: int, key: str) -> domain.MessageView:
        return await world.m.send(
            ALICE,
            conversation_id=c,
            client_message_id=key,
            text="",
            media_id=media_id,
            shared_post_id=0,
        )

    sent = await send(10, "a")
    assert sent.media is not None and sent.media.media_id == 10
    with pytest.raises(MediaNotReady):
        await send(11, "b")
    with pytest.raises(MediaNotFound):
        await send(12, "c")
    with pytest.raises(MediaNotFound):
        await send(13, "d")


async def test_a_shared_post_shows_to_each_reader_as_they_may_see_it_at_read_time(
    world: World,
) -> None:
    group = await world.m.create_conversation(ALICE, participant_ids=[BOB, CAROL], title="")
    g = group.conversation.conversation_id
    world.posts.authors = {70: DAVE, 71: DAVE}
    world.posts.hidden_from.add((ALICE, 71))
    await world.m.send(
        ALICE, conversation_id=g, client_message_id="p", text="", media_id=0, shared_post_id=70
    )
    with pytest.raises(PostNotFound):  # the sender must see what they share
        await world.m.send(
            ALICE, conversation_id=g, client_message_id="q", text="", media_id=0, shared_post_id=71
        )
    world.posts.hidden_from.add((CAROL, 70))  # e.g. Dave blocked Carol after the share

    async def shared(reader: int) -> object:
        page = await world.m.list_messages(reader, conversation_id=g, page_size=0, page_token="")
        return page.messages[0].shared_post

    assert (await shared(BOB)) is not None
    assert (await shared(CAROL)) is None
    del world.posts.authors[70]  # deleted
    assert (await shared(BOB)) is None


async def test_messages_page_newest_first_and_stay_stable_as_new_ones_arrive(world: World) -> None:
    c = await world.dm(ALICE, BOB)
    for i in range(5):
        await world.say(ALICE, c, f"m{i}")
    first = await world.m.list_messages(BOB, conversation_id=c, page_size=2, page_token="")
    await world.say(ALICE, c, "late")
    second = await world.m.list_messages(
        BOB, conversation_id=c, page_size=2, page_token=first.next_page_token
    )
    third = await world.m.list_messages(
        BOB, conversation_id=c, page_size=2, page_token=second.next_page_token
    )
    texts = [v.record.text for p in (first, second, third) for v in p.messages]
    assert texts == ["m4", "m3", "m2", "m1", "m0"]
    assert third.next_page_token == ""
    with pytest.raises(InvalidArgument, match="page_token"):
        await world.m.list_messages(BOB, conversation_id=c, page_size=2, page_token="bogus")
    with pytest.raises(InvalidArgument, match="page_size"):
        await world.m.list_messages(BOB, conversation_id=c, page_size=-1, page_token="")


async def test_read_markers_never_move_backwards(world: World) -> None:
    world.graph.follows.add((BOB, ALICE))
    c = await world.dm(ALICE, BOB)
    first, second = await world.say(ALICE, c), await world.say(ALICE, c)
    view = await world.m.mark_read(BOB, conversation_id=c, message_id=second)
    assert view.me.last_read_id == second and view.unread_count == 0
    view = await world.m.mark_read(BOB, conversation_id=c, message_id=first)
    assert view.me.last_read_id == second
    with pytest.raises(MessageNotFound):
        await world.m.mark_read(BOB, conversation_id=c, message_id=second + 1)
    assert await world.m.unread_count(BOB) == 0


async def test_unsend_removes_a_message_for_everyone_and_from_last_message(world: World) -> None:
    world.graph.follows.add((BOB, ALICE))
    c = await world.dm(ALICE, BOB)
    kept = await world.say(ALICE, c, "kept")
    oops = await world.say(ALICE, c, "oops")
    with pytest.raises(NotMessageSender):
        await world.m.unsend(BOB, conversation_id=c, message_id=oops)
    await world.m.unsend(ALICE, conversation_id=c, message_id=oops)
    await world.m.unsend(ALICE, conversation_id=c, message_id=oops)  # idempotent
    for reader in (ALICE, BOB):
        assert await messages_of(world, reader, c) == ["kept"]
        view = await world.m.get_conversation(reader, conversation_id=c)
        assert view.last_message is not None and view.last_message.record.message_id == kept
    with pytest.raises(MessageNotFound):  # a retry of the unsent message does not bring it back
        await world.m.send(
            ALICE,
            conversation_id=c,
            client_message_id="k2",
            text="oops",
            media_id=0,
            shared_post_id=0,
        )


# -- groups -----------------------------------------------------------------------------------


async def test_members_who_left_see_nothing_after_and_added_ones_nothing_before(
    world: World,
) -> None:
    group = await world.m.create_conversation(ALICE, participant_ids=[BOB, CAROL], title="")
    g = group.conversation.conversation_id
    await world.say(ALICE, g, "before")
    left = await world.m.leave(CAROL, conversation_id=g)
    assert left.me.left_at and left.last_message is not None
    await world.m.leave(CAROL, conversation_id=g)  # idempotent
    await world.say(ALICE, g, "after")
    with pytest.raises(HasLeft):
        await world.say(CAROL, g)
    assert await messages_of(world, CAROL, g) == ["before"]
    carol_view = await world.m.get_conversation(CAROL, conversation_id=g)
    assert carol_view.last_message is not None and carol_view.last_message.record.text == "before"
    added = await world.m.add_participants(BOB, conversation_id=g, user_ids=[DAVE, BOB])
    assert {p.record.user_id for p in added.participants} == {ALICE, BOB, CAROL, DAVE}
    await world.say(ALICE, g, "welcome")
    assert await messages_of(world, DAVE, g) == ["welcome"]
    assert await messages_of(world, BOB, g) == ["welcome", "after", "before"]


async def test_one_to_ones_take_no_members_and_cannot_be_left(world: World) -> None:
    c = await world.dm(ALICE, BOB)
    with pytest.raises(NotAGroup):
        await world.m.add_participants(ALICE, conversation_id=c, user_ids=[CAROL])
    with pytest.raises(NotAGroup):
        await world.m.leave(ALICE, conversation_id=c)


async def test_a_deleted_account_stays_a_participant_without_a_summary(world: World) -> None:
    c = await world.dm(ALICE, BOB)
    await world.say(BOB, c, "bye")
    world.directory.deleted.add(BOB)
    view = await world.m.get_conversation(ALICE, conversation_id=c)
    bob = next(p for p in view.participants if p.record.user_id == BOB)
    assert bob.user is None
    assert view.last_message is not None and view.last_message.record.sender_id == BOB


async def test_the_inbox_is_ordered_by_latest_activity_and_paginated(world: World) -> None:
    world.graph.follows.update({(ALICE, u) for u in (BOB, CAROL, DAVE)})
    made = [await world.dm(u, ALICE) for u in (BOB, CAROL, DAVE)]
    for c, u in zip(made, (BOB, CAROL, DAVE), strict=True):
        await world.say(u, c)
    await world.say(BOB, made[0], "again")
    first = await world.m.list_conversations(ALICE, requests=False, page_size=2, page_token="")
    rest = await world.m.list_conversations(
        ALICE, requests=False, page_size=2, page_token=first.next_page_token
    )
    order = [v.conversation.conversation_id for v in first.conversations + rest.conversations]
    assert order == [made[0], made[2], made[1]]
    assert rest.next_page_token == ""
    assert await world.m.unread_count(ALICE) == 3


# -- live -------------------------------------------------------------------------------------


async def test_a_stream_delivers_new_messages_and_resumes_after_an_id(world: World) -> None:
    c = await world.dm(ALICE, BOB)
    stream = world.m.stream(BOB, after_message_id=0)
    assert isinstance(await anext(stream), domain.StreamOpened)
    sent = await world.say(ALICE, c, "live")
    item = await asyncio.wait_for(anext(stream), timeout=1)
    assert isinstance(item, domain.MessageView) and item.record.message_id == sent
    heartbeat = await asyncio.wait_for(anext(stream), timeout=1)
    assert isinstance(heartbeat, domain.StreamHeartbeat)
    await stream.aclose()
    missed = [await world.say(ALICE, c, f"missed {i}") for i in range(3)]
    resumed = world.m.stream(BOB, after_message_id=sent)
    assert isinstance(await anext(resumed), domain.StreamOpened)
    got = [await asyncio.wait_for(anext(resumed), timeout=1) for _ in range(3)]
    assert [v.record.message_id for v in got if isinstance(v, domain.MessageView)] == missed
    assert isinstance(await asyncio.wait_for(anext(resumed), timeout=1), domain.StreamHeartbeat)
    await resumed.aclose()


async def test_a_send_wakes_the_recipients_stream_at_once_not_at_its_heartbeat(
    world: World,
) -> None:
    c = await world.dm(ALICE, BOB)
    await world.say(ALICE, c, "fills the block cache")
    world.m._heartbeat = 30  # a missed wake-up would wait for this
    stream = world.m.stream(BOB, after_message_id=0)
    assert isinstance(await anext(stream), domain.StreamOpened)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)  # the stream reads, finds nothing and sleeps
    sent = await world.say(ALICE, c, "now")
    item = await asyncio.wait_for(waiting, timeout=2)
    assert isinstance(item, domain.MessageView) and item.record.message_id == sent
    await stream.aclose()


async def test_a_stream_sends_a_handed_over_message_without_reading_the_store(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = await world.dm(ALICE, BOB)
    await world.say(ALICE, c, "fills the block cache")
    world.m._heartbeat = 30  # no heartbeat read during the test
    reads = 0
    read = world.store.rows_with_events_after

    async def counted(*args: object, **kwargs: object) -> list[store.MemberRecord]:
        nonlocal reads
        reads += 1
        return await read(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(world.store, "rows_with_events_after", counted)
    stream = world.m.stream(BOB, after_message_id=0)
    assert isinstance(await anext(stream), domain.StreamOpened)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)  # the stream reads once, finds nothing and sleeps
    assert reads == 1
    sent = [await world.say(ALICE, c, f"m{i}") for i in range(3)]
    got = [await asyncio.wait_for(waiting, timeout=2)]
    got += [await asyncio.wait_for(anext(stream), timeout=2) for _ in range(2)]
    assert [v.record.message_id for v in got if isinstance(v, domain.MessageView)] == sent
    assert reads == 1
    await stream.aclose()


async def test_a_handed_over_message_after_one_sent_elsewhere_waits_for_it(
    world: World,
) -> None:
    """Another replica's send wakes none of this process's streams: the next message handed
    over follows an event the stream has not sent, so it reads, and sends both in order."""
    c = await world.dm(ALICE, BOB)
    await world.say(ALICE, c, "fills the block cache")
    world.m._heartbeat = 30  # only the hand-over may reveal the other replica's message
    elsewhere = domain.Messenger(
        world.store,
        relationships=world.graph,
        directory=world.directory,
        media=world.media,
        posts=world.posts,
        wakeups=Wakeups(max_per_user=2),
        ids=IdGenerator(1),
        heartbeat_seconds=30,
    )
    stream = world.m.stream(BOB, after_message_id=0)
    assert isinstance(await anext(stream), domain.StreamOpened)
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)  # the stream reads, finds nothing and sleeps
    unseen = (
        await elsewhere.send(
            ALICE,
            conversation_id=c,
            client_message_id="x1",
            text="elsewhere",
            media_id=0,
            shared_post_id=0,
        )
    ).record.message_id
    await asyncio.sleep(0.05)
    assert not waiting.done()
    here = await world.say(ALICE, c, "here")
    got = [await asyncio.wait_for(waiting, timeout=2), await asyncio.wait_for(anext(stream), 2)]
    assert [v.record.message_id for v in got if isinstance(v, domain.MessageView)] == [
        unseen,
        here,
    ]
    world.m._heartbeat = 0.2
    assert isinstance(await asyncio.wait_for(anext(stream), timeout=2), domain.StreamHeartbeat)
    await stream.aclose()


async def test_a_stream_sees_nothing_of_conversations_it_is_not_in(world: World) -> None:
    c = await world.dm(ALICE, BOB)
    stream = world.m.stream(CAROL, after_message_id=0)
    await anext(stream)
    await world.say(ALICE, c)
    assert isinstance(await asyncio.wait_for(anext(stream), timeout=1), domain.StreamHeartbeat)
    await stream.aclose()


async def test_streams_per_account_are_limited(world: World) -> None:
    streams = [world.m.stream(BOB, after_message_id=0) for _ in range(2)]
    for s in streams:
        await anext(s)
    extra = world.m.stream(BOB, after_message_id=0)
    with pytest.raises(TooManyStreams):
        await anext(extra)
    for s in streams:
        await s.aclose()
    assert world.wakeups.open_streams(BOB) == 0


async def test_a_stream_resuming_after_a_backlog_sends_every_message_once_in_order(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(domain, "STREAM_BATCH", 3)  # backlogs many times the batch
    a, b = await world.dm(ALICE, BOB), await world.dm(CAROL, BOB)
    start = await world.say(ALICE, a, "start")
    sent = []
    for i in range(8):
        sent.append(await world.say(ALICE, a, f"a{i}"))
        if i % 3 == 0:
            sent.append(await world.say(CAROL, b, f"b{i}"))
    stream = world.m.stream(BOB, after_message_id=start)
    assert isinstance(await anext(stream), domain.StreamOpened)
    got: list[int] = []
    while True:
        item = await asyncio.wait_for(anext(stream), timeout=1)
        if isinstance(item, domain.StreamHeartbeat):
            break
        assert isinstance(item, domain.MessageView)
        got.append(item.record.message_id)
    assert got == sent
    late = await world.say(CAROL, b, "late")
    item = await asyncio.wait_for(anext(stream), timeout=1)
    assert isinstance(item, domain.MessageView) and item.record.message_id == late
    await stream.aclose()


async def test_an_unsend_reaches_open_streams_and_a_resumed_one(world: World) -> None:
    c = await world.dm(ALICE, BOB)
    kept = await world.say(ALICE, c, "kept")
    oops = await world.say(ALICE, c, "oops")
    stream = world.m.stream(BOB, after_message_id=oops)
    assert isinstance(await anext(stream), domain.StreamOpened)
    await world.m.unsend(ALICE, conversation_id=c, message_id=oops)
    item = await asyncio.wait_for(anext(stream), timeout=2)
    assert isinstance(item, domain.StreamUnsent)
    assert (item.conversation_id, item.message_id) == (c, oops) and item.event_id > oops
    await stream.aclose()
    # Resuming from before both: the kept message, then the unsend (the unsent one is not sent).
    resumed = world.m.stream(BOB, after_message_id=kept - 1)
    await anext(resumed)
    first = await asyncio.wait_for(anext(resumed), timeout=2)
    second = await asyncio.wait_for(anext(resumed), timeout=2)
    await resumed.aclose()
    assert isinstance(first, domain.MessageView) and first.record.message_id == kept
    assert isinstance(second, domain.StreamUnsent) and second.message_id == oops
    # Someone outside the conversation hears nothing of it.
    outsider = world.m.stream(CAROL, after_message_id=kept - 1)
    await anext(outsider)
    assert isinstance(await asyncio.wait_for(anext(outsider), timeout=1), domain.StreamHeartbeat)
    await outsider.aclose()
