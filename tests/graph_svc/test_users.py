"""graph_svc's cache of user_svc's accounts: long-lived, forgotten on every account change."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message

from graph_svc import events
from graph_svc.users import GrpcUserDirectory
from shutter.events.v1 import envelope_pb2, graph_events_pb2, user_events_pb2
from shutter.user.v1 import user_pb2, user_service_pb2

CAROL = 7


class FakeUsers:
    """user_svc's BatchGetUsers over a dict of summaries; `hold` keeps calls waiting."""

    def __init__(self) -> None:
        self.summaries: dict[int, user_pb2.UserSummary] = {}
        self.calls: list[list[int]] = []
        self.hold: asyncio.Event | None = None

    def set(self, user_id: int, *, private: bool) -> None:
        self.summaries[user_id] = user_pb2.UserSummary(
            user_id=user_id, username=f"user{user_id}", is_private=private
        )

    async def BatchGetUsers(  # noqa: N802 - the stub's method name
        self, request: user_service_pb2.BatchGetUsersRequest, **_: Any
    ) -> user_service_pb2.BatchGetUsersResponse:
        self.calls.append(list(request.user_ids))
        asked = [self.summaries[i] for i in request.user_ids if i in self.summaries]
        if self.hold is not None:
            await self.hold.wait()
        return user_service_pb2.BatchGetUsersResponse(users=asked)


def directory(users: FakeUsers) -> GrpcUserDirectory:
    return GrpcUserDirectory(users, ttl_seconds=60.0, max_entries=100)  # type: ignore[arg-type]


def change(event: Message, event_id: int = 1) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(event_id=event_id, producer="user_svc")
    envelope.payload.Pack(event)
    return envelope


async def private(cards: GrpcUserDirectory, user_ids: Sequence[int]) -> dict[int, bool]:
    found = await cards.get_users(user_ids, cached=True)
    return {user_id: card.is_private for user_id, card in found.items()}


async def test_an_account_change_on_the_bus_is_seen_by_the_next_lookup() -> None:
    users = FakeUsers()
    users.set(CAROL, private=False)
    cards = directory(users)
    forget = events.card_handler(cards)
    assert await private(cards, [CAROL]) == {CAROL: False}
    users.set(CAROL, private=True)
    assert await private(cards, [CAROL]) == {CAROL: False}  # remembered: no call
    assert len(users.calls) == 1
    await forget(change(user_events_pb2.UserProfileUpdated(user_id=CAROL, is_private=True)))
    assert await private(cards, [CAROL]) == {CAROL: True}  # long before the TTL
    del users.summaries[CAROL]  # suspended: user_svc leaves the account out
    await forget(change(user_events_pb2.AccountSuspended(user_id=CAROL)))
    assert await private(cards, [CAROL]) == {}
    users.set(CAROL, private=True)
    await forget(change(user_events_pb2.AccountUnsuspended(user_id=CAROL)))
    assert await private(cards, [CAROL]) == {CAROL: True}
    del users.summaries[CAROL]
    await forget(change(user_events_pb2.AccountDeleted(user_id=CAROL)))
    assert await private(cards, [CAROL]) == {}
    calls = len(users.calls)
    # Another account's change, or another kind of event, forgets nothing.
    await forget(change(user_events_pb2.UserProfileUpdated(user_id=CAROL + 1)))
    await forget(change(graph_events_pb2.Blocked(blocker_id=CAROL, blocked_id=CAROL + 1)))
    assert await private(cards, [CAROL]) == {} and len(users.calls) == calls


async def test_an_answer_asked_before_a_change_is_not_kept() -> None:
    users = FakeUsers()
    users.set(CAROL, private=False)
    cards = directory(users)
    users.hold = asyncio.Event()
    asking = asyncio.create_task(private(cards, [CAROL]))
    while not users.calls:  # until the lookup has asked user_svc: "public"
        await asyncio.sleep(0)
    users.set(CAROL, private=True)
    await events.card_handler(cards)(
        change(user_events_pb2.UserProfileUpdated(user_id=CAROL, is_private=True))
    )
    users.hold.set()
    assert await asking == {CAROL: False}  # the answer of its time
    # ...but not remembered past the change: the next lookup asks again.
    assert await private(cards, [CAROL]) == {CAROL: True}
    assert len(users.calls) == 2


def test_each_replica_consumes_account_changes_in_a_group_of_its_own() -> None:
    groups = {events.cards_group(shard) for shard in range(4)}
    assert len(groups) == 4 and events.cards_group(0) == "graph_svc.cards"
    assert set(events.CARD_EVENTS) == {
        m.DESCRIPTOR.full_name
        for m in (
            user_events_pb2.UserProfileUpdated,
            user_events_pb2.AccountSuspended,
            user_events_pb2.AccountUnsuspended,
            user_events_pb2.AccountDeleted,
        )
    }
