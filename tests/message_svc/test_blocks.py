"""The cached block answers: one question to graph_svc per pair, forgotten on block events, and
never a stale answer kept from a question asked before a forget."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from mesh import bus
from message_svc import events
from message_svc.blocks import BlockAnswers
from message_svc.domain import Relationship


class SlowGraph:
    """Answers from `blocks`; a question waits for `gate` when one is set."""

    def __init__(self) -> None:
        self.blocks: set[tuple[int, int]] = set()
        self.asked = 0
        self.gate: asyncio.Event | None = None

    async def relationships(
        self, viewer_id: int, user_ids: Sequence[int]
    ) -> dict[int, Relationship]:
        self.asked += 1
        answer = {
            u: Relationship(
                blocking=(viewer_id, u) in self.blocks, blocked_by=(u, viewer_id) in self.blocks
            )
            for u in user_ids
        }
        if self.gate is not None:
            await self.gate.wait()
        return answer


async def test_a_pair_is_asked_once_either_way_round_until_forgotten() -> None:
    graph = SlowGraph()
    answers = BlockAnswers(graph, ttl_seconds=60, max_entries=10)
    assert not await answers.blocked(1, 2)
    assert not await answers.blocked(2, 1)
    assert graph.asked == 1
    graph.blocks.add((2, 1))
    answers.forget(2, 1)
    assert answers.cached(1, 2) is None
    assert await answers.blocked(1, 2)
    assert answers.cached(2, 1) is True


async def test_an_answer_asked_before_a_forget_is_not_kept() -> None:
    graph = SlowGraph()
    graph.gate = asyncio.Event()
    answers = BlockAnswers(graph, ttl_seconds=60, max_entries=10)
    asking = asyncio.create_task(answers.blocked(1, 2))  # graph answered "not blocked"...
    await asyncio.sleep(0)
    graph.blocks.add((1, 2))
    answers.forget(1, 2)  # ...then the block committed and its event arrived
    graph.gate.set()
    assert await asking is False  # that send was before the block
    assert answers.cached(1, 2) is None  # but its stale answer was not kept
    graph.gate = None
    assert await answers.blocked(1, 2)


async def test_answers_expire_and_the_least_recently_used_go_first() -> None:
    now = [0.0]
    graph = SlowGraph()
    answers = BlockAnswers(graph, ttl_seconds=10, max_entries=2, clock=lambda: now[0])
    for other in (2, 3):
        await answers.blocked(1, other)
    assert answers.cached(1, 2) is False  # 1:2 is now the most recently used
    await answers.blocked(1, 4)
    assert answers.cached(1, 3) is None and answers.cached(1, 2) is False
    now[0] = 11.0
    assert answers.cached(1, 2) is None


def test_every_replica_consumes_the_blocks_in_a_group_of_its_own() -> None:
    # The bus hands each event of a group to one consumer: replicas sharing a group would each
    # miss most blocks. Shard 0 keeps the group a single replica always had.
    groups = [events.group_of(shard) for shard in (0, 1, 2, 8191)]
    assert groups[0] == events.GROUP
    assert len(set(groups)) == len(groups)
    assert all(len(g) <= bus.GROUP_MAX and bus._GROUP.fullmatch(g) for g in groups)
