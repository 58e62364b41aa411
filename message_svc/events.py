"""What message_svc publishes: MessageSent and ConversationCreated, through its outbox in the
transaction of the change (see domain.Messenger). Live delivery to its own streams is woken
in-process after the commit (see live.Wakeups).

What it consumes: graph_svc's Blocked and Unblocked, to forget the cached block answer of the
pair (see blocks.BlockAnswers): from graph_svc's ApplyEvents call before the block is answered,
and again from the bus. Handling is idempotent (forgetting twice changes nothing).

The cache is per process, so every replica must see every block: each replica consumes in a
group of its own (`group_of` its id shard, which replicas must already keep distinct for their
ids), not in one shared group where the bus would hand each event to one of them only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from mesh import convert
from mesh.bus import event_type, unpack
from message_svc.blocks import BlockAnswers
from shutter.events.v1 import envelope_pb2, graph_events_pb2, message_events_pb2

GROUP = "message_svc"
BLOCKED = graph_events_pb2.Blocked.DESCRIPTOR.full_name
UNBLOCKED = graph_events_pb2.Unblocked.DESCRIPTOR.full_name
CONSUMED = frozenset({BLOCKED, UNBLOCKED})


def group_of(id_shard: int) -> str:
    """Return the consumer group of the replica with this id shard: shard 0 keeps the plain
    name (one replica, as before: no group left behind), the others get one each."""
    return GROUP if id_shard == 0 else f"{GROUP}.shard{id_shard}"


def graph_handler(
    blocks: BlockAnswers,
) -> Callable[[envelope_pb2.EventEnvelope], Awaitable[bool]]:
    """Return the handling of one event: forget the pair of a block or unblock; False for an
    event of another type (ignored)."""

    async def apply(envelope: envelope_pb2.EventEnvelope) -> bool:
        kind = event_type(envelope)
        if kind == BLOCKED:
            blocked = unpack(envelope, graph_events_pb2.Blocked)
            blocks.forget(blocked.blocker_id, blocked.blocked_id)
        elif kind == UNBLOCKED:
            unblocked = unpack(envelope, graph_events_pb2.Unblocked)
            blocks.forget(unblocked.blocker_id, unblocked.blocked_id)
        else:
            return False
        return True

    return apply


def message_sent(
    *,
    conversation_id: int,
    message_id: int,
    sender_id: int,
    recipient_ids: Sequence[int],
    request_recipient_ids: Sequence[int],
    is_group: bool,
    sent_at: datetime,
) -> message_events_pb2.MessageSent:
    """Return the event of a new message."""
    return message_events_pb2.MessageSent(
        conversation_id=conversation_id,
        message_id=message_id,
        sender_id=sender_id,
        recipient_ids=list(recipient_ids),
        request_recipient_ids=list(request_recipient_ids),
        is_group=is_group,
        sent_at=convert.timestamp(sent_at),
    )


def conversation_created(
    *, conversation_id: int, creator_id: int, participant_ids: Sequence[int], is_group: bool
) -> message_events_pb2.ConversationCreated:
    """Return the event of a new conversation."""
    return message_events_pb2.ConversationCreated(
        conversation_id=conversation_id,
        creator_id=creator_id,
        participant_ids=list(participant_ids),
        is_group=is_group,
    )
