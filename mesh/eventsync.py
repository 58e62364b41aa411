"""Read-your-writes across services: a writer hands the events it has just committed to a peer's
internal `ApplyEvents` before it answers, so the peer's read model shows the change on the
caller's next read (feed_svc's posts and relationships, message_svc's cached block answers).

Best effort by design: the change is committed and the bus delivers the same events later, which
the peer handles idempotently; so a failure is logged, never raised to the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from grpc import aio

from mesh.auth import SERVICE_HEADER
from shutter.events.v1 import envelope_pb2
from shutter.feed.v1 import feed_service_pb2, feed_service_pb2_grpc
from shutter.message.v1 import message_service_pb2, message_service_pb2_grpc

log = logging.getLogger("shutter.mesh.eventsync")

Envelopes = Sequence[envelope_pb2.EventEnvelope]


class EventSync:
    """One peer's `ApplyEvents`, called with this service's own identity (no user token)."""

    def __init__(
        self,
        peer: str,
        apply_events: Callable[..., Awaitable[Any]],
        request: Callable[[Envelopes], Any],
        *,
        service_token: Callable[[], str],
        timeout: float,
        event_types: Collection[str] | None = None,
    ) -> None:
        """`apply_events` is the peer stub's ApplyEvents, `request` builds its request from the
        events; `event_types` (full names) limits what the peer is told of (None: everything)."""
        self._peer = peer
        self._apply_events = apply_events
        self._request = request
        self._token = service_token
        self._timeout = timeout
        self._types = frozenset(event_types) if event_types is not None else None

    async def apply(self, events: Envelopes) -> None:
        """Apply committed events in the peer now; log (not raise) a failure."""
        if self._types is not None:
            events = [e for e in events if e.payload.TypeName() in self._types]
        if not events:
            return
        try:
            await self._apply_events(
                self._request(events),
                metadata=(("authorization", ""), (SERVICE_HEADER, self._token())),
                timeout=self._timeout,
            )
        except aio.AioRpcError as exc:
            log.warning(
                "%s did not apply %d events now (%s): the bus delivers them",
                self._peer,
                len(events),
                exc.code().name,
            )


class EventSyncs:
    """Several peers told of the same committed events at once, in parallel."""

    def __init__(self, *syncs: EventSync) -> None:
        self._syncs = syncs

    async def apply(self, events: Envelopes) -> None:
        """Apply these committed events in every peer now (each logs its own failure)."""
        await asyncio.gather(*(sync.apply(events) for sync in self._syncs))


def feed_sync(
    channel: aio.Channel, *, service_token: Callable[[], str], timeout: float
) -> EventSync:
    """feed_svc's ApplyEvents (its read model and feeds take every event type they know)."""
    stub = feed_service_pb2_grpc.FeedServiceStub(channel)
    return EventSync(
        "feed_svc",
        stub.ApplyEvents,
        lambda events: feed_service_pb2.ApplyEventsRequest(events=events),
        service_token=service_token,
        timeout=timeout,
    )


def message_sync(
    channel: aio.Channel,
    *,
    service_token: Callable[[], str],
    timeout: float,
    event_types: Collection[str],
) -> EventSync:
    """message_svc's ApplyEvents, told only of `event_types`."""
    stub = message_service_pb2_grpc.MessageServiceStub(channel)
    return EventSync(
        "message_svc",
        stub.ApplyEvents,
        lambda events: message_service_pb2.ApplyEventsRequest(events=events),
        service_token=service_token,
        timeout=timeout,
        event_types=event_types,
    )
