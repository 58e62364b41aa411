"""notify_svc's kept ties: who each recipient should not hear from, asked of graph_svc once per
recipient and kept until a block or mute between accounts makes it forget them."""

from __future__ import annotations

import asyncio
from typing import Any

from notify_svc import events
from notify_svc.peers import GrpcRelationships
from shutter.events.v1 import envelope_pb2, graph_events_pb2
from shutter.graph.v1 import graph_pb2
from shutter.graph.v1 import graph_service_pb2 as gpb


class FakeGraph:
    """graph_svc's BatchGetSilencedIds and GetRelationships over in-memory blocks and mutes."""

    def __init__(self, *, page: int = 1000) -> None:
        self.blocks: set[tuple[int, int]] = set()  # (blocker, blocked)
        self.mutes: set[tuple[int, int]] = set()  # (muter, muted)
        self.page = page
        self.silenced_calls: list[list[int]] = []
        self.pair_calls: list[tuple[int, list[int]]] = []
        self.hold: asyncio.Event | None = None  # set: answers wait for it

    def _silenced(self, user_id: int) -> list[int]:
        ids = {b for a, b in self.blocks if a == user_id} | {
            a for a, b in self.blocks if b == user_id
        }
        return sorted(ids | {b for a, b in self.mutes if a == user_id})

    async def BatchGetSilencedIds(self, request: Any, **_: Any) -> gpb.BatchGetSilencedIdsResponse:
        self.silenced_calls.append(list(request.user_ids))
        answer = gpb.BatchGetSilencedIdsResponse(
            silenced=[
                gpb.SilencedIds(
                    user_id=u,
                    silenced_ids=self._silenced(u)[: self.page],
                    more=len(self._silenced(u)) > self.page,
                )
                for u in request.user_ids
            ]
        )
        if self.hold is not None:
            await self.hold.wait()
        return answer

    async def GetRelationships(self, request: Any, **_: Any) -> gpb.GetRelationshipsResponse:
        viewer = request.viewer_id
        self.pair_calls.append((viewer, list(request.user_ids)))
        return gpb.GetRelationshipsResponse(
            relationships=[
                graph_pb2.Relationship(
                    user_id=u,
                    blocking=(viewer, u) in self.blocks,
                    blocked_by=(u, viewer) in self.blocks,
                    muting=(viewer, u) in self.mutes,
                )
                for u in request.user_ids
            ]
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kept(graph: FakeGraph, clock: Clock | None = None, *, max_kept: int = 100) -> GrpcRelationships:
    return GrpcRelationships(
        graph,  # type: ignore[arg-type]
        service_token=lambda: "token",
        timeout=1.0,
        keep_seconds=60.0,
        max_kept=max_kept,
        clock=clock or Clock(),
    )


async def test_ties_are_asked_once_per_recipient_and_kept() -> None:
    graph = FakeGraph()
    graph.blocks |= {(1, 10), (11, 1)}  # 1 blocked 10; 11 blocked 1
    graph.mutes |= {(1, 12), (13, 1)}  # 1 muted 12; 13 muted 1 (1 still hears from 13)
    ties = kept(graph)
    pairs = [(1, a) for a in (10, 11, 12, 13, 14)] + [(2, 1), (2, 10)]
    assert await ties.suppressed(pairs) == {(1, 10), (1, 11), (1, 12)}
    assert graph.silenced_calls == [[1, 2]]  # one call for both recipients
    graph.blocks.add((2, 1))  # not told: the kept answer stands (until a forget)
    assert await ties.suppressed(pairs) == {(1, 10), (1, 11), (1, 12)}
    assert graph.silenced_calls == [[1, 2]]
    ties.forget(2)  # the bus brought 2's block
    assert await ties.suppressed(pairs) == {(1, 10), (1, 11), (1, 12), (2, 1)}
    assert graph.silenced_calls == [[1, 2], [2]]


async def test_an_answer_asked_before_a_forget_is_not_kept() -> None:
    graph = FakeGraph()
    ties = kept(graph)
    graph.hold = asyncio.Event()
    asking = asyncio.create_task(ties.suppressed([(1, 5)]))
    await asyncio.sleep(0.01)
    graph.mutes.add((1, 5))  # the mute commits while the answer (without it) is on its way
    ties.forget(1)
    graph.hold.set()
    assert await asking == set()  # this answer is the old one...
    graph.hold = None
    assert await ties.suppressed([(1, 5)]) == {(1, 5)}  # ...but it was not kept
    assert len(graph.silenced_calls) == 2


async def test_kept_ties_expire_and_the_oldest_leave_first() -> None:
    graph = FakeGraph()
    clock = Clock()
    ties = kept(graph, clock, max_kept=2)
    await ties.suppressed([(1, 5), (2, 5)])
    await ties.suppressed([(3, 5)])  # three kept at most two: 1 leaves
    assert graph.silenced_calls == [[1, 2], [3]]
    await ties.suppressed([(2, 5), (3, 5)])
    assert graph.silenced_calls == [[1, 2], [3]]
    await ties.suppressed([(1, 5)])
    assert graph.silenced_calls[-1] == [1]
    clock.now += 61  # past keep_seconds: asked again
    await ties.suppressed([(1, 5)])
    assert graph.silenced_calls[-1] == [1] and len(graph.silenced_calls) == 4


async def test_a_recipient_with_too_many_ties_is_asked_per_pair_and_not_kept() -> None:
    graph = FakeGraph(page=2)
    graph.blocks |= {(1, 10), (1, 11), (1, 12)}
    ties = kept(graph)
    assert await ties.suppressed([(1, 12), (1, 20), (2, 12)]) == {(1, 12)}
    assert graph.pair_calls == [(1, [12, 20])]
    await ties.suppressed([(1, 12)])
    assert graph.silenced_calls == [[1, 2], [1]]  # 1 asked again, 2 kept
    assert graph.pair_calls == [(1, [12, 20]), (1, [12])]


async def test_nothing_is_kept_when_keeping_is_off() -> None:
    graph = FakeGraph()
    ties = GrpcRelationships(
        graph,  # type: ignore[arg-type]
        service_token=lambda: "token",
        timeout=1.0,
        keep_seconds=0,
    )
    await ties.suppressed([(1, 5)])
    await ties.suppressed([(1, 5)])
    assert graph.silenced_calls == [[1], [1]]


def _event(message: Any) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(producer="graph_svc", event_id=1)
    envelope.payload.Pack(message)
    return envelope


async def test_every_replica_forgets_both_accounts_of_a_block_or_a_mute() -> None:
    graph = FakeGraph()
    ties = kept(graph)
    forget = events.silence_handler(ties)
    await ties.suppressed([(1, 5), (2, 5), (3, 5)])
    for change, forgotten in (
        (graph_events_pb2.Blocked(blocker_id=1, blocked_id=2), [1, 2]),
        (graph_events_pb2.Unblocked(blocker_id=3, blocked_id=1), [1, 3]),
        (graph_events_pb2.Muted(muter_id=2, muted_id=3), [2, 3]),
        (graph_events_pb2.Unmuted(muter_id=1, muted_id=2), [1, 2]),
    ):
        await forget(_event(change))
        await ties.suppressed([(1, 5), (2, 5), (3, 5)])
        assert graph.silenced_calls[-1] == forgotten
    calls = len(graph.silenced_calls)
    # Another kind of event forgets nothing.
    await forget(_event(graph_events_pb2.Followed(follower_id=1, followee_id=2)))
    await ties.suppressed([(1, 5), (2, 5), (3, 5)])
    assert len(graph.silenced_calls) == calls
    groups = {events.silences_group(shard) for shard in range(4)}
    assert len(groups) == 4 and events.silences_group(0) == "notify_svc.silences"
