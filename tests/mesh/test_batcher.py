"""mesh.batcher.Batcher: the ids many callers ask at the same moment go to the owner together."""

from __future__ import annotations

import asyncio

import pytest

from mesh.batcher import Batcher


class Owner:
    """Answers id -> id * 10, each call when the test lets it (or at once)."""

    def __init__(self, *, hold: bool = False) -> None:
        self.calls: list[list[int]] = []
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def fetch(self, _viewer: int, ids: list[int]) -> dict[int, int]:
        self.calls.append(list(ids))
        await self.release.wait()
        return {i: i * 10 for i in ids if i != 13}  # 13: not answered (deleted, unknown)


async def test_ids_asked_at_the_same_moment_go_in_one_call_each_once() -> None:
    owner = Owner()
    batcher: Batcher[int] = Batcher(owner.fetch, window=0.002, most=5)
    answers = await asyncio.gather(
        batcher.get(1, [1, 2, 3]), batcher.get(2, [3, 4, 13]), batcher.get(3, [5, 6, 7])
    )
    assert answers[0] == {1: (1, 10), 2: (1, 20), 3: (1, 30)}
    assert answers[1] == {3: (1, 30), 4: (1, 40), 13: (1, None)}
    assert owner.calls == [[1, 2, 3, 4, 13], [5, 6, 7]]  # each id once, at most 5 a call


async def test_what_is_asked_while_the_owner_answers_waits_and_goes_together() -> None:
    owner = Owner(hold=True)
    batcher: Batcher[int] = Batcher(owner.fetch, window=0.001, at_once=1)
    first = asyncio.ensure_future(batcher.get(1, [1]))
    while not owner.calls:
        await asyncio.sleep(0.001)
    # The owner is busy with [1]: the callers arriving one by one meanwhile are not asked yet.
    later = [asyncio.ensure_future(batcher.get(v, [v])) for v in (2, 3, 4)]
    for _ in range(3):
        await asyncio.sleep(0.01)
        assert owner.calls == [[1]]
    owner.release.set()
    assert await first == {1: (1, 10)}
    assert [await w for w in later] == [{2: (2, 20)}, {3: (2, 30)}, {4: (2, 40)}]
    assert owner.calls == [[1], [2, 3, 4]]
    # Idle again: the next caller is asked after only the window.
    assert await asyncio.wait_for(batcher.get(5, [5]), timeout=1) == {5: (5, 50)}
    assert owner.calls[-1] == [5]


async def test_a_batcher_asking_two_at_once_is_held_back_only_by_two_calls() -> None:
    # A call that waits long (a post another process is filling) must not hold back the next.
    owner = Owner(hold=True)
    batcher: Batcher[int] = Batcher(owner.fetch, window=0.001, at_once=2)
    first = asyncio.ensure_future(batcher.get(1, [1]))
    while len(owner.calls) < 1:
        await asyncio.sleep(0.001)
    second = asyncio.ensure_future(batcher.get(2, [2]))
    while len(owner.calls) < 2:
        await asyncio.sleep(0.001)  # asked while the first is still unanswered
    third = asyncio.ensure_future(batcher.get(3, [3]))
    await asyncio.sleep(0.02)
    assert owner.calls == [[1], [2]]  # two unanswered: the third waits
    owner.release.set()
    assert [await first, await second, await third] == [{1: (1, 10)}, {2: (2, 20)}, {3: (3, 30)}]
    assert owner.calls == [[1], [2], [3]]
    with pytest.raises(ValueError, match="at least 1"):
        Batcher(owner.fetch, window=0.001, at_once=0)


async def test_a_failed_call_makes_each_of_its_callers_ask_alone_and_see_its_error() -> None:
    calls: list[list[int]] = []

    async def failing(_viewer: int, ids: list[int]) -> dict[int, int]:
        calls.append(ids)
        raise RuntimeError(f"down for {ids}")

    batcher: Batcher[int] = Batcher(failing, window=0.001)
    outcomes = await asyncio.gather(
        batcher.get(1, [1]), batcher.get(2, [2]), return_exceptions=True
    )
    assert [str(o) for o in outcomes] == ["down for [1]", "down for [2]"]
    assert calls[0] == [1, 2] and sorted(calls[1:]) == [[1], [2]]
    # The batcher is not stuck on the failure: the next ids are asked.
    with pytest.raises(RuntimeError, match=r"down for \[3\]"):
        await batcher.get(3, [3])
