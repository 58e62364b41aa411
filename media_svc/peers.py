"""The services media_svc calls: the owners of an account's data, for its data export."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mesh.auth import SERVICE_HEADER
from mesh.clients import Channels
from shutter.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from shutter.message.v1 import message_service_pb2, message_service_pb2_grpc
from shutter.post.v1 import post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_service_pb2, user_service_pb2_grpc


class GrpcAccountData:
    """Every owner's ExportAccountData, called as media_svc itself (no user token: an export is
    built in the background, long after the request that asked for it)."""

    def __init__(
        self, channels: Channels, *, service_token: Callable[[], str], timeout: float
    ) -> None:
        self._users = user_service_pb2_grpc.UserServiceStub(channels.channel("user_svc"))
        self._graph = graph_service_pb2_grpc.GraphServiceStub(channels.channel("graph_svc"))
        self._posts = post_service_pb2_grpc.PostServiceStub(channels.channel("post_svc"))
        self._messages = message_service_pb2_grpc.MessageServiceStub(
            channels.channel("message_svc")
        )
        self._token = service_token
        self._timeout = timeout

    async def files(self, user_id: int) -> dict[str, bytes]:
        """Return every owner's files of the account; raise when one cannot answer."""
        metadata = (("authorization", ""), (SERVICE_HEADER, self._token()))
        answers = await asyncio.gather(
            self._users.ExportAccountData(
                user_service_pb2.ExportAccountDataRequest(user_id=user_id),
                metadata=metadata,
                timeout=self._timeout,
            ),
            self._graph.ExportAccountData(
                graph_service_pb2.ExportAccountDataRequest(user_id=user_id),
                metadata=metadata,
                timeout=self._timeout,
            ),
            self._posts.ExportAccountData(
                post_service_pb2.ExportAccountDataRequest(user_id=user_id),
                metadata=metadata,
                timeout=self._timeout,
            ),
            self._messages.ExportAccountData(
                message_service_pb2.ExportAccountDataRequest(user_id=user_id),
                metadata=metadata,
                timeout=self._timeout,
            ),
        )
        files: dict[str, bytes] = {}
        for answer in answers:
            files.update(answer.files)
        return files
