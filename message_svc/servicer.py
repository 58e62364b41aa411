"""MessageService over gRPC: checks the caller, turns protos into domain calls and back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from grpc import aio
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import auth, convert
from mesh.clients import Channels
from mesh.errors import InvalidArgument, PermissionDenied
from mesh.ids import IdGenerator, id_time
from mesh.outbox import Outbox
from mesh.ratelimit import Limiter, MemoryLimiter, RedisLimiter, parse_rate
from mesh.redis import create_redis
from mesh.runtime import ServiceRuntime
from mesh.server import Service
from message_svc import domain, events, peers, store
from message_svc.blocks import BlockAnswers
from message_svc.live import Wakeups
from message_svc.settings import MessageSettings
from shutter.events.v1 import envelope_pb2
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.media.v1 import media_service_pb2_grpc
from shutter.message.v1 import message_pb2, message_service_pb2, message_service_pb2_grpc
from shutter.post.v1 import post_service_pb2_grpc
from shutter.user.v1 import user_service_pb2_grpc

NAME = "message_svc"
# Events one ApplyEvents call takes at most.
APPLY_MAX = 50


def message_message(view: domain.MessageView) -> message_pb2.Message:
    """Return the Message proto of a message as its reader sees it."""
    record = view.record
    message = message_pb2.Message(
        message_id=record.message_id,
        conversation_id=record.conversation_id,
        sender_id=record.sender_id,
        client_message_id=record.client_message_id,
        text=record.text,
        created_at=convert.timestamp(record.created_at),
    )
    if view.media is not None:
        message.media.CopyFrom(view.media)
    if record.shared_post_id:
        shared = message_pb2.SharedPost(
            post_id=record.shared_post_id, unavailable=view.shared_post is None
        )
        if view.shared_post is not None:
            shared.post.CopyFrom(view.shared_post)
        message.shared_post.CopyFrom(shared)
    return message


def participant_message(view: domain.ParticipantView) -> message_pb2.Participant:
    """Return the Participant proto of a member."""
    participant = message_pb2.Participant(
        user_id=view.record.user_id,
        account_deleted=view.user is None,
        has_left=not view.record.present,
        last_read_message_id=view.last_read_message_id,
    )
    if view.user is not None:
        participant.user.CopyFrom(view.user)
    return participant


def conversation_message(view: domain.ConversationView) -> message_pb2.Conversation:
    """Return the Conversation proto of a conversation as its viewer sees it."""
    conversation = message_pb2.Conversation(
        conversation_id=view.conversation.conversation_id,
        participants=[participant_message(p) for p in view.participants],
        is_group=view.conversation.is_group,
        title=view.conversation.title,
        unread_count=view.unread_count,
        is_request=not view.me.accepted,
        has_left=not view.me.present,
        created_at=convert.timestamp(view.conversation.created_at),
        updated_at=convert.timestamp(id_time(view.me.activity_id)),
    )
    if view.last_message is not None:
        conversation.last_message.CopyFrom(message_message(view.last_message))
    return conversation


def stream_message(item: domain.StreamItem) -> message_service_pb2.SubscribeResponse:
    """Return the stream message of one stream item."""
    if isinstance(item, domain.StreamOpened):
        opened = message_service_pb2.StreamOpened(
            heartbeat_interval_ms=round(item.heartbeat_seconds * 1000)
        )
        return message_service_pb2.SubscribeResponse(opened=opened)
    if isinstance(item, domain.StreamHeartbeat):
        return message_service_pb2.SubscribeResponse(heartbeat=message_service_pb2.Heartbeat())
    if isinstance(item, domain.StreamUnsent):
        unsent = message_service_pb2.MessageUnsent(
            event_id=item.event_id,
            conversation_id=item.conversation_id,
            message_id=item.message_id,
        )
        return message_service_pb2.SubscribeResponse(unsent=unsent)
    return message_service_pb2.SubscribeResponse(message=message_message(item))


class MessageServicer(message_service_pb2_grpc.MessageServiceServicer):
    """The gRPC face of the direct-message rules."""

    def __init__(self, messenger: domain.Messenger) -> None:
        self._m = messenger
        self._apply = events.graph_handler(messenger.blocks)

    async def ApplyEvents(
        self,
        request: message_service_pb2.ApplyEventsRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.ApplyEventsResponse:
        if not auth.current_principal().is_service:
            raise PermissionDenied("only services may apply events", reason="SERVICE_REQUIRED")
        if not request.events or len(request.events) > APPLY_MAX:
            raise InvalidArgument.field("events", f"give 1 to {APPLY_MAX} events")
        applied = 0
        for envelope in request.events:
            applied += await self._apply(envelope)
        return message_service_pb2.ApplyEventsResponse(applied_count=applied)

    async def CountUnreadConversations(
        self,
        request: message_service_pb2.CountUnreadConversationsRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.CountUnreadConversationsResponse:
        if not auth.current_principal().is_service:
            raise PermissionDenied("only services may count for others", reason="SERVICE_REQUIRED")
        counts = await self._m.unread_counts(list(request.user_ids))
        return message_service_pb2.CountUnreadConversationsResponse(unread_conversations=counts)

    async def ExportAccountData(
        self,
        request: message_service_pb2.ExportAccountDataRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.ExportAccountDataResponse:
        files = await self._m.export(user_id=request.user_id)
        return message_service_pb2.ExportAccountDataResponse(files=files)

    async def CreateConversation(
        self,
        request: message_service_pb2.CreateConversationRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.CreateConversationResponse:
        view = await self._m.create_conversation(
            auth.require_user(), participant_ids=list(request.participant_ids), title=request.title
        )
        return message_service_pb2.CreateConversationResponse(
            conversation=conversation_message(view)
        )

    async def GetConversation(
        self,
        request: message_service_pb2.GetConversationRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.GetConversationResponse:
        view = await self._m.get_conversation(
            auth.require_user(), conversation_id=request.conversation_id
        )
        return message_service_pb2.GetConversationResponse(conversation=conversation_message(view))

    async def ListConversations(
        self,
        request: message_service_pb2.ListConversationsRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.ListConversationsResponse:
        page = await self._m.list_conversations(
            auth.require_user(),
            requests=False,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return message_service_pb2.ListConversationsResponse(
            conversations=[conversation_message(v) for v in page.conversations],
            next_page_token=page.next_page_token,
        )

    async def ListConversationRequests(
        self,
        request: message_service_pb2.ListConversationRequestsRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.ListConversationRequestsResponse:
        page = await self._m.list_conversations(
            auth.require_user(),
            requests=True,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return message_service_pb2.ListConversationRequestsResponse(
            conversations=[conversation_message(v) for v in page.conversations],
            next_page_token=page.next_page_token,
        )

    async def AcceptConversation(
        self,
        request: message_service_pb2.AcceptConversationRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.AcceptConversationResponse:
        view = await self._m.accept(auth.require_user(), conversation_id=request.conversation_id)
        return message_service_pb2.AcceptConversationResponse(
            conversation=conversation_message(view)
        )

    async def DeleteConversation(
        self,
        request: message_service_pb2.DeleteConversationRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.DeleteConversationResponse:
        await self._m.delete_conversation(
            auth.require_user(), conversation_id=request.conversation_id
        )
        return message_service_pb2.DeleteConversationResponse()

    async def SendMessage(
        self,
        request: message_service_pb2.SendMessageRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.SendMessageResponse:
        view = await self._m.send(
            auth.require_user(),
            conversation_id=request.conversation_id,
            client_message_id=request.client_message_id,
            text=request.text,
            media_id=request.media_id,
            shared_post_id=request.shared_post_id,
        )
        return message_service_pb2.SendMessageResponse(message=message_message(view))

    async def ListMessages(
        self,
        request: message_service_pb2.ListMessagesRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.ListMessagesResponse:
        page = await self._m.list_messages(
            auth.require_user(),
            conversation_id=request.conversation_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return message_service_pb2.ListMessagesResponse(
            messages=[message_message(v) for v in page.messages],
            next_page_token=page.next_page_token,
        )

    async def DeleteMessage(
        self,
        request: message_service_pb2.DeleteMessageRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.DeleteMessageResponse:
        await self._m.unsend(
            auth.require_user(),
            conversation_id=request.conversation_id,
            message_id=request.message_id,
        )
        return message_service_pb2.DeleteMessageResponse()

    async def GetReportedMessage(
        self,
        request: message_service_pb2.GetReportedMessageRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.GetReportedMessageResponse:
        auth.current_principal()
        sender = await self._m.reported_sender(
            viewer=request.viewer_id, message_id=request.message_id
        )
        return message_service_pb2.GetReportedMessageResponse(sender_id=sender)

    async def HideReportedMessage(
        self,
        request: message_service_pb2.HideReportedMessageRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.HideReportedMessageResponse:
        auth.current_principal()
        await self._m.hide_reported(viewer=request.viewer_id, message_id=request.message_id)
        return message_service_pb2.HideReportedMessageResponse()

    async def RemoveReportedMessage(
        self,
        request: message_service_pb2.RemoveReportedMessageRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.RemoveReportedMessageResponse:
        auth.current_principal()
        await self._m.remove_reported(message_id=request.message_id)
        return message_service_pb2.RemoveReportedMessageResponse()

    async def MarkConversationRead(
        self,
        request: message_service_pb2.MarkConversationReadRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.MarkConversationReadResponse:
        view = await self._m.mark_read(
            auth.require_user(),
            conversation_id=request.conversation_id,
            message_id=request.message_id,
        )
        return message_service_pb2.MarkConversationReadResponse(
            conversation=conversation_message(view)
        )

    async def GetUnreadCount(
        self,
        request: message_service_pb2.GetUnreadCountRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.GetUnreadCountResponse:
        count = await self._m.unread_count(auth.require_user())
        return message_service_pb2.GetUnreadCountResponse(unread_count=count)

    async def AddParticipants(
        self,
        request: message_service_pb2.AddParticipantsRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.AddParticipantsResponse:
        view = await self._m.add_participants(
            auth.require_user(),
            conversation_id=request.conversation_id,
            user_ids=list(request.user_ids),
        )
        return message_service_pb2.AddParticipantsResponse(conversation=conversation_message(view))

    async def LeaveConversation(
        self,
        request: message_service_pb2.LeaveConversationRequest,
        context: aio.ServicerContext[object, object],
    ) -> message_service_pb2.LeaveConversationResponse:
        view = await self._m.leave(auth.require_user(), conversation_id=request.conversation_id)
        return message_service_pb2.LeaveConversationResponse(
            conversation=conversation_message(view)
        )

    async def Subscribe(
        self,
        request: message_service_pb2.SubscribeRequest,
        context: aio.ServicerContext[object, object],
    ) -> AsyncIterator[message_service_pb2.SubscribeResponse]:
        items = self._m.stream(auth.require_user(), after_message_id=request.after_message_id)
        try:
            async for item in items:
                yield stream_message(item)
        finally:
            await items.aclose()  # releases the stream's slot at once when the client leaves


def build_messenger(
    settings: MessageSettings,
    engine: AsyncEngine,
    channels: Channels,
    identity: Callable[[], str],
    *,
    outbox: Outbox,
    replica: AsyncEngine | None = None,
    limiter: Limiter | None = None,
) -> domain.Messenger:
    """Return the message rules on a store (lists read from `replica` when given), the peers
    behind `channels` and the message-request limit on `limiter` (in-process when None)."""
    timeout = settings.peer_deadline_seconds
    relationships = peers.GrpcRelationships(
        graph_service_pb2_grpc.GraphServiceStub(channels.channel("graph_svc")),
        service_token=identity,
        timeout=timeout,
    )
    return domain.Messenger(
        store.SqlMessageStore(engine, outbox=outbox, replica=replica),
        relationships=relationships,
        blocks=BlockAnswers(
            relationships,
            ttl_seconds=settings.block_cache_ttl_seconds,
            max_entries=settings.block_cache_max_entries,
        ),
        request_limit=(
            limiter or MemoryLimiter(),
            parse_rate(settings.message_requests_per_account),
        ),
        directory=peers.GrpcDirectory(
            user_service_pb2_grpc.UserServiceStub(channels.channel("user_svc")),
            service_token=identity,
            timeout=timeout,
        ),
        media=peers.GrpcMediaLibrary(
            media_service_pb2_grpc.MediaServiceStub(channels.channel("media_svc")),
            service_token=identity,
            timeout=timeout,
        ),
        posts=peers.GrpcPostCatalog(
            post_service_pb2_grpc.PostServiceStub(channels.channel("post_svc")),
            service_token=identity,
            timeout=timeout,
        ),
        wakeups=Wakeups(max_per_user=settings.max_streams_per_user),
        ids=IdGenerator(settings.id_shard),
        heartbeat_seconds=settings.subscribe_heartbeat_seconds,
    )


async def create_message_service(settings: MessageSettings) -> Service:
    """Open the database (migrated to the newest schema), wire the rules and the outbox relay,
    and start serving."""
    runtime = await ServiceRuntime.open(
        NAME,
        settings,
        database_url=settings.database_url,
        replica_url=settings.database_replica_url,
        outbox_table=store.outbox,
    )
    try:
        limiter: Limiter
        if settings.redis_url:  # shared by every replica
            redis = create_redis(settings)
            runtime.close_on_stop(redis.aclose)
            limiter = RedisLimiter(redis)
        else:
            limiter = MemoryLimiter()
        messenger = build_messenger(
            settings,
            runtime.engine,
            runtime.channels,
            runtime.identity,
            outbox=runtime.outbox(),
            replica=runtime.replica,
            limiter=limiter,
        )
        servicer = MessageServicer(messenger)
        handle = events.graph_handler(messenger.blocks)

        async def consume(envelope: envelope_pb2.EventEnvelope) -> None:
            await handle(envelope)

        # A group per replica: each one's block cache must forget every block (events.group_of).
        await runtime.consume(
            group=events.group_of(settings.id_shard), handler=consume, event_types=events.CONSUMED
        )
        return await runtime.serve(
            register=lambda server: message_service_pb2_grpc.add_MessageServiceServicer_to_server(
                servicer, server
            ),
            service_names=[
                message_service_pb2.DESCRIPTOR.services_by_name["MessageService"].full_name
            ],
        )
    except BaseException:
        await runtime.close()
        raise
