"""The graph rules: every transition of follow, request, block and mute, privacy and limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from graph_svc import domain, events, store
from graph_svc.errors import (
    FollowRequestNotFound,
    NotViewer,
    PrivateAccount,
    ServiceRequired,
    UserNotFound,
)
from mesh.context import Principal
from mesh.errors import InvalidArgument
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from shutter.events.v1 import envelope_pb2, graph_events_pb2, user_events_pb2
from tests.graph_svc.conftest import FakeDirectory, outbox_events

ALICE, BOB, CAROL, DAVE = 101, 102, 103, 104
GONE = 999  # an id user_svc does not know


@pytest.fixture(autouse=True)
def people(directory: FakeDirectory) -> None:
    directory.add(ALICE)
    directory.add(BOB)
    directory.add(CAROL, private=True)
    directory.add(DAVE)


async def counts(graph: domain.Graph, *user_ids: int) -> list[tuple[int, int]]:
    found = await graph.batch_counts(user_ids=list(user_ids))
    return [(c.follower_count, c.following_count) for c in found]


async def kinds(graph_store: store.SqlGraphStore) -> list[str]:
    return [type(event).__name__ for _, event in await outbox_events(graph_store)]


def flags(relationship: store.Relationship) -> set[str]:
    names = (
        "following",
        "followed_by",
        "requested",
        "incoming_request",
        "blocking",
        "blocked_by",
        "muting",
    )
    return {name for name in names if getattr(relationship, name)}


async def _fill_followers(graph_store: store.SqlGraphStore, owner: int, followers: range) -> None:
    ids = IdGenerator()
    async with graph_store.transaction() as tx:
        for follower in followers:
            await graph_store.insert_follow(
                tx,
                follower_id=follower,
                followee_id=owner,
                follow_id=ids.next_id(),
                created_at=datetime.now(UTC),
            )


# -- follow and unfollow ---------------------------------------------------------------------


async def test_following_a_public_account_is_immediate_and_idempotent(graph, graph_store) -> None:
    first = await graph.follow(caller=ALICE, user_id=BOB)
    again = await graph.follow(caller=ALICE, user_id=BOB)
    assert flags(first) == flags(again) == {"following"}
    assert await counts(graph, ALICE, BOB) == [(0, 1), (1, 0)]
    events_ = await outbox_events(graph_store)
    assert [(a, type(e).__name__) for a, e in events_] == [(ALICE, "Followed")]
    assert events_[0][1] == graph_events_pb2.Followed(follower_id=ALICE, followee_id=BOB)
    seen_by_bob = await graph.get_relationship(caller=BOB, user_id=ALICE)
    assert flags(seen_by_bob) == {"followed_by"}


async def test_unfollow_removes_the_follow_once_and_counts_never_drift(graph, graph_store) -> None:
    await graph.follow(caller=ALICE, user_id=BOB)
    assert flags(await graph.unfollow(caller=ALICE, user_id=BOB)) == set()
    assert flags(await graph.unfollow(caller=ALICE, user_id=BOB)) == set()
    assert await counts(graph, ALICE, BOB) == [(0, 0), (0, 0)]
    events_ = await outbox_events(graph_store)
    assert [type(e).__name__ for _, e in events_] == ["Followed", "Unfollowed"]
    assert events_[1][1].reason == graph_events_pb2.UNFOLLOW_REASON_UNFOLLOWED


@pytest.mark.parametrize("action", ["follow", "unfollow", "block", "unblock", "mute", "unmute"])
async def test_acting_on_yourself_or_a_bad_id_is_invalid(graph, graph_store, action) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await getattr(graph, action)(caller=ALICE, user_id=ALICE)
    assert caught.value.reason == "CANNOT_TARGET_SELF"
    assert [v.field for v in caught.value.violations] == ["user_id"]
    for bad in (0, -5):
        with pytest.raises(InvalidArgument) as caught:
            await getattr(graph, action)(caller=ALICE, user_id=bad)
        assert [v.field for v in caught.value.violations] == ["user_id"]
    assert await outbox_events(graph_store) == []


@pytest.mark.parametrize(
    "action", ["follow", "unfollow", "remove_follower", "block", "unblock", "mute", "unmute"]
)
async def test_unknown_accounts_are_not_found_and_nothing_is_written(
    graph, graph_store, action
) -> None:
    with pytest.raises(UserNotFound):
        await getattr(graph, action)(caller=ALICE, user_id=GONE)
    assert await outbox_events(graph_store) == []
    assert await counts(graph, ALICE, GONE) == [(0, 0), (0, 0)]


async def test_following_a_private_account_creates_one_pending_request(graph, graph_store) -> None:
    first = await graph.follow(caller=ALICE, user_id=CAROL)
    again = await graph.follow(caller=ALICE, user_id=CAROL)
    assert flags(first) == flags(again) == {"requested"}
    assert await counts(graph, ALICE, CAROL) == [(0, 0), (0, 0)]  # requests are not follows
    assert flags(await graph.get_relationship(caller=CAROL, user_id=ALICE)) == {"incoming_request"}
    events_ = await outbox_events(graph_store)
    assert [e for _, e in events_] == [
        graph_events_pb2.FollowRequested(requester_id=ALICE, target_id=CAROL)
    ]


async def test_the_requester_cancels_with_unfollow(graph, graph_store) -> None:
    await graph.follow(caller=ALICE, user_id=CAROL)
    assert flags(await graph.unfollow(caller=ALICE, user_id=CAROL)) == set()
    assert flags(await graph.unfollow(caller=ALICE, user_id=CAROL)) == set()
    ended = (await outbox_events(graph_store))[-1][1]
    assert ended == graph_events_pb2.FollowRequestEnded(
        requester_id=ALICE,
        target_id=CAROL,
        reason=graph_events_pb2.FOLLOW_REQUEST_END_REASON_CANCELLED,
    )
    assert await kinds(graph_store) == ["FollowRequested", "FollowRequestEnded"]


async def test_a_stale_request_is_superseded_when_the_account_went_public(graph, directory) -> None:
    await graph.follow(caller=ALICE, user_id=CAROL)
    directory.set_private(CAROL, False)
    assert flags(await graph.follow(caller=ALICE, user_id=CAROL)) == {"following"}
    assert (await graph.list_requests(caller=CAROL, page_size=0, page_token=""))[0] == []
    assert await counts(graph, CAROL) == [(1, 0)]


# -- follow requests -------------------------------------------------------------------------


async def test_approve_turns_a_request_into_a_follow_once(graph, graph_store) -> None:
    await graph.follow(caller=ALICE, user_id=CAROL)
    approved = await graph.approve_request(caller=CAROL, user_id=ALICE)
    assert flags(approved) == {"followed_by"}
    # Approving again is a retry of a done thing: no error, no second follow.
    assert flags(await graph.approve_request(caller=CAROL, user_id=ALICE)) == {"followed_by"}
    assert await counts(graph, ALICE, CAROL) == [(0, 1), (1, 0)]
    events_ = [e for _, e in await outbox_events(graph_store)]
    assert events_[1:] == [
        graph_events_pb2.FollowApproved(requester_id=ALICE, target_id=CAROL, automatic=False),
        graph_events_pb2.Followed(follower_id=ALICE, followee_id=CAROL),
    ]
    assert flags(await graph.get_relationship(caller=ALICE, user_id=CAROL)) == {"following"}


async def test_approve_without_a_request_is_not_found(graph) -> None:
    with pytest.raises(FollowRequestNotFound):
        await graph.approve_request(caller=CAROL, user_id=BOB)
    with pytest.raises(UserNotFound):
        await graph.approve_request(caller=CAROL, user_id=GONE)
    with pytest.raises(InvalidArgument):
        await graph.approve_request(caller=CAROL, user_id=CAROL)


async def test_deny_removes_the_request_and_is_idempotent(graph, graph_store) -> None:
    await graph.follow(caller=ALICE, user_id=CAROL)
    assert flags(await graph.deny_request(caller=CAROL, user_id=ALICE)) == set()
    assert flags(await graph.deny_request(caller=CAROL, user_id=ALICE)) == set()
    assert flags(await graph.get_relationship(caller=ALICE, user_id=CAROL)) == set()
    assert (await outbox_events(graph_store))[-1][1].reason == (
        graph_events_pb2.FOLLOW_REQUEST_END_REASON_DENIED
    )
    assert await kinds(graph_store) == ["FollowRequested", "FollowRequestEnded"]
    with pytest.raises(UserNotFound):
        await graph.deny_request(caller=CAROL, user_id=GONE)


async def test_incoming_requests_list_newest_first_with_pages(graph, directory) -> None:
    for requester in (ALICE, BOB, DAVE):
        await graph.follow(caller=requester, user_id=CAROL)
    del directory.users[BOB]  # an account deleted since it asked
    first, token = await graph.list_requests(caller=CAROL, page_size=2, page_token="")
    assert [r.user.user_id for r in first] == [DAVE] and token  # BOB's row is left out
    second, end = await graph.list_requests(caller=CAROL, page_size=2, page_token=token)
    assert [r.user.user_id for r in second] == [ALICE] and end == ""
    assert directory.lookups[-1] == ([ALICE], False)  # hydration: one batch per page
    with pytest.raises(InvalidArgument) as caught:
        await graph.list_requests(caller=CAROL, page_size=-1, page_token="")
    assert caught.value.violations[0].field == "page_size"
    with pytest.raises(InvalidArgument) as caught:
        await graph.list_requests(caller=ALICE, page_size=2, page_token=token)  # CAROL's token
    assert caught.value.violations[0].field == "page_token"


# -- remove follower -------------------------------------------------------------------------


async def test_remove_follower(graph, graph_store) -> None:
    await graph.follow(caller=ALICE, user_id=BOB)
    assert flags(await graph.remove_follower(caller=BOB, user_id=ALICE)) == set()
    assert flags(await graph.remove_follower(caller=BOB, user_id=ALICE)) == set()
    assert await counts(graph, ALICE, BOB) == [(0, 0), (0, 0)]
    aggregate, event = (await outbox_events(graph_store))[-1]
    assert aggregate == ALICE and event == graph_events_pb2.Unfollowed(
        follower_id=ALICE, followee_id=BOB, reason=graph_events_pb2.UNFOLLOW_REASON_REMOVED
    )
    assert await kinds(graph_store) == ["Followed", "Unfollowed"]


# -- block -----------------------------------------------------------------------------------


async def test_block_removes_follows_both_ways_and_pending_requests(graph, graph_store) -> None:
    await graph.follow(caller=CAROL, user_id=ALICE)  # Alice is public: a follow
    await graph.follow(caller=ALICE, user_id=CAROL)  # Carol is private: a request
    blocked = await graph.block(caller=CAROL, user_id=ALICE)
    assert flags(blocked) == {"blocking"}
    assert await counts(graph, ALICE, CAROL) == [(0, 0), (0, 0)]
    events_ = await outbox_events(graph_store)
    assert [(a, e) for a, e in events_[2:]] == [
        (
            CAROL,
            graph_events_pb2.Unfollowed(
                follower_id=CAROL,
                followee_id=ALICE,
                reason=graph_events_pb2.UNFOLLOW_REASON_BLOCKED,
            ),
        ),
        (
            ALICE,
            graph_events_pb2.FollowRequestEnded(
                requester_id=ALICE,
                target_id=CAROL,
                reason=graph_events_pb2.FOLLOW_REQUEST_END_REASON_BLOCKED,
            ),
        ),
        (CAROL, graph_events_pb2.Blocked(blocker_id=CAROL, blocked_id=ALICE)),
    ]
    assert flags(await graph.block(caller=CAROL, user_id=ALICE)) == {"blocking"}
    assert len(await outbox_events(graph_store)) == len(events_)  # blocking twice is one block


async def test_a_block_refuses_follows_both_ways_without_saying_who_blocked(graph) -> None:
    await graph.block(caller=ALICE, user_id=BOB)
    with pytest.raises(UserNotFound) as by_blocker:
        await graph.follow(caller=ALICE, user_id=BOB)
    with pytest.raises(UserNotFound) as by_blocked:
        await graph.follow(caller=BOB, user_id=ALICE)
    with pytest.raises(UserNotFound) as unknown:
        await graph.follow(caller=BOB, user_id=GONE)
    assert by_blocker.value.message == by_blocked.value.message == unknown.value.message
    assert by_blocker.value.reason == by_blocked.value.reason == "USER_NOT_FOUND"


async def test_blocked_users_see_each_other_as_not_found(graph) -> None:
    await graph.follow(caller=BOB, user_id=ALICE)
    await graph.block(caller=ALICE, user_id=BOB)
    for action in ("get_relationship", "mute", "block", "unfollow"):
        with pytest.raises(UserNotFound):
            await getattr(graph, action)(caller=BOB, user_id=ALICE)
    # The blocker still sees the block, to lift it; never whether the other blocked back.
    assert flags(await graph.get_relationship(caller=ALICE, user_id=BOB)) == {"blocking"}
    for viewer, owner in ((BOB, ALICE), (ALICE, BOB)):
        for lister in (graph.list_followers, graph.list_following):
            with pytest.raises(UserNotFound):
                await lister(viewer=viewer, user_id=owner, page_size=0, page_token="")
    with pytest.raises(UserNotFound):
        await graph.profile_graph(viewer=BOB, user_id=ALICE)
    seen = await graph.profile_graph(viewer=ALICE, user_id=BOB)
    assert seen.relationship is not None and flags(seen.relationship) == {"blocking"}


async def test_unblock_does_not_restore_follows(graph, graph_store) -> None:
    await graph.follow(caller=ALICE, user_id=BOB)
    await graph.follow(caller=BOB, user_id=ALICE)
    await graph.block(caller=ALICE, user_id=BOB)
    assert flags(await graph.unblock(caller=ALICE, user_id=BOB)) == set()
    assert flags(await graph.unblock(caller=ALICE, user_id=BOB)) == set()
    assert await counts(graph, ALICE, BOB) == [(0, 0), (0, 0)]
    assert (await outbox_events(graph_store))[-1][1] == graph_events_pb2.Unblocked(
        blocker_id=ALICE, blocked_id=BOB
    )
    assert (await kinds(graph_store)).count("Unblocked") == 1
    assert flags(await graph.follow(caller=BOB, user_id=ALICE)) == {"following"}


async def test_a_blocked_user_cannot_block_back_and_only_services_see_blocked_by(graph) -> None:
    await graph.block(caller=ALICE, user_id=BOB)
    with pytest.raises(UserNotFound):
        await graph.block(caller=BOB, user_id=ALICE)  # Alice does not exist for Bob
    assert flags(await graph.get_relationship(caller=ALICE, user_id=BOB)) == {"blocking"}
    internal = await graph.get_relationships(viewer=BOB, user_ids=[ALICE])
    assert flags(internal[0]) == {"blocked_by"}  # services do see it


# -- mute ------------------------------------------------------------------------------------


async def test_mute_hides_nothing_but_posts_and_is_idempotent(graph, graph_store) -> None:
    await graph.follow(caller=ALICE, user_id=BOB)
    assert flags(await graph.mute(caller=ALICE, user_id=BOB)) == {"following", "muting"}
    assert flags(await graph.mute(caller=ALICE, user_id=BOB)) == {"following", "muting"}
    assert await counts(graph, BOB) == [(1, 0)]
    assert flags(await graph.unmute(caller=ALICE, user_id=BOB)) == {"following"}
    assert flags(await graph.unmute(caller=ALICE, user_id=BOB)) == {"following"}
    assert [e for _, e in await outbox_events(graph_store)][1:] == [
        graph_events_pb2.Muted(muter_id=ALICE, muted_id=BOB),
        graph_events_pb2.Unmuted(muter_id=ALICE, muted_id=BOB),
    ]


# -- lists and privacy -----------------------------------------------------------------------


async def test_lists_are_newest_first_paginated_and_say_whom_the_viewer_follows(
    graph, directory
) -> None:
    for follower in (BOB, CAROL, DAVE):
        await graph.follow(caller=follower, user_id=ALICE)
    await graph.follow(caller=DAVE, user_id=CAROL)  # a request: Carol is private
    await graph.approve_request(caller=CAROL, user_id=DAVE)
    directory.lookups.clear()
    first, token = await graph.list_followers(
        viewer=DAVE, user_id=ALICE, page_size=2, page_token=""
    )
    assert [c.user.user_id for c in first] == [DAVE, CAROL] and token
    assert [flags(c.relationship) for c in first] == [set(), {"following"}]
    second, end = await graph.list_followers(
        viewer=DAVE, user_id=ALICE, page_size=2, page_token=token
    )
    assert [c.user.user_id for c in second] == [BOB] and end == ""
    assert first[0].followed_at >= first[1].followed_at >= second[0].followed_at
    # One cached access check and one hydration batch per page, never one call per follower.
    assert directory.lookups == [
        ([ALICE], True),
        ([DAVE, CAROL], False),
        ([ALICE], True),
        ([BOB], False),
    ]
    following, _ = await graph.list_following(viewer=None, user_id=DAVE, page_size=0, page_token="")
    assert [c.user.user_id for c in following] == [CAROL, ALICE]
    with pytest.raises(InvalidArgument):
        await graph.list_following(viewer=None, user_id=DAVE, page_size=0, page_token=token)


async def test_a_private_accounts_lists_are_for_itself_and_its_followers(graph) -> None:
    await graph.follow(caller=CAROL, user_id=ALICE)
    await graph.follow(caller=BOB, user_id=CAROL)
    await graph.approve_request(caller=CAROL, user_id=BOB)
    for lister in (graph.list_followers, graph.list_following):
        for stranger in (DAVE, None):
            with pytest.raises(PrivateAccount):
                await lister(viewer=stranger, user_id=CAROL, page_size=0, page_token="")
        for allowed in (CAROL, BOB):
            await lister(viewer=allowed, user_id=CAROL, page_size=0, page_token="")
    # Strangers still see the counts.
    assert (await graph.profile_graph(viewer=DAVE, user_id=CAROL)).counts.follower_count == 1
    with pytest.raises(UserNotFound):
        await graph.list_followers(viewer=DAVE, user_id=GONE, page_size=0, page_token="")


async def test_lists_leave_out_deleted_accounts_and_those_blocking_the_viewer(
    graph, directory
) -> None:
    for follower in (BOB, CAROL, DAVE):
        await graph.follow(caller=follower, user_id=ALICE)
    await graph.block(caller=BOB, user_id=DAVE)
    del directory.users[CAROL]
    page, token = await graph.list_followers(viewer=DAVE, user_id=ALICE, page_size=3, page_token="")
    assert [c.user.user_id for c in page] == [DAVE] and token == ""


async def test_list_page_size_default_and_ceiling(graph, graph_store, directory) -> None:
    followers = range(2000, 2000 + domain.LIST_PAGE_MAX + 1)
    for follower in followers:
        directory.add(follower)
    await _fill_followers(graph_store, BOB, followers)
    for asked, expected in ((0, domain.LIST_PAGE_DEFAULT), (1, 1), (50, 50), (51, 50), (10**6, 50)):
        page, token = await graph.list_followers(
            viewer=None, user_id=BOB, page_size=asked, page_token=""
        )
        assert len(page) == expected and token, asked
    page, token = await graph.list_followers(
        viewer=None, user_id=BOB, page_size=50, page_token=token
    )
    assert [c.user.user_id for c in page] == [followers[0]] and token == ""
    with pytest.raises(InvalidArgument) as caught:
        await graph.list_followers(viewer=None, user_id=BOB, page_size=-1, page_token="")
    assert caught.value.violations[0].field == "page_size"


# -- relationships, counts and the privacy rule ----------------------------------------------


async def test_get_relationships_answers_each_flag_for_up_to_100_accounts(graph) -> None:
    await graph.follow(caller=ALICE, user_id=BOB)
    await graph.follow(caller=DAVE, user_id=ALICE)
    await graph.follow(caller=ALICE, user_id=CAROL)
    await graph.mute(caller=ALICE, user_id=DAVE)
    others = [BOB, CAROL, DAVE, GONE, *range(1000, 1095), BOB]  # 100 entries, one repeated
    found = await graph.get_relationships(viewer=ALICE, user_ids=others)
    assert [r.user_id for r in found] == list(dict.fromkeys(others))  # order kept, deduped
    by_id = {r.user_id: flags(r) for r in found}
    assert by_id[BOB] == {"following"} and by_id[CAROL] == {"requested"}
    assert by_id[DAVE] == {"followed_by", "muting"} and by_id[GONE] == set()
    with pytest.raises(InvalidArgument) as caught:
        await graph.get_relationships(viewer=ALICE, user_ids=list(range(1, 102)))
    assert caught.value.violations[0].field == "user_ids"
    with pytest.raises(InvalidArgument):
        await graph.get_relationships(viewer=ALICE, user_ids=[BOB, 0])
    with pytest.raises(InvalidArgument) as caught:
        await graph.get_relationships(viewer=None, user_ids=[BOB])
    assert caught.value.violations[0].field == "viewer_id"


def test_users_ask_only_for_themselves_and_services_for_anyone() -> None:
    user = Principal(subject=str(ALICE), user_id=ALICE, is_service=False, token="t")
    service = Principal(subject="svc:feed_svc", user_id=None, is_service=True, token="t")
    assert domain.resolve_viewer(user, 0) == domain.resolve_viewer(user, ALICE) == ALICE
    with pytest.raises(NotViewer):
        domain.resolve_viewer(user, BOB)
    assert domain.resolve_viewer(service, BOB) == BOB
    assert domain.resolve_viewer(service, 0) is None
    with pytest.raises(InvalidArgument):
        domain.resolve_viewer(service, -1)
    with pytest.raises(ServiceRequired):
        domain.require_service(user)
    domain.require_service(service)


async def test_can_view_is_the_one_privacy_rule(graph, directory) -> None:
    await graph.follow(caller=BOB, user_id=CAROL)
    await graph.approve_request(caller=CAROL, user_id=BOB)
    await graph.block(caller=DAVE, user_id=ALICE)
    directory.lookups.clear()

    async def rule(viewer: int | None, owner: int) -> tuple[bool, bool]:
        answer = await graph.can_view(viewer=viewer, owner_id=owner)
        return answer.can_view, answer.blocked

    assert await rule(CAROL, CAROL) == (True, False)  # yourself
    assert await rule(BOB, CAROL) == (True, False)  # an approved follower
    assert await rule(ALICE, CAROL) == (False, False)  # a stranger to a private account
    assert await rule(None, CAROL) == (False, False)  # nobody in particular
    assert await rule(None, BOB) == (True, False)  # a public account
    assert await rule(ALICE, DAVE) == (False, True)  # blocked by
    assert await rule(DAVE, ALICE) == (False, True)  # blocking
    with pytest.raises(UserNotFound):
        await rule(ALICE, GONE)
    with pytest.raises(InvalidArgument) as caught:
        await rule(ALICE, 0)
    assert caught.value.violations[0].field == "owner_id"
    assert all(cached for _, cached in directory.lookups)  # the rule uses the short-lived cache
    batch = await graph.batch_can_view(viewer=ALICE, owner_ids=[CAROL, GONE, BOB, DAVE, CAROL])
    assert [(v.owner_id, v.can_view, v.blocked) for v in batch] == [
        (CAROL, False, False),
        (BOB, True, False),
        (DAVE, False, True),
    ]
    assert len(directory.lookups) == 9  # the batch made one lookup
    with pytest.raises(InvalidArgument):
        await graph.batch_can_view(viewer=ALICE, owner_ids=list(range(1, 102)))


async def test_profile_graph_gives_counts_and_the_viewers_relationship(graph) -> None:
    await graph.follow(caller=ALICE, user_id=BOB)
    seen = await graph.profile_graph(viewer=ALICE, user_id=BOB)
    assert (seen.counts.follower_count, seen.counts.following_count) == (1, 0)
    assert seen.relationship is not None and flags(seen.relationship) == {"following"}
    assert (await graph.profile_graph(viewer=BOB, user_id=BOB)).relationship is None
    assert (await graph.profile_graph(viewer=None, user_id=BOB)).relationship is None
    assert (await graph.profile_graph(viewer=None, user_id=GONE)).counts.follower_count == 0
    assert await counts(graph, *range(1, 101)) == [(0, 0)] * 100
    with pytest.raises(InvalidArgument):
        await graph.batch_counts(user_ids=list(range(1, 102)))


# -- the follower stream ---------------------------------------------------------------------


async def test_stream_follower_ids_in_batches_skipping_muters(
    graph, graph_store, monkeypatch
) -> None:
    await _fill_followers(graph_store, BOB, range(5000, 6200))
    async with graph_store.transaction() as tx:
        for muter in (5001, 6199):
            await graph_store.insert_mute(
                tx, muter_id=muter, muted_id=BOB, created_at=datetime.now(UTC)
            )
    batches = [
        b
        async for b in graph.stream_ids(
            followers=True, user_id=BOB, page_size=500, exclude_muted=False
        )
    ]
    assert [len(b) for b in batches] == [500, 500, 200]
    assert [i for b in batches for i in b] == list(range(5000, 6200))
    kept = [
        b
        async for b in graph.stream_ids(
            followers=True, user_id=BOB, page_size=0, exclude_muted=True
        )
    ]
    assert [len(b) for b in kept] == [1000, 198]
    assert 5001 not in kept[0] and 6199 not in kept[1]
    monkeypatch.setattr(domain, "STREAM_PAGE_MAX", 700)
    clamped = [
        b
        async for b in graph.stream_ids(
            followers=True, user_id=BOB, page_size=10**6, exclude_muted=False
        )
    ]
    assert [len(b) for b in clamped] == [700, 500]
    with pytest.raises(InvalidArgument):
        graph.stream_ids(followers=True, user_id=BOB, page_size=-1, exclude_muted=False)
    following = [
        b
        async for b in graph.stream_ids(
            followers=False, user_id=5000, page_size=0, exclude_muted=False
        )
    ]
    assert following == [[BOB]]
    assert [
        b
        async for b in graph.stream_ids(
            followers=True, user_id=ALICE, page_size=0, exclude_muted=False
        )
    ] == []


# -- going public approves pending requests --------------------------------------------------


def _profile_event(user_id: int, *, is_private: bool) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(event_id=1, producer="user_svc", aggregate_id=user_id)
    envelope.payload.Pack(
        user_events_pb2.UserProfileUpdated(
            user_id=user_id, is_private=is_private, became_public=not is_private
        )
    )
    return envelope


async def test_going_public_approves_every_pending_request_once(
    graph, graph_store, directory, monkeypatch
) -> None:
    monkeypatch.setattr(domain, "APPROVE_CHUNK", 2)  # several chunks from three requests
    for requester in (ALICE, BOB, DAVE):
        await graph.follow(caller=requester, user_id=CAROL)
    handle = events.profile_updated_handler(graph)
    await handle(_profile_event(CAROL, is_private=False))  # stale: user_svc says still private
    assert await counts(graph, CAROL) == [(0, 0)]
    directory.set_private(CAROL, False)
    await handle(_profile_event(CAROL, is_private=False))
    await handle(_profile_event(CAROL, is_private=False))  # redelivered
    assert await counts(graph, CAROL) == [(3, 0)]
    assert (await graph.list_requests(caller=CAROL, page_size=0, page_token=""))[0] == []
    approvals = [
        e for _, e in await outbox_events(graph_store) if type(e).__name__ == "FollowApproved"
    ]
    assert sorted(e.requester_id for e in approvals) == [ALICE, BOB, DAVE]
    assert all(e.automatic for e in approvals)
    assert directory.forgotten == [CAROL] * 3


async def test_a_private_profile_event_approves_nothing(graph, directory) -> None:
    await graph.follow(caller=ALICE, user_id=CAROL)
    directory.lookups.clear()
    handle = events.profile_updated_handler(graph)
    await handle(_profile_event(CAROL, is_private=True))
    assert directory.lookups == [] and directory.forgotten == [CAROL]
    other = envelope_pb2.EventEnvelope(event_id=2, producer="user_svc")
    other.payload.Pack(user_events_pb2.UserRegistered(user_id=ALICE, username="alice"))
    await handle(other)  # not ours: ignored
    assert await counts(graph, CAROL) == [(0, 0)]


# -- nothing half-written --------------------------------------------------------------------


class _FailingOutbox(Outbox):
    async def add(self, session, *, aggregate_id, event, hand_over=True):
        raise RuntimeError("the disk is full")


async def test_a_failure_after_the_change_leaves_neither_change_nor_event(
    graph_settings, directory
) -> None:
    from tests.graph_svc.conftest import make_store

    broken, engine = await make_store(graph_settings, None)
    broken.outbox = _FailingOutbox(store.outbox, producer="graph_svc", ids=IdGenerator())
    failing = domain.Graph(broken, directory, ids=IdGenerator())
    with pytest.raises(RuntimeError):
        await failing.follow(caller=ALICE, user_id=BOB)
    working = domain.Graph(
        store.SqlGraphStore(
            engine, outbox=Outbox(store.outbox, producer="graph_svc", ids=IdGenerator())
        ),
        directory,
        ids=IdGenerator(),
    )
    assert await counts(working, ALICE, BOB) == [(0, 0), (0, 0)]
    assert flags(await working.get_relationship(caller=ALICE, user_id=BOB)) == set()
    await engine.dispose()


class FakeFeed:
    """feed_svc's ApplyEvents: records what it is told, and whether the change had committed."""

    def __init__(self, graph_store: store.SqlGraphStore) -> None:
        self.graph_store = graph_store
        self.applied: list[tuple[str, int]] = []  # (event type, outbox rows at that moment)

    async def apply(self, events_: Sequence[envelope_pb2.EventEnvelope]) -> None:
        committed = len(await outbox_events(self.graph_store))
        self.applied += [(e.payload.TypeName().rsplit(".", 1)[-1], committed) for e in events_]


async def test_changes_are_applied_in_feed_svc_after_commit_before_answering(
    graph_store: store.SqlGraphStore, directory: FakeDirectory
) -> None:
    feed = FakeFeed(graph_store)
    graph = domain.Graph(graph_store, directory, ids=IdGenerator(), feed=feed)
    await graph.follow(caller=CAROL, user_id=ALICE)
    await graph.follow(caller=CAROL, user_id=ALICE)  # nothing new: nothing to tell
    await graph.mute(caller=CAROL, user_id=ALICE)
    await graph.unfollow(caller=CAROL, user_id=ALICE)
    await graph.follow(caller=ALICE, user_id=BOB)
    await graph.block(caller=BOB, user_id=ALICE)
    assert [kind for kind, _ in feed.applied] == [
        "Followed",
        "Muted",
        "Unfollowed",
        "Followed",
        "Unfollowed",
        "Blocked",
    ]
    # Each was told once its transaction had committed (its rows are in the outbox by then).
    assert [rows for _, rows in feed.applied] == [1, 2, 3, 4, 6, 6]
