"""The services post_svc asks: graph_svc's privacy rule, user_svc's accounts, media_svc's media.

Each lookup is one batch call per 100 ids (the peers' batch limit), made concurrently. Calls to
user_svc and graph_svc carry the caller's identity (the channel forwards it); calls to media_svc
carry post_svc's own service identity, because media_svc shows a user only their own media while
posts show everyone's.

Authors' summaries and media descriptions are the same for every viewer and change rarely (ready
media never), and every feed page needs them: they are remembered (settings; an account's
summary is forgotten as soon as the bus brings its change), so a busy post_svc asks its peers
only for what it has not seen lately. The privacy rule is never
remembered here: graph_svc answers it on every read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
from grpc import aio

from mesh.auth import SERVICE_HEADER
from mesh.forgetting import Remembered
from post_svc.domain import Visibility
from post_svc.reels import Relation
from shutter.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from shutter.media.v1 import media_pb2, media_service_pb2, media_service_pb2_grpc
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

log = logging.getLogger("shutter.post_svc.peers")

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
    """Accounts through user_svc's BatchGetUsers; summaries by id remembered `cache_seconds`, and
    forgotten by every replica as soon as the bus brings the account's change (profile update,
    suspension, its end, deletion: events.author_handler, in a group per replica)."""

    def __init__(
        self,
        stub: user_service_pb2_grpc.UserServiceStub,
        *,
        timeout: float,
        cache_seconds: float = 0.0,
        cache_entries: int = 1,
    ) -> None:
        self._stub = stub
        self._timeout = timeout
        self._summaries: Remembered[int, user_pb2.UserSummary] = Remembered(
            "post_svc.authors", seconds=cache_seconds, entries=cache_entries
        )

    async def _batch(
        self, request: user_service_pb2.BatchGetUsersRequest
    ) -> list[user_pb2.UserSummary]:
        answer: user_service_pb2.BatchGetUsersResponse = await self._stub.BatchGetUsers(
            request, timeout=self._timeout
        )
        return list(answer.users)

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        """Return the accounts that exist among these ids, remembered ones as they were at the
        last change of theirs the bus brought (or within cache_seconds while it is down)."""

        async def fetch(wanted: list[int]) -> dict[int, user_pb2.UserSummary]:
            answers = await _in_chunks(
                wanted,
                lambda chunk: self._batch(user_service_pb2.BatchGetUsersRequest(user_ids=chunk)),
            )
            return {u.user_id: u for users in answers for u in users}

        return await self._summaries.lookup(user_ids, fetch)

    def forget(self, user_id: int) -> None:
        """Drop the summary remembered of an account (it changed)."""
        self._summaries.forget(user_id)

    async def by_usernames(self, usernames: Sequence[str]) -> dict[str, user_pb2.UserSummary]:
        """Return the accounts with these usernames, keyed by lower-cased username."""
        wanted = list(dict.fromkeys(n.lower() for n in usernames))
        answers = await _in_chunks(
            wanted,
            lambda chunk: self._batch(user_service_pb2.BatchGetUsersRequest(usernames=chunk)),
        )
        return {u.username.lower(): u for users in answers for u in users}


class GrpcMediaCatalog:
    """Media through media_svc's BatchGetMedia and DeleteMedia, as post_svc itself; descriptions
    remembered `cache_seconds` (a deletion through this catalog forgets at once)."""

    def __init__(
        self,
        stub: media_service_pb2_grpc.MediaServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
        cache_seconds: float = 0.0,
        cache_entries: int = 1,
    ) -> None:
        self._stub = stub
        self._token = service_token
        self._timeout = timeout
        # Only ready media is remembered: it changes no more, while a processing one will (a
        # ready video whose HLS ladder is still being made gets its other rungs later).
        self._described: Remembered[int, media_pb2.Media] = Remembered(
            "post_svc.media",
            seconds=cache_seconds,
            entries=cache_entries,
            keep=lambda m: (
                m.status == media_pb2.MEDIA_STATUS_READY
                and m.hls_status != media_pb2.HLS_STATUS_PROCESSING
            ),
        )

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        # As this service itself, not as the user it works for: no user token, its identity.
        return (("authorization", ""), (SERVICE_HEADER, self._token()))

    async def media(
        self, media_ids: Sequence[int], *, fresh: bool = False
    ) -> dict[int, media_pb2.Media]:
        """Return the media that exist (not deleted) among these ids; `fresh` asks media_svc
        for every one (to publish it), not what is remembered."""

        async def ask(chunk: list[int]) -> media_service_pb2.BatchGetMediaResponse:
            answer: media_service_pb2.BatchGetMediaResponse = await self._stub.BatchGetMedia(
                media_service_pb2.BatchGetMediaRequest(media_ids=chunk),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
            return answer

        async def fetch(wanted: list[int]) -> dict[int, media_pb2.Media]:
            answers = await _in_chunks(wanted, ask)
            return {m.media_id: m for answer in answers for m in answer.media}

        return await self._described.lookup(media_ids, fetch, fresh=fresh)

    async def delete(self, media_id: int) -> None:
        """Delete a piece of media; unknown or already deleted media counts as done."""
        self._described.forget(media_id)
        try:
            await self._stub.DeleteMedia(
                media_service_pb2.DeleteMediaRequest(media_id=media_id),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
        except aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise


class GrpcRelations:
    """A viewer's follows and mutes through graph_svc's GetRelationships (for the Reels tab)."""

    def __init__(self, stub: graph_service_pb2_grpc.GraphServiceStub, *, timeout: float) -> None:
        self._stub = stub
        self._timeout = timeout

    async def relations(self, viewer: int, user_ids: Sequence[int]) -> dict[int, Relation]:
        """Return whether the viewer follows and mutes each of these accounts."""
        wanted = list(dict.fromkeys(user_ids))

        async def ask(chunk: list[int]) -> graph_service_pb2.GetRelationshipsResponse:
            answer: graph_service_pb2.GetRelationshipsResponse = await self._stub.GetRelationships(
                graph_service_pb2.GetRelationshipsRequest(viewer_id=viewer, user_ids=chunk),
                timeout=self._timeout,
            )
            return answer

        return {
            r.user_id: Relation(following=r.following, muting=r.muting)
            for answer in await _in_chunks(wanted, ask)
            for r in answer.relationships
        }
