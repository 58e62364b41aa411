"""The services message_svc asks, always as itself and with a deadline: graph_svc (who follows or
blocked whom), user_svc (account summaries), media_svc (a sent photo's owner and state) and
post_svc (shared posts, through its privacy-checked batch read, as each reader may see them).

Calls carry message_svc's own service identity, not the caller's token: some questions are
asked on behalf of another account (does the recipient follow the sender? may this reader see the
post?), and a stream outlives the access token it was opened with. A peer that cannot answer in
time raises mesh.errors.PeerUnavailable, so a send fails closed instead of guessing who may write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
from grpc import aio

from mesh.auth import SERVICE_HEADER
from mesh.errors import PeerUnavailable
from message_svc.domain import Relationship
from shutter.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from shutter.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from shutter.post.v1 import post_pb2, post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

# The peers' batch RPCs answer at most this many ids per call.
PEER_BATCH_MAX = 100
# Codes that mean "the peer could not answer", as opposed to an answer.
_UNREACHABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)

T = TypeVar("T")
R = TypeVar("R")


async def _in_chunks(items: Sequence[T], call: Callable[[list[T]], Awaitable[R]]) -> list[R]:
    chunks = [list(items[i : i + PEER_BATCH_MAX]) for i in range(0, len(items), PEER_BATCH_MAX)]
    return list(await asyncio.gather(*(call(chunk) for chunk in chunks)))


class _AsService:
    def __init__(self, peer: str, service_token: Callable[[], str], timeout: float) -> None:
        self._peer = peer
        self._token = service_token
        self._timeout = timeout

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        # As this service itself, not as the user it works for: no user token, its identity.
        return (("authorization", ""), (SERVICE_HEADER, self._token()))

    async def _call(self, call: Awaitable[R]) -> R:
        try:
            return await call
        except aio.AioRpcError as exc:
            if exc.code() in _UNREACHABLE:
                raise PeerUnavailable(
                    f"{self._peer} did not answer; retry shortly",
                    metadata={"peer": self._peer},
                ) from exc
            raise


class GrpcRelationships(_AsService):
    """Follows and blocks through graph_svc's GetRelationships."""

    def __init__(
        self,
        stub: graph_service_pb2_grpc.GraphServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__("graph_svc", service_token, timeout)
        self._stub = stub

    async def relationships(
        self, viewer_id: int, user_ids: Sequence[int]
    ) -> dict[int, Relationship]:
        """Return how the viewer and each account are connected, from the viewer's side."""

        async def ask(chunk: list[int]) -> graph_service_pb2.GetRelationshipsResponse:
            answer: graph_service_pb2.GetRelationshipsResponse = await self._call(
                self._stub.GetRelationships(
                    graph_service_pb2.GetRelationshipsRequest(viewer_id=viewer_id, user_ids=chunk),
                    metadata=self._metadata(),
                    timeout=self._timeout,
                )
            )
            return answer

        wanted = list(dict.fromkeys(user_ids))
        return {
            r.user_id: Relationship(
                following=r.following,
                followed_by=r.followed_by,
                blocking=r.blocking,
                blocked_by=r.blocked_by,
            )
            for answer in await _in_chunks(wanted, ask)
            for r in answer.relationships
        }


class GrpcDirectory(_AsService):
    """Account summaries through user_svc's BatchGetUsers."""

    def __init__(
        self,
        stub: user_service_pb2_grpc.UserServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__("user_svc", service_token, timeout)
        self._stub = stub

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        """Return the accounts that exist among these ids."""

        async def ask(chunk: list[int]) -> user_service_pb2.BatchGetUsersResponse:
            answer: user_service_pb2.BatchGetUsersResponse = await self._call(
                self._stub.BatchGetUsers(
                    user_service_pb2.BatchGetUsersRequest(user_ids=chunk),
                    metadata=self._metadata(),
                    timeout=self._timeout,
                )
            )
            return answer

        wanted = list(dict.fromkeys(user_ids))
        return {u.user_id: u for answer in await _in_chunks(wanted, ask) for u in answer.users}


class GrpcMediaLibrary(_AsService):
    """Photos and videos through media_svc's BatchGetMedia."""

    def __init__(
        self,
        stub: media_service_pb2_grpc.MediaServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__("media_svc", service_token, timeout)
        self._stub = stub

    async def media(self, media_ids: Sequence[int]) -> dict[int, media_pb2.Media]:
        """Return the media that exist (not deleted) among these ids, in any state."""

        async def ask(chunk: list[int]) -> media_service_pb2.BatchGetMediaResponse:
            answer: media_service_pb2.BatchGetMediaResponse = await self._call(
                self._stub.BatchGetMedia(
                    media_service_pb2.BatchGetMediaRequest(media_ids=chunk),
                    metadata=self._metadata(),
                    timeout=self._timeout,
                )
            )
            return answer

        wanted = list(dict.fromkeys(media_ids))
        return {m.media_id: m for answer in await _in_chunks(wanted, ask) for m in answer.media}


class GrpcPostCatalog(_AsService):
    """Shared posts through post_svc's BatchGetPosts, which applies the privacy rule."""

    def __init__(
        self,
        stub: post_service_pb2_grpc.PostServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__("post_svc", service_token, timeout)
        self._stub = stub

    async def visible_posts(
        self, viewer_id: int, post_ids: Sequence[int]
    ) -> dict[int, post_pb2.Post]:
        """Return the posts among these ids that exist and the viewer may see, as they see them."""

        async def ask(chunk: list[int]) -> post_service_pb2.BatchGetPostsResponse:
            answer: post_service_pb2.BatchGetPostsResponse = await self._call(
                self._stub.BatchGetPosts(
                    post_service_pb2.BatchGetPostsRequest(viewer_id=viewer_id, post_ids=chunk),
                    metadata=self._metadata(),
                    timeout=self._timeout,
                )
            )
            return answer

        wanted = list(dict.fromkeys(post_ids))
        return {p.post_id: p for answer in await _in_chunks(wanted, ask) for p in answer.posts}
