"""The services post_svc asks: graph_svc's privacy rule, user_svc's accounts, media_svc's media.

Each lookup is one batch call per 100 ids (the peers' batch limit), made concurrently. Calls to
user_svc and graph_svc carry the caller's identity (the channel forwards it); calls to media_svc
carry post_svc's own service identity, because media_svc shows a user only their own media while
posts show everyone's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
from grpc import aio

from post_svc.domain import Visibility
from shutter.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from shutter.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

# What each peer's batch calls answer at most.
PEER_BATCH_MAX = 100

T = TypeVar("T")
R = TypeVar("R")


async def _in_chunks(items: Sequence[T], call: Callable[[list[T]], Awaitable[R]]) -> list[R]:
    chunks = [list(items[i : i + PEER_BATCH_MAX]) for i in range(0, len(items), PEER_BATCH_MAX)]
    return list(await asyncio.gather(*(call(chunk) for chunk in chunks)))


class GrpcPrivacy:
    """The privacy rule through graph_svc's BatchCanView."""

    def __init__(self, stub: graph_service_pb2_grpc.GraphServiceStub, *, timeout: float) -> None:
        self._stub = stub
        self._timeout = timeout

    async def visibility(
        self, viewer: int | None, owner_ids: Sequence[int]
    ) -> dict[int, Visibility]:
        """Return the rule's answer for each known owner (unknown owners are left out)."""
        wanted = list(dict.fromkeys(owner_ids))

        async def ask(chunk: list[int]) -> graph_service_pb2.BatchCanViewResponse:
            answer: graph_service_pb2.BatchCanViewResponse = await self._stub.BatchCanView(
                graph_service_pb2.BatchCanViewRequest(viewer_id=viewer or 0, owner_ids=chunk),
                timeout=self._timeout,
            )
            return answer

        return {
            v.owner_id: Visibility(can_view=v.can_view, blocked=v.blocked)
            for answer in await _in_chunks(wanted, ask)
            for v in answer.visibilities
        }


class GrpcDirectory:
    """Accounts through user_svc's BatchGetUsers."""

    def __init__(self, stub: user_service_pb2_grpc.UserServiceStub, *, timeout: float) -> None:
        self._stub = stub
        self._timeout = timeout

    async def _batch(
        self, request: user_service_pb2.BatchGetUsersRequest
    ) -> list[user_pb2.UserSummary]:
        answer: user_service_pb2.BatchGetUsersResponse = await self._stub.BatchGetUsers(
            request, timeout=self._timeout
        )
        return list(answer.users)

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        """Return the accounts that exist among these ids."""
        wanted = list(dict.fromkeys(user_ids))
        answers = await _in_chunks(
            wanted, lambda chunk: self._batch(user_service_pb2.BatchGetUsersRequest(user_ids=chunk))
        )
        return {u.user_id: u for users in answers for u in users}

    async def by_usernames(self, usernames: Sequence[str]) -> dict[str, user_pb2.UserSummary]:
        """Return the accounts with these usernames, keyed by lower-cased username."""
        wanted = list(dict.fromkeys(n.lower() for n in usernames))
        answers = await _in_chunks(
            wanted,
            lambda chunk: self._batch(user_service_pb2.BatchGetUsersRequest(usernames=chunk)),
        )
        return {u.username.lower(): u for users in answers for u in users}


class GrpcMediaCatalog:
    """Media through media_svc's BatchGetMedia and DeleteMedia, as post_svc itself."""

    def __init__(
        self,
        stub: media_service_pb2_grpc.MediaServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        self._stub = stub
        self._token = service_token
        self._timeout = timeout

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self._token()}"),)

    async def media(self, media_ids: Sequence[int]) -> dict[int, media_pb2.Media]:
        """Return the media that exist (not deleted) among these ids."""
        wanted = list(dict.fromkeys(media_ids))

        async def ask(chunk: list[int]) -> media_service_pb2.BatchGetMediaResponse:
            answer: media_service_pb2.BatchGetMediaResponse = await self._stub.BatchGetMedia(
                media_service_pb2.BatchGetMediaRequest(media_ids=chunk),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
            return answer

        return {m.media_id: m for answer in await _in_chunks(wanted, ask) for m in answer.media}

    async def delete(self, media_id: int) -> None:
        """Delete a piece of media; unknown or already deleted media counts as done."""
        try:
            await self._stub.DeleteMedia(
                media_service_pb2.DeleteMediaRequest(media_id=media_id),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
        except aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
