"""What message_svc publishes: MessageSent and ConversationCreated, through its outbox in the
transaction of the change (see domain.Messenger). It consumes nothing: live delivery to its own
streams is woken in-process after the commit (see live.Wakeups).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from mesh import convert
from shutter.events.v1 import message_events_pb2


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
