"""feed_svc's graph_svc client: follower pages bigger than the fan-out batches, split to size."""

from __future__ import annotations

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
