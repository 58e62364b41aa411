"""What notify_svc consumes: likes, comments, mentions and deletions from post_svc; follows,
follow requests, approvals, blocks and mutes from graph_svc; resolved reports from user_svc;
MessageSent from message_svc (no notification: the recipients' DM badge goes to their open
streams). It publishes nothing.

Every handler is idempotent: an event's notifications are written in one transaction with its
(producer, event_id), so a redelivered event finds that row and changes nothing. A batch of
events read together goes to `batch_handler`, which writes each run of events that notify (likes,
comments, mentions, follows, requests, approvals) in one step: one relationship question per
recipient not already kept, and one transaction for the run. Every replica also consumes blocks
and mutes in a group of its own, to forget the ties it keeps of both accounts (silence_handler).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from google.protobuf import timestamp_pb2

from mesh import forgetting
from mesh.bus import BatchHandler, event_type, unpack
from notify_svc import domain
from notify_svc.domain import EventKey, Planned
from shutter.events.v1 import (
    envelope_pb2,
    graph_events_pb2,
    message_events_pb2,
    post_events_pb2,
    user_events_pb2,
)

if TYPE_CHECKING:
    from notify_svc.domain import Notifications

log = logging.getLogger("shutter.notify_svc.events")

GROUP = "notify_svc"

POST_LIKED = post_events_pb2.PostLiked.DESCRIPTOR.full_name
POST_UNLIKED = post_events_pb2.PostUnliked.DESCRIPTOR.full_name
COMMENT_CREATED = post_events_pb2.CommentCreated.DESCRIPTOR.full_name
USER_MENTIONED = post_events_pb2.UserMentioned.DESCRIPTOR.full_name
POST_DELETED = post_events_pb2.PostDeleted.DESCRIPTOR.full_name
FOLLOWED = graph_events_pb2.Followed.DESCRIPTOR.full_name
FOLLOW_REQUESTED = graph_events_pb2.FollowRequested.DESCRIPTOR.full_name
FOLLOW_APPROVED = graph_events_pb2.FollowApproved.DESCRIPTOR.full_name
BLOCKED = graph_events_pb2.Blocked.DESCRIPTOR.full_name
UNBLOCKED = graph_events_pb2.Unblocked.DESCRIPTOR.full_name
MUTED = graph_events_pb2.Muted.DESCRIPTOR.full_name
UNMUTED = graph_events_pb2.Unmuted.DESCRIPTOR.full_name
REPORT_RESOLVED = user_events_pb2.ReportResolved.DESCRIPTOR.full_name
MESSAGE_SENT = message_events_pb2.MessageSent.DESCRIPTOR.full_name
CONSUMED = frozenset(
    {
        MESSAGE_SENT,
        POST_LIKED,
        POST_UNLIKED,
        COMMENT_CREATED,
        USER_MENTIONED,
        POST_DELETED,
        FOLLOWED,
        FOLLOW_REQUESTED,
        FOLLOW_APPROVED,
        BLOCKED,
        UNBLOCKED,
        MUTED,
        UNMUTED,
        REPORT_RESOLVED,
    }
)

# What changes who a recipient should not hear from: each replica's kept ties forget both
# accounts on these (peers.GrpcRelationships).
SILENCE_EVENTS = forgetting.TIE_CHANGES
SILENCES_GROUP = "notify_svc.silences"

Handler = Callable[[envelope_pb2.EventEnvelope], Awaitable[None]]


def silences_group(id_shard: int) -> str:
    """Return the consumer group in which the replica with this id shard forgets the kept ties
    of the accounts of each block and mute (mesh.forgetting)."""
    return forgetting.replica_group(SILENCES_GROUP, id_shard)


def silence_handler(relationships: forgetting.Forgets) -> Handler:
    """Return the consumer that forgets, in this replica, the kept ties of both accounts of a
    block, unblock, mute or unmute."""
    return forgetting.handler(relationships, SILENCE_EVENTS)


def _moment(stamp: timestamp_pb2.Timestamp, envelope: envelope_pb2.EventEnvelope) -> datetime:
    """Return when the event happened: its own time, else when it was committed."""
    chosen = stamp if stamp.seconds or stamp.nanos else envelope.occurred_at
    return chosen.ToDatetime(tzinfo=UTC)


def planned(envelope: envelope_pb2.EventEnvelope) -> Planned | None:
    """Return the notifications an event asks for, when it is one that notifies someone (None
    for the others, which the rules apply on their own)."""
    key = EventKey(producer=envelope.producer, event_id=envelope.event_id)
    kind = event_type(envelope)
    no_time = timestamp_pb2.Timestamp()
    if kind == POST_LIKED:
        liked = unpack(envelope, post_events_pb2.PostLiked)
        plans = domain.like_plans(
            post_id=liked.post_id, author_id=liked.post_author_id, liker_id=liked.liker_id
        )
        return Planned(key, plans, _moment(liked.liked_at, envelope))
    if kind == COMMENT_CREATED:
        comment = unpack(envelope, post_events_pb2.CommentCreated)
        plans = domain.comment_plans(
            comment_id=comment.comment_id,
            post_id=comment.post_id,
            post_author_id=comment.post_author_id,
            commenter_id=comment.commenter_id,
            parent_comment_author_id=comment.parent_comment_author_id,
            text=comment.text,
        )
        return Planned(key, plans, _moment(comment.created_at, envelope))
    if kind == USER_MENTIONED:
        mention = unpack(envelope, post_events_pb2.UserMentioned)
        plans = domain.mention_plans(
            mentioned_user_id=mention.mentioned_user_id,
            author_id=mention.author_id,
            post_id=mention.post_id,
            comment_id=mention.comment_id,
        )
        return Planned(key, plans, _moment(mention.created_at, envelope))
    if kind == FOLLOWED:
        followed = unpack(envelope, graph_events_pb2.Followed)
        plans = domain.followed_plans(
            follower_id=followed.follower_id, followee_id=followed.followee_id
        )
        return Planned(key, plans, _moment(no_time, envelope))
    if kind == FOLLOW_REQUESTED:
        requested = unpack(envelope, graph_events_pb2.FollowRequested)
        plans = domain.follow_requested_plans(
            requester_id=requested.requester_id, target_id=requested.target_id
        )
        return Planned(key, plans, _moment(no_time, envelope))
    if kind == FOLLOW_APPROVED:
        approved = unpack(envelope, graph_events_pb2.FollowApproved)
        plans = domain.follow_approved_plans(
            requester_id=approved.requester_id,
            target_id=approved.target_id,
            automatic=approved.automatic,
        )
        return Planned(key, plans, _moment(no_time, envelope))
    return None


async def dispatch(notifications: Notifications, envelope: envelope_pb2.EventEnvelope) -> None:
    """Apply one event to the notification rules."""
    notifies = planned(envelope)
    if notifies is not None:
        await notifications.notify_many([notifies])
        return
    key = EventKey(producer=envelope.producer, event_id=envelope.event_id)
    kind = event_type(envelope)
    n = notifications
    if kind == POST_UNLIKED:
        unliked = unpack(envelope, post_events_pb2.PostUnliked)
        await n.on_post_unliked(
            key,
            post_id=unliked.post_id,
            author_id=unliked.post_author_id,
            liker_id=unliked.liker_id,
        )
    elif kind == POST_DELETED:
        deleted = unpack(envelope, post_events_pb2.PostDeleted)
        await n.on_post_deleted(post_id=deleted.post_id)
    elif kind == MESSAGE_SENT:
        sent = unpack(envelope, message_events_pb2.MessageSent)
        requests = set(sent.request_recipient_ids)  # message requests do not badge
        await n.on_message_sent(recipient_ids=[u for u in sent.recipient_ids if u not in requests])
    elif kind == BLOCKED:
        block = unpack(envelope, graph_events_pb2.Blocked)
        n.ties_changed(block.blocker_id, block.blocked_id)
        await n.on_blocked(blocker_id=block.blocker_id, blocked_id=block.blocked_id)
    elif kind in (UNBLOCKED, MUTED, UNMUTED):
        # In this group too, in order with the follows of the same stream: a follow right after
        # a mute is checked against the mute. (silence_handler does it in every replica.)
        n.ties_changed(*forgetting.accounts_named(envelope, SILENCE_EVENTS))
    elif kind == REPORT_RESOLVED:
        resolved = unpack(envelope, user_events_pb2.ReportResolved)
        await n.on_report_resolved(
            key,
            reporter_id=resolved.reporter_id,
            target_type=resolved.target_type,
            outcome=resolved.outcome,
            at=_moment(timestamp_pb2.Timestamp(), envelope),
        )
    else:
        # Subscribed to CONSUMED only; anything else is a routing mistake, not ours to retry.
        log.warning("ignoring event %s of unexpected type %s", envelope.event_id, kind)


def batch_handler(notifications: Notifications) -> BatchHandler:
    """Return the bus's batch handler (mesh.bus): each run of consecutive events that notify is
    written in one step (one relationship question per recipient, one transaction), every other
    event on its own, all in the order they came."""

    async def handle_batch(envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        run: list[Planned] = []
        for envelope in envelopes:
            notifies = planned(envelope)
            if notifies is not None:
                run.append(notifies)
                continue
            if run:
                await notifications.notify_many(run)
                run = []
            await dispatch(notifications, envelope)
        if run:
            await notifications.notify_many(run)

    return handle_batch


def handler(notifications: Notifications) -> Handler:
    """Return the bus handler that turns events into notifications."""

    async def handle(envelope: envelope_pb2.EventEnvelope) -> None:
        await dispatch(notifications, envelope)

    return handle
