"""NotifyService over gRPC: checks the caller, turns protos into domain calls and back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from grpc import aio
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import auth, convert, deletion
from mesh.clients import Channels
from mesh.ids import IdGenerator
from mesh.runtime import ServiceRuntime
from mesh.server import Service
from notify_svc import domain, events, peers, store
from notify_svc.settings import NotifySettings
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.message.v1 import message_service_pb2_grpc
from shutter.notify.v1 import notify_pb2, notify_service_pb2, notify_service_pb2_grpc
from shutter.post.v1 import post_service_pb2_grpc
from shutter.user.v1 import user_service_pb2_grpc

NAME = "notify_svc"

KINDS: dict[str, notify_pb2.NotificationKind] = {
    domain.Kind.LIKE: notify_pb2.NOTIFICATION_KIND_LIKE,
    domain.Kind.COMMENT: notify_pb2.NOTIFICATION_KIND_COMMENT,
    domain.Kind.COMMENT_REPLY: notify_pb2.NOTIFICATION_KIND_COMMENT_REPLY,
    domain.Kind.FOLLOWED: notify_pb2.NOTIFICATION_KIND_FOLLOWED,
    domain.Kind.FOLLOW_REQUESTED: notify_pb2.NOTIFICATION_KIND_FOLLOW_REQUESTED,
    domain.Kind.FOLLOW_APPROVED: notify_pb2.NOTIFICATION_KIND_FOLLOW_APPROVED,
    domain.Kind.MENTION: notify_pb2.NOTIFICATION_KIND_MENTION,
    domain.Kind.REPORT_RESOLVED: notify_pb2.NOTIFICATION_KIND_REPORT_RESOLVED,
}


def notification_message(view: domain.NotificationView) -> notify_pb2.Notification:
    """Return the Notification proto of a hydrated notification."""
    record = view.record
    return notify_pb2.Notification(
        notification_id=record.notification_id,
        kind=KINDS.get(record.kind, notify_pb2.NOTIFICATION_KIND_UNSPECIFIED),
        actors=view.actors,
        actor_count=record.actor_count,
        post_id=record.post_id,
        post_thumbnail_url=view.post_thumbnail_url,
        comment_id=record.comment_id,
        text=record.text,
        read=record.read,
        created_at=convert.timestamp(record.created_at),
        updated_at=convert.timestamp(record.updated_at),
        sequence=record.sequence,
    )


def stream_message(item: domain.StreamItem) -> notify_service_pb2.SubscribeResponse:
    """Return the stream message of one stream item."""
    if isinstance(item, domain.StreamOpened):
        opened = notify_service_pb2.StreamOpened(
            heartbeat_interval_ms=round(item.heartbeat_seconds * 1000)
        )
        return notify_service_pb2.SubscribeResponse(opened=opened)
    if isinstance(item, domain.StreamHeartbeat):
        return notify_service_pb2.SubscribeResponse(heartbeat=notify_service_pb2.Heartbeat())
    if isinstance(item, domain.MessagesBadge):
        badge = notify_service_pb2.MessagesBadge(unread_conversations=item.unread_conversations)
        return notify_service_pb2.SubscribeResponse(messages_badge=badge)
    return notify_service_pb2.SubscribeResponse(notification=notification_message(item))


class NotifyServicer(notify_service_pb2_grpc.NotifyServiceServicer):
    """The gRPC face of the notification rules."""

    def __init__(self, notifications: domain.Notifications) -> None:
        self._notifications = notifications

    async def ListNotifications(
        self,
        request: notify_service_pb2.ListNotificationsRequest,
        context: aio.ServicerContext[object, object],
    ) -> notify_service_pb2.ListNotificationsResponse:
        page = await self._notifications.list_notifications(
            auth.require_user(), page_size=request.page_size, page_token=request.page_token
        )
        return notify_service_pb2.ListNotificationsResponse(
            notifications=[notification_message(v) for v in page.notifications],
            next_page_token=page.next_page_token,
        )

    async def GetUnreadCount(
        self,
        request: notify_service_pb2.GetUnreadCountRequest,
        context: aio.ServicerContext[object, object],
    ) -> notify_service_pb2.GetUnreadCountResponse:
        count = await self._notifications.unread_count(auth.require_user())
        return notify_service_pb2.GetUnreadCountResponse(unread_count=count)

    async def MarkNotificationRead(
        self,
        request: notify_service_pb2.MarkNotificationReadRequest,
        context: aio.ServicerContext[object, object],
    ) -> notify_service_pb2.MarkNotificationReadResponse:
        view = await self._notifications.mark_read(
            auth.require_user(), notification_id=request.notification_id
        )
        return notify_service_pb2.MarkNotificationReadResponse(
            notification=notification_message(view)
        )

    async def MarkAllNotificationsRead(
        self,
        request: notify_service_pb2.MarkAllNotificationsReadRequest,
        context: aio.ServicerContext[object, object],
    ) -> notify_service_pb2.MarkAllNotificationsReadResponse:
        marked = await self._notifications.mark_all_read(
            auth.require_user(), max_sequence=request.max_sequence
        )
        return notify_service_pb2.MarkAllNotificationsReadResponse(marked_count=marked)

    async def Subscribe(
        self,
        request: notify_service_pb2.SubscribeRequest,
        context: aio.ServicerContext[object, object],
    ) -> AsyncIterator[notify_service_pb2.SubscribeResponse]:
        items = self._notifications.stream(
            auth.require_user(), after_sequence=request.after_sequence
        )
        try:
            async for item in items:
                yield stream_message(item)
        finally:
            await items.aclose()  # releases the stream's slot at once when the client leaves


def build_notifications(
    settings: NotifySettings,
    engine: AsyncEngine,
    channels: Channels,
    identity: Callable[[], str],
    *,
    replica: AsyncEngine | None = None,
) -> tuple[domain.Notifications, peers.GrpcRelationships]:
    """Return the notification rules on a store (reading lists from `replica` when given) and
    the peers behind `channels`, and the kept ties (which graph events make forget)."""
    timeout = settings.peer_deadline_seconds
    relationships = peers.GrpcRelationships(
        graph_service_pb2_grpc.GraphServiceStub(channels.channel("graph_svc")),
        service_token=identity,
        timeout=timeout,
        keep_seconds=settings.silence_keep_seconds,
        max_kept=settings.silence_keep_max,
    )
    notifications = domain.Notifications(
        store.SqlNotifyStore(engine, replica=replica),
        relationships=relationships,
        directory=peers.GrpcDirectory(
            user_service_pb2_grpc.UserServiceStub(channels.channel("user_svc")),
            service_token=identity,
            timeout=timeout,
        ),
        posts=peers.GrpcPostCatalog(
            post_service_pb2_grpc.PostServiceStub(channels.channel("post_svc")),
            service_token=identity,
            timeout=timeout,
        ),
        wakeups=domain.Wakeups(max_per_user=settings.max_streams_per_user),
        ids=IdGenerator(settings.id_shard),
        like_window=timedelta(seconds=settings.like_aggregation_window_seconds),
        retention=timedelta(seconds=settings.notification_retention_seconds),
        processed_retention=timedelta(seconds=settings.processed_event_retention_seconds),
        heartbeat_seconds=settings.subscribe_heartbeat_seconds,
        badges=peers.GrpcMessageBadges(
            message_service_pb2_grpc.MessageServiceStub(channels.channel("message_svc")),
            service_token=identity,
            timeout=timeout,
        ),
    )
    return notifications, relationships


async def create_notify_service(settings: NotifySettings) -> Service:
    """Open the database (migrated to the newest schema), wire the rules, the event consumer and
    the pruning task, and start serving."""
    runtime = await ServiceRuntime.open(
        NAME,
        settings,
        database_url=settings.database_url,
        replica_url=settings.database_replica_url,
        outbox_table=None,
    )
    try:
        notifications, relationships = build_notifications(
            settings, runtime.engine, runtime.channels, runtime.identity, replica=runtime.replica
        )
        servicer = NotifyServicer(notifications)
        await runtime.consume(
            group=events.GROUP,
            handler=events.handler(notifications),
            batch_handler=events.batch_handler(notifications),
            event_types=events.CONSUMED,
        )
        await runtime.consume(
            group=events.silences_group(settings.id_shard),
            handler=events.silence_handler(relationships),
            event_types=set(events.SILENCE_EVENTS),
        )
        await runtime.consume(
            group=NAME + deletion.GROUP_SUFFIX,
            handler=deletion.handler(
                deletion.DeletionLedger(runtime.engine, store.deletion_ledger),
                notifications.deletion_steps(),
            ),
            event_types={deletion.ACCOUNT_DELETED},
        )
        runtime.run_in_background(
            lambda: notifications.prune_forever(settings.prune_interval_seconds), name="prune"
        )
        service = await runtime.serve(
            register=lambda server: notify_service_pb2_grpc.add_NotifyServiceServicer_to_server(
                servicer, server
            ),
            service_names=[
                notify_service_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name
            ],
        )
        # Open streams end at once on stop (callers see the stream close, then reconnect)
        # rather than holding the shutdown for the whole grace period.
        service.on_drain.append(notifications.end_streams)
        return service
    except BaseException:
        await runtime.close()
        raise
