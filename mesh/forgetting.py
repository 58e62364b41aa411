"""Caches of another service's answers, kept in each process and forgotten by the bus's events.

A service that remembers what a peer answered about accounts (graph_svc user_svc's accounts,
post_svc its authors' summaries, notify_svc who each recipient should not hear from) forgets an
account as soon as the bus brings an event that changes the answer, so the cache's time to live
only bounds a stale answer while the bus is down. The cache is per process, so every replica must
see every such event: each consumes in a group of its own (`replica_group`), not in one shared
group where the bus would hand each event to one of them only. The cache itself must not keep an
answer asked before a forget and got after it: `Remembered` is such a cache.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, Protocol, TypeVar

from cachetools import TTLCache
from google.protobuf.message import Message

from mesh import metrics
from shutter.events.v1 import envelope_pb2, graph_events_pb2, user_events_pb2

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Handler = Callable[[envelope_pb2.EventEnvelope], Awaitable[None]]
# An event type's full name -> its message class and the fields naming the accounts it changes.
Changes = Mapping[str, tuple[type[Message], tuple[str, ...]]]

# What changes user_svc's answer about an account: its summary, whether it is private, whether
# it exists (a suspension leaves it out until it ends).
ACCOUNT_CHANGES: Changes = {
    m.DESCRIPTOR.full_name: (m, ("user_id",))
    for m in (
        user_events_pb2.UserProfileUpdated,
        user_events_pb2.AccountSuspended,
        user_events_pb2.AccountUnsuspended,
        user_events_pb2.AccountDeleted,
    )
}
# What changes who an account should not hear from, on both sides: blocks either way, mutes.
TIE_CHANGES: Changes = {
    graph_events_pb2.Blocked.DESCRIPTOR.full_name: (
        graph_events_pb2.Blocked,
        ("blocker_id", "blocked_id"),
    ),
    graph_events_pb2.Unblocked.DESCRIPTOR.full_name: (
        graph_events_pb2.Unblocked,
        ("blocker_id", "blocked_id"),
    ),
    graph_events_pb2.Muted.DESCRIPTOR.full_name: (graph_events_pb2.Muted, ("muter_id", "muted_id")),
    graph_events_pb2.Unmuted.DESCRIPTOR.full_name: (
        graph_events_pb2.Unmuted,
        ("muter_id", "muted_id"),
    ),
}


class Forgets(Protocol):
    def forget(self, user_id: int) -> None: ...


class Remembered(Generic[K, V]):
    """Answers of a peer by key for `seconds` (0: not at all), up to `entries` of them; a key the
    peer did not know, or an answer `keep` refuses, is asked again next time. An answer asked
    before a `forget` and got after it is not remembered (the generation counter): it may be the
    one the forget was about."""

    def __init__(
        self,
        name: str,
        *,
        seconds: float,
        entries: int,
        keep: Callable[[V], bool] = lambda _value: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._keep = keep
        self._found: TTLCache[K, V] | None = (
            TTLCache(maxsize=entries, ttl=seconds, timer=clock) if seconds > 0 else None
        )
        self._generation = 0  # bumped by every forget

    async def lookup(
        self,
        keys: Sequence[K],
        fetch: Callable[[list[K]], Awaitable[dict[K, V]]],
        *,
        fresh: bool = False,
    ) -> dict[K, V]:
        """Return what is known of these keys, asking `fetch` only for those not remembered.
        `fresh` asks for all of them and forgets what was remembered of them, remembering
        nothing new: a decision about to be written down must not rest on an answer seconds
        old, and a write's own lookups should not fill the cache that reads use."""
        wanted = list(dict.fromkeys(keys))
        if self._found is None or fresh:
            for key in wanted:
                self.forget(key)
            return await fetch(wanted) if wanted else {}
        known = {k: v for k in wanted if (v := self._found.get(k)) is not None}
        missing = [k for k in wanted if k not in known]
        for _ in known:
            metrics.cache_lookup(self._name, hit=True)
        for _ in missing:
            metrics.cache_lookup(self._name, hit=False)
        if missing:
            generation = self._generation
            fetched = await fetch(missing)
            if generation == self._generation:
                self._remember(fetched)
            known.update(fetched)
        return known

    def _remember(self, answers: dict[K, V]) -> None:
        if self._found is not None:
            for key, value in answers.items():
                if self._keep(value):
                    self._found[key] = value

    def forget(self, key: K) -> None:
        """Drop what is remembered of one key."""
        self._generation += 1
        if self._found is not None:
            self._found.pop(key, None)


def replica_group(name: str, id_shard: int) -> str:
    """Return the consumer group of the replica with this id shard (replicas already keep their
    id shards distinct): `name` itself for shard 0."""
    return name if id_shard == 0 else f"{name}.shard{id_shard}"


def accounts_named(envelope: envelope_pb2.EventEnvelope, changes: Changes) -> tuple[int, ...]:
    """Return the accounts an event of `changes` names (none for another event)."""
    found = changes.get(envelope.payload.TypeName())
    if found is None:
        return ()
    kind, fields = found
    event = kind()
    envelope.payload.Unpack(event)
    return tuple(getattr(event, field) for field in fields)


def handler(cache: Forgets, changes: Changes) -> Handler:
    """Return the consumer that makes this replica's cache forget every account an event of
    `changes` names."""

    async def handle(envelope: envelope_pb2.EventEnvelope) -> None:
        for user_id in accounts_named(envelope, changes):
            cache.forget(user_id)

    return handle
