"""The services notify_svc asks, always as itself: graph_svc's ties for suppression (kept per
recipient), user_svc's accounts and post_svc's posts for hydration, message_svc's DM badge for
the stream.

Calls carry notify_svc's own service token, not the caller's: a notification stream outlives the
access token it was opened with, and consumers have no caller at all. Each lookup is one batch
call per 100 ids (the peers' batch limit), made concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from mesh.auth import SERVICE_HEADER
from mesh.forgetting import Remembered
from shutter.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from shutter.message.v1 import message_service_pb2, message_service_pb2_grpc
from shutter.post.v1 import post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

PEER_BATCH_MAX = 100
RELATIONSHIP_CALLS_IN_FLIGHT = 8

T = TypeVar("T")
R = TypeVar("R")


async def _in_chunks(items: Sequence[T], call: Callable[[list[T]], Awaitable[R]]) -> list[R]:
    chunks = [list(items[i : i + PEER_BATCH_MAX]) for i in range(0, len(items), PEER_BATCH_MAX)]
    return list(await asyncio.gather(*(call(chunk) for chunk in chunks)))


class _AsService:
    def __init__(self, service_token: Callable[[], str], timeout: float) -> None:
        self._token = service_token
        self._timeout = timeout

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        # As this service itself, not as the user it works for: no user token, its identity.
        return (("authorization", ""), (SERVICE_HEADER, self._token()))


class GrpcRelationships(_AsService):
    """Suppression from what graph_svc says each recipient should not hear from (the accounts
    it blocked, that blocked it, that it muted: BatchGetSilencedIds, one call per 100
    recipients), kept per recipient for `keep_seconds`, so a like or a comment asks graph_svc
    nothing once its recipient is known.

    Every replica forgets both accounts of each block, unblock, mute and unmute as the bus
    brings it (events.silence_handler, in a group per replica), so `keep_seconds` only bounds a
    stale answer while the bus is down; a lookup that asked before a forget and got its answer
    after it does not keep that answer (mesh.forgetting.Remembered). A recipient with more ties
    than a page is asked per pair (GetRelationships) and not kept.
    """

    def __init__(
        self,
        stub: graph_service_pb2_grpc.GraphServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
        keep_seconds: float = 0.0,
        max_kept: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(service_token, timeout)
        self._stub = stub
        self._kept: Remembered[int, frozenset[int]] = Remembered(
            "notify_svc.silences", seconds=keep_seconds, entries=max_kept, clock=clock
        )

    async def suppressed(self, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        """Return the (recipient, actor) pairs where either blocked the other or the recipient
        muted the actor."""
        actors: dict[int, list[int]] = defaultdict(list)
        for recipient, actor in pairs:
            actors[recipient].append(actor)
        silenced = await self._kept.lookup(list(actors), self._silenced_ids)
        hidden = {
            (recipient, actor)
            for recipient, ids in silenced.items()
            for actor in actors[recipient]
            if actor in ids
        }
        too_many = [r for r in actors if r not in silenced]
        if too_many:
            hidden |= await self._ask_per_pair({r: actors[r] for r in too_many})
        return hidden

    def forget(self, user_id: int) -> None:
        """Drop what is kept of an account's ties (a block, unblock, mute or unmute changed
        them)."""
        self._kept.forget(user_id)

    async def _silenced_ids(self, recipients: list[int]) -> dict[int, frozenset[int]]:
        """Return who each recipient should not hear from, leaving out the recipients with more
        ties than a page (graph_svc answers every one asked)."""

        async def ask(chunk: list[int]) -> graph_service_pb2.BatchGetSilencedIdsResponse:
            answer: graph_service_pb2.BatchGetSilencedIdsResponse = (
                await self._stub.BatchGetSilencedIds(
                    graph_service_pb2.BatchGetSilencedIdsRequest(user_ids=chunk),
                    metadata=self._metadata(),
                    timeout=self._timeout,
                )
            )
            return answer

        return {
            found.user_id: frozenset(found.silenced_ids)
            for answer in await _in_chunks(recipients, ask)
            for found in answer.silenced
            if not found.more
        }

    async def _ask_per_pair(self, actors: dict[int, list[int]]) -> set[tuple[int, int]]:
        """Return the suppressed pairs of recipients with too many ties to keep: one
        GetRelationships call per recipient, a bounded number in flight."""

        async def ask(recipient: int) -> set[tuple[int, int]]:
            ids = list(dict.fromkeys(actors[recipient]))

            async def chunk_call(chunk: list[int]) -> graph_service_pb2.GetRelationshipsResponse:
                answer: graph_service_pb2.GetRelationshipsResponse = (
                    await self._stub.GetRelationships(
                        graph_service_pb2.GetRelationshipsRequest(
                            viewer_id=recipient, user_ids=chunk
                        ),
                        metadata=self._metadata(),
                        timeout=self._timeout,
                    )
                )
                return answer

            return {
                (recipient, r.user_id)
                for answer in await _in_chunks(ids, chunk_call)
                for r in answer.relationships
                if r.blocking or r.blocked_by or r.muting
            }

        # A bounded number in flight, so that graph_svc answers each within its deadline
        # instead of all at once late.
        limit = asyncio.Semaphore(RELATIONSHIP_CALLS_IN_FLIGHT)

        async def bounded(recipient: int) -> set[tuple[int, int]]:
            async with limit:
                return await ask(recipient)

        found = await asyncio.gather(*(bounded(recipient) for recipient in actors))
        return set().union(*found)


class GrpcDirectory(_AsService):
    """Accounts through user_svc's BatchGetUsers."""

    def __init__(
        self,
        stub: user_service_pb2_grpc.UserServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__(service_token, timeout)
        self._stub = stub

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        """Return the accounts that exist among these ids."""

        async def ask(chunk: list[int]) -> user_service_pb2.BatchGetUsersResponse:
            answer: user_service_pb2.BatchGetUsersResponse = await self._stub.BatchGetUsers(
                user_service_pb2.BatchGetUsersRequest(user_ids=chunk),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
            return answer

        wanted = list(dict.fromkeys(user_ids))
        return {u.user_id: u for answer in await _in_chunks(wanted, ask) for u in answer.users}


class GrpcPostCatalog(_AsService):
    """Post thumbnails through post_svc's BatchGetPosts, as the recipient sees the posts."""

    def __init__(
        self,
        stub: post_service_pb2_grpc.PostServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__(service_token, timeout)
        self._stub = stub

    async def thumbnails(self, viewer_id: int, post_ids: Sequence[int]) -> dict[int, str]:
        """Return the first media thumbnail URL of each post the viewer may see."""

        async def ask(chunk: list[int]) -> post_service_pb2.BatchGetPostsResponse:
            answer: post_service_pb2.BatchGetPostsResponse = await self._stub.BatchGetPosts(
                post_service_pb2.BatchGetPostsRequest(viewer_id=viewer_id, post_ids=chunk),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
            return answer

        wanted = list(dict.fromkeys(post_ids))
        return {
            p.post_id: (p.media[0].variants.thumbnail if p.media else "")
            for answer in await _in_chunks(wanted, ask)
            for p in answer.posts
        }


class GrpcMessageBadges(_AsService):
    """The DM badge through message_svc's internal CountUnreadConversations."""

    def __init__(
        self,
        stub: message_service_pb2_grpc.MessageServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__(service_token, timeout)
        self._stub = stub

    async def unread_conversations(self, user_ids: Sequence[int]) -> dict[int, int]:
        """Return each account's inbox conversations with unread messages (0s left out)."""

        async def ask(chunk: list[int]) -> message_service_pb2.CountUnreadConversationsResponse:
            answer: message_service_pb2.CountUnreadConversationsResponse = (
                await self._stub.CountUnreadConversations(
                    message_service_pb2.CountUnreadConversationsRequest(user_ids=chunk),
                    metadata=self._metadata(),
                    timeout=self._timeout,
                )
            )
            return answer

        wanted = list(dict.fromkeys(user_ids))
        return {
            user_id: count
            for answer in await _in_chunks(wanted, ask)
            for user_id, count in answer.unread_conversations.items()
        }
