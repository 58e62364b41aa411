"""UserService over gRPC: checks the caller, turns protos into domain calls and back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

from mesh import auth, convert
from mesh.errors import InvalidArgument, PermissionDenied, Unavailable
from mesh.eventsync import feed_sync
from mesh.ratelimit import Limiter, MemoryLimiter, RedisLimiter, parse_rate
from mesh.redis import create_redis
from mesh.revocation import revocations_for
from mesh.runtime import ServiceRuntime
from mesh.server import Service
from shutter.graph.v1 import graph_service_pb2, graph_service_pb2_grpc
from shutter.media.v1 import media_service_pb2_grpc
from shutter.message.v1 import message_service_pb2_grpc
from shutter.post.v1 import post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc
from user_svc import domain, store
from user_svc.errors import RelationshipUnknown, UserNotFound
from user_svc.moderation import Moderation
from user_svc.peers import GrpcContentOwners, GrpcPictures
from user_svc.settings import UserSettings
from user_svc.throttle import FailureRates, LoginThrottle

NAME = "user_svc"
MEDIA_DEADLINE_SECONDS = 2.0
# How long a profile change waits for feed_svc to apply it before answering anyway.
FEED_SYNC_DEADLINE_SECONDS = 1.0
# Reporting and removing wait on the content's owner (post_svc, graph_svc, message_svc).
CONTENT_DEADLINE_SECONDS = 5.0

log = logging.getLogger("shutter.user_svc")


MediaUrl = Callable[[str], str]


def user_message(
    record: store.UserRecord,
    *,
    media_url: MediaUrl,
    show_email: bool = False,
    graph: graph_service_pb2.GetProfileGraphResponse | None = None,
    post_count: int | None = None,
) -> user_pb2.User:
    """Return the User proto of an account, with counts and the viewer's relationship when the
    graph (and post_svc) answered; a profile the viewer blocked shows only its id and username."""
    relationship = graph.relationship if graph and graph.HasField("relationship") else None
    if relationship is not None and relationship.blocking:
        return user_pb2.User(
            user_id=record.user_id,
            username=record.username,
            relationship=user_pb2.UserRelationship(blocking=True, muting=relationship.muting),
        )
    user = _profile_message(record, media_url=media_url, show_email=show_email)
    if graph is not None:
        user.follower_count = graph.counts.follower_count
        user.following_count = graph.counts.following_count
    if post_count is not None:
        user.post_count = post_count
    if relationship is not None:
        user.relationship.CopyFrom(
            user_pb2.UserRelationship(
                following=relationship.following,
                followed_by=relationship.followed_by,
                requested=relationship.requested,
                incoming_request=relationship.incoming_request,
                muting=relationship.muting,
            )
        )
    return user


def _profile_message(
    record: store.UserRecord, *, media_url: MediaUrl, show_email: bool
) -> user_pb2.User:
    return user_pb2.User(
        user_id=record.user_id,
        username=record.username,
        full_name=record.full_name,
        bio=record.bio,
        website=record.website,
        profile_pic_url=media_url(record.profile_pic_key),
        is_private=record.is_private,
        is_verified=record.is_verified,
        created_at=convert.timestamp(record.created_at),
        email=record.email if show_email else "",
    )


def summary_message(record: store.UserRecord, *, media_url: MediaUrl) -> user_pb2.UserSummary:
    """Return the UserSummary proto of an account."""
    return user_pb2.UserSummary(
        user_id=record.user_id,
        username=record.username,
        full_name=record.full_name,
        profile_pic_url=media_url(record.profile_pic_key),
        is_verified=record.is_verified,
        is_private=record.is_private,
    )


def _enum_name(prefix: str, value: str) -> str:
    return f"{prefix}_{value.upper()}"


def _from_enum(enum: Any, prefix: str, number: int) -> str:
    """Return the stored name of an enum value: its name without the prefix, lower case ("" for
    an unknown number or the unspecified value)."""
    try:
        name: str = enum.Name(number)
    except ValueError:
        return ""
    return "" if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix + "_").lower()


_TARGET = "REPORT_TARGET_TYPE"
_REASON = "REPORT_REASON"
_ACTION = "MODERATION_ACTION"


def report_message(record: store.ReportRecord) -> user_pb2.Report:
    """Return the Report proto of a stored report."""
    return user_pb2.Report(
        report_id=record.report_id,
        target_type=_enum_name(_TARGET, record.target_type),
        target_id=record.target_id,
        reason=_enum_name(_REASON, record.reason),
        note=record.note,
        state=_enum_name("REPORT_STATE", record.state),
        resolution=(
            _enum_name(_ACTION, record.resolution)
            if record.resolution
            else user_pb2.MODERATION_ACTION_UNSPECIFIED
        ),
        created_at=convert.timestamp(record.created_at),
    )


def group_message(group: store.ReportGroupRecord) -> user_pb2.ReportGroup:
    """Return the ReportGroup proto of a stored group of reports."""
    return user_pb2.ReportGroup(
        report_id=group.first.report_id,
        target_type=_enum_name(_TARGET, group.first.target_type),
        target_id=group.first.target_id,
        target_owner_id=group.first.target_owner_id,
        report_count=group.report_count,
        reasons=[_enum_name(_REASON, r) for r in group.reasons],
        notes=group.notes,
        first_reported_at=convert.timestamp(group.first.created_at),
    )


def log_entry_message(entry: store.LogEntryRecord) -> user_pb2.ModerationLogEntry:
    """Return the ModerationLogEntry proto of an audit log entry."""
    return user_pb2.ModerationLogEntry(
        entry_id=entry.entry_id,
        moderator_id=entry.moderator_id,
        action=_enum_name(_ACTION, entry.action),
        target_type=_enum_name(_TARGET, entry.target_type),
        target_id=entry.target_id,
        target_owner_id=entry.target_owner_id,
        report_id=entry.report_id,
        report_count=entry.report_count,
        created_at=convert.timestamp(entry.created_at),
    )


class UserServicer(user_service_pb2_grpc.UserServiceServicer):
    """The gRPC face of the account rules."""

    def __init__(
        self,
        accounts: domain.Accounts,
        *,
        media_url: MediaUrl,
        graph: graph_service_pb2_grpc.GraphServiceStub | None = None,
        posts: post_service_pb2_grpc.PostServiceStub | None = None,
        moderation: Moderation | None = None,
        peer_deadline_seconds: float = 1.0,
    ) -> None:
        self._accounts = accounts
        self._peer_deadline = peer_deadline_seconds
        self._moderation = moderation
        self._media_url = media_url
        # None serves profiles without counts or relationship (tests of the account rules alone).
        self._graph = graph
        self._posts = posts

    async def _profile(self, profile: domain.Profile, viewer: int | None) -> user_pb2.User:
        """Return a profile as the viewer sees it, hydrated from graph_svc and post_svc at once:
        the one place profiles get their counts and relationship."""
        graph, post_count = await asyncio.gather(
            self._profile_graph(profile.user.user_id, viewer),
            self._post_count(profile.user.user_id),
        )
        user = user_message(
            profile.user,
            media_url=self._media_url,
            show_email=profile.show_email,
            graph=graph,
            post_count=post_count,
        )
        if not user.relationship.blocking:
            # Counts are all that may go missing (a peer down): say so, not show zeros as real.
            user.counts_unavailable = (self._graph is not None and graph is None) or (
                self._posts is not None and post_count is None
            )
        return user

    async def _post_count(self, user_id: int) -> int | None:
        """Ask post_svc for an account's post count; any failure leaves it out (logged)."""
        if self._posts is None:
            return None
        try:
            answer: post_service_pb2.BatchGetPostCountsResponse = (
                await self._posts.BatchGetPostCounts(
                    post_service_pb2.BatchGetPostCountsRequest(user_ids=[user_id]),
                    timeout=self._peer_deadline,
                )
            )
        except aio.AioRpcError as exc:
            log.warning(
                "post_svc gave no post count for user %d (%s); serving the profile without it",
                user_id,
                exc.code().name,
            )
            return None
        return next((c.post_count for c in answer.counts if c.user_id == user_id), 0)

    async def _profile_graph(
        self, user_id: int, viewer: int | None
    ) -> graph_service_pb2.GetProfileGraphResponse | None:
        """Ask graph_svc once for counts and the viewer's relationship; an account that blocked
        the viewer is not found. When graph_svc cannot answer, a signed-in viewer looking at
        someone else gets UNAVAILABLE (a block may hide the profile: fail closed); the owner and
        anonymous viewers get the profile without counts (logged)."""
        if self._graph is None:
            return None
        try:
            answer: graph_service_pb2.GetProfileGraphResponse = await self._graph.GetProfileGraph(
                graph_service_pb2.GetProfileGraphRequest(user_id=user_id, viewer_id=viewer or 0),
                timeout=self._peer_deadline,
            )
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise UserNotFound("no user has that id") from None
            if viewer is not None and viewer != user_id:
                raise RelationshipUnknown(
                    "cannot tell just now whether this profile is hidden from you; try again"
                ) from None
            log.warning(
                "graph_svc gave no counts for user %d (%s); serving the profile without them",
                user_id,
                exc.code().name,
            )
            return None
        return answer

    async def Register(
        self, request: user_service_pb2.RegisterRequest, context: aio.ServicerContext
    ) -> user_service_pb2.RegisterResponse:
        signed_in = await self._accounts.register(
            username=request.username,
            email=request.email,
            password=request.password,
            full_name=request.full_name,
        )
        assert signed_in.user is not None
        return user_service_pb2.RegisterResponse(
            user=user_message(signed_in.user, media_url=self._media_url, show_email=True),
            access_token=signed_in.access_token,
            refresh_token=signed_in.refresh_token,
            expires_in=signed_in.expires_in,
        )

    async def Login(
        self, request: user_service_pb2.LoginRequest, context: aio.ServicerContext
    ) -> user_service_pb2.LoginResponse:
        signed_in = await self._accounts.login(
            login=request.username, password=request.password, client_ip=_client_ip(context)
        )
        assert signed_in.user is not None
        return user_service_pb2.LoginResponse(
            user=user_message(signed_in.user, media_url=self._media_url, show_email=True),
            access_token=signed_in.access_token,
            refresh_token=signed_in.refresh_token,
            expires_in=signed_in.expires_in,
        )

    async def RefreshToken(
        self, request: user_service_pb2.RefreshTokenRequest, context: aio.ServicerContext
    ) -> user_service_pb2.RefreshTokenResponse:
        renewed = await self._accounts.refresh(refresh_token=request.refresh_token)
        return user_service_pb2.RefreshTokenResponse(
            access_token=renewed.access_token,
            refresh_token=renewed.refresh_token,
            expires_in=renewed.expires_in,
        )

    async def Logout(
        self, request: user_service_pb2.LogoutRequest, context: aio.ServicerContext
    ) -> user_service_pb2.LogoutResponse:
        caller = auth.require_user()
        await self._accounts.logout(caller=caller, refresh_token=request.refresh_token)
        return user_service_pb2.LogoutResponse()

    async def DeleteUser(
        self, request: user_service_pb2.DeleteUserRequest, context: aio.ServicerContext
    ) -> user_service_pb2.DeleteUserResponse:
        caller = auth.require_user()
        deletion = await self._accounts.delete_account(
            caller=caller, user_id=request.user_id, password=request.password
        )
        return user_service_pb2.DeleteUserResponse(
            user_id=deletion.user_id,
            state=user_service_pb2.ACCOUNT_DELETION_STATE_DELETING,
            deleted_at=convert.timestamp(deletion.deleted_at),
            username_released_at=convert.timestamp(deletion.username_released_at),
        )

    async def ExportAccountData(
        self, request: user_service_pb2.ExportAccountDataRequest, context: aio.ServicerContext
    ) -> user_service_pb2.ExportAccountDataResponse:
        files = await self._accounts.export(user_id=request.user_id)
        return user_service_pb2.ExportAccountDataResponse(files=files)

    async def GetUser(
        self, request: user_service_pb2.GetUserRequest, context: aio.ServicerContext
    ) -> user_service_pb2.GetUserResponse:
        who = auth.current_principal()
        viewer = who.user_id
        if request.viewer_id:
            # Internal now: feed_svc reads through for a viewer it names (clients go there).
            if not who.is_service:
                raise InvalidArgument.field("viewer_id", "only services may name a viewer")
            if request.viewer_id < 0:
                raise InvalidArgument.field("viewer_id", "must be positive")
            viewer = request.viewer_id
        profile = await self._accounts.get_user(
            viewer=viewer, user_id=request.user_id, username=request.username
        )
        return user_service_pb2.GetUserResponse(user=await self._profile(profile, viewer))

    async def BatchGetUsers(
        self, request: user_service_pb2.BatchGetUsersRequest, context: aio.ServicerContext
    ) -> user_service_pb2.BatchGetUsersResponse:
        auth.current_principal()
        # Too many ids alone is the domain's to refuse (naming user_ids); too many with names, ours.
        if (
            len(request.user_ids)
            <= domain.BATCH_MAX
            < len(request.user_ids) + len(request.usernames)
        ):
            raise InvalidArgument.field(
                "usernames", f"at most {domain.BATCH_MAX} ids and usernames per call"
            )
        found = await self._accounts.batch_get(user_ids=list(request.user_ids))
        seen = {u.user_id for u in found}
        for username in dict.fromkeys(n.lower() for n in request.usernames if n):
            # One indexed lookup per name (post_svc asks for at most 20, to resolve @mentions).
            try:
                profile = await self._accounts.get_user(viewer=None, username=username)
            except UserNotFound:
                continue
            if profile.user.user_id not in seen:
                seen.add(profile.user.user_id)
                found.append(profile.user)
        return user_service_pb2.BatchGetUsersResponse(
            users=[summary_message(u, media_url=self._media_url) for u in found]
        )

    async def UpdateProfile(
        self, request: user_service_pb2.UpdateProfileRequest, context: aio.ServicerContext
    ) -> user_service_pb2.UpdateProfileResponse:
        caller = auth.require_user()
        changes = domain.ProfileChanges(
            full_name=request.full_name if request.HasField("full_name") else None,
            bio=request.bio if request.HasField("bio") else None,
            website=request.website if request.HasField("website") else None,
            is_private=request.is_private if request.HasField("is_private") else None,
            profile_media_id=(
                request.profile_media_id if request.HasField("profile_media_id") else None
            ),
        )
        profile = await self._accounts.update_profile(
            caller=caller, user_id=request.user_id, changes=changes
        )
        return user_service_pb2.UpdateProfileResponse(user=await self._profile(profile, caller))

    async def SearchUsers(
        self, request: user_service_pb2.SearchUsersRequest, context: aio.ServicerContext
    ) -> user_service_pb2.SearchUsersResponse:
        viewer = auth.viewer_id()
        found, token = await self._accounts.search(
            query=request.query, page_size=request.page_size, page_token=request.page_token
        )
        hidden = await self._blocked_either_way(viewer, [u.user_id for u in found])
        return user_service_pb2.SearchUsersResponse(
            users=[
                summary_message(u, media_url=self._media_url)
                for u in found
                if u.user_id not in hidden
            ],
            next_page_token=token,
        )

    def _moderating(self) -> Moderation:
        if self._moderation is None:
            raise Unavailable("moderation is not configured in this process")
        return self._moderation

    async def CreateReport(
        self, request: user_service_pb2.CreateReportRequest, context: aio.ServicerContext
    ) -> user_service_pb2.CreateReportResponse:
        caller = auth.require_user()
        report = await self._moderating().report(
            caller=caller,
            target_type=_from_enum(user_pb2.ReportTargetType, _TARGET, request.target_type),
            target_id=request.target_id,
            reason=_from_enum(user_pb2.ReportReason, _REASON, request.reason),
            note=request.note,
        )
        return user_service_pb2.CreateReportResponse(report=report_message(report))

    async def ListReportGroups(
        self, request: user_service_pb2.ListReportGroupsRequest, context: aio.ServicerContext
    ) -> user_service_pb2.ListReportGroupsResponse:
        caller = auth.require_user()
        state = _from_enum(user_pb2.ReportState, "REPORT_STATE", request.state) or "open"
        groups, token = await self._moderating().report_groups(
            caller=caller, state=state, page_size=request.page_size, page_token=request.page_token
        )
        return user_service_pb2.ListReportGroupsResponse(
            groups=[group_message(g) for g in groups], next_page_token=token
        )

    async def ResolveReport(
        self, request: user_service_pb2.ResolveReportRequest, context: aio.ServicerContext
    ) -> user_service_pb2.ResolveReportResponse:
        caller = auth.require_user()
        entry = await self._moderating().resolve(
            caller=caller,
            report_id=request.report_id,
            action=_from_enum(user_pb2.ModerationAction, _ACTION, request.action),
        )
        return user_service_pb2.ResolveReportResponse(entry=log_entry_message(entry))

    async def UnsuspendUser(
        self, request: user_service_pb2.UnsuspendUserRequest, context: aio.ServicerContext
    ) -> user_service_pb2.UnsuspendUserResponse:
        caller = auth.require_user()
        entry = await self._moderating().unsuspend(caller=caller, user_id=request.user_id)
        return user_service_pb2.UnsuspendUserResponse(entry=log_entry_message(entry))

    async def ListModerationLog(
        self, request: user_service_pb2.ListModerationLogRequest, context: aio.ServicerContext
    ) -> user_service_pb2.ListModerationLogResponse:
        caller = auth.require_user()
        entries, token = await self._moderating().audit_log(
            caller=caller, page_size=request.page_size, page_token=request.page_token
        )
        return user_service_pb2.ListModerationLogResponse(
            entries=[log_entry_message(e) for e in entries], next_page_token=token
        )

    async def SetModerator(
        self, request: user_service_pb2.SetModeratorRequest, context: aio.ServicerContext
    ) -> user_service_pb2.SetModeratorResponse:
        if not auth.current_principal().is_service:
            # A moderator's token carried by a service must not grant roles: the mesh's own
            # tools do, with a service identity and no user.
            raise PermissionDenied(
                "only the mesh's services grant roles", reason="SERVICE_REQUIRED"
            )
        user_id = await self._moderating().set_moderator(
            username=request.username, moderator=request.moderator
        )
        return user_service_pb2.SetModeratorResponse(user_id=user_id, moderator=request.moderator)

    async def _blocked_either_way(self, viewer: int | None, user_ids: list[int]) -> set[int]:
        """Return the accounts the viewer blocked or is blocked by (one graph_svc call).

        A block hides two people from each other in search too. When graph_svc cannot answer,
        the search fails (UNAVAILABLE) rather than show people a block should hide.
        """
        if self._graph is None or viewer is None or not user_ids:
            return set()
        try:
            answer: graph_service_pb2.GetRelationshipsResponse = await self._graph.GetRelationships(
                graph_service_pb2.GetRelationshipsRequest(viewer_id=viewer, user_ids=user_ids),
                timeout=self._peer_deadline,
            )
        except aio.AioRpcError as exc:
            log.warning("graph_svc gave no relationships for search (%s)", exc.code().name)
            raise RelationshipUnknown(
                "cannot tell just now which results blocks hide from you; try again"
            ) from None
        return {r.user_id for r in answer.relationships if r.blocking or r.blocked_by}


async def create_user_service(settings: UserSettings) -> Service:
    """Open the database (migrated to the newest schema), wire the rules and start serving."""
    runtime = await ServiceRuntime.open(
        NAME,
        settings,
        database_url=settings.database_url,
        replica_url=settings.database_replica_url,
        outbox_table=store.outbox,
    )
    try:
        user_store = store.SqlUserStore(
            runtime.engine, outbox=runtime.outbox(), replica=runtime.replica
        )
        pictures = GrpcPictures(
            media_service_pb2_grpc.MediaServiceStub(runtime.channels.channel("media_svc")),
            timeout=MEDIA_DEADLINE_SECONDS,
        )
        limiter: Limiter
        if settings.redis_url:
            redis = create_redis(settings)
            runtime.close_on_stop(redis.aclose)
            limiter = RedisLimiter(redis)
        else:
            limiter = MemoryLimiter()
        throttle = LoginThrottle(
            limiter,
            FailureRates(
                account_ip=parse_rate(settings.login_failures_per_account_ip),
                ip=parse_rate(settings.login_failures_per_ip),
                account=parse_rate(settings.login_failures_per_account),
            ),
        )
        revocations = revocations_for(settings)
        feed = feed_sync(
            runtime.channels.channel("feed_svc"),
            service_token=runtime.identity,
            timeout=FEED_SYNC_DEADLINE_SECONDS,
        )
        accounts = domain.Accounts(
            user_store,
            issuer=auth.TokenIssuer(settings),
            ids=runtime.ids,
            settings=settings,
            pictures=pictures,
            throttle=throttle,
            revocations=revocations,
            feed=feed,
        )
        graph = graph_service_pb2_grpc.GraphServiceStub(runtime.channels.channel("graph_svc"))
        posts = post_service_pb2_grpc.PostServiceStub(runtime.channels.channel("post_svc"))
        moderation = Moderation(
            user_store,
            ids=runtime.ids,
            owners=GrpcContentOwners(
                posts=posts,
                graph=graph,
                messages=message_service_pb2_grpc.MessageServiceStub(
                    runtime.channels.channel("message_svc")
                ),
                timeout=CONTENT_DEADLINE_SECONDS,
            ),
            limiter=limiter,
            report_rate=parse_rate(settings.reports_per_account),
            session_ttl_seconds=settings.access_token_ttl_seconds,
            revocations=revocations,
            feed=feed,
        )
        servicer = UserServicer(
            accounts,
            media_url=settings.media_url,
            graph=graph,
            posts=posts,
            moderation=moderation,
            peer_deadline_seconds=settings.peer_deadline_seconds,
        )
        return await runtime.serve(
            register=lambda server: user_service_pb2_grpc.add_UserServiceServicer_to_server(
                servicer, server
            ),
            service_names=[user_service_pb2.DESCRIPTOR.services_by_name["UserService"].full_name],
        )
    except BaseException:
        await runtime.close()
        raise


def _client_ip(context: aio.ServicerContext) -> str:
    """Return the client address the edge saw (metadata x-client-ip), or "" for other callers."""
    for item in context.invocation_metadata() or ():
        if item.key == "x-client-ip":
            value = item.value
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            return text[:64]
    return ""
