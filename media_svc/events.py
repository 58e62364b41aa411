"""What media_svc publishes through its outbox: media ready, failed or deleted, a video's HLS
ladder finished; it consumes none."""

from __future__ import annotations

from shutter.events.v1 import media_events_pb2


def media_ready(
    *, media_id: int, owner_user_id: int, is_video: bool
) -> media_events_pb2.MediaReady:
    """Return the event of media that finished processing."""
    return media_events_pb2.MediaReady(
        media_id=media_id, owner_user_id=owner_user_id, is_video=is_video
    )


def media_failed(
    *, media_id: int, owner_user_id: int, failure_code: str
) -> media_events_pb2.MediaFailed:
    """Return the event of media that processing refused, or of an upload that expired."""
    return media_events_pb2.MediaFailed(
        media_id=media_id, owner_user_id=owner_user_id, failure_code=failure_code
    )


def media_deleted(*, media_id: int, owner_user_id: int) -> media_events_pb2.MediaDeleted:
    """Return the event of deleted media."""
    return media_events_pb2.MediaDeleted(media_id=media_id, owner_user_id=owner_user_id)


def media_ladder_finished(
    *, media_id: int, owner_user_id: int, ready: bool
) -> media_events_pb2.MediaLadderFinished:
    """Return the event of a ready video's HLS ladder made (or given up)."""
    return media_events_pb2.MediaLadderFinished(
        media_id=media_id, owner_user_id=owner_user_id, ready=ready
    )
