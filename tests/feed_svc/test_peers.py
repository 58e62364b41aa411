"""feed_svc's graph_svc client: follower pages bigger than the fan-out batches, split to size."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from feed_svc import peers
from shutter.graph.v1 import graph_service_pb2


class FakeGraphStub:
    """StreamFollowerIds over followers 1..n, in pages of the size asked (graph_svc's clamp)."""

    def __init__(self, followers: int) -> None:
        self.followers = followers
        self.requests: list[graph_service_pb2.StreamFollowerIdsRequest] = []

    def StreamFollowerIds(  # noqa: N802 - the gRPC method's name
        self, request: graph_service_pb2.StreamFollowerIdsRequest, **_: Any
    ) -> AsyncIterator[graph_service_pb2.StreamFollowerIdsResponse]:
        self.requests.append(request)
        size = min(request.page_size, 10_000)

        async def pages() -> AsyncIterator[graph_service_pb2.StreamFollowerIdsResponse]:
            count = self.followers if request.with_follower_count else 0
            for start in range(1, self.followers + 1, size):
                stop = min(start + size, self.followers + 1)
                yield graph_service_pb2.StreamFollowerIdsResponse(
                    follower_ids=list(range(start, stop)), follower_count=count
                )
                count = 0  # on the first message only
            if count or (request.with_follower_count and not self.followers):
                yield graph_service_pb2.StreamFollowerIdsResponse(follower_count=count)

        return pages()


async def _batches(followers: int, batch_size: int) -> tuple[list[list[int]], FakeGraphStub]:
    stub = FakeGraphStub(followers)
    graph = peers.GrpcGraph(stub, service_token=lambda: "t", timeout=1)  # type: ignore[arg-type]
    found = [b async for b in graph.follower_batches(7, batch_size=batch_size, exclude_muted=True)]
    return found, stub


async def test_small_batches_come_from_big_pages_in_order() -> None:
    found, stub = await _batches(followers=12_001, batch_size=1000)
    assert [r.page_size for r in stub.requests] == [peers.STREAM_PAGE]
    assert stub.requests[0].user_id == 7 and stub.requests[0].exclude_muted
    assert [len(b) for b in found] == [1000] * 12 + [1]
    assert [i for b in found for i in b] == list(range(1, 12_002))


async def test_batches_bigger_than_a_page_ask_for_pages_of_their_size() -> None:
    found, stub = await _batches(followers=15_000, batch_size=7000)
    assert [r.page_size for r in stub.requests] == [7000]
    assert [len(b) for b in found] == [7000, 7000, 1000]
    empty, _ = await _batches(followers=0, batch_size=10)
    assert empty == []


async def test_a_fan_out_reads_the_count_and_the_followers_from_one_stream() -> None:
    stub = FakeGraphStub(12_001)
    graph = peers.GrpcGraph(stub, service_token=lambda: "t", timeout=1)  # type: ignore[arg-type]
    followers = await graph.counted_followers(7, batch_size=1000, exclude_muted=True)
    assert followers.count == 12_001
    found = [b async for b in followers.batches]
    assert [len(b) for b in found] == [1000] * 12 + [1]
    assert [i for b in found for i in b] == list(range(1, 12_002))
    assert len(stub.requests) == 1 and stub.requests[0].with_follower_count
    nobody = await peers.GrpcGraph(
        FakeGraphStub(0),  # type: ignore[arg-type]
        service_token=lambda: "t",
        timeout=1,
    ).counted_followers(7, batch_size=10, exclude_muted=True)
    assert nobody.count == 0 and [b async for b in nobody.batches] == []


class FakeFollowingStub:
    """BatchGetFollowingIds and StreamFollowingIds over a dict of follow lists, with graph_svc's
    page rule (a list longer than the page comes as its first page and `more`)."""

    def __init__(self, lists: dict[int, list[int]]) -> None:
        self.lists = lists
        self.batches: list[graph_service_pb2.BatchGetFollowingIdsRequest] = []
        self.streamed: list[int] = []

    async def BatchGetFollowingIds(  # noqa: N802 - the gRPC method's name
        self, request: graph_service_pb2.BatchGetFollowingIdsRequest, **_: Any
    ) -> graph_service_pb2.BatchGetFollowingIdsResponse:
        self.batches.append(request)
        size = request.page_size
        return graph_service_pb2.BatchGetFollowingIdsResponse(
            following=[
                graph_service_pb2.FollowingIds(
                    user_id=u,
                    followee_ids=self.lists.get(u, [])[:size],
                    more=len(self.lists.get(u, [])) > size,
                )
                for u in request.user_ids
            ]
        )

    def StreamFollowingIds(  # noqa: N802 - the gRPC method's name
        self, request: graph_service_pb2.StreamFollowingIdsRequest, **_: Any
    ) -> AsyncIterator[graph_service_pb2.StreamFollowingIdsResponse]:
        self.streamed.append(request.user_id)

        async def pages() -> AsyncIterator[graph_service_pb2.StreamFollowingIdsResponse]:
            ids = self.lists.get(request.user_id, [])
            for start in range(0, len(ids), request.page_size):
                yield graph_service_pb2.StreamFollowingIdsResponse(
                    user_ids=ids[start : start + request.page_size]
                )

        return pages()


async def test_rebuilds_at_the_same_moment_ask_for_their_follow_lists_in_one_call() -> None:
    # A cold start: many viewers' feeds rebuilt at once, each wanting its follow list.
    lists = {viewer: [viewer * 10 + k for k in range(viewer % 4)] for viewer in range(1, 151)}
    lists[7] = list(range(1, peers.BATCH_FOLLOWING_PAGE + 2))  # longer than a batch's page
    stub = FakeFollowingStub(lists)
    graph = peers.GrpcGraph(stub, service_token=lambda: "t", timeout=1)  # type: ignore[arg-type]
    viewers = list(range(1, 151))
    found = await asyncio.gather(*(graph.following_ids(v, exclude_muted=True) for v in viewers))
    assert found == [lists[v] for v in viewers]  # the long list whole, from the stream
    assert stub.streamed == [7]
    # 150 viewers: two calls of at most 100 accounts, every one muted-free.
    assert sorted(len(b.user_ids) for b in stub.batches) == [50, 100]
    assert all(b.exclude_muted and b.page_size == peers.BATCH_FOLLOWING_PAGE for b in stub.batches)
    # A viewer asked again later is asked again (nothing kept: a follow must show next time).
    lists[1] = [99]
    assert await graph.following_ids(1, exclude_muted=True) == [99]
    assert len(stub.batches) == 3


async def test_a_failed_batch_of_follow_lists_fails_each_caller_on_its_own() -> None:
    class Down(FakeFollowingStub):
        async def BatchGetFollowingIds(self, request: Any, **_: Any) -> Any:  # noqa: N802
            self.batches.append(request)
            raise RuntimeError("graph_svc is down")

    stub = Down({1: [2]})
    graph = peers.GrpcGraph(stub, service_token=lambda: "t", timeout=1)  # type: ignore[arg-type]
    outcomes = await asyncio.gather(
        graph.following_ids(1, exclude_muted=True),
        graph.following_ids(2, exclude_muted=True),
        return_exceptions=True,
    )
    assert [str(o) for o in outcomes] == ["graph_svc is down"] * 2
    # One shared call, then each caller's own (whose error it sees).
    assert [list(b.user_ids) for b in stub.batches][0] == [1, 2]
    assert sorted(list(b.user_ids) for b in stub.batches[1:]) == [[1], [2]]
