"""The services graph_svc tells of changes at once (user_svc is users.py): feed_svc's read model
and message_svc's cached block answers.

Unfollows, blocks and mutes must take effect on the very next feed read, and blocks on the very
next direct message, so the events of such a change are applied in feed_svc and message_svc
(ApplyEvents, both at once) right after the commit and before graph_svc answers; the bus still
delivers them, and both handle them idempotently.
"""

from __future__ import annotations

from collections.abc import Callable

from mesh.clients import Channels
from mesh.eventsync import EventSyncs, feed_sync, message_sync
from shutter.events.v1 import graph_events_pb2

# What message_svc caches and must hear of at once: blocks between two accounts.
BLOCK_EVENTS = frozenset(
    m.DESCRIPTOR.full_name for m in (graph_events_pb2.Blocked, graph_events_pb2.Unblocked)
)


def read_model_syncs(
    channels: Channels, *, service_token: Callable[[], str], timeout: float
) -> EventSyncs:
    """feed_svc told of every committed graph event, message_svc of blocks, both at once."""
    return EventSyncs(
        feed_sync(channels.channel("feed_svc"), service_token=service_token, timeout=timeout),
        message_sync(
            channels.channel("message_svc"),
            service_token=service_token,
            timeout=timeout,
            event_types=BLOCK_EVENTS,
        ),
    )
