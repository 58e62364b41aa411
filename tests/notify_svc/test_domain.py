"""Notification rules: every event kind, suppression, idempotency, aggregation, read state,
pagination, streams and retention."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from mesh.errors import InvalidArgument
from mesh.ids import id_time
from notify_svc import domain
from notify_svc.domain import Kind
from notify_svc.errors import NotificationNotFound, TooManyStreams
from tests.notify_svc.conftest import RETENTION, WINDOW, World

ALICE, BOB, CAROL, DAVE, ERIN = 101, 102, 103, 104, 105
POST = 9001


async def listed(world: World, user: int = ALICE) -> list[domain.NotificationView]:
    page = await world.n.list_notifications(user, page_size=50, page_token="")
    return page.notifications


def actor_ids(view: domain.NotificationView) -> list[int]:
    return [a.user_id for a in view.actors]


async def like(world: World, liker: int, *, post: int = POST, at: datetime | None = None) -> None:
    await world.n.on_post_liked(
        world.key(), post_id=post, author_id=ALICE, liker_id=liker, at=at or world.clock()
    )


async def unlike(world: World, liker: int, *, post: int = POST) -> None:
    await world.n.on_post_unliked(world.key(), post_id=post, author_id=ALICE, liker_id=liker)


# -- likes and aggregation ------------------------------------------------------------------


async def test_a_like_notifies_the_author_with_the_post_thumbnail(world: World) -> None:
    await like(world, BOB)
    [view] = await listed(world)
    assert view.record.kind == Kind.LIKE
    assert (view.record.post_id, view.record.actor_count, actor_ids(view)) == (POST, 1, [BOB])
    assert view.post_thumbnail_url == f"https://cdn.test/{POST}/thumb.jpg"
    assert not view.record.read
    assert await listed(world, BOB) == []


async def test_events_older_than_the_retention_notify_nobody(world: World) -> None:
    await like(world, BOB, at=world.clock() - RETENTION - timedelta(seconds=1))
    assert await listed(world) == []
    await like(world, BOB, at=world.clock() - RETENTION + timedelta(seconds=1))
    assert len(await listed(world)) == 1


async def test_liking_your_own_post_notifies_nobody(world: World) -> None:
    await like(world, ALICE)
    assert await listed(world) == []
    assert world.relationships.asked == []  # decided without asking graph_svc


async def test_likes_in_the_window_aggregate_and_move_to_the_top(world: World) -> None:
    await like(world, BOB)
    first = (await listed(world))[0].record
    await world.n.on_followed(
        world.key("graph_svc"), follower_id=DAVE, followee_id=ALICE, at=world.clock()
    )
    assert [v.record.kind for v in await listed(world)] == [Kind.FOLLOWED, Kind.LIKE]
    await like(world, CAROL, at=world.clock() + WINDOW - timedelta(seconds=5))
    views = await listed(world)
    assert [v.record.kind for v in views] == [Kind.LIKE, Kind.FOLLOWED]
    aggregated = views[0]
    assert aggregated.record.notification_id == first.notification_id
    assert aggregated.record.actor_count == 2
    assert actor_ids(aggregated) == [CAROL, BOB]  # most recent first
    assert aggregated.record.sequence > first.sequence


async def test_a_like_after_the_window_starts_a_new_notification(world: World) -> None:
    await like(world, BOB)
    await like(world, CAROL, at=world.clock() + WINDOW + timedelta(seconds=5))
    views = await listed(world)
    assert [actor_ids(v) for v in views] == [[CAROL], [BOB]]


async def test_likes_of_different_posts_do_not_aggregate(world: World) -> None:
    await like(world, BOB, post=1)
    await like(world, CAROL, post=2)
    assert sorted(v.record.post_id for v in await listed(world)) == [1, 2]


async def test_at_most_three_actors_are_shown_but_all_are_counted(world: World) -> None:
    for liker in (BOB, CAROL, DAVE, ERIN):
        await like(world, liker)
    [view] = await listed(world)
    assert view.record.actor_count == 4
    assert actor_ids(view) == [ERIN, DAVE, CAROL]


async def test_unlike_before_it_is_seen_removes_the_actor(world: World) -> None:
    await like(world, BOB)
    await like(world, CAROL)
    await unlike(world, CAROL)
    [view] = await listed(world)
    assert (view.record.actor_count, actor_ids(view)) == (1, [BOB])
    await unlike(world, BOB)
    assert await listed(world) == []
    assert await world.n.unread_count(ALICE) == 0


async def test_unlike_after_it_was_seen_changes_nothing(world: World) -> None:
    await like(world, BOB)
    [view] = await listed(world)
    await world.n.mark_read(ALICE, notification_id=view.record.notification_id)
    await unlike(world, BOB)
    [after] = await listed(world)
    assert (after.record.actor_count, actor_ids(after), after.record.read) == (1, [BOB], True)


async def test_only_actors_added_since_the_last_read_can_be_taken_back(world: World) -> None:
    await like(world, BOB)
    [view] = await listed(world)
    await world.n.mark_read(ALICE, notification_id=view.record.notification_id)
    await like(world, CAROL)  # unread again, CAROL unseen, BOB seen
    await unlike(world, BOB)
    await unlike(world, CAROL)
    [after] = await listed(world)
    assert (after.record.actor_count, actor_ids(after)) == (1, [BOB])


async def test_liking_again_after_an_unlike_counts_once(world: World) -> None:
    await like(world, BOB)
    await like(world, CAROL)
    await unlike(world, BOB)
    await like(world, BOB)
    [view] = await listed(world)
    assert (view.record.actor_count, actor_ids(view)) == (2, [BOB, CAROL])


# -- idempotency ----------------------------------------------------------------------------


async def test_a_redelivered_event_notifies_once(world: World) -> None:
    key = world.key()
    for _ in range(3):
        await world.n.on_post_liked(
            key, post_id=POST, author_id=ALICE, liker_id=BOB, at=world.clock()
        )
    comment_key = world.key()
    for _ in range(2):
        await world.n.on_comment_created(
            comment_key,
            comment_id=5,
            post_id=POST,
            post_author_id=ALICE,
            commenter_id=CAROL,
            parent_comment_author_id=0,
            text="nice",
            at=world.clock(),
        )
    views = await listed(world)
    assert [(v.record.kind, v.record.actor_count) for v in views] == [
        (Kind.COMMENT, 1),
        (Kind.LIKE, 1),
    ]


async def test_a_redelivered_unlike_does_not_remove_a_later_like(world: World) -> None:
    await like(world, BOB)
    unlike_key = world.key()
    await world.n.on_post_unliked(unlike_key, post_id=POST, author_id=ALICE, liker_id=BOB)
    await like(world, BOB)
    await world.n.on_post_unliked(unlike_key, post_id=POST, author_id=ALICE, liker_id=BOB)
    [view] = await listed(world)
    assert actor_ids(view) == [BOB]


async def test_the_same_event_id_from_two_producers_is_two_events(world: World) -> None:
    at = world.clock()
    await world.n.on_followed(
        domain.EventKey("graph_svc", 1), follower_id=BOB, followee_id=ALICE, at=at
    )
    await world.n.on_post_liked(
        domain.EventKey("post_svc", 1), post_id=POST, author_id=ALICE, liker_id=BOB, at=at
    )
    assert len(await listed(world)) == 2


# -- comments, follows, mentions ------------------------------------------------------------


async def comment(
    world: World, *, commenter: int, parent_author: int = 0, text: str = "hi"
) -> None:
    await world.n.on_comment_created(
        world.key(),
        comment_id=77,
        post_id=POST,
        post_author_id=ALICE,
        commenter_id=commenter,
        parent_comment_author_id=parent_author,
        text=text,
        at=world.clock(),
    )


async def test_a_comment_notifies_the_post_author_with_its_text(world: World) -> None:
    await comment(world, commenter=BOB, text="lovely light")
    [view] = await listed(world)
    assert (view.record.kind, view.record.comment_id, view.record.text) == (
        Kind.COMMENT,
        77,
        "lovely light",
    )
    assert actor_ids(view) == [BOB]


async def test_a_long_comment_is_cut_to_200_characters(world: World) -> None:
    await comment(world, commenter=BOB, text="x" * 200)
    await comment(world, commenter=CAROL, text="y" * 201)
    texts = [v.record.text for v in await listed(world)]
    assert texts == ["y" * 199 + "…", "x" * 200]


async def test_a_reply_notifies_the_parent_author_and_the_post_author(world: World) -> None:
    await comment(world, commenter=CAROL, parent_author=BOB)
    [reply] = await listed(world, BOB)
    assert (reply.record.kind, actor_ids(reply)) == (Kind.COMMENT_REPLY, [CAROL])
    [on_post] = await listed(world, ALICE)
    assert on_post.record.kind == Kind.COMMENT


async def test_a_reply_to_the_post_author_notifies_them_once(world: World) -> None:
    await comment(world, commenter=BOB, parent_author=ALICE)
    assert [v.record.kind for v in await listed(world)] == [Kind.COMMENT_REPLY]


async def test_the_author_replying_on_their_post_notifies_only_the_parent(world: World) -> None:
    await comment(world, commenter=ALICE, parent_author=BOB)
    assert await listed(world, ALICE) == []
    assert [v.record.kind for v in await listed(world, BOB)] == [Kind.COMMENT_REPLY]


async def test_follow_request_then_follow_replaces_the_request(world: World) -> None:
    await world.n.on_follow_requested(
        world.key("graph_svc"), requester_id=BOB, target_id=ALICE, at=world.clock()
    )
    [request] = await listed(world)
    assert (request.record.kind, actor_ids(request)) == (Kind.FOLLOW_REQUESTED, [BOB])
    await world.n.on_follow_approved(
        world.key("graph_svc"), requester_id=BOB, target_id=ALICE, automatic=False, at=world.clock()
    )
    await world.n.on_followed(
        world.key("graph_svc"), follower_id=BOB, followee_id=ALICE, at=world.clock()
    )
    [followed] = await listed(world)
    assert (followed.record.kind, actor_ids(followed)) == (Kind.FOLLOWED, [BOB])
    [approved] = await listed(world, BOB)
    assert (approved.record.kind, actor_ids(approved)) == (Kind.FOLLOW_APPROVED, [ALICE])


async def test_an_automatic_approval_notifies_nobody(world: World) -> None:
    await world.n.on_follow_approved(
        world.key("graph_svc"), requester_id=BOB, target_id=ALICE, automatic=True, at=world.clock()
    )
    assert await listed(world, BOB) == []


async def test_a_mention_notifies_the_mentioned_account(world: World) -> None:
    await world.n.on_user_mentioned(
        world.key(),
        mentioned_user_id=CAROL,
        author_id=BOB,
        post_id=POST,
        comment_id=0,
        at=world.clock(),
    )
    await world.n.on_user_mentioned(
        world.key(),
        mentioned_user_id=CAROL,
        author_id=BOB,
        post_id=POST,
        comment_id=8,
        at=world.clock(),
    )
    await world.n.on_user_mentioned(
        world.key(),
        mentioned_user_id=BOB,
        author_id=BOB,
        post_id=POST,
        comment_id=9,
        at=world.clock(),
    )
    views = await listed(world, CAROL)
    assert [(v.record.kind, v.record.comment_id) for v in views] == [
        (Kind.MENTION, 8),
        (Kind.MENTION, 0),
    ]
    assert await listed(world, BOB) == []


async def test_deleting_a_post_deletes_its_notifications(world: World) -> None:
    await like(world, BOB)
    await like(world, BOB, post=POST + 1)
    await world.n.on_post_deleted(post_id=POST)
    await world.n.on_post_deleted(post_id=POST)  # idempotent
    assert [v.record.post_id for v in await listed(world)] == [POST + 1]


# -- suppression ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("blocks", "mutes"),
    [({(ALICE, BOB)}, set()), ({(BOB, ALICE)}, set()), (set(), {(ALICE, BOB)})],
    ids=["recipient-blocked-actor", "actor-blocked-recipient", "recipient-muted-actor"],
)
async def test_blocked_and_muted_accounts_never_notify(
    world: World, blocks: set[tuple[int, int]], mutes: set[tuple[int, int]]
) -> None:
    world.relationships.blocks, world.relationships.mutes = blocks, mutes
    await like(world, BOB)
    await comment(world, commenter=BOB)
    await world.n.on_followed(
        world.key("graph_svc"), follower_id=BOB, followee_id=ALICE, at=world.clock()
    )
    await like(world, CAROL)
    views = await listed(world)
    assert [actor_ids(v) for v in views] == [[CAROL]]
    assert [ALICE, BOB] in [list(pair) for asked in world.relationships.asked for pair in asked]


async def test_a_block_takes_each_off_the_others_notifications(world: World) -> None:
    await like(world, BOB)
    await like(world, CAROL)
    [view] = await listed(world)
    await world.n.mark_read(ALICE, notification_id=view.record.notification_id)
    await world.n.on_followed(
        world.key("graph_svc"), follower_id=BOB, followee_id=ALICE, at=world.clock()
    )
    await world.n.on_followed(
        world.key("graph_svc"), follower_id=ALICE, followee_id=BOB, at=world.clock()
    )
    await world.n.on_blocked(blocker_id=BOB, blocked_id=ALICE)
    await world.n.on_blocked(blocker_id=BOB, blocked_id=ALICE)  # idempotent
    [left] = await listed(world)
    assert (left.record.kind, left.record.actor_count, actor_ids(left)) == (Kind.LIKE, 1, [CAROL])
    assert await listed(world, BOB) == []


async def test_a_muted_actor_does_not_hide_others_on_a_reply(world: World) -> None:
    world.relationships.mutes = {(BOB, CAROL)}
    await comment(world, commenter=CAROL, parent_author=BOB)
    assert await listed(world, BOB) == []
    assert [v.record.kind for v in await listed(world, ALICE)] == [Kind.COMMENT]


# -- reading ----------------------------------------------------------------------------------


async def test_pages_are_newest_first_and_end_with_an_empty_token(world: World) -> None:
    for post in range(1, 26):
        await like(world, BOB, post=post)
    first = await world.n.list_notifications(ALICE, page_size=0, page_token="")
    assert len(first.notifications) == 20 and first.next_page_token
    second = await world.n.list_notifications(ALICE, page_size=0, page_token=first.next_page_token)
    assert len(second.notifications) == 5 and second.next_page_token == ""
    posts = [v.record.post_id for v in first.notifications + second.notifications]
    assert posts == list(range(25, 0, -1))
    # One batch call each to user_svc and post_svc per page, whatever its length.
    assert len(world.directory.calls) == 2 and len(world.posts.calls) == 2
    assert world.posts.calls[0][0] == ALICE


async def test_page_size_limits(world: World) -> None:
    for post in range(1, 53):
        await like(world, BOB, post=post)
    assert (
        len((await world.n.list_notifications(ALICE, page_size=1, page_token="")).notifications)
        == 1
    )
    assert (
        len((await world.n.list_notifications(ALICE, page_size=50, page_token="")).notifications)
        == 50
    )
    assert (
        len((await world.n.list_notifications(ALICE, page_size=51, page_token="")).notifications)
        == 50
    )
    with pytest.raises(InvalidArgument) as caught:
        await world.n.list_notifications(ALICE, page_size=-1, page_token="")
    assert caught.value.violations[0].field == "page_size"


@pytest.mark.parametrize("token", ["garbage!", "eyJzIjoiYSJ9", "eyJzIjowfQ"])
async def test_a_page_token_we_did_not_make_is_refused(world: World, token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await world.n.list_notifications(ALICE, page_size=0, page_token=token)
    assert caught.value.violations[0].field == "page_token"


async def test_hydration_leaves_out_gone_actors_and_hidden_posts(world: World) -> None:
    await like(world, BOB)
    await like(world, CAROL)
    world.directory.missing.add(CAROL)
    world.posts.hidden.add(POST)
    [view] = await listed(world)
    assert (actor_ids(view), view.record.actor_count, view.post_thumbnail_url) == ([BOB], 2, "")


async def test_read_state_unread_count_and_mark_all(world: World) -> None:
    for post in (1, 2, 3):
        await like(world, BOB, post=post)
    assert await world.n.unread_count(ALICE) == 3
    views = await listed(world)
    read = await world.n.mark_read(ALICE, notification_id=views[0].record.notification_id)
    assert read.record.read and actor_ids(read) == [BOB]
    await world.n.mark_read(ALICE, notification_id=views[0].record.notification_id)  # idempotent
    assert await world.n.unread_count(ALICE) == 2
    # Only up to the oldest: the middle one stays unread.
    assert await world.n.mark_all_read(ALICE, max_sequence=views[2].record.sequence) == 1
    assert await world.n.unread_count(ALICE) == 1
    assert await world.n.mark_all_read(ALICE, max_sequence=0) == 1
    assert await world.n.mark_all_read(ALICE, max_sequence=0) == 0
    assert await world.n.unread_count(ALICE) == 0
    await like(world, CAROL, post=1)  # moves to the top: unread again
    assert await world.n.unread_count(ALICE) == 1


async def test_marking_another_accounts_notification_is_not_found(world: World) -> None:
    await like(world, BOB)
    [view] = await listed(world)
    with pytest.raises(NotificationNotFound):
        await world.n.mark_read(CAROL, notification_id=view.record.notification_id)
    assert await world.n.unread_count(ALICE) == 1
    with pytest.raises(InvalidArgument):
        await world.n.mark_read(ALICE, notification_id=0)
    with pytest.raises(InvalidArgument):
        await world.n.mark_all_read(ALICE, max_sequence=-1)


# -- streams --------------------------------------------------------------------------------


async def test_a_stream_opens_then_pushes_new_and_moved_notifications(world: World) -> None:
    await like(world, BOB)  # before the stream: not sent without a resume point
    stream = world.n.stream(ALICE, after_sequence=0)
    opened = await anext(stream)
    assert isinstance(opened, domain.StreamOpened) and opened.heartbeat_seconds == 0.2
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    await like(world, CAROL)
    pushed = await asyncio.wait_for(pending, 2)
    assert isinstance(pushed, domain.NotificationView)
    assert (pushed.record.actor_count, actor_ids(pushed)) == (2, [CAROL, BOB])
    beat = await asyncio.wait_for(anext(stream), 2)
    assert isinstance(beat, domain.StreamHeartbeat)
    await stream.aclose()
    assert world.wakeups.open_streams(ALICE) == 0


async def test_a_resumed_stream_sends_what_changed_once_in_its_latest_state(world: World) -> None:
    await like(world, BOB, post=1)
    [first] = await listed(world)
    await world.n.on_followed(
        world.key("graph_svc"), follower_id=DAVE, followee_id=ALICE, at=world.clock()
    )
    await like(world, CAROL, post=2)
    await like(world, ERIN, post=2)  # aggregated: one item, latest state
    stream = world.n.stream(ALICE, after_sequence=first.record.sequence)
    assert isinstance(await anext(stream), domain.StreamOpened)
    assert await anext(stream) == domain.MessagesBadge(unread_conversations=0)
    got = [await anext(stream), await anext(stream)]
    assert all(isinstance(item, domain.NotificationView) for item in got)
    views = [item for item in got if isinstance(item, domain.NotificationView)]
    assert [v.record.kind for v in views] == [Kind.FOLLOWED, Kind.LIKE]
    assert actor_ids(views[1]) == [ERIN, CAROL]
    assert isinstance(await asyncio.wait_for(anext(stream), 2), domain.StreamHeartbeat)
    await stream.aclose()


async def test_a_resumed_stream_gets_the_dm_badge_of_now_and_a_fresh_one_does_not(
    world: World,
) -> None:
    world.badges.counts[ALICE] = 3  # changed while no stream was open: no badge was posted
    fresh = world.n.stream(ALICE, after_sequence=0)
    assert isinstance(await anext(fresh), domain.StreamOpened)
    assert isinstance(await asyncio.wait_for(anext(fresh), 2), domain.StreamHeartbeat)
    await fresh.aclose()
    resumed = world.n.stream(ALICE, after_sequence=1)
    assert isinstance(await anext(resumed), domain.StreamOpened)
    assert await anext(resumed) == domain.MessagesBadge(unread_conversations=3)
    # A badge posted later still comes, once.
    world.wakeups.post_badge(ALICE, 4)
    assert await asyncio.wait_for(anext(resumed), 2) == domain.MessagesBadge(unread_conversations=4)
    assert isinstance(await asyncio.wait_for(anext(resumed), 2), domain.StreamHeartbeat)
    await resumed.aclose()


async def test_a_resumed_stream_goes_on_without_a_badge_when_message_svc_fails(
    world: World,
) -> None:
    world.badges.down = True
    stream = world.n.stream(ALICE, after_sequence=1)
    assert isinstance(await anext(stream), domain.StreamOpened)
    assert isinstance(await asyncio.wait_for(anext(stream), 2), domain.StreamHeartbeat)
    await stream.aclose()


async def test_streams_per_account_are_limited(world: World) -> None:
    streams = [world.n.stream(ALICE, after_sequence=0) for _ in range(2)]
    for stream in streams:
        await anext(stream)
    extra = world.n.stream(ALICE, after_sequence=0)
    with pytest.raises(TooManyStreams):
        await anext(extra)
    other = world.n.stream(BOB, after_sequence=0)
    assert isinstance(await anext(other), domain.StreamOpened)
    await streams[0].aclose()
    again = world.n.stream(ALICE, after_sequence=0)
    assert isinstance(await anext(again), domain.StreamOpened)
    for stream in (streams[1], other, again):
        await stream.aclose()
    with pytest.raises(InvalidArgument):
        await anext(world.n.stream(ALICE, after_sequence=-1))


# -- retention --------------------------------------------------------------------------------


async def test_notifications_past_the_retention_are_pruned(world: World) -> None:
    await like(world, BOB, post=1)
    [old] = await listed(world)
    await asyncio.sleep(0.02)  # the ids of the two notifications are a few milliseconds apart
    await like(world, CAROL, post=2)
    last_changed = id_time(old.record.sequence)
    world.clock.now = last_changed + RETENTION - timedelta(milliseconds=1)
    # Only the two events' ids go: they are kept for 7 days.
    assert await world.n.prune() == (0, 2)
    world.clock.now = last_changed + RETENTION + timedelta(milliseconds=10)
    assert await world.n.prune() == (1, 0)
    assert [v.record.post_id for v in await listed(world)] == [2]


async def test_pruning_a_backlog_runs_in_batches(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(domain, "PRUNE_BATCH", 2)
    for post in range(1, 6):
        await like(world, BOB, post=post)
    world.clock.now += RETENTION + timedelta(days=1)
    assert await world.n.prune() == (5, 5)
    assert await listed(world) == []


async def test_a_resolved_report_tells_the_reporter_once_without_an_actor(world: World) -> None:
    key = world.key("user_svc")
    for _ in range(2):  # a redelivery writes nothing more
        await world.n.on_report_resolved(
            key, reporter_id=BOB, target_type="post", outcome="remove", at=world.clock()
        )
    await world.n.on_report_resolved(
        world.key("user_svc"),
        reporter_id=BOB,
        target_type="comment",
        outcome="dismiss",
        at=world.clock(),
    )
    views = await listed(world, BOB)
    assert [(v.record.kind, v.record.actor_count, actor_ids(v)) for v in views] == [
        (Kind.REPORT_RESOLVED, 0, []),
        (Kind.REPORT_RESOLVED, 0, []),
    ]
    assert views[0].record.text.startswith("We reviewed the comment you reported")
    assert views[1].record.text == "We removed the post you reported. Thank you for telling us."
    await world.n.on_report_resolved(
        world.key("user_svc"), reporter_id=BOB, target_type="post", outcome="?", at=world.clock()
    )
    assert len(await listed(world, BOB)) == 2  # an outcome it does not know tells nothing
