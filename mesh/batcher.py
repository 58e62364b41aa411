"""Calls to another service that many callers of a process make at the same moment, made
together: one call for many ids (see Batcher)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

_K = TypeVar("_K", bound=Hashable)


class Batcher(Generic[_K]):
    """One fetch per id for the callers of this process: an id another caller is waiting for
    is awaited, not asked again, and the ids callers ask for within `window` seconds of each
    other go to the owner together (up to `most` per call), as the first of those callers sees
    them. While the owner answers `at_once` such batches, the ids asked meanwhile wait for one
    of those answers and then go together: the busier the owner, the bigger the batches, and an
    idle one is asked after only the window. A cold start then asks once per post, author or
    follow list, in a few calls, not once per reader. Answers are (the viewer it was asked for,
    the value or None when not answered); if a fetch fails, its waiters fetch for themselves."""

    def __init__(
        self,
        fetch: Callable[[int, list[_K]], Awaitable[dict[_K, Any]]],
        *,
        window: float,
        most: int = 100,
        at_once: int = 1,
    ) -> None:
        if at_once < 1:
            raise ValueError("at_once must be at least 1")
        self._fetch = fetch
        self._window = window
        self._most = most
        self._at_once = at_once
        self._promised: dict[_K, asyncio.Future[Any]] = {}
        self._queue: list[_K] = []
        self._viewer = 0
        self._flusher: asyncio.Future[None] | None = None
        self._asking: set[asyncio.Future[Any]] = set()  # the batches the owner is answering

    async def get(self, viewer: int, ids: Sequence[_K]) -> dict[_K, tuple[int, Any]]:
        """Return (viewer asked for, value or None) for each id."""
        loop = asyncio.get_running_loop()
        promises: dict[_K, asyncio.Future[Any]] = {}
        for i in dict.fromkeys(ids):
            promise = self._promised.get(i)
            if promise is None:
                promise = self._promised[i] = loop.create_future()
                if not self._queue:
                    self._viewer = viewer
                self._queue.append(i)
            promises[i] = promise
        if self._queue and self._flusher is None:
            self._flusher = asyncio.ensure_future(self._flush())
        answer: dict[_K, tuple[int, Any]] = {}
        retry: list[_K] = []
        for i, promise in promises.items():
            # shield: a reader cancelled while waiting must not cancel the others' answer.
            value = await asyncio.shield(promise)
            if value is _FAILED:
                retry.append(i)
            else:
                answer[i] = value
        if retry:
            found = await self._fetch(viewer, retry)
            answer.update((i, (viewer, found.get(i))) for i in retry)
        return answer

    async def _flush(self) -> None:
        await asyncio.sleep(self._window)
        while len(self._asking) >= self._at_once:
            # Their own outcomes go to their own waiters.
            await asyncio.wait(self._asking, return_when=asyncio.FIRST_COMPLETED)
        queue, viewer = self._queue, self._viewer
        self._queue, self._flusher = [], None
        most = self._most
        asking = asyncio.gather(
            *(self._run(viewer, queue[i : i + most]) for i in range(0, len(queue), most))
        )
        self._asking.add(asking)
        try:
            await asking
        finally:
            self._asking.discard(asking)

    async def _run(self, viewer: int, ids: list[_K]) -> None:
        found: dict[_K, Any] | None = None
        try:
            found = await self._fetch(viewer, ids)
        except Exception:  # noqa: BLE001 - each waiter asks again and sees its own error
            found = None
        finally:
            for i in ids:
                promise = self._promised.pop(i, None)
                if promise is not None and not promise.done():
                    promise.set_result(_FAILED if found is None else (viewer, found.get(i)))


_FAILED = object()  # a fill that raised: its waiters ask for themselves
