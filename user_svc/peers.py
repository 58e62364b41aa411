"""user_svc's view of media_svc (which uploaded photo may become a profile picture) and of
feed_svc (profile changes applied to its read model before user_svc answers)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from grpc import aio

from mesh.auth import SERVICE_HEADER
from shutter.events.v1 import envelope_pb2
from shutter.feed.v1 import feed_service_pb2, feed_service_pb2_grpc
from shutter.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from user_svc.errors import MediaNotUsable

log = logging.getLogger("shutter.user_svc.peers")


class GrpcPictures:
    """Check a photo with media_svc (one BatchGetMedia call, as the caller)."""

    def __init__(self, stub: media_service_pb2_grpc.MediaServiceStub, *, timeout: float) -> None:
        self._stub = stub
        self._timeout = timeout

    async def photo_thumbnail(self, *, owner_id: int, media_id: int) -> str:
        """Return the thumbnail key of a ready photo `owner_id` uploaded, or raise MediaNotUsable.

        The call carries the caller's own token, so media_svc answers only their own media.
        """
        try:
            answer: media_service_pb2.BatchGetMediaResponse = await self._stub.BatchGetMedia(
                media_service_pb2.BatchGetMediaRequest(media_ids=[media_id]),
                timeout=self._timeout,
            )
        except aio.AioRpcError as exc:
            raise MediaNotUsable.field(
                "profile_media_id", f"media_svc could not check it ({exc.code().name})"
            ) from None
        for media in answer.media:
            if (
                media.media_id == media_id
                and media.owner_user_id == owner_id
                and media.type == media_pb2.MEDIA_TYPE_PHOTO
                and media.status == media_pb2.MEDIA_STATUS_READY
                and media.variants.thumbnail_key
            ):
                return media.variants.thumbnail_key
        raise MediaNotUsable.field("profile_media_id", "must be a ready photo you uploaded")


class GrpcFeedSync:
    """feed_svc's ApplyEvents, as user_svc itself: a profile change (a private switch above all)
    reaches feed_svc's read model before user_svc answers. A failure is logged, not raised: the
    change is committed and the bus delivers its event to feed_svc later."""

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
        """Apply committed events in feed_svc now (best effort)."""
        if not events:
            return
        try:
            await self._stub.ApplyEvents(
                feed_service_pb2.ApplyEventsRequest(events=events),
                metadata=(("authorization", ""), (SERVICE_HEADER, self._token())),
                timeout=self._timeout,
            )
        except aio.AioRpcError as exc:
            log.warning(
                "feed_svc did not apply %d profile events now (%s): the bus delivers them",
                len(events),
                exc.code().name,
            )
