"""user_svc's view of media_svc: which uploaded photo may become a profile picture."""

from __future__ import annotations

from grpc import aio

from shutter.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from user_svc.errors import MediaNotUsable


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
