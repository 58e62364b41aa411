"""The block answer of each pair of accounts, cached in this process so a send into a 1:1 does
not ask graph_svc every time.

A block must hold from the very next send, so the answer of a pair is forgotten when a Blocked or
Unblocked event of that pair arrives: graph_svc applies a block's events here (ApplyEvents)
before it answers the block, and the bus delivers them again (in case that call failed). A fill
that asked graph_svc before a forget and got its answer after it is not kept (the generation
counter), so a stale "not blocked" can never outlive the block; entries also expire after
`ttl_seconds`.

With several replicas of message_svc, graph_svc's ApplyEvents reaches one of them: a block holds
from the next send there at once. Every replica consumes the bus in a group of its own
(events.group_of), so the others forget the pair when the bus delivers the event: the bound is
the bus delay (the outbox relay, then delivery: well under a second when both run), and if the
bus stops, the TTL at the latest. A send in that window on another replica may still pass.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from message_svc.domain import Relationships


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class BlockAnswers:
    """Whether a block stands between two accounts, either way, cached per pair."""

    def __init__(
        self,
        relationships: Relationships,
        *,
        ttl_seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._relationships = relationships
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        # pair -> (blocked, expires at), least recently used first.
        self._entries: OrderedDict[tuple[int, int], tuple[bool, float]] = OrderedDict()
        # Bumped by every forget: a fill started before one is not kept.
        self._generation = 0

    def cached(self, a: int, b: int) -> bool | None:
        """Return the cached answer for a pair, or None when there is none (or it expired)."""
        key = _pair(a, b)
        found = self._entries.get(key)
        if found is None:
            return None
        blocked, expires = found
        if expires <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return blocked

    async def blocked(self, a: int, b: int) -> bool:
        """Return whether either account blocked the other: cached, else asked of graph_svc
        (which raises Unavailable when it cannot answer: never a guess)."""
        found = self.cached(a, b)
        if found is not None:
            return found
        generation = self._generation
        relation = (await self._relationships.relationships(a, [b])).get(b)
        blocked = relation is not None and relation.blocked
        if generation == self._generation:
            self._entries[_pair(a, b)] = (blocked, self._clock() + self._ttl)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return blocked

    def forget(self, a: int, b: int) -> None:
        """Forget a pair's answer (a block or an unblock between them happened)."""
        self._entries.pop(_pair(a, b), None)
        self._generation += 1
