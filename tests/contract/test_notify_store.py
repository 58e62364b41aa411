"""notify_svc's store, one suite on every backend: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mesh import db
from mesh.config import MeshSettings
from mesh.ids import IdGenerator
from mesh.services import migrations_dir
from notify_svc.store import NotificationRecord, NotificationWrite, SqlNotifyStore
from tests.conftest import unique_service

ids = IdGenerator()
AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sql(data_dir: Path, database_url: str | None) -> AsyncIterator[SqlNotifyStore]:
    name = "notify_svc" if database_url is None else unique_service("notify_svc")
    engine = db.create_engine(name, MeshSettings(data_dir=data_dir), database_url)
    await db.migrate(engine, name, migrations_dir("notify_svc"))
    yield SqlNotifyStore(engine)
    await engine.dispose()


async def make(
    sql: SqlNotifyStore,
    *,
    recipient: int = 1,
    actors: tuple[int, ...] = (2,),
    kind: str = "like",
    post_id: int = 10,
) -> NotificationRecord:
    """Store a notification with its actors, the way the rules do."""
    notification_id = ids.next_id()
    record = NotificationRecord(
        notification_id=notification_id,
        recipient_id=recipient,
        kind=kind,
        post_id=post_id,
        comment_id=0,
        text="",
        actor_count=0,
        sequence=notification_id,
        seen_through=0,
        created_at=AT,
        updated_at=AT,
    )
    async with sql.transaction() as session:
        await sql.lock_recipient(session, recipient_id=recipient)
        await sql.insert_notification(session, record=record)
        sequence = notification_id
        for index, actor in enumerate(actors):
            if index:  # each later actor moves it to the top, as a new like does
                sequence = ids.next_id()
                await sql.move_to_top(
                    session, notification_id=notification_id, sequence=sequence, at=AT
                )
            await sql.add_actor(
                session, notification_id=notification_id, actor_id=actor, sequence=sequence
            )
        found = await sql.get(session, recipient_id=recipient, notification_id=notification_id)
    assert found is not None
    return found


async def test_an_event_is_processed_once(sql: SqlNotifyStore) -> None:
    async with sql.transaction() as session:
        assert await sql.mark_processed(session, producer="post_svc", event_id=1, at=AT)
        assert not await sql.mark_processed(session, producer="post_svc", event_id=1, at=AT)
        assert await sql.mark_processed(session, producer="graph_svc", event_id=1, at=AT)


async def test_many_events_are_processed_once_and_recipients_locked_in_one_go(
    sql: SqlNotifyStore,
) -> None:
    async with sql.transaction() as session:
        assert await sql.mark_processed(session, producer="post_svc", event_id=1, at=AT)
        fresh = await sql.mark_processed_many(
            session,
            events=[("post_svc", 1), ("post_svc", 2), ("post_svc", 2), ("graph_svc", 1)],
            at=AT,
        )
        assert fresh == {("post_svc", 2), ("graph_svc", 1)}
        assert await sql.mark_processed_many(session, events=[("graph_svc", 1)], at=AT) == set()
        await sql.lock_recipients(session, recipient_ids=[3, 5, 8])
        await sql.lock_recipients(session, recipient_ids=[])
        await sql.lock_recipient(session, recipient_id=5)  # held already: not a wait
        if session.get_bind().dialect.name == "postgresql":
            held = await session.scalar(
                text(
                    "SELECT count(DISTINCT objid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                )
            )
            assert held == 3


async def test_claiming_events_records_each_once_and_locks_their_recipients(
    sql: SqlNotifyStore,
) -> None:
    async with sql.transaction() as session:
        fresh = await sql.claim_events(
            session,
            events=[("post_svc", 31), ("post_svc", 32), ("post_svc", 32), ("graph_svc", 31)],
            recipient_ids=[3, 5, 8],
            at=AT,
        )
        assert fresh == {("post_svc", 31), ("post_svc", 32), ("graph_svc", 31)}
        again = await sql.claim_events(
            session, events=[("post_svc", 32), ("post_svc", 33)], recipient_ids=[5], at=AT
        )
        assert again == {("post_svc", 33)}
        if session.get_bind().dialect.name == "postgresql":
            held = await session.scalar(
                text(
                    "SELECT count(DISTINCT objid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                )
            )
            assert held == 3


def _write(
    recipient: int,
    actor: int,
    *,
    kind: str = "like",
    post_id: int = 40,
    since: int | None = None,
    replaces: str | None = None,
) -> NotificationWrite:
    return NotificationWrite(
        notification_id=ids.next_id(),
        recipient_id=recipient,
        actor_id=actor,
        kind=kind,
        post_id=post_id,
        comment_id=0,
        text="hi",
        at=AT,
        aggregate_since=since,
        replaces=replaces,
    )


async def test_a_written_like_aggregates_in_the_window_and_moves_to_the_top(
    sql: SqlNotifyStore,
) -> None:
    start = ids.next_id()
    first, second = _write(20, 2, since=start), _write(20, 3, since=start)
    async with sql.transaction() as session:
        assert await sql.write_notification(session, write=first)
        assert await sql.write_notification(session, write=second)
        repeat = _write(20, 2, since=start)  # already on it: nothing moves
        assert not await sql.write_notification(session, write=repeat)
        other_post = _write(20, 2, post_id=41, since=start)
        assert await sql.write_notification(session, write=other_post)
        listed = await sql.list_before(session, recipient_id=20, before_sequence=None, limit=10)
        actors = await sql.recent_actors(
            session, notification_ids=[first.notification_id], per_notification=3
        )
    assert [(r.post_id, r.actor_count) for r in listed] == [(41, 1), (40, 2)]
    aggregate = listed[1]
    assert aggregate.notification_id == first.notification_id
    assert aggregate.sequence == second.notification_id and not aggregate.read
    assert (aggregate.text, aggregate.kind, aggregate.created_at) == ("hi", "like", AT)
    assert actors == {first.notification_id: [3, 2]}


async def test_a_like_after_the_window_or_of_another_kind_is_a_new_notification(
    sql: SqlNotifyStore,
) -> None:
    async with sql.transaction() as session:
        assert await sql.write_notification(session, write=_write(21, 2, since=0))
        later = ids.next_id()  # the window starts after the first
        assert await sql.write_notification(session, write=_write(21, 3, since=later))
        assert await sql.write_notification(session, write=_write(21, 4, kind="comment"))
        assert await sql.write_notification(session, write=_write(21, 4, kind="comment"))
        listed = await sql.list_before(session, recipient_id=21, before_sequence=None, limit=10)
    assert [(r.kind, r.actor_count) for r in listed] == [
        ("comment", 1),
        ("comment", 1),
        ("like", 1),
        ("like", 1),
    ]


async def test_a_written_follow_replaces_that_followers_request_only(sql: SqlNotifyStore) -> None:
    async with sql.transaction() as session:
        for requester in (2, 3):
            request = _write(22, requester, kind="follow_requested", post_id=0)
            assert await sql.write_notification(session, write=request)
        follow = _write(22, 2, kind="followed", post_id=0, replaces="follow_requested")
        assert await sql.write_notification(session, write=follow)
        listed = await sql.list_before(session, recipient_id=22, before_sequence=None, limit=10)
        actors = await sql.recent_actors(
            session, notification_ids=[r.notification_id for r in listed], per_notification=3
        )
    assert sorted((r.kind, actors[r.notification_id]) for r in listed) == [
        ("follow_requested", [3]),
        ("followed", [2]),
    ]


async def test_a_rolled_back_event_is_not_processed(sql: SqlNotifyStore) -> None:
    with pytest.raises(RuntimeError):
        async with sql.transaction() as session:
            await sql.mark_processed(session, producer="post_svc", event_id=2, at=AT)
            raise RuntimeError("handler failed")
    async with sql.transaction() as session:
        assert await sql.mark_processed(session, producer="post_svc", event_id=2, at=AT)


async def test_a_notification_round_trips_with_counted_actors(sql: SqlNotifyStore) -> None:
    record = await make(sql, actors=(2, 3))
    assert record.actor_count == 2 and record.created_at == AT and not record.read
    async with sql.transaction() as session:
        assert not await sql.add_actor(
            session, notification_id=record.notification_id, actor_id=2, sequence=ids.next_id()
        )
        again = await sql.get(session, recipient_id=1, notification_id=record.notification_id)
        other = await sql.get(session, recipient_id=2, notification_id=record.notification_id)
    assert again is not None and again.actor_count == 2
    assert other is None


async def test_the_latest_aggregate_respects_kind_post_and_start(sql: SqlNotifyStore) -> None:
    older = await make(sql)
    newer = await make(sql)
    await make(sql, post_id=11)
    await make(sql, kind="comment")
    async with sql.transaction() as session:
        found = await sql.latest_aggregate(
            session, recipient_id=1, kind="like", post_id=10, since_id=older.notification_id
        )
        none = await sql.latest_aggregate(
            session, recipient_id=1, kind="like", post_id=10, since_id=newer.notification_id + 1
        )
    assert found is not None and found.notification_id == newer.notification_id
    assert none is None


async def test_lists_run_both_ways_by_sequence(sql: SqlNotifyStore) -> None:
    made = [await make(sql, post_id=p) for p in (1, 2, 3)]
    await make(sql, recipient=9)
    async with sql.transaction() as session:
        moved = ids.next_id()
        await sql.move_to_top(
            session, notification_id=made[0].notification_id, sequence=moved, at=AT
        )
        top = await sql.list_before(session, recipient_id=1, before_sequence=None, limit=10)
        below = await sql.list_before(
            session, recipient_id=1, before_sequence=top[1].sequence, limit=10
        )
        after = await sql.list_after(
            session, recipient_id=1, after_sequence=made[1].sequence, limit=10
        )
        first_two = await sql.list_after(session, recipient_id=1, after_sequence=0, limit=2)
    assert [r.post_id for r in top] == [1, 3, 2]
    assert [r.post_id for r in below] == [2]
    assert [r.post_id for r in after] == [3, 1]
    assert [r.post_id for r in first_two] == [2, 3]


async def test_recent_actors_are_newest_first_and_limited(sql: SqlNotifyStore) -> None:
    one = await make(sql, actors=(2, 3, 4, 5))
    two = await make(sql, actors=(6,))
    async with sql.transaction() as session:
        found = await sql.recent_actors(
            session, notification_ids=[one.notification_id, two.notification_id], per_notification=3
        )
        assert await sql.recent_actors(session, notification_ids=[], per_notification=3) == {}
    assert found == {one.notification_id: [5, 4, 3], two.notification_id: [6]}


async def test_only_unseen_actors_are_removed(sql: SqlNotifyStore) -> None:
    record = await make(sql, actors=(2, 3))
    async with sql.transaction() as session:
        assert await sql.mark_read(session, recipient_id=1, notification_id=record.notification_id)
        sequence = ids.next_id()
        await sql.move_to_top(
            session, notification_id=record.notification_id, sequence=sequence, at=AT
        )
        await sql.add_actor(
            session, notification_id=record.notification_id, actor_id=4, sequence=sequence
        )
        seen = await sql.remove_unseen_actor(
            session, recipient_id=1, kind="like", post_id=10, actor_id=2
        )
        unseen = await sql.remove_unseen_actor(
            session, recipient_id=1, kind="like", post_id=10, actor_id=4
        )
        after = await sql.get(session, recipient_id=1, notification_id=record.notification_id)
    assert seen == [] and unseen == [record.notification_id]
    assert after is not None and after.actor_count == 2


async def test_removing_the_last_actor_deletes_the_notification(sql: SqlNotifyStore) -> None:
    record = await make(sql, actors=(2,))
    async with sql.transaction() as session:
        await sql.remove_unseen_actor(session, recipient_id=1, kind="like", post_id=10, actor_id=2)
        assert (
            await sql.get(session, recipient_id=1, notification_id=record.notification_id) is None
        )
        assert (
            await sql.recent_actors(
                session, notification_ids=[record.notification_id], per_notification=3
            )
            == {}
        )


async def test_read_state(sql: SqlNotifyStore) -> None:
    made = [await make(sql, post_id=p) for p in (1, 2, 3)]
    await make(sql, recipient=9)
    async with sql.transaction() as session:
        assert await sql.unread_count(session, recipient_id=1) == 3
        assert not await sql.mark_read(
            session, recipient_id=9, notification_id=made[0].notification_id
        )
        assert await sql.mark_all_read(session, recipient_id=1, max_sequence=made[1].sequence) == 2
        assert await sql.unread_count(session, recipient_id=1) == 1
        assert await sql.mark_all_read(session, recipient_id=1, max_sequence=None) == 1
        assert await sql.unread_count(session, recipient_id=1) == 0
        assert await sql.unread_count(session, recipient_id=9) == 1
        await sql.move_to_top(
            session, notification_id=made[0].notification_id, sequence=ids.next_id(), at=AT
        )
        assert await sql.unread_count(session, recipient_id=1) == 1


async def test_deletes_by_post_and_by_actor(sql: SqlNotifyStore) -> None:
    await make(sql, post_id=10, actors=(2, 3))
    await make(sql, recipient=5, post_id=10, kind="mention")
    kept = await make(sql, post_id=11)
    request = await make(sql, kind="follow_requested", post_id=0, actors=(7,))
    async with sql.transaction() as session:
        assert await sql.delete_for_post(session, post_id=10) == 2
        assert await sql.delete_for_post(session, post_id=10) == 0
        assert (
            await sql.delete_from_actor(
                session, recipient_id=1, kind="follow_requested", actor_id=8
            )
            == 0
        )
        assert (
            await sql.delete_from_actor(
                session, recipient_id=1, kind="follow_requested", actor_id=7
            )
            == 1
        )
        left = await sql.list_before(session, recipient_id=1, before_sequence=None, limit=10)
    assert [r.notification_id for r in left] == [kept.notification_id]
    assert request.notification_id not in [r.notification_id for r in left]


async def test_prune_deletes_by_sequence_and_processed_time(sql: SqlNotifyStore) -> None:
    old = await make(sql, actors=(2, 3))
    new = await make(sql)
    async with sql.transaction() as session:
        await sql.mark_processed(session, producer="p", event_id=1, at=AT - timedelta(days=8))
        await sql.mark_processed(session, producer="p", event_id=2, at=AT)
        pruned = await sql.prune(
            session,
            before_sequence=new.sequence,
            processed_before=AT - timedelta(days=7),
            limit=10,
        )
        left = await sql.list_before(session, recipient_id=1, before_sequence=None, limit=10)
        actors = await sql.recent_actors(
            session, notification_ids=[old.notification_id], per_notification=3
        )
        assert await sql.mark_processed(session, producer="p", event_id=1, at=AT)
        assert not await sql.mark_processed(session, producer="p", event_id=2, at=AT)
    assert pruned == (1, 1)
    assert [r.notification_id for r in left] == [new.notification_id] and actors == {}


async def test_an_actor_is_removed_from_every_notification(sql: SqlNotifyStore) -> None:
    shared = await make(sql, actors=(2, 3))
    alone = await make(sql, post_id=11, actors=(2,))
    other = await make(sql, recipient=9, actors=(2,))
    async with sql.transaction() as session:
        await sql.mark_read(session, recipient_id=1, notification_id=shared.notification_id)
        assert await sql.remove_actor_everywhere(session, recipient_id=1, actor_id=2) == 2
        assert await sql.remove_actor_everywhere(session, recipient_id=1, actor_id=2) == 0
        left = await sql.list_before(session, recipient_id=1, before_sequence=None, limit=10)
        actors = await sql.recent_actors(
            session, notification_ids=[shared.notification_id], per_notification=3
        )
        kept = await sql.get(session, recipient_id=9, notification_id=other.notification_id)
    assert [(r.notification_id, r.actor_count) for r in left] == [(shared.notification_id, 1)]
    assert actors == {shared.notification_id: [3]} and kept is not None
    assert alone.notification_id not in [r.notification_id for r in left]


async def test_prune_deletes_at_most_the_limit(sql: SqlNotifyStore) -> None:
    made = [await make(sql, post_id=p) for p in (1, 2, 3)]
    async with sql.transaction() as session:
        for event_id in (1, 2, 3):
            await sql.mark_processed(session, producer="p", event_id=event_id, at=AT)
        first = await sql.prune(
            session,
            before_sequence=made[-1].sequence + 1,
            processed_before=AT + timedelta(1),
            limit=2,
        )
        second = await sql.prune(
            session,
            before_sequence=made[-1].sequence + 1,
            processed_before=AT + timedelta(1),
            limit=2,
        )
    assert (first, second) == ((2, 2), (1, 1))
