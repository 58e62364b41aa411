"""FeedService over gRPC: checks the caller, turns protos into domain calls and back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio
from sqlalchemy.ext.asyncio import AsyncEngine

from feed_svc import domain, events, peers, store, stories
from feed_svc.cache import FeedCache
from feed_svc.readmodel import Limits, ReadModel
from feed_svc.settings import FeedSettings
from mesh import auth, deletion
from mesh.clients import Channels
from mesh.errors import InvalidArgument, PermissionDenied
from mesh.redis import create_redis
from mesh.runtime import ServiceRuntime
from mesh.server import Service
from shutter.feed.v1 import feed_pb2, feed_service_pb2, feed_service_pb2_grpc
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.post.v1 import post_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_service_pb2_grpc

NAME = "feed_svc"
# Events one ApplyEvents call takes at most.
APPLY_MAX = 50

_MODES = {
    feed_pb2.FEED_MODE_UNSPECIFIED: domain.MODE_RANKED,
    feed_pb2.FEED_MODE_RANKED: domain.MODE_RANKED,
    feed_pb2.FEED_MODE_CHRONOLOGICAL: domain.MODE_CHRONOLOGICAL,
}


def mode_of(mode: int) -> str:
    """Return the domain's name of a FeedMode."""
    found = _MODES.get(mode)  # type: ignore[call-overload]
    if found is None:
        raise InvalidArgument.field("mode", "is not a known feed mode")
    return str(found)


def _serialize(answer: Any) -> bytes:
    """Send an answer that is serialized already (bytes) as it is; serialize a message."""
    return answer if isinstance(answer, bytes) else bytes(answer.SerializeToString())


class _Registry:
    """Collects the method handlers the generated add_FeedServiceServicer_to_server makes."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass  # made again from the handlers below

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        self.service = service
        self.handlers = dict(handlers)


def add_to_server(servicer: FeedServicer, server: aio.Server) -> None:
    """Register FeedService as the generated code does, except that a method may answer the
    serialized response (GetHomeFeed: a page composed from kept bytes is not parsed into
    messages only to be serialized again)."""
    registry = _Registry()
    feed_service_pb2_grpc.add_FeedServiceServicer_to_server(servicer, registry)
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            handler.unary_unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=_serialize,
        )
        if handler.unary_unary is not None
        else handler
        for name, handler in registry.handlers.items()
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(registry.service, handlers),)
    )
    server.add_registered_method_handlers(registry.service, handlers)


class FeedServicer(feed_service_pb2_grpc.FeedServiceServicer):
    """The gRPC face of the feed rules."""

    def __init__(
        self,
        feeds: domain.Feeds,
        tray: stories.StoryTray,
        rebuild_from: tuple[domain.PostSource, domain.Directory] | None = None,
    ) -> None:
        self._feeds = feeds
        self._tray = tray
        self._rebuild_from = rebuild_from
        self._apply = events.sync_handler(feeds)

    async def RebuildProjection(
        self, request: feed_service_pb2.RebuildProjectionRequest, context: aio.ServicerContext
    ) -> feed_service_pb2.RebuildProjectionResponse:
        if not auth.current_principal().is_service:
            raise PermissionDenied("only services may rebuild feeds", reason="SERVICE_REQUIRED")
        if self._rebuild_from is None:
            raise PermissionDenied("this feed_svc cannot rebuild", reason="REBUILD_UNAVAILABLE")
        posts, celebs = await self._feeds.rebuild_projection(*self._rebuild_from)
        return feed_service_pb2.RebuildProjectionResponse(post_count=posts, celebrity_count=celebs)

    async def ApplyEvents(
        self, request: feed_service_pb2.ApplyEventsRequest, context: aio.ServicerContext
    ) -> feed_service_pb2.ApplyEventsResponse:
        if not auth.current_principal().is_service:
            raise PermissionDenied("only services may apply events", reason="SERVICE_REQUIRED")
        if not request.events or len(request.events) > APPLY_MAX:
            raise InvalidArgument.field("events", f"give 1 to {APPLY_MAX} events")
        applied = 0
        for envelope in request.events:
            applied += await self._apply(envelope)
        return feed_service_pb2.ApplyEventsResponse(applied_count=applied)

    async def GetHomeFeed(  # type: ignore[override]
        self, request: feed_service_pb2.GetHomeFeedRequest, context: aio.ServicerContext
    ) -> bytes:
        """Answer the serialized GetHomeFeedResponse (sent as it is, see add_to_server): the
        posts come as bytes from the read model; a message holding only the token, serialized
        after them, is its field (serialized messages concatenated parse as one, merged)."""
        viewer = auth.require_user()
        posts, token = await self._feeds.home_feed_wire(
            viewer=viewer,
            page_size=request.page_size,
            page_token=request.page_token,
            mode=mode_of(request.mode),
        )
        if not token:
            return posts
        return (
            posts + feed_service_pb2.GetHomeFeedResponse(next_page_token=token).SerializeToString()
        )

    async def GetExplore(
        self, request: feed_service_pb2.GetExploreRequest, context: aio.ServicerContext
    ) -> feed_service_pb2.GetExploreResponse:
        viewer = auth.require_user()
        posts, token = await self._feeds.explore(
            viewer=viewer, page_size=request.page_size, page_token=request.page_token
        )
        return feed_service_pb2.GetExploreResponse(posts=posts, next_page_token=token)

    async def GetPost(
        self, request: feed_service_pb2.GetPostRequest, context: aio.ServicerContext
    ) -> feed_service_pb2.GetPostResponse:
        post = await self._feeds.get_post(viewer=auth.viewer_id() or 0, post_id=request.post_id)
        return feed_service_pb2.GetPostResponse(post=post)

    async def ListUserPosts(
        self, request: feed_service_pb2.ListUserPostsRequest, context: aio.ServicerContext
    ) -> feed_service_pb2.ListUserPostsResponse:
        posts, token = await self._feeds.user_posts(
            viewer=auth.viewer_id() or 0,
            user_id=request.user_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return feed_service_pb2.ListUserPostsResponse(posts=posts, next_page_token=token)

    async def ListPostsByHashtag(
        self, request: feed_service_pb2.ListPostsByHashtagRequest, context: aio.ServicerContext
    ) -> feed_service_pb2.ListPostsByHashtagResponse:
        tag, visible, posts, token = await self._feeds.hashtag_posts(
            viewer=auth.viewer_id() or 0,
            tag=request.tag,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return feed_service_pb2.ListPostsByHashtagResponse(
            hashtag=post_pb2.Hashtag(tag=tag, post_count=visible),
            posts=posts,
            next_page_token=token,
        )

    async def GetUser(
        self, request: feed_service_pb2.GetUserRequest, context: aio.ServicerContext
    ) -> feed_service_pb2.GetUserResponse:
        user = await self._feeds.get_user(
            viewer=auth.viewer_id() or 0, user_id=request.user_id, username=request.username
        )
        return feed_service_pb2.GetUserResponse(user=user)

    async def GetStoryTray(
        self, request: feed_service_pb2.GetStoryTrayRequest, context: aio.ServicerContext
    ) -> feed_service_pb2.GetStoryTrayResponse:
        viewer = auth.require_user()
        page, token = await self._tray.page(
            viewer=viewer, page_size=request.page_size, page_token=request.page_token
        )
        return feed_service_pb2.GetStoryTrayResponse(
            items=[
                feed_pb2.StoryTrayItem(
                    user=user,
                    story_count=ring.story_count,
                    latest_created_at=ring.latest_created_at,
                    latest_story_id=ring.latest_story_id,
                    has_unseen=ring.has_unseen,
                    close_friends=ring.close_friends,
                    is_self=ring.user_id == viewer,
                )
                for ring, user in page
            ],
            next_page_token=token,
        )


def build_feeds(
    settings: FeedSettings,
    engine: AsyncEngine,
    channels: Channels,
    redis: Any,
    identity: Callable[[], str],
    *,
    replica: AsyncEngine | None = None,
) -> domain.Feeds:
    """Wire the feed rules to the cache, the store (reading rankings and explore from
    `replica` when given) and the peers."""
    timeout = settings.peer_deadline_seconds
    projection = store.SqlFeedStore(engine, replica=replica)
    posts = peers.GrpcPosts(
        post_service_pb2_grpc.PostServiceStub(channels.channel("post_svc")),
        service_token=identity,
        timeout=timeout,
    )
    users = peers.GrpcUsers(
        user_service_pb2_grpc.UserServiceStub(channels.channel("user_svc")),
        service_token=identity,
        timeout=timeout,
    )
    graph = peers.GrpcGraph(
        graph_service_pb2_grpc.GraphServiceStub(channels.channel("graph_svc")),
        service_token=identity,
        timeout=timeout,
    )
    return domain.Feeds(
        FeedCache(
            redis,
            max_length=settings.feed_max_length,
            recent_length=settings.author_recent_posts,
        ),
        projection,
        graph,
        posts,
        settings,
        views=build_read_model(settings, redis, projection, posts, users, graph=graph),
    )


def build_read_model(
    settings: FeedSettings,
    redis: Any,
    projection: store.FeedStore,
    posts: Any,
    users: Any,
    *,
    graph: Any = None,
) -> ReadModel:
    """Wire the read model to Redis, post_svc (read-through), user_svc (author summaries and
    profiles),
    graph_svc (relationships) and feed_svc's own projection (counts, who posted what)."""
    return ReadModel(
        redis,
        source=posts,
        directory=users,
        counter=domain.ProjectionCounts(projection),
        graph=graph,
        post_list=domain.ProjectionPosts(projection),
        tags=posts,
        profiles=users,
        limits=Limits(
            post_ttl_seconds=settings.read_model_post_ttl_seconds,
            author_ttl_seconds=settings.read_model_author_ttl_seconds,
            flags_ttl_seconds=settings.read_model_flags_ttl_seconds,
            flags_max_entries=settings.read_model_flags_max_entries,
            flags_listed_seconds=settings.read_model_flags_listed_days * 86_400,
            fill_lock_seconds=settings.read_model_fill_lock_seconds,
            fill_wait_seconds=settings.read_model_fill_wait_seconds,
            grid_posts=settings.read_model_grid_posts,
            tag_posts=settings.read_model_tag_posts,
            relations_ttl_seconds=settings.read_model_relations_ttl_seconds,
            relations_whole_max=settings.read_model_relations_whole_max,
            profile_ttl_seconds=settings.read_model_profile_ttl_seconds,
        ),
    )


def build_tray(
    settings: FeedSettings, channels: Channels, identity: Callable[[], str]
) -> stories.StoryTray:
    """Wire the story tray to graph_svc, post_svc and user_svc."""
    timeout = settings.peer_deadline_seconds
    return stories.StoryTray(
        peers.GrpcGraph(
            graph_service_pb2_grpc.GraphServiceStub(channels.channel("graph_svc")),
            service_token=identity,
            timeout=timeout,
        ),
        peers.GrpcPosts(
            post_service_pb2_grpc.PostServiceStub(channels.channel("post_svc")),
            service_token=identity,
            timeout=timeout,
        ),
        peers.GrpcUsers(
            user_service_pb2_grpc.UserServiceStub(channels.channel("user_svc")),
            service_token=identity,
            timeout=timeout,
        ),
    )


async def create_feed_service(settings: FeedSettings) -> Service:
    """Open the database (migrated to the newest schema) and Redis, wire the rules and the event
    consumer, and start serving."""
    runtime = await ServiceRuntime.open(
        NAME,
        settings,
        database_url=settings.database_url,
        replica_url=settings.database_replica_url,
        outbox_table=None,
    )
    try:
        redis = create_redis(settings)
        runtime.close_on_stop(redis.aclose)
        feeds = build_feeds(
            settings,
            runtime.engine,
            runtime.channels,
            redis,
            runtime.identity,
            replica=runtime.replica,
        )
        tray = build_tray(settings, runtime.channels, runtime.identity)
        timeout = settings.peer_deadline_seconds
        source = peers.GrpcPosts(
            post_service_pb2_grpc.PostServiceStub(runtime.channels.channel("post_svc")),
            service_token=runtime.identity,
            timeout=timeout,
        )
        directory = peers.GrpcUsers(
            user_service_pb2_grpc.UserServiceStub(runtime.channels.channel("user_svc")),
            service_token=runtime.identity,
            timeout=timeout,
        )
        servicer = FeedServicer(feeds, tray, (source, directory))
        await runtime.consume(
            group=events.GROUP,
            handler=events.feed_handler(feeds),
            batch_handler=events.feed_batch_handler(feeds),
            event_types=events.CONSUMED,
        )
        await runtime.consume(
            group=NAME + deletion.GROUP_SUFFIX,
            handler=deletion.handler(
                deletion.DeletionLedger(runtime.engine, store.deletion_ledger),
                feeds.deletion_steps(),
            ),
            event_types={deletion.ACCOUNT_DELETED},
        )
        return await runtime.serve(
            register=lambda server: add_to_server(servicer, server),
            service_names=[feed_service_pb2.DESCRIPTOR.services_by_name["FeedService"].full_name],
        )
    except BaseException:
        await runtime.close()
        raise
