"""The services graph_svc tells of changes at once (user_svc is users.py): feed_svc's read model
and message_svc's cached block answers.

Unfollows, blocks and mutes must take effect on the very next feed read, and blocks on the very
next direct message, so the events of such a change are applied in feed_svc and message_svc
(ApplyEvents, both at once) right after the commit and before graph_svc answers; the bus still
delivers them, and both handle them idempotently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from grpc import aio

from mesh.auth import SERVICE_HEADER
from shutter.events.v1 import envelope_pb2, graph_events_pb2
from shutter.feed.v1 import feed_service_pb2, feed_service_pb2_grpc
from shutter.message.v1 import message_service_pb2, message_service_pb2_grpc

log = logging.getLogger("shutter.graph_svc.peers")


class GrpcFeedSync:
    """feed_svc's ApplyEvents, called with graph_svc's own service identity."""

    def __init__(
        self,
        stub: feed_service_pb2_grpc.FeedServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        self._stub = stub
        self._token = service_token
        self._timeout = timeout

    async def apply(self, events: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Apply committed events in feed_svc now. A failure is logged: the change is committed
        and the bus delivers its events to feed_svc later."""
        if not events:
            return
        try:
            await self._stub.ApplyEvents(
                feed_service_pb2.ApplyEventsRequest(events=events),
                # As this service itself: no user token, its identity.
                metadata=(("authorization", ""), (SERVICE_HEADER, self._token())),
                timeout=self._timeout,
            )
        except aio.AioRpcError as exc:
            log.warning(
                "feed_svc did not apply %d graph events now (%s): the bus delivers them",
                len(events),
                exc.code().name,
            )


# What message_svc caches and must hear of at once: blocks between two accounts.
_BLOCK_EVENTS = frozenset(
    m.DESCRIPTOR.full_name for m in (graph_events_pb2.Blocked, graph_events_pb2.Unblocked)
)


class GrpcMessageSync:
    """message_svc's ApplyEvents (blocks and unblocks only), with graph_svc's identity."""

    def __init__(
        self,
        stub: message_service_pb2_grpc.MessageServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        self._stub = stub
        self._token = service_token
        self._timeout = timeout

    async def apply(self, events: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Apply committed block events in message_svc now. A failure is logged: the change is
        committed and the bus delivers its events to message_svc later."""
        blocks = [e for e in events if e.payload.TypeName() in _BLOCK_EVENTS]
        if not blocks:
            return
        try:
            await self._stub.ApplyEvents(
                message_service_pb2.ApplyEventsRequest(events=blocks),
                metadata=(("authorization", ""), (SERVICE_HEADER, self._token())),
                timeout=self._timeout,
            )
        except aio.AioRpcError as exc:
            log.warning(
                "message_svc did not apply %d block events now (%s): the bus delivers them",
                len(blocks),
                exc.code().name,
            )


class ReadModelSyncs:
    """Several services told of the same committed events at once, in parallel."""

    def __init__(self, *syncs: GrpcFeedSync | GrpcMessageSync) -> None:
        self._syncs = syncs

    async def apply(self, events: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Apply these committed events in every service now (each logs its own failure)."""
        await asyncio.gather(*(sync.apply(events) for sync in self._syncs))
