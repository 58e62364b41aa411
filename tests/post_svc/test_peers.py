"""What post_svc remembers of its peers' answers: authors and ready media, for a while only."""

from __future__ import annotations

import asyncio
from typing import Any

from mesh import forgetting
from post_svc import events, peers
from shutter.events.v1 import envelope_pb2, graph_events_pb2, user_events_pb2
from shutter.media.v1 import media_pb2, media_service_pb2
from shutter.user.v1 import user_pb2, user_service_pb2


class FakeUsers:
    """user_svc's BatchGetUsers over a dict, counting calls."""

    def __init__(self) -> None:
        self.users = {1: "ann", 2: "bob"}
        self.asked: list[list[int]] = []

    async def BatchGetUsers(  # noqa: N802 - the stub's method name
        self, request: user_service_pb2.BatchGetUsersRequest, **_kwargs: Any
    ) -> user_service_pb2.BatchGetUsersResponse:
        self.asked.append(list(request.user_ids))
        return user_service_pb2.BatchGetUsersResponse(
            users=[
                user_pb2.UserSummary(user_id=i, username=self.users[i])
                for i in request.user_ids
                if i in self.users
            ]
        )


class FakeMedia:
    """media_svc's BatchGetMedia and DeleteMedia over a dict, counting calls."""

    def __init__(self) -> None:
        self.status = {10: media_pb2.MEDIA_STATUS_READY, 11: media_pb2.MEDIA_STATUS_PROCESSING}
        self.asked: list[list[int]] = []

    async def BatchGetMedia(  # noqa: N802
        self, request: media_service_pb2.BatchGetMediaRequest, **_kwargs: Any
    ) -> media_service_pb2.BatchGetMediaResponse:
        self.asked.append(list(request.media_ids))
        return media_service_pb2.BatchGetMediaResponse(
            media=[
                media_pb2.Media(media_id=i, status=self.status[i])
                for i in request.media_ids
                if i in self.status
            ]
        )

    async def DeleteMedia(  # noqa: N802
        self, request: media_service_pb2.DeleteMediaRequest, **_kwargs: Any
    ) -> media_service_pb2.DeleteMediaResponse:
        self.status.pop(request.media_id, None)
        return media_service_pb2.DeleteMediaResponse()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _directory(stub: FakeUsers, seconds: float, clock: Clock) -> peers.GrpcDirectory:
    directory = peers.GrpcDirectory(stub, timeout=1, cache_seconds=seconds, cache_entries=100)  # type: ignore[arg-type]
    directory._summaries = forgetting.Remembered(  # the same cache, on the test's clock
        "test.authors", seconds=seconds, entries=100, clock=clock
    )
    return directory


async def test_authors_are_asked_for_once_within_the_window_then_again() -> None:
    stub, clock = FakeUsers(), Clock()
    directory = _directory(stub, 10, clock)
    assert {u.username for u in (await directory.summaries([1, 2])).values()} == {"ann", "bob"}
    stub.users[1] = "ann_renamed"
    clock.now += 9.9
    assert (await directory.summaries([1]))[1].username == "ann"  # remembered
    assert stub.asked == [[1, 2]]
    clock.now += 0.1  # the window is over: a profile change shows
    assert (await directory.summaries([1, 2]))[1].username == "ann_renamed"
    assert stub.asked == [[1, 2], [1, 2]]


async def test_an_account_change_on_the_bus_is_seen_by_the_next_lookup() -> None:
    stub, clock = FakeUsers(), Clock()
    directory = _directory(stub, 60, clock)
    forget = events.author_handler(directory)
    await directory.summaries([1, 2])
    stub.users[1] = "ann_renamed"
    await forget(_change(user_events_pb2.UserProfileUpdated(user_id=1)))
    assert (await directory.summaries([1, 2]))[1].username == "ann_renamed"  # long before 60 s
    assert stub.asked == [[1, 2], [1]]
    del stub.users[1]  # deleted (or suspended): user_svc leaves the account out
    await forget(_change(user_events_pb2.AccountDeleted(user_id=1)))
    assert await directory.summaries([1]) == {}
    stub.users[1] = "ann"
    for kind in (user_events_pb2.AccountSuspended, user_events_pb2.AccountUnsuspended):
        await forget(_change(kind(user_id=1)))
        assert (await directory.summaries([1]))[1].username == "ann"
    asked = len(stub.asked)
    # Another account's change, or another kind of event, forgets nothing.
    await forget(_change(user_events_pb2.UserProfileUpdated(user_id=2)))
    await forget(_change(graph_events_pb2.Blocked(blocker_id=1, blocked_id=2)))
    await directory.summaries([1])
    assert len(stub.asked) == asked
    groups = {events.authors_group(shard) for shard in range(4)}
    assert len(groups) == 4 and events.authors_group(0) == "post_svc.authors"


async def test_a_summary_asked_before_a_change_is_not_remembered() -> None:
    stub, clock = FakeUsers(), Clock()
    directory = _directory(stub, 60, clock)
    held = asyncio.Event()
    answer = stub.BatchGetUsers

    async def slow(request: Any, **kwargs: Any) -> Any:
        found = await answer(request, **kwargs)  # "ann", as it was when asked
        await held.wait()
        return found

    stub.BatchGetUsers = slow  # type: ignore[method-assign]
    asking = asyncio.create_task(directory.summaries([1]))
    await asyncio.sleep(0.01)
    stub.users[1] = "ann_renamed"
    directory.forget(1)
    held.set()
    assert (await asking)[1].username == "ann"  # the answer of its time...
    stub.BatchGetUsers = answer  # type: ignore[method-assign]
    assert (await directory.summaries([1]))[1].username == "ann_renamed"  # ...not remembered


def _change(event: Any) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(producer="user_svc", event_id=1)
    envelope.payload.Pack(event)
    return envelope


async def test_unknown_authors_are_asked_for_again_and_only_they() -> None:
    stub, clock = FakeUsers(), Clock()
    directory = _directory(stub, 10, clock)
    assert set(await directory.summaries([1, 3])) == {1}
    stub.users[3] = "cat"  # signed up meanwhile
    assert set(await directory.summaries([1, 3])) == {1, 3}
    assert stub.asked == [[1, 3], [3]]


async def test_a_zero_window_asks_every_time() -> None:
    stub = FakeUsers()
    directory = peers.GrpcDirectory(stub, timeout=1, cache_seconds=0)  # type: ignore[arg-type]
    await directory.summaries([1])
    await directory.summaries([1])
    assert stub.asked == [[1], [1]]


def _catalog(stub: FakeMedia) -> peers.GrpcMediaCatalog:
    return peers.GrpcMediaCatalog(
        stub,  # type: ignore[arg-type]
        service_token=lambda: "token",
        timeout=1,
        cache_seconds=300,
        cache_entries=100,
    )


async def test_only_ready_media_is_remembered() -> None:
    stub = FakeMedia()
    catalog = _catalog(stub)
    await catalog.media([10, 11])
    stub.status[11] = media_pb2.MEDIA_STATUS_READY  # processing finished
    found = await catalog.media([10, 11])
    assert found[11].status == media_pb2.MEDIA_STATUS_READY
    assert stub.asked == [[10, 11], [11]]


async def test_fresh_lookups_and_deletions_do_not_use_what_is_remembered() -> None:
    stub = FakeMedia()
    catalog = _catalog(stub)
    await catalog.media([10])
    stub.status.pop(10)  # deleted behind post_svc's back
    assert await catalog.media([10], fresh=True) == {}  # a post cannot be made of it
    stub.status[10] = media_pb2.MEDIA_STATUS_READY
    await catalog.media([10], fresh=True)  # found, but a write's lookup fills no cache
    await catalog.media([10])
    await catalog.media([10])  # remembered now
    await catalog.delete(10)
    assert await catalog.media([10]) == {}
    assert stub.asked == [[10], [10], [10], [10], [10]]
