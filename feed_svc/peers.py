"""The services feed_svc asks: graph_svc, post_svc and user_svc.

graph_svc gives follow lists and relationships, post_svc posts and story rings, user_svc names.

Every call carries feed_svc's own service identity (graph_svc streams follow lists only to
services), and names the viewer explicitly. Batch calls are one per 100 ids, made concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
from grpc import aio

from feed_svc.domain import CountedFollowers, Relation
from feed_svc.errors import AuthorNotFound, RelationshipUnknown
from feed_svc.readmodel import FlagsWanted, Ties, ViewerFlags
from mesh.auth import SERVICE_HEADER
from mesh.batcher import Batcher
from shutter.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from shutter.post.v1 import post_pb2, post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

# What the peers' batch calls answer at most.
PEER_BATCH_MAX = 100
# Ids per message when streaming a follow list (graph_svc clamps to 10000).
STREAM_PAGE = 5000
# Follows answered in one call (graph_svc's most); a longer list is streamed.
FOLLOWING_PAGE = 10000
# Follows per account in a batch answer (graph_svc's most); a longer list is streamed.
BATCH_FOLLOWING_PAGE = 1000
# How long a follow list waits for other callers' before graph_svc is asked for all of them: the
# rebuilds of a cold start arrive together, and one call serves many.
FOLLOWING_BATCH_SECONDS = 0.002


# graph_svc not answering (down, restarting, too slow): retryable.
_GRAPH_DOWN = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# A read that needs a relationship graph_svc does not give in this long fails closed (503, to
# retry) well before the edge's own 5 s read deadline would answer 504: what user_svc did for
# profiles before feed_svc served them.
RELATIONSHIP_DEADLINE_SECONDS = 1.0
R = TypeVar("R")


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + PEER_BATCH_MAX] for i in range(0, len(unique), PEER_BATCH_MAX)]


class _Peer:
    def __init__(self, *, service_token: Callable[[], str], timeout: float) -> None:
        self._token = service_token
        self._timeout = timeout

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        # As this service itself, not as the user it works for: no user token, its identity.
        return (("authorization", ""), (SERVICE_HEADER, self._token()))


async def _fail_closed(call: Awaitable[R]) -> R:
    """Await graph_svc's answer to what the privacy rule needs; when graph_svc is down or slow,
    fail closed (RelationshipUnknown), as user_svc did for profiles: a block may hide the
    account."""
    try:
        return await call
    except aio.AioRpcError as exc:
        if exc.code() in _GRAPH_DOWN:
            raise RelationshipUnknown(
                "cannot tell just now whether this is hidden from you; try again"
            ) from None
        raise


class GrpcGraph(_Peer):
    """Follow lists, counts and relationships through graph_svc."""

    def __init__(
        self,
        stub: graph_service_pb2_grpc.GraphServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__(service_token=service_token, timeout=timeout)
        self._stub = stub
        self._unmuted_following: Batcher[int] = Batcher(
            self._fetch_unmuted_following, window=FOLLOWING_BATCH_SECONDS, most=PEER_BATCH_MAX
        )

    async def following_ids(self, user_id: int, *, exclude_muted: bool) -> list[int]:
        """Return every account a user follows. Without the muted ones (a feed's rebuild, a
        story tray), asked together with the lists other callers want at the same moment;
        else one unary call when they fit a page (nearly every account), else the stream."""
        if exclude_muted:
            _, found = (await self._unmuted_following.get(0, [user_id]))[user_id]
            return list(found or ())  # graph_svc answers every account asked
        page: graph_service_pb2.GetFollowingIdsResponse = await self._stub.GetFollowingIds(
            graph_service_pb2.GetFollowingIdsRequest(
                user_id=user_id, page_size=FOLLOWING_PAGE, exclude_muted=exclude_muted
            ),
            metadata=self._metadata(),
            timeout=self._timeout,
        )
        if not page.more:
            return list(page.user_ids)
        return await self._stream_following(user_id, exclude_muted=exclude_muted)

    async def _fetch_unmuted_following(self, _viewer: int, user_ids: list[int]) -> dict[int, Any]:
        answer: graph_service_pb2.BatchGetFollowingIdsResponse = (
            await self._stub.BatchGetFollowingIds(
                graph_service_pb2.BatchGetFollowingIdsRequest(
                    user_ids=user_ids, page_size=BATCH_FOLLOWING_PAGE, exclude_muted=True
                ),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
        )
        found: dict[int, Any] = {
            f.user_id: list(f.followee_ids) for f in answer.following if not f.more
        }
        longer = [f.user_id for f in answer.following if f.more]
        streamed = await asyncio.gather(
            *(self._stream_following(user_id, exclude_muted=True) for user_id in longer)
        )
        found.update(zip(longer, streamed, strict=True))
        return found

    async def _stream_following(self, user_id: int, *, exclude_muted: bool) -> list[int]:
        found: list[int] = []
        stream = self._stub.StreamFollowingIds(
            graph_service_pb2.StreamFollowingIdsRequest(
                user_id=user_id, page_size=STREAM_PAGE, exclude_muted=exclude_muted
            ),
            metadata=self._metadata(),
            timeout=self._timeout,
        )
        async for batch in stream:
            found.extend(batch.user_ids)
        return found

    async def ties(self, viewer_id: int, *, limit: int) -> Ties | None:
        """Return whom the viewer follows, blocked and was blocked by, in one call, or None
        when there are more than `limit` follows or blocks (then ask per account)."""
        page: graph_service_pb2.GetFollowingIdsResponse = await _fail_closed(
            self._stub.GetFollowingIds(
                graph_service_pb2.GetFollowingIdsRequest(
                    user_id=viewer_id, page_size=limit, with_blocks=True
                ),
                metadata=self._metadata(),
                timeout=min(self._timeout, RELATIONSHIP_DEADLINE_SECONDS),
            )
        )
        if page.more or page.more_blocks:
            return None
        return Ties(
            following=frozenset(page.user_ids),
            blocking=frozenset(page.blocking_ids),
            blocked_by=frozenset(page.blocked_by_ids),
        )

    async def follower_batches(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> AsyncIterator[list[int]]:
        """Yield an account's followers in batches of `batch_size`, in ascending id order."""
        stream = self._stub.StreamFollowerIds(
            graph_service_pb2.StreamFollowerIdsRequest(
                # Pages bigger than the batches: graph_svc reads each page in a transaction of
                # its own, and fewer of them stream a big following faster.
                user_id=user_id,
                page_size=max(batch_size, STREAM_PAGE),
                exclude_muted=exclude_muted,
            ),
            metadata=self._metadata(),
            # A fan-out to a million followers streams for longer than one call's deadline.
            timeout=self._timeout * 60,
        )
        async for page in stream:
            ids = list(page.follower_ids)
            for start in range(0, len(ids), batch_size):
                yield ids[start : start + batch_size]

    async def counted_followers(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> CountedFollowers:
        """Return an account's follower count and its followers in batches of `batch_size`,
        ascending, from one stream (the count comes on its first message)."""
        pages = aiter(
            self._stub.StreamFollowerIds(
                graph_service_pb2.StreamFollowerIdsRequest(
                    user_id=user_id,
                    page_size=max(batch_size, STREAM_PAGE),
                    exclude_muted=exclude_muted,
                    with_follower_count=True,
                ),
                metadata=self._metadata(),
                timeout=self._timeout * 60,
            )
        )
        first = await anext(pages, None)

        async def batches() -> AsyncIterator[list[int]]:
            page = first
            while page is not None:
                ids = list(page.follower_ids)
                for start in range(0, len(ids), batch_size):
                    yield ids[start : start + batch_size]
                page = await anext(pages, None)

        return CountedFollowers(first.follower_count if first is not None else 0, batches())

    async def follower_counts(self, user_ids: Sequence[int]) -> dict[int, int]:
        """Return each account's follower count."""

        async def ask(chunk: list[int]) -> graph_service_pb2.BatchGetFollowCountsResponse:
            answer: graph_service_pb2.BatchGetFollowCountsResponse = (
                await self._stub.BatchGetFollowCounts(
                    graph_service_pb2.BatchGetFollowCountsRequest(user_ids=chunk),
                    metadata=self._metadata(),
                    timeout=self._timeout,
                )
            )
            return answer

        answers = await asyncio.gather(*(ask(c) for c in _chunks(user_ids)))
        return {c.user_id: c.follower_count for a in answers for c in a.counts}

    async def relations(self, viewer_id: int, user_ids: Sequence[int]) -> dict[int, Relation]:
        """Return how the viewer stands with each account."""

        async def ask(chunk: list[int]) -> graph_service_pb2.GetRelationshipsResponse:
            answer: graph_service_pb2.GetRelationshipsResponse = await _fail_closed(
                self._stub.GetRelationships(
                    graph_service_pb2.GetRelationshipsRequest(viewer_id=viewer_id, user_ids=chunk),
                    metadata=self._metadata(),
                    timeout=min(self._timeout, RELATIONSHIP_DEADLINE_SECONDS),
                )
            )
            return answer

        answers = await asyncio.gather(*(ask(c) for c in _chunks(user_ids)))
        return {
            r.user_id: Relation(
                following=r.following,
                blocking=r.blocking,
                blocked_by=r.blocked_by,
                muting=r.muting,
                followed_by=r.followed_by,
                requested=r.requested,
                incoming_request=r.incoming_request,
            )
            for a in answers
            for r in a.relationships
        }


class GrpcPosts(_Peer):
    """Hydration through post_svc's BatchGetPosts, and its hashtag index."""

    def __init__(
        self,
        stub: post_service_pb2_grpc.PostServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__(service_token=service_token, timeout=timeout)
        self._stub = stub

    async def story_rings(
        self, viewer_id: int, author_ids: Sequence[int]
    ) -> list[post_pb2.StoryRing]:
        """Return the story rings of up to 500 authors the viewer may see, in one call."""
        if not author_ids:
            return []
        answer: post_service_pb2.BatchGetStoryRingsResponse = await self._stub.BatchGetStoryRings(
            post_service_pb2.BatchGetStoryRingsRequest(viewer_id=viewer_id, author_ids=author_ids),
            metadata=self._metadata(),
            timeout=self._timeout,
        )
        return list(answer.rings)

    async def export_page(
        self, after_post_id: int, size: int
    ) -> list[post_service_pb2.ExportedPost]:
        """Return one page of every live post after an id, oldest first, with counts."""
        answer: post_service_pb2.ExportPostsResponse = await self._stub.ExportPosts(
            post_service_pb2.ExportPostsRequest(after_post_id=after_post_id, page_size=size),
            metadata=self._metadata(),
            timeout=self._timeout,
        )
        return list(answer.posts)

    async def tag_posts(
        self, tag: str, *, before: int | None, limit: int, with_authors: bool
    ) -> tuple[list[int], dict[int, int]]:
        """Return post_svc's index of a hashtag: up to `limit` ids of its live posts older than
        `before`, newest first, and (with_authors) each author's count of them."""
        answer: post_service_pb2.ListHashtagIndexResponse = await self._stub.ListHashtagIndex(
            post_service_pb2.ListHashtagIndexRequest(
                tag=tag,
                before_post_id=before or 0,
                page_size=limit,
                with_author_counts=with_authors,
            ),
            metadata=self._metadata(),
            timeout=self._timeout,
        )
        return [e.post_id for e in answer.entries], dict(answer.author_counts)

    async def batch_get(self, viewer_id: int, post_ids: Sequence[int]) -> list[post_pb2.Post]:
        """Return the posts the viewer may see, in the order asked (a page is at most 50)."""
        if not post_ids:
            return []
        answer: post_service_pb2.BatchGetPostsResponse = await self._stub.BatchGetPosts(
            post_service_pb2.BatchGetPostsRequest(viewer_id=viewer_id, post_ids=post_ids),
            metadata=self._metadata(),
            timeout=self._timeout,
        )
        return list(answer.posts)

    async def shared_posts(self, post_ids: Sequence[int]) -> list[post_pb2.Post]:
        """Return the live posts among these (at most 100) as every viewer sees them, whoever
        may see them: author id only, no counts, no flags (the read model's copy)."""
        if not post_ids:
            return []
        answer: post_service_pb2.BatchGetSharedPostsResponse = await self._stub.BatchGetSharedPosts(
            post_service_pb2.BatchGetSharedPostsRequest(post_ids=post_ids),
            metadata=self._metadata(),
            timeout=self._timeout,
        )
        return list(answer.posts)

    async def viewers_flags(self, wanted: Sequence[FlagsWanted]) -> list[ViewerFlags]:
        """Return each entry's flags on its posts (and, with a `since`, every flag from that post
        id up), in the order given (at most 50 entries of 100 posts)."""
        if not wanted:
            return []
        answer: post_service_pb2.BatchGetViewersFlagsResponse = (
            await self._stub.BatchGetViewersFlags(
                post_service_pb2.BatchGetViewersFlagsRequest(
                    viewers=[
                        post_service_pb2.BatchGetViewerFlagsRequest(
                            viewer_id=entry.viewer,
                            post_ids=entry.post_ids,
                            since_post_id=entry.since,
                        )
                        for entry in wanted
                    ]
                ),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
        )
        return [
            ViewerFlags(
                set(found.liked_post_ids),
                set(found.saved_post_ids),
                set(found.hidden_post_ids),
                found.listed_since_post_id,
            )
            for found in answer.viewers
        ]


class GrpcUsers(_Peer):
    """Account summaries through user_svc's BatchGetUsers, whole profiles through GetUser."""

    def __init__(
        self,
        stub: user_service_pb2_grpc.UserServiceStub,
        *,
        service_token: Callable[[], str],
        timeout: float,
    ) -> None:
        super().__init__(service_token=service_token, timeout=timeout)
        self._stub = stub

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        """Return the summaries of the accounts that exist among these ids."""

        async def ask(chunk: list[int]) -> user_service_pb2.BatchGetUsersResponse:
            answer: user_service_pb2.BatchGetUsersResponse = await self._stub.BatchGetUsers(
                user_service_pb2.BatchGetUsersRequest(user_ids=chunk),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
            return answer

        answers = await asyncio.gather(*(ask(c) for c in _chunks(user_ids)))
        return {u.user_id: u for a in answers for u in a.users}

    async def profile(
        self, *, user_id: int = 0, username: str = "", viewer_id: int
    ) -> user_pb2.User:
        """Return a profile as `viewer_id` sees it (0: no viewer). NOT_FOUND (an unknown,
        suspended or deleted account) is answered as feed_svc's own, with user_svc's message: a
        profile hidden by a block (decided here) must not differ from one that does not exist."""
        try:
            answer: user_service_pb2.GetUserResponse = await self._stub.GetUser(
                user_service_pb2.GetUserRequest(
                    user_id=user_id, username=username, viewer_id=viewer_id
                ),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise AuthorNotFound(exc.details() or "no user has that id") from None
            raise
        return answer.user
