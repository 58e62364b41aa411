"""user_svc's view of its peers: which uploaded photo may become a profile picture (media_svc),
and who owns, hides and removes reported things (post_svc, graph_svc, message_svc). Profile
changes reach feed_svc's read model through mesh.eventsync."""

from __future__ import annotations

import grpc
from grpc import aio

from shutter.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from shutter.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from shutter.message.v1 import message_service_pb2, message_service_pb2_grpc
from shutter.post.v1 import post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_pb2
from user_svc.errors import MediaNotUsable, ReportTargetNotFound


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


_POST_TYPES = {
    "post": user_pb2.REPORT_TARGET_TYPE_POST,
    "comment": user_pb2.REPORT_TARGET_TYPE_COMMENT,
    "story": user_pb2.REPORT_TARGET_TYPE_STORY,
}


class GrpcContentOwners:
    """The owners of reported things for the moderation rules: post_svc for posts, comments and
    stories, graph_svc for accounts (a reporter blocks the account they report), message_svc for
    messages. Calls carry the caller's token beside user_svc's identity."""

    def __init__(
        self,
        *,
        posts: post_service_pb2_grpc.PostServiceStub,
        graph: graph_service_pb2_grpc.GraphServiceStub,
        messages: message_service_pb2_grpc.MessageServiceStub,
        timeout: float,
    ) -> None:
        self._posts = posts
        self._graph = graph
        self._messages = messages
        self._timeout = timeout

    async def owner(self, *, target_type: str, target_id: int, viewer_id: int) -> int:
        """Return the owner of a thing the viewer can see; ReportTargetNotFound otherwise."""
        try:
            if target_type == "user":
                answer = await self._graph.GetRelationships(
                    graph_service_pb2.GetRelationshipsRequest(
                        viewer_id=viewer_id, user_ids=[target_id]
                    ),
                    timeout=self._timeout,
                )
                if any(r.blocked_by for r in answer.relationships):
                    raise ReportTargetNotFound("no account has that id")
                return target_id
            if target_type == "message":
                found = await self._messages.GetReportedMessage(
                    message_service_pb2.GetReportedMessageRequest(
                        message_id=target_id, viewer_id=viewer_id
                    ),
                    timeout=self._timeout,
                )
                return int(found.sender_id)
            described = await self._posts.GetModerationTarget(
                post_service_pb2.GetModerationTargetRequest(
                    target_type=_POST_TYPES[target_type], target_id=target_id, viewer_id=viewer_id
                ),
                timeout=self._timeout,
            )
            return int(described.owner_id)
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise ReportTargetNotFound(f"no {target_type} has that id") from None
            raise

    async def hide_from(self, *, target_type: str, target_id: int, viewer_id: int) -> None:
        """Hide the thing from the viewer: a block for an account, a per-viewer hide otherwise."""
        if target_type == "user":
            await self._graph.Block(
                graph_service_pb2.BlockRequest(user_id=target_id), timeout=self._timeout
            )
        elif target_type == "message":
            await self._messages.HideReportedMessage(
                message_service_pb2.HideReportedMessageRequest(
                    message_id=target_id, viewer_id=viewer_id
                ),
                timeout=self._timeout,
            )
        else:
            await self._posts.HideFromViewer(
                post_service_pb2.HideFromViewerRequest(
                    target_type=_POST_TYPES[target_type], target_id=target_id, viewer_id=viewer_id
                ),
                timeout=self._timeout,
            )

    async def remove(self, *, target_type: str, target_id: int) -> None:
        """Delete the thing through its owner's delete path, with its ordinary events."""
        if target_type == "message":
            await self._messages.RemoveReportedMessage(
                message_service_pb2.RemoveReportedMessageRequest(message_id=target_id),
                timeout=self._timeout,
            )
            return
        await self._posts.RemoveContent(
            post_service_pb2.RemoveContentRequest(
                target_type=_POST_TYPES[target_type], target_id=target_id
            ),
            timeout=self._timeout,
        )
