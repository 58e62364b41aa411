"""What graph_svc publishes (follows, requests, blocks, mutes) and consumes (profile changes).

Published events go to the outbox in the transaction of the change (see domain.Graph). Consumed:
`shutter.events.v1.UserProfileUpdated` from user_svc. An account that turned public has its
pending follow requests approved; the handler is idempotent, so a redelivered event does no harm.
Every replica also consumes user_svc's account changes in a group of its own, to forget them in
its cache of user_svc's answers (card_handler).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from mesh import forgetting
from shutter.events.v1 import envelope_pb2, graph_events_pb2, user_events_pb2

if TYPE_CHECKING:
    from graph_svc.domain import Graph

log = logging.getLogger("shutter.graph_svc.events")

PROFILE_UPDATED = user_events_pb2.UserProfileUpdated.DESCRIPTOR.full_name
CONSUMED = frozenset({PROFILE_UPDATED})
# What changes an account as the privacy rule sees it (exists, is private): each replica's
# cache of user_svc's answers forgets the account on these (users.GrpcUserDirectory).
CARD_EVENTS = forgetting.ACCOUNT_CHANGES
CARDS_GROUP = "graph_svc.cards"

Handler = Callable[[envelope_pb2.EventEnvelope], Awaitable[None]]


def cards_group(id_shard: int) -> str:
    """Return the consumer group in which the replica with this id shard forgets changed
    accounts (mesh.forgetting)."""
    return forgetting.replica_group(CARDS_GROUP, id_shard)


def card_handler(users: forgetting.Forgets) -> Handler:
    """Return the consumer that forgets a changed account in this replica's cache."""
    return forgetting.handler(users, CARD_EVENTS)


def followed(*, follower_id: int, followee_id: int) -> graph_events_pb2.Followed:
    """Return the event of a new follow."""
    return graph_events_pb2.Followed(follower_id=follower_id, followee_id=followee_id)


def unfollowed(
    *, follower_id: int, followee_id: int, reason: graph_events_pb2.UnfollowReason
) -> graph_events_pb2.Unfollowed:
    """Return the event of an ended follow."""
    return graph_events_pb2.Unfollowed(
        follower_id=follower_id, followee_id=followee_id, reason=reason
    )


def follow_requested(*, requester_id: int, target_id: int) -> graph_events_pb2.FollowRequested:
    """Return the event of a new request to follow a private account."""
    return graph_events_pb2.FollowRequested(requester_id=requester_id, target_id=target_id)


def follow_approved(
    *, requester_id: int, target_id: int, automatic: bool
) -> graph_events_pb2.FollowApproved:
    """Return the event of an approved follow request."""
    return graph_events_pb2.FollowApproved(
        requester_id=requester_id, target_id=target_id, automatic=automatic
    )


def follow_request_ended(
    *,
    requester_id: int,
    target_id: int,
    reason: graph_events_pb2.FollowRequestEndReason,
) -> graph_events_pb2.FollowRequestEnded:
    """Return the event of a follow request that ended without approval."""
    return graph_events_pb2.FollowRequestEnded(
        requester_id=requester_id, target_id=target_id, reason=reason
    )


def blocked(*, blocker_id: int, blocked_id: int) -> graph_events_pb2.Blocked:
    """Return the event of a new block."""
    return graph_events_pb2.Blocked(blocker_id=blocker_id, blocked_id=blocked_id)


def unblocked(*, blocker_id: int, blocked_id: int) -> graph_events_pb2.Unblocked:
    """Return the event of a lifted block."""
    return graph_events_pb2.Unblocked(blocker_id=blocker_id, blocked_id=blocked_id)


def muted(*, muter_id: int, muted_id: int) -> graph_events_pb2.Muted:
    """Return the event of a new mute."""
    return graph_events_pb2.Muted(muter_id=muter_id, muted_id=muted_id)


def unmuted(*, muter_id: int, muted_id: int) -> graph_events_pb2.Unmuted:
    """Return the event of a lifted mute."""
    return graph_events_pb2.Unmuted(muter_id=muter_id, muted_id=muted_id)


def profile_updated_handler(graph: Graph) -> Handler:
    """Return the consumer of UserProfileUpdated: forget the cached account, and approve its
    pending follow requests when it is public now."""

    async def handle(envelope: envelope_pb2.EventEnvelope) -> None:
        event = user_events_pb2.UserProfileUpdated()
        if not envelope.payload.Unpack(event):
            # Subscribed to one type only; anything else is a routing mistake, not ours to retry.
            log.warning("ignoring event %s of unexpected type", envelope.event_id)
            return
        await graph.on_profile_updated(user_id=event.user_id, is_private=event.is_private)

    return handle
