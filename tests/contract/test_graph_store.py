"""graph_svc's store on every backend: rows and counts, one-query relationships, keyset pages, and
exact counts under concurrent follow and unfollow storms."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from graph_svc import domain, store
from graph_svc.errors import UserNotFound
from graph_svc.settings import GraphSettings
from mesh.ids import IdGenerator
from tests.graph_svc.conftest import FakeDirectory, make_store, outbox_events

A, B, C = 11, 12, 13
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
async def backend(
    data_dir: Path, database_url: str | None
) -> AsyncIterator[tuple[store.SqlGraphStore, Any]]:
    made, engine = await make_store(GraphSettings(data_dir=data_dir), database_url)
    yield made, engine
    await engine.dispose()


@pytest.fixture
def graph_store(backend: tuple[store.SqlGraphStore, Any]) -> store.SqlGraphStore:
    return backend[0]


async def _counts(graph_store: store.SqlGraphStore, *user_ids: int) -> list[tuple[int, int]]:
    async with graph_store.transaction() as tx:
        found = await graph_store.get_counts(tx, user_ids=list(user_ids))
    return [(found[u].follower_count, found[u].following_count) for u in user_ids]


async def _rows(graph_store: store.SqlGraphStore, table: Any) -> int:
    async with graph_store.transaction() as tx:
        return int((await tx.execute(select(func.count()).select_from(table))).scalar_one())


async def test_follow_rows_change_counts_only_when_a_row_changes(graph_store) -> None:
    async with graph_store.transaction() as tx:
        follow = {"follower_id": A, "followee_id": B, "created_at": NOW}
        assert await graph_store.insert_follow(tx, follow_id=1, **follow) is True
        assert await graph_store.insert_follow(tx, follow_id=2, **follow) is False
    assert await _counts(graph_store, A, B, C) == [(0, 1), (1, 0), (0, 0)]
    async with graph_store.transaction() as tx:
        assert await graph_store.delete_follow(tx, follower_id=A, followee_id=B) is True
        assert await graph_store.delete_follow(tx, follower_id=A, followee_id=B) is False
    assert await _counts(graph_store, A, B) == [(0, 0), (0, 0)]


async def test_requests_blocks_and_mutes_insert_and_delete_once(graph_store) -> None:
    async with graph_store.transaction() as tx:
        for _ in range(2):
            first = _ == 0
            assert (
                await graph_store.insert_request(
                    tx, requester_id=A, target_id=B, request_id=5, created_at=NOW
                )
                is first
            )
            assert (
                await graph_store.insert_block(tx, blocker_id=A, blocked_id=C, created_at=NOW)
                is first
            )
            assert (
                await graph_store.insert_mute(tx, muter_id=B, muted_id=C, created_at=NOW) is first
            )
    async with graph_store.transaction() as tx:
        for _ in range(2):
            first = _ == 0
            assert await graph_store.delete_request(tx, requester_id=A, target_id=B) is first
            assert await graph_store.delete_block(tx, blocker_id=A, blocked_id=C) is first
            assert await graph_store.delete_mute(tx, muter_id=B, muted_id=C) is first
    for table in (store.follow_requests, store.blocks, store.mutes):
        assert await _rows(graph_store, table) == 0


async def test_relationships_of_many_accounts_take_one_statement(backend) -> None:
    graph_store, engine = backend
    async with graph_store.transaction() as tx:
        await graph_store.insert_follow(
            tx, follower_id=A, followee_id=B, follow_id=1, created_at=NOW
        )
        await graph_store.insert_follow(
            tx, follower_id=C, followee_id=A, follow_id=2, created_at=NOW
        )
        await graph_store.insert_request(
            tx, requester_id=A, target_id=C, request_id=3, created_at=NOW
        )
        await graph_store.insert_request(
            tx, requester_id=B, target_id=A, request_id=4, created_at=NOW
        )
        await graph_store.insert_block(tx, blocker_id=A, blocked_id=20, created_at=NOW)
        await graph_store.insert_block(tx, blocker_id=21, blocked_id=A, created_at=NOW)
        await graph_store.insert_mute(tx, muter_id=A, muted_id=C, created_at=NOW)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    others = [B, C, 20, 21, *range(100, 196)]
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with graph_store.transaction() as tx:
            found = await graph_store.relationships(tx, viewer_id=A, user_ids=others)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len([s for s in statements if "SELECT" in s.upper()]) == 1
    assert len(found) == 100
    assert found[B] == store.Relationship(B, following=True, incoming_request=True)
    assert found[C] == store.Relationship(C, followed_by=True, requested=True, muting=True)
    assert found[20] == store.Relationship(20, blocking=True)
    assert found[21] == store.Relationship(21, blocked_by=True)
    assert found[150] == store.Relationship(150)

    # The privacy checks' read answers the same in one statement, and on PostgreSQL without a
    # transaction around it (autocommit: no BEGIN, no COMMIT).
    statements.clear()
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        current = await graph_store.current_relationships(viewer_id=A, user_ids=[*others, B])
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert current == found
    assert len([s for s in statements if "SELECT" in s.upper()]) == 1
    if engine.dialect.name == "postgresql":
        assert not [s for s in statements if s.strip().upper() in ("BEGIN", "COMMIT")]
    assert await graph_store.current_relationships(viewer_id=A, user_ids=[]) == {}


async def test_the_privacy_check_sees_every_change_at_once(graph_store) -> None:
    """A block, an unfollow, a mute or going private shows in the very next check."""
    directory = FakeDirectory()
    directory.add(A)
    directory.add(B)
    graph = domain.Graph(graph_store, directory, ids=IdGenerator())

    async def rule() -> tuple[bool, bool]:
        (found,) = await graph.batch_can_view(viewer=A, owner_ids=[B])
        return found.can_view, found.blocked

    async def relationship() -> store.Relationship:
        (found,) = await graph.get_relationships(viewer=A, user_ids=[B])
        return found

    await graph.follow(caller=A, user_id=B)
    assert await rule() == (True, False)
    assert (await relationship()).following
    directory.set_private(B, True)
    assert await rule() == (True, False)  # a follower sees a private account
    await graph.unfollow(caller=A, user_id=B)
    assert await rule() == (False, False)
    assert not (await relationship()).following
    directory.set_private(B, False)
    assert await rule() == (True, False)
    await graph.mute(caller=A, user_id=B)
    assert (await relationship()).muting
    await graph.block(caller=B, user_id=A)
    assert await rule() == (False, True)
    assert (await relationship()).blocked_by
    await graph.unblock(caller=B, user_id=A)
    assert await rule() == (True, False)
    await graph.block(caller=A, user_id=B)
    assert await rule() == (False, True)
    assert (await relationship()).blocking


async def test_list_pages_are_newest_first_and_break_ties_on_the_user(graph_store) -> None:
    async with graph_store.transaction() as tx:
        # Two follows with one follow_id (two replicas may make the same id): still a strict order.
        for follower, follow_id in ((1, 10), (2, 30), (3, 20), (4, 20)):
            await graph_store.insert_follow(
                tx, follower_id=follower, followee_id=A, follow_id=follow_id, created_at=NOW
            )
    seen: list[int] = []
    before = None
    for _ in range(5):
        async with graph_store.transaction() as tx:
            page = await graph_store.list_followers(tx, user_id=A, before=before, limit=1)
        if not page:
            break
        seen.append(page[0].user_id)
        before = (page[0].edge_id, page[0].user_id)
        assert page[0].created_at == NOW
    assert seen == [2, 4, 3, 1]
    async with graph_store.transaction() as tx:
        following = await graph_store.list_following(tx, user_id=4, before=None, limit=5)
    assert [(e.user_id, e.edge_id) for e in following] == [(A, 20)]


async def test_id_streams_use_keysets_and_skip_muters(graph_store) -> None:
    async with graph_store.transaction() as tx:
        for follower in range(1, 8):
            await graph_store.insert_follow(
                tx, follower_id=follower, followee_id=A, follow_id=100 - follower, created_at=NOW
            )
        await graph_store.insert_mute(tx, muter_id=3, muted_id=A, created_at=NOW)
        await graph_store.insert_follow(
            tx, follower_id=3, followee_id=B, follow_id=200, created_at=NOW
        )
    async with graph_store.transaction() as tx:
        assert await graph_store.follower_ids(
            tx, user_id=A, after=0, limit=3, exclude_muted=False
        ) == [1, 2, 3]
        assert await graph_store.follower_ids(
            tx, user_id=A, after=3, limit=10, exclude_muted=False
        ) == [4, 5, 6, 7]
        assert await graph_store.follower_ids(
            tx, user_id=A, after=0, limit=10, exclude_muted=True
        ) == [1, 2, 4, 5, 6, 7]
        assert await graph_store.following_ids(
            tx, user_id=3, after=0, limit=10, exclude_muted=False
        ) == [A, B]
        assert await graph_store.following_ids(
            tx, user_id=3, after=0, limit=10, exclude_muted=True
        ) == [B]


async def test_a_fan_outs_count_and_first_page_are_one_statement(backend) -> None:
    graph_store, engine = backend
    async with graph_store.transaction() as tx:
        for follower in range(1, 6):
            await graph_store.insert_follow(
                tx, follower_id=follower, followee_id=A, follow_id=100 - follower, created_at=NOW
            )
        await graph_store.insert_mute(tx, muter_id=2, muted_id=A, created_at=NOW)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        # The count keeps the muting follower; the ids leave it out when asked.
        muted_out = await graph_store.current_followers_head(user_id=A, limit=3, exclude_muted=True)
        every = await graph_store.current_followers_head(user_id=A, limit=10, exclude_muted=False)
        never_followed = await graph_store.current_followers_head(
            user_id=C, limit=10, exclude_muted=True
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert muted_out == (5, [1, 3, 4])
    assert every == (5, [1, 2, 3, 4, 5])
    assert never_followed == (0, [])
    if engine.dialect.name == "postgresql":
        # One statement each, outside a transaction (no BEGIN, no COMMIT).
        assert len(statements) == 3
        assert all(s.lstrip().upper().startswith("SELECT") for s in statements)


async def test_pending_requests_list_newest_first_and_requesters_oldest_first(graph_store) -> None:
    async with graph_store.transaction() as tx:
        for requester, request_id in ((1, 7), (2, 9), (3, 8)):
            await graph_store.insert_request(
                tx, requester_id=requester, target_id=A, request_id=request_id, created_at=NOW
            )
    async with graph_store.transaction() as tx:
        newest = await graph_store.list_requests(tx, target_id=A, before=None, limit=10)
        oldest = await graph_store.pending_requesters(tx, target_id=A, limit=2)
    assert [e.user_id for e in newest] == [2, 3, 1] and oldest == [1, 3]


# -- concurrency -----------------------------------------------------------------------------


def _graph(graph_store: store.SqlGraphStore, *user_ids: int) -> domain.Graph:
    directory = FakeDirectory()
    for user_id in user_ids:
        directory.add(user_id)
    return domain.Graph(graph_store, directory, ids=IdGenerator())


async def test_a_storm_of_follows_and_unfollows_of_one_pair_stays_consistent(graph_store) -> None:
    graph = _graph(graph_store, A, B)
    actions = [graph.follow, graph.unfollow] * 50
    random.Random(7).shuffle(actions)
    await asyncio.gather(*(action(caller=A, user_id=B) for action in actions))
    following = (await graph.get_relationship(caller=A, user_id=B)).following
    assert await _rows(graph_store, store.follows) == int(following)
    assert await _counts(graph_store, A, B) == [(0, int(following)), (int(following), 0)]
    # Every change has exactly one event, in the order the changes happened.
    kinds = [type(e).__name__ for _, e in await outbox_events(graph_store)]
    assert kinds == ["Followed", "Unfollowed"] * (len(kinds) // 2) + ["Followed"] * following
    assert kinds  # something happened at all


async def test_many_followers_at_once_are_counted_exactly(graph_store) -> None:
    followers = list(range(1000, 1060))
    graph = _graph(graph_store, A, *followers)
    await asyncio.gather(
        *(graph.follow(caller=f, user_id=A) for f in followers),
        *(graph.follow(caller=A, user_id=f) for f in followers[:20]),
    )
    await asyncio.gather(
        *(graph.unfollow(caller=f, user_id=A) for f in followers[:25]),
        *(graph.follow(caller=f, user_id=A) for f in followers[:25]),  # racing repeats
        *(graph.unfollow(caller=f, user_id=A) for f in followers[40:]),
    )
    async with graph_store.transaction() as tx:
        rows = await tx.execute(
            select(func.count()).select_from(store.follows).where(store.follows.c.followee_id == A)
        )
        followed_by = int(rows.scalar_one())
    assert await _counts(graph_store, A) == [(followed_by, 20)]
    listed = [
        i
        async for batch in graph.stream_ids(
            followers=True, user_id=A, page_size=7, exclude_muted=False
        )
        for i in batch
    ]
    assert len(listed) == followed_by and listed == sorted(listed)
    assert set(followers[25:40]) <= set(listed)


async def test_a_block_racing_follows_never_leaves_a_follow_across_it(graph_store) -> None:
    graph = _graph(graph_store, A, B)

    async def follow_quietly() -> None:
        try:
            await graph.follow(caller=B, user_id=A)
        except UserNotFound:
            pass  # the block got there first

    await asyncio.gather(*(follow_quietly() for _ in range(15)), graph.block(caller=A, user_id=B))
    assert await _rows(graph_store, store.follows) == 0
    assert await _counts(graph_store, A, B) == [(0, 0), (0, 0)]
    relationship = await graph.get_relationship(caller=A, user_id=B)
    assert relationship.blocking and not relationship.followed_by


async def test_bulk_follows_count_the_new_ones_once(graph_store) -> None:
    async with graph_store.transaction() as tx:
        assert await graph_store.insert_follow(
            tx, follower_id=A, followee_id=C, follow_id=1, created_at=NOW
        )
    async with graph_store.transaction() as tx:
        added = await graph_store.insert_follows(
            tx, rows=[(A, C, 2), (B, C, 3), (A, B, 4)], created_at=NOW
        )
        assert await graph_store.insert_follows(tx, rows=[], created_at=NOW) == []
    assert sorted(added) == [(A, B), (B, C)]  # A already followed C
    assert await _counts(graph_store, A, B, C) == [(0, 2), (1, 1), (2, 0)]
    async with graph_store.transaction() as tx:
        again = await graph_store.insert_follows(tx, rows=[(B, C, 5)], created_at=NOW)
        followers = await graph_store.follower_ids(
            tx, user_id=C, after=0, limit=10, exclude_muted=False
        )
    assert again == [] and followers == [A, B]
    assert await _counts(graph_store, C) == [(2, 0)]
