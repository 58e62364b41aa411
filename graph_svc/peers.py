"""The services graph_svc tells of changes at once: feed_svc's read model (user_svc is users.py).

Unfollows, blocks and mutes must take effect on the very next feed read, so the events of such a
change are applied in feed_svc (ApplyEvents) right after the commit and before graph_svc
answers; the bus still delivers them, and feed_svc's handling is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from grpc import aio

from mesh.auth import SERVICE_HEADER
from shutter.events.v1 import envelope_pb2
from shutter.feed.v1 import feed_service_pb2, feed_service_pb2_grpc

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
