"""GraphService over gRPC: checks the caller, turns protos into domain calls and back."""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc import aio

from graph_svc import domain, events, store
from graph_svc.peers import read_model_syncs
from graph_svc.settings import GraphSettings
from graph_svc.users import GrpcUserDirectory
from mesh import auth, convert, deletion
from mesh.runtime import ServiceRuntime
from mesh.server import Service
from shutter.graph.v1 import graph_pb2, graph_service_pb2, graph_service_pb2_grpc
from shutter.user.v1 import user_pb2, user_service_pb2_grpc

NAME = "graph_svc"


def relationship_message(relationship: store.Relationship) -> graph_pb2.Relationship:
    """Return the Relationship proto of a relationship."""
    return graph_pb2.Relationship(
        user_id=relationship.user_id,
        following=relationship.following,
        followed_by=relationship.followed_by,
        requested=relationship.requested,
        incoming_request=relationship.incoming_request,
        blocking=relationship.blocking,
        blocked_by=relationship.blocked_by,
        muting=relationship.muting,
    )


def summary_message(card: domain.UserCard) -> user_pb2.UserSummary:
    """Return the UserSummary proto of an account."""
    return user_pb2.UserSummary(
        user_id=card.user_id,
        username=card.username,
        full_name=card.full_name,
        profile_pic_url=card.profile_pic_url,
        is_verified=card.is_verified,
        is_private=card.is_private,
    )


def connection_message(connection: domain.Connection) -> graph_pb2.Connection:
    """Return the Connection proto of a list entry."""
    return graph_pb2.Connection(
        user=summary_message(connection.user),
        relationship=relationship_message(domain.shown(connection.relationship)),
        followed_at=convert.timestamp(connection.followed_at),
    )


def counts_message(counts: store.Counts) -> graph_pb2.FollowCounts:
    """Return the FollowCounts proto of an account's counts."""
    return graph_pb2.FollowCounts(
        user_id=counts.user_id,
        follower_count=counts.follower_count,
        following_count=counts.following_count,
    )


def visibility_message(visibility: domain.Visibility) -> graph_pb2.Visibility:
    """Return the Visibility proto of a privacy answer."""
    return graph_pb2.Visibility(
        owner_id=visibility.owner_id, can_view=visibility.can_view, blocked=visibility.blocked
    )


class GraphServicer(graph_service_pb2_grpc.GraphServiceServicer):
    """The gRPC face of the graph rules."""

    def __init__(self, graph: domain.Graph) -> None:
        self._graph = graph

    async def Follow(
        self, request: graph_service_pb2.FollowRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.FollowResponse:
        caller = auth.require_user()
        found = await self._graph.follow(caller=caller, user_id=request.user_id)
        return graph_service_pb2.FollowResponse(relationship=relationship_message(found))

    async def Unfollow(
        self, request: graph_service_pb2.UnfollowRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.UnfollowResponse:
        caller = auth.require_user()
        found = await self._graph.unfollow(caller=caller, user_id=request.user_id)
        return graph_service_pb2.UnfollowResponse(relationship=relationship_message(found))

    async def RemoveFollower(
        self, request: graph_service_pb2.RemoveFollowerRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.RemoveFollowerResponse:
        caller = auth.require_user()
        found = await self._graph.remove_follower(caller=caller, user_id=request.user_id)
        return graph_service_pb2.RemoveFollowerResponse(relationship=relationship_message(found))

    async def ListFollowRequests(
        self, request: graph_service_pb2.ListFollowRequestsRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.ListFollowRequestsResponse:
        caller = auth.require_user()
        found, token = await self._graph.list_requests(
            caller=caller, page_size=request.page_size, page_token=request.page_token
        )
        return graph_service_pb2.ListFollowRequestsResponse(
            follow_requests=[
                graph_pb2.PendingFollowRequest(
                    user=summary_message(r.user), requested_at=convert.timestamp(r.requested_at)
                )
                for r in found
            ],
            next_page_token=token,
        )

    async def ApproveFollowRequest(
        self, request: graph_service_pb2.ApproveFollowRequestRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.ApproveFollowRequestResponse:
        caller = auth.require_user()
        found = await self._graph.approve_request(caller=caller, user_id=request.user_id)
        return graph_service_pb2.ApproveFollowRequestResponse(
            relationship=relationship_message(found)
        )

    async def DenyFollowRequest(
        self, request: graph_service_pb2.DenyFollowRequestRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.DenyFollowRequestResponse:
        caller = auth.require_user()
        found = await self._graph.deny_request(caller=caller, user_id=request.user_id)
        return graph_service_pb2.DenyFollowRequestResponse(relationship=relationship_message(found))

    async def Block(
        self, request: graph_service_pb2.BlockRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.BlockResponse:
        caller = auth.require_user()
        found = await self._graph.block(caller=caller, user_id=request.user_id)
        return graph_service_pb2.BlockResponse(relationship=relationship_message(found))

    async def Unblock(
        self, request: graph_service_pb2.UnblockRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.UnblockResponse:
        caller = auth.require_user()
        found = await self._graph.unblock(caller=caller, user_id=request.user_id)
        return graph_service_pb2.UnblockResponse(relationship=relationship_message(found))

    async def Mute(
        self, request: graph_service_pb2.MuteRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.MuteResponse:
        caller = auth.require_user()
        found = await self._graph.mute(caller=caller, user_id=request.user_id)
        return graph_service_pb2.MuteResponse(relationship=relationship_message(found))

    async def Unmute(
        self, request: graph_service_pb2.UnmuteRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.UnmuteResponse:
        caller = auth.require_user()
        found = await self._graph.unmute(caller=caller, user_id=request.user_id)
        return graph_service_pb2.UnmuteResponse(relationship=relationship_message(found))

    async def ListFollowers(
        self, request: graph_service_pb2.ListFollowersRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.ListFollowersResponse:
        viewer = auth.viewer_id()
        found, token = await self._graph.list_followers(
            viewer=viewer,
            user_id=request.user_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return graph_service_pb2.ListFollowersResponse(
            followers=[connection_message(c) for c in found], next_page_token=token
        )

    async def ListFollowing(
        self, request: graph_service_pb2.ListFollowingRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.ListFollowingResponse:
        viewer = auth.viewer_id()
        found, token = await self._graph.list_following(
            viewer=viewer,
            user_id=request.user_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return graph_service_pb2.ListFollowingResponse(
            following=[connection_message(c) for c in found], next_page_token=token
        )

    async def GetRelationship(
        self, request: graph_service_pb2.GetRelationshipRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.GetRelationshipResponse:
        caller = auth.require_user()
        found = await self._graph.get_relationship(caller=caller, user_id=request.user_id)
        return graph_service_pb2.GetRelationshipResponse(relationship=relationship_message(found))

    async def GetRelationships(
        self, request: graph_service_pb2.GetRelationshipsRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.GetRelationshipsResponse:
        viewer = domain.resolve_viewer(auth.current_principal(), request.viewer_id)
        found = await self._graph.get_relationships(viewer=viewer, user_ids=request.user_ids)
        return graph_service_pb2.GetRelationshipsResponse(
            relationships=[relationship_message(r) for r in found]
        )

    async def GetProfileGraph(
        self, request: graph_service_pb2.GetProfileGraphRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.GetProfileGraphResponse:
        viewer = domain.resolve_viewer(auth.current_principal(), request.viewer_id)
        found = await self._graph.profile_graph(viewer=viewer, user_id=request.user_id)
        response = graph_service_pb2.GetProfileGraphResponse(counts=counts_message(found.counts))
        if found.relationship is not None:
            response.relationship.CopyFrom(relationship_message(found.relationship))
        return response

    async def BatchGetFollowCounts(
        self, request: graph_service_pb2.BatchGetFollowCountsRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.BatchGetFollowCountsResponse:
        auth.current_principal()
        found = await self._graph.batch_counts(user_ids=request.user_ids)
        return graph_service_pb2.BatchGetFollowCountsResponse(
            counts=[counts_message(c) for c in found]
        )

    async def CanView(
        self, request: graph_service_pb2.CanViewRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.CanViewResponse:
        viewer = domain.resolve_viewer(auth.current_principal(), request.viewer_id)
        found = await self._graph.can_view(viewer=viewer, owner_id=request.owner_id)
        return graph_service_pb2.CanViewResponse(visibility=visibility_message(found))

    async def BatchCanView(
        self, request: graph_service_pb2.BatchCanViewRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.BatchCanViewResponse:
        viewer = domain.resolve_viewer(auth.current_principal(), request.viewer_id)
        found = await self._graph.batch_can_view(viewer=viewer, owner_ids=request.owner_ids)
        return graph_service_pb2.BatchCanViewResponse(
            visibilities=[visibility_message(v) for v in found]
        )

    async def BatchGetSilencedIds(
        self, request: graph_service_pb2.BatchGetSilencedIdsRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.BatchGetSilencedIdsResponse:
        domain.require_service(auth.current_principal())
        pages = await self._graph.silenced_pages(
            user_ids=request.user_ids, page_size=request.page_size
        )
        return graph_service_pb2.BatchGetSilencedIdsResponse(
            silenced=[
                graph_service_pb2.SilencedIds(user_id=owner, silenced_ids=ids, more=more)
                for owner, ids, more in pages
            ]
        )

    async def ExportAccountData(
        self, request: graph_service_pb2.ExportAccountDataRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.ExportAccountDataResponse:
        domain.require_service(auth.current_principal())
        files = await self._graph.export(user_id=request.user_id)
        return graph_service_pb2.ExportAccountDataResponse(files=files)

    async def StreamFollowerIds(
        self, request: graph_service_pb2.StreamFollowerIdsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[graph_service_pb2.StreamFollowerIdsResponse]:
        domain.require_service(auth.current_principal())
        if not request.with_follower_count:
            batches = self._graph.stream_ids(
                followers=True,
                user_id=request.user_id,
                page_size=request.page_size,
                exclude_muted=request.exclude_muted,
            )
            async for batch in batches:
                yield graph_service_pb2.StreamFollowerIdsResponse(follower_ids=batch)
            return
        # The count first, then the ids: a fan-out reads both from one call.
        count, batches = await self._graph.counted_follower_ids(
            user_id=request.user_id,
            page_size=request.page_size,
            exclude_muted=request.exclude_muted,
        )
        first: graph_service_pb2.StreamFollowerIdsResponse | None = (
            graph_service_pb2.StreamFollowerIdsResponse(follower_count=count)
        )
        async for batch in batches:
            if first is not None:
                first.follower_ids.extend(batch)
                yield first
                first = None
            else:
                yield graph_service_pb2.StreamFollowerIdsResponse(follower_ids=batch)
        if first is not None:
            yield first  # no followers: the count alone

    async def GetFollowingIds(
        self, request: graph_service_pb2.GetFollowingIdsRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.GetFollowingIdsResponse:
        domain.require_service(auth.current_principal())
        found, more = await self._graph.following_page(
            user_id=request.user_id,
            page_size=request.page_size,
            exclude_muted=request.exclude_muted,
        )
        answer = graph_service_pb2.GetFollowingIdsResponse(user_ids=found, more=more)
        if request.with_blocks:
            blocking, blocked_by, more_blocks = await self._graph.block_page(
                user_id=request.user_id, page_size=request.page_size
            )
            answer.blocking_ids.extend(blocking)
            answer.blocked_by_ids.extend(blocked_by)
            answer.more_blocks = more_blocks
        return answer

    async def BatchGetFollowingIds(
        self, request: graph_service_pb2.BatchGetFollowingIdsRequest, context: aio.ServicerContext
    ) -> graph_service_pb2.BatchGetFollowingIdsResponse:
        domain.require_service(auth.current_principal())
        pages = await self._graph.following_pages(
            user_ids=request.user_ids,
            page_size=request.page_size,
            exclude_muted=request.exclude_muted,
        )
        return graph_service_pb2.BatchGetFollowingIdsResponse(
            following=[
                graph_service_pb2.FollowingIds(user_id=owner, followee_ids=ids, more=more)
                for owner, ids, more in pages
            ]
        )

    async def StreamFollowingIds(
        self, request: graph_service_pb2.StreamFollowingIdsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[graph_service_pb2.StreamFollowingIdsResponse]:
        domain.require_service(auth.current_principal())
        batches = self._graph.stream_ids(
            followers=False,
            user_id=request.user_id,
            page_size=request.page_size,
            exclude_muted=request.exclude_muted,
        )
        async for batch in batches:
            yield graph_service_pb2.StreamFollowingIdsResponse(user_ids=batch)


async def create_graph_service(settings: GraphSettings) -> Service:
    """Open the database (migrated to the newest schema), wire the rules, the outbox relay and the
    profile-change consumer, and start serving."""
    runtime = await ServiceRuntime.open(
        NAME,
        settings,
        database_url=settings.database_url,
        replica_url=settings.database_replica_url,
        outbox_table=store.outbox,
    )
    try:
        graph_store = store.SqlGraphStore(
            runtime.engine, outbox=runtime.outbox(), replica=runtime.replica
        )
        users = GrpcUserDirectory(
            user_service_pb2_grpc.UserServiceStub(runtime.channels.channel("user_svc")),
            ttl_seconds=settings.user_cache_ttl_seconds,
            max_entries=settings.user_cache_max_entries,
        )
        feed = read_model_syncs(
            runtime.channels,
            service_token=runtime.identity,
            timeout=settings.feed_sync_deadline_seconds,
        )
        graph = domain.Graph(graph_store, users, ids=runtime.ids, feed=feed)
        servicer = GraphServicer(graph)
        await runtime.consume(
            group=NAME, handler=events.profile_updated_handler(graph), event_types=events.CONSUMED
        )
        await runtime.consume(
            group=events.cards_group(settings.id_shard),
            handler=events.card_handler(users),
            event_types=set(events.CARD_EVENTS),
        )
        await runtime.consume(
            group=NAME + deletion.GROUP_SUFFIX,
            handler=deletion.handler(
                deletion.DeletionLedger(runtime.engine, store.deletion_ledger),
                graph.deletion_steps(),
            ),
            event_types={deletion.ACCOUNT_DELETED},
        )
        return await runtime.serve(
            register=lambda server: graph_service_pb2_grpc.add_GraphServiceServicer_to_server(
                servicer, server
            ),
            service_names=[graph_service_pb2.DESCRIPTOR.services_by_name["GraphService"].full_name],
        )
    except BaseException:
        await runtime.close()
        raise
