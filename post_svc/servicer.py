"""PostService over gRPC: checks the caller, turns protos into domain calls and back."""

from __future__ import annotations

from collections.abc import Sequence

from grpc import aio

from mesh import auth, convert, deletion
from mesh.errors import InvalidArgument, PermissionDenied
from mesh.eventsync import feed_sync
from mesh.launcher import StartupError
from mesh.runtime import ServiceRuntime
from mesh.server import Service
from post_svc import domain, events, peers, reel_store, reels, store, stories
from post_svc.messages import post_message, shared_message
from post_svc.settings import PostSettings
from post_svc.store import EngagementStore
from shutter.graph.v1 import graph_service_pb2_grpc
from shutter.media.v1 import media_service_pb2_grpc
from shutter.post.v1 import post_pb2, post_service_pb2, post_service_pb2_grpc
from shutter.user.v1 import user_pb2, user_service_pb2_grpc

NAME = "post_svc"

_ORDERS = {
    post_service_pb2.NEARBY_ORDER_UNSPECIFIED: domain.ORDER_NEAREST,
    post_service_pb2.NEARBY_ORDER_NEAREST: domain.ORDER_NEAREST,
    post_service_pb2.NEARBY_ORDER_NEWEST: domain.ORDER_NEWEST,
}


def reel_message(view: reels.ReelView) -> post_pb2.Post:
    """Return the Post proto of a reel, with its view count."""
    message = post_message(view.post)
    message.view_count = view.view_count
    return message


def flags_message(
    asked: Sequence[int], flags: domain.ViewerFlags
) -> post_service_pb2.BatchGetViewerFlagsResponse:
    """Return a viewer's flags as BatchGetViewerFlags answers them: the posts asked in the order
    asked (each once), then those listed beyond them, highest id first."""
    order = list(dict.fromkeys(asked))

    def ids(found: set[int]) -> list[int]:
        return [p for p in order if p in found] + sorted(found.difference(order), reverse=True)

    return post_service_pb2.BatchGetViewerFlagsResponse(
        liked_post_ids=ids(flags.liked),
        saved_post_ids=ids(flags.saved),
        hidden_post_ids=ids(flags.hidden),
        listed_since_post_id=flags.listed_since,
    )


def comment_message(view: domain.CommentView) -> post_pb2.Comment:
    """Return the Comment proto of a comment."""
    record = view.record
    return post_pb2.Comment(
        comment_id=record.comment_id,
        post_id=record.post_id,
        user=view.author,
        text=record.text,
        mentions=[m.username for m in record.mentions],
        parent_comment_id=record.parent_comment_id,
        reply_count=view.reply_count,
        created_at=convert.timestamp(record.created_at),
    )


def hashtag_message(record: store.HashtagRecord) -> post_pb2.Hashtag:
    """Return the Hashtag proto of a tag."""
    return post_pb2.Hashtag(tag=record.tag, post_count=record.post_count)


def place_message(record: store.PlaceRecord) -> post_pb2.Place:
    """Return the Place proto of a place."""
    return post_pb2.Place(
        place_id=record.place_id,
        name=record.name,
        lat=record.point.lat,
        lng=record.point.lng,
        post_count=record.post_count,
    )


def story_message(view: stories.StoryView) -> post_pb2.Story:
    """Return the Story proto of a story as its viewer sees it."""
    record = view.record
    message = post_pb2.Story(
        story_id=record.story_id,
        user=view.author,
        caption=record.caption,
        mentions=[m.username for m in record.mentions],
        created_at=convert.timestamp(record.created_at),
        expires_at=convert.timestamp(record.expires_at),
        seen=view.seen,
        view_count=view.view_count,
        close_friends_only=record.close_friends_only,
    )
    if view.media is not None:
        message.media.CopyFrom(view.media)
    return message


def ring_message(ring: stories.Ring) -> post_pb2.StoryRing:
    """Return the StoryRing proto of an author's ring."""
    return post_pb2.StoryRing(
        user_id=ring.author_id,
        story_count=ring.story_count,
        latest_created_at=convert.timestamp(ring.latest_created_at),
        latest_story_id=ring.latest_story_id,
        has_unseen=ring.has_unseen,
        close_friends=ring.close_friends,
    )


def _require_service(what: str) -> None:
    """Refuse an internal RPC to anything but a service identity (a user token included)."""
    if not auth.current_principal().is_service:
        raise PermissionDenied(f"only services may {what}", reason="SERVICE_REQUIRED")


class PostServicer(post_service_pb2_grpc.PostServiceServicer):
    """The gRPC face of the post and story rules."""

    def __init__(
        self,
        posts: domain.Posts,
        story_rules: stories.Stories,
        reel_rules: reels.Reels | None = None,
    ) -> None:
        self._posts = posts
        self._stories = story_rules
        self._reel_rules = reel_rules

    @property
    def _reels(self) -> reels.Reels:
        if self._reel_rules is None:
            raise RuntimeError("this servicer was made without the reels rules")
        return self._reel_rules

    async def CreatePost(
        self, request: post_service_pb2.CreatePostRequest, context: aio.ServicerContext
    ) -> post_service_pb2.CreatePostResponse:
        caller = auth.require_user()
        location = None
        if request.HasField("location"):
            location = domain.LocationInput(
                name=request.location.name, lat=request.location.lat, lng=request.location.lng
            )
        view = await self._posts.create_post(
            caller=caller,
            media_ids=list(request.media_ids),
            caption=request.caption,
            location=location,
            idempotency_key=request.idempotency_key,
            alt_texts=list(request.alt_texts),
        )
        return post_service_pb2.CreatePostResponse(post=post_message(view))

    async def GetPost(
        self, request: post_service_pb2.GetPostRequest, context: aio.ServicerContext
    ) -> post_service_pb2.GetPostResponse:
        view = await self._posts.get_post(viewer=auth.viewer_id(), post_id=request.post_id)
        return post_service_pb2.GetPostResponse(post=post_message(view))

    async def BatchGetPosts(
        self, request: post_service_pb2.BatchGetPostsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.BatchGetPostsResponse:
        viewer = domain.resolve_viewer(auth.current_principal(), request.viewer_id)
        views = await self._posts.batch_get(viewer=viewer, post_ids=list(request.post_ids))
        return post_service_pb2.BatchGetPostsResponse(posts=[post_message(v) for v in views])

    async def BatchGetSharedPosts(
        self, request: post_service_pb2.BatchGetSharedPostsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.BatchGetSharedPostsResponse:
        _require_service("read posts whoever may see them")
        views = await self._posts.shared_posts(post_ids=list(request.post_ids))
        return post_service_pb2.BatchGetSharedPostsResponse(
            posts=[shared_message(v) for v in views]
        )

    async def BatchGetViewerFlags(
        self, request: post_service_pb2.BatchGetViewerFlagsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.BatchGetViewerFlagsResponse:
        _require_service("read a viewer's flags")
        flags = await self._posts.viewer_flags(
            viewer=request.viewer_id,
            post_ids=list(request.post_ids),
            since_post_id=request.since_post_id,
        )
        return flags_message(request.post_ids, flags)

    async def BatchGetViewersFlags(
        self, request: post_service_pb2.BatchGetViewersFlagsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.BatchGetViewersFlagsResponse:
        _require_service("read viewers' flags")
        wanted = [(e.viewer_id, list(e.post_ids), e.since_post_id) for e in request.viewers]
        found = await self._posts.viewers_flags(wanted=wanted)
        return post_service_pb2.BatchGetViewersFlagsResponse(
            viewers=[
                flags_message(post_ids, flags)
                for (_, post_ids, _), flags in zip(wanted, found, strict=True)
            ]
        )

    async def ExportAccountData(
        self, request: post_service_pb2.ExportAccountDataRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ExportAccountDataResponse:
        # Internal-only (no HTTP route): the interceptor admits service identities alone.
        files = await self._posts.export(user_id=request.user_id)
        files.update(await self._stories.export(user_id=request.user_id))
        return post_service_pb2.ExportAccountDataResponse(files=files)

    async def DeletePost(
        self, request: post_service_pb2.DeletePostRequest, context: aio.ServicerContext
    ) -> post_service_pb2.DeletePostResponse:
        await self._posts.delete_post(caller=auth.require_user(), post_id=request.post_id)
        return post_service_pb2.DeletePostResponse()

    async def ListUserPosts(
        self, request: post_service_pb2.ListUserPostsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListUserPostsResponse:
        views, token = await self._posts.list_user_posts(
            viewer=auth.viewer_id(),
            user_id=request.user_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.ListUserPostsResponse(
            posts=[post_message(v) for v in views], next_page_token=token
        )

    async def LikePost(
        self, request: post_service_pb2.LikePostRequest, context: aio.ServicerContext
    ) -> post_service_pb2.LikePostResponse:
        count = await self._posts.like(caller=auth.require_user(), post_id=request.post_id)
        return post_service_pb2.LikePostResponse(
            post_id=request.post_id, like_count=count, has_liked=True
        )

    async def UnlikePost(
        self, request: post_service_pb2.UnlikePostRequest, context: aio.ServicerContext
    ) -> post_service_pb2.UnlikePostResponse:
        count = await self._posts.unlike(caller=auth.require_user(), post_id=request.post_id)
        return post_service_pb2.UnlikePostResponse(
            post_id=request.post_id, like_count=count, has_liked=False
        )

    async def ListLikers(
        self, request: post_service_pb2.ListLikersRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListLikersResponse:
        users, token = await self._posts.list_likers(
            viewer=auth.viewer_id(),
            post_id=request.post_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.ListLikersResponse(users=users, next_page_token=token)

    async def CreateComment(
        self, request: post_service_pb2.CreateCommentRequest, context: aio.ServicerContext
    ) -> post_service_pb2.CreateCommentResponse:
        view = await self._posts.create_comment(
            caller=auth.require_user(),
            post_id=request.post_id,
            body=request.text,
            parent_comment_id=request.parent_comment_id,
            idempotency_key=request.idempotency_key,
        )
        return post_service_pb2.CreateCommentResponse(comment=comment_message(view))

    async def ListComments(
        self, request: post_service_pb2.ListCommentsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListCommentsResponse:
        views, token = await self._posts.list_comments(
            viewer=auth.viewer_id(),
            post_id=request.post_id,
            parent_comment_id=request.parent_comment_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.ListCommentsResponse(
            comments=[comment_message(v) for v in views], next_page_token=token
        )

    async def DeleteComment(
        self, request: post_service_pb2.DeleteCommentRequest, context: aio.ServicerContext
    ) -> post_service_pb2.DeleteCommentResponse:
        await self._posts.delete_comment(caller=auth.require_user(), comment_id=request.comment_id)
        return post_service_pb2.DeleteCommentResponse()

    async def SavePost(
        self, request: post_service_pb2.SavePostRequest, context: aio.ServicerContext
    ) -> post_service_pb2.SavePostResponse:
        await self._posts.save(caller=auth.require_user(), post_id=request.post_id)
        return post_service_pb2.SavePostResponse(post_id=request.post_id, has_saved=True)

    async def UnsavePost(
        self, request: post_service_pb2.UnsavePostRequest, context: aio.ServicerContext
    ) -> post_service_pb2.UnsavePostResponse:
        await self._posts.unsave(caller=auth.require_user(), post_id=request.post_id)
        return post_service_pb2.UnsavePostResponse(post_id=request.post_id, has_saved=False)

    async def ListSavedPosts(
        self, request: post_service_pb2.ListSavedPostsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListSavedPostsResponse:
        views, token = await self._posts.list_saved(
            caller=auth.require_user(), page_size=request.page_size, page_token=request.page_token
        )
        return post_service_pb2.ListSavedPostsResponse(
            posts=[post_message(v) for v in views], next_page_token=token
        )

    async def SearchHashtags(
        self, request: post_service_pb2.SearchHashtagsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.SearchHashtagsResponse:
        found, token = await self._posts.search_hashtags(
            viewer=auth.viewer_id(),
            query=request.query,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.SearchHashtagsResponse(
            hashtags=[hashtag_message(h) for h in found], next_page_token=token
        )

    async def ListPostsByHashtag(
        self, request: post_service_pb2.ListPostsByHashtagRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListPostsByHashtagResponse:
        hashtag, views, token = await self._posts.posts_by_hashtag(
            viewer=auth.viewer_id(),
            tag=request.tag,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.ListPostsByHashtagResponse(
            hashtag=hashtag_message(hashtag),
            posts=[post_message(v) for v in views],
            next_page_token=token,
        )

    async def ListHashtagIndex(
        self, request: post_service_pb2.ListHashtagIndexRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListHashtagIndexResponse:
        _require_service("read the tag index")
        tag, entries, authors = await self._posts.hashtag_index(
            tag=request.tag,
            before_post_id=request.before_post_id,
            page_size=request.page_size,
            with_author_counts=request.with_author_counts,
        )
        return post_service_pb2.ListHashtagIndexResponse(
            tag=tag,
            entries=[
                post_service_pb2.HashtagIndexEntry(post_id=p, author_id=a) for p, a in entries
            ],
            author_counts=authors,
        )

    async def SearchPlaces(
        self, request: post_service_pb2.SearchPlacesRequest, context: aio.ServicerContext
    ) -> post_service_pb2.SearchPlacesResponse:
        found, token = await self._posts.search_places(
            viewer=auth.viewer_id(),
            query=request.query,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.SearchPlacesResponse(
            places=[place_message(p) for p in found], next_page_token=token
        )

    async def ListPostsNearLocation(
        self, request: post_service_pb2.ListPostsNearLocationRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListPostsNearLocationResponse:
        viewer = auth.viewer_id()
        order = _ORDERS.get(request.order)
        if order is None:
            order = "unknown"  # the domain names the field and what it accepts
        found, token = await self._posts.posts_near(
            viewer=viewer,
            lat=request.lat if request.HasField("lat") else None,
            lng=request.lng if request.HasField("lng") else None,
            radius_km=request.radius_km,
            order=order,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.ListPostsNearLocationResponse(
            posts=[post_message(v) for v, _ in found],
            distances_km=[d for _, d in found],
            next_page_token=token,
        )

    async def SearchPosts(
        self, request: post_service_pb2.SearchPostsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.SearchPostsResponse:
        views, token = await self._posts.search_posts(
            viewer=auth.viewer_id(),
            query=request.query,
            kind=request.type,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.SearchPostsResponse(
            posts=[post_message(v) for v in views], next_page_token=token
        )

    async def BatchGetPostCounts(
        self, request: post_service_pb2.BatchGetPostCountsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.BatchGetPostCountsResponse:
        auth.current_principal()
        found = await self._posts.post_counts(user_ids=list(request.user_ids))
        return post_service_pb2.BatchGetPostCountsResponse(
            counts=[post_pb2.PostCount(user_id=u, post_count=n) for u, n in found]
        )

    async def ExportPosts(
        self, request: post_service_pb2.ExportPostsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ExportPostsResponse:
        _require_service("export posts")
        page = await self._posts.export_posts(
            after_post_id=request.after_post_id, page_size=request.page_size
        )
        reply = post_service_pb2.ExportPostsResponse()
        for post, counts in page:
            exported = reply.posts.add(
                post_id=post.post_id,
                author_id=post.author_id,
                like_count=counts.like_count,
                comment_count=counts.comment_count,
            )
            exported.created_at.FromDatetime(post.created_at)
        return reply

    async def CreateStory(
        self, request: post_service_pb2.CreateStoryRequest, context: aio.ServicerContext
    ) -> post_service_pb2.CreateStoryResponse:
        view = await self._stories.create_story(
            caller=auth.require_user(),
            media_id=request.media_id,
            caption=request.caption,
            close_friends_only=request.close_friends_only,
        )
        return post_service_pb2.CreateStoryResponse(story=story_message(view))

    async def ListUserStories(
        self, request: post_service_pb2.ListUserStoriesRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListUserStoriesResponse:
        views, token = await self._stories.list_user_stories(
            viewer=auth.viewer_id(),
            user_id=request.user_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.ListUserStoriesResponse(
            stories=[story_message(v) for v in views], next_page_token=token
        )

    async def MarkStorySeen(
        self, request: post_service_pb2.MarkStorySeenRequest, context: aio.ServicerContext
    ) -> post_service_pb2.MarkStorySeenResponse:
        await self._stories.mark_seen(caller=auth.require_user(), story_id=request.story_id)
        return post_service_pb2.MarkStorySeenResponse(story_id=request.story_id, seen=True)

    async def ListStoryViewers(
        self, request: post_service_pb2.ListStoryViewersRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListStoryViewersResponse:
        viewers, token = await self._stories.list_viewers(
            caller=auth.require_user(),
            story_id=request.story_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.ListStoryViewersResponse(
            viewers=[
                post_pb2.StoryViewer(user=v.user, seen_at=convert.timestamp(v.seen_at))
                for v in viewers
            ],
            next_page_token=token,
        )

    async def DeleteStory(
        self, request: post_service_pb2.DeleteStoryRequest, context: aio.ServicerContext
    ) -> post_service_pb2.DeleteStoryResponse:
        await self._stories.delete_story(caller=auth.require_user(), story_id=request.story_id)
        return post_service_pb2.DeleteStoryResponse()

    async def ListStoryArchive(
        self, request: post_service_pb2.ListStoryArchiveRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListStoryArchiveResponse:
        views, token = await self._stories.list_archive(
            caller=auth.require_user(), page_size=request.page_size, page_token=request.page_token
        )
        return post_service_pb2.ListStoryArchiveResponse(
            stories=[story_message(v) for v in views], next_page_token=token
        )

    async def AddCloseFriend(
        self, request: post_service_pb2.AddCloseFriendRequest, context: aio.ServicerContext
    ) -> post_service_pb2.AddCloseFriendResponse:
        await self._stories.add_close_friend(caller=auth.require_user(), user_id=request.user_id)
        return post_service_pb2.AddCloseFriendResponse(user_id=request.user_id)

    async def RemoveCloseFriend(
        self, request: post_service_pb2.RemoveCloseFriendRequest, context: aio.ServicerContext
    ) -> post_service_pb2.RemoveCloseFriendResponse:
        await self._stories.remove_close_friend(caller=auth.require_user(), user_id=request.user_id)
        return post_service_pb2.RemoveCloseFriendResponse(user_id=request.user_id)

    async def ListCloseFriends(
        self, request: post_service_pb2.ListCloseFriendsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListCloseFriendsResponse:
        users, token = await self._stories.list_close_friends(
            caller=auth.require_user(), page_size=request.page_size, page_token=request.page_token
        )
        return post_service_pb2.ListCloseFriendsResponse(users=users, next_page_token=token)

    async def BatchGetStoryRings(
        self, request: post_service_pb2.BatchGetStoryRingsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.BatchGetStoryRingsResponse:
        viewer = domain.resolve_viewer(auth.current_principal(), request.viewer_id)
        rings = await self._stories.rings(viewer=viewer, author_ids=list(request.author_ids))
        return post_service_pb2.BatchGetStoryRingsResponse(rings=[ring_message(r) for r in rings])

    async def CreateReel(
        self, request: post_service_pb2.CreateReelRequest, context: aio.ServicerContext
    ) -> post_service_pb2.CreateReelResponse:
        caller = auth.require_user()
        location = None
        if request.HasField("location"):
            location = domain.LocationInput(
                name=request.location.name, lat=request.location.lat, lng=request.location.lng
            )
        view = await self._reels.create_reel(
            caller=caller,
            media_id=request.media_id,
            caption=request.caption,
            location=location,
            idempotency_key=request.idempotency_key,
            alt_text=request.alt_text,
        )
        return post_service_pb2.CreateReelResponse(reel=reel_message(view))

    async def ListReelsFeed(
        self, request: post_service_pb2.ListReelsFeedRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListReelsFeedResponse:
        views, token = await self._reels.feed(
            viewer=auth.require_user(), page_size=request.page_size, page_token=request.page_token
        )
        return post_service_pb2.ListReelsFeedResponse(
            reels=[reel_message(v) for v in views], next_page_token=token
        )

    async def RecordReelView(
        self, request: post_service_pb2.RecordReelViewRequest, context: aio.ServicerContext
    ) -> post_service_pb2.RecordReelViewResponse:
        recorded = await self._reels.record_view(
            caller=auth.require_user(), post_id=request.post_id, watched_ms=request.watched_ms
        )
        return post_service_pb2.RecordReelViewResponse(
            post_id=recorded.post_id,
            view_count=recorded.view_count,
            counted=recorded.counted,
            completed=recorded.completed,
        )

    async def ListUserReels(
        self, request: post_service_pb2.ListUserReelsRequest, context: aio.ServicerContext
    ) -> post_service_pb2.ListUserReelsResponse:
        views, token = await self._reels.list_user_reels(
            viewer=auth.viewer_id(),
            user_id=request.user_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return post_service_pb2.ListUserReelsResponse(
            reels=[reel_message(v) for v in views], next_page_token=token
        )

    # -- moderation (internal: user_svc's reports and moderators) ----------------------------

    async def GetModerationTarget(
        self, request: post_service_pb2.GetModerationTargetRequest, context: aio.ServicerContext
    ) -> post_service_pb2.GetModerationTargetResponse:
        auth.current_principal()
        owner = await self._owner(request.target_type, request.target_id, request.viewer_id)
        return post_service_pb2.GetModerationTargetResponse(owner_id=owner)

    async def _owner(self, target_type: int, target_id: int, viewer_id: int) -> int:
        if target_type == user_pb2.REPORT_TARGET_TYPE_POST:
            return await self._posts.post_owner(post_id=target_id, viewer_id=viewer_id)
        if target_type == user_pb2.REPORT_TARGET_TYPE_COMMENT:
            return await self._posts.comment_owner(comment_id=target_id, viewer_id=viewer_id)
        if target_type == user_pb2.REPORT_TARGET_TYPE_STORY:
            return await self._stories.story_owner(story_id=target_id, viewer_id=viewer_id)
        raise InvalidArgument.field("target_type", "must be POST, COMMENT or STORY")

    async def HideFromViewer(
        self, request: post_service_pb2.HideFromViewerRequest, context: aio.ServicerContext
    ) -> post_service_pb2.HideFromViewerResponse:
        auth.current_principal()
        if request.viewer_id <= 0:
            raise InvalidArgument.field("viewer_id", "must be a positive id")
        owner = await self._owner(request.target_type, request.target_id, 0)
        if request.target_type == user_pb2.REPORT_TARGET_TYPE_STORY:
            await self._stories.hide(
                viewer_id=request.viewer_id, story_id=request.target_id, owner_id=owner
            )
        else:
            kind = "post" if request.target_type == user_pb2.REPORT_TARGET_TYPE_POST else "comment"
            await self._posts.hide(
                viewer_id=request.viewer_id,
                target_type=kind,
                target_id=request.target_id,
                owner_id=owner,
            )
        return post_service_pb2.HideFromViewerResponse()

    async def RemoveContent(
        self, request: post_service_pb2.RemoveContentRequest, context: aio.ServicerContext
    ) -> post_service_pb2.RemoveContentResponse:
        auth.current_principal()
        if request.target_type == user_pb2.REPORT_TARGET_TYPE_POST:
            owner = await self._posts.remove_post(post_id=request.target_id)
        elif request.target_type == user_pb2.REPORT_TARGET_TYPE_COMMENT:
            owner = await self._posts.remove_comment(comment_id=request.target_id)
        elif request.target_type == user_pb2.REPORT_TARGET_TYPE_STORY:
            owner = await self._stories.remove_story(story_id=request.target_id)
        else:
            raise InvalidArgument.field("target_type", "must be POST, COMMENT or STORY")
        return post_service_pb2.RemoveContentResponse(owner_id=owner)


async def _engagement_store(runtime: ServiceRuntime, settings: PostSettings) -> EngagementStore:
    """Return the relational engagement store, or the Cassandra one when SHUTTER_CASSANDRA_HOSTS
    is set (closed, and its count repairs stopped, with the service)."""
    if not settings.cassandra_hosts:
        return store.SqlEngagementStore(runtime.engine, shards=settings.counter_shards)
    # Imported here: the driver (and its I/O thread) only when a cluster is configured.
    from post_svc.cassandra_store import CassandraEngagementStore, CassandraUnreachable

    try:
        cassandra = await CassandraEngagementStore.open(settings)
    except CassandraUnreachable as exc:
        raise StartupError(f"{NAME} {exc}") from None
    runtime.close_on_stop(cassandra.close)
    interval = settings.cassandra_repair_interval_seconds
    runtime.run_in_background(
        lambda: cassandra.run_repairs(interval_seconds=interval), name="cassandra-count-repairs"
    )
    return cassandra


async def create_post_service(settings: PostSettings) -> Service:
    """Open the database (migrated to the newest schema), wire the rules, the outbox relay and the
    clean-up consumer, and start serving."""
    runtime = await ServiceRuntime.open(
        NAME,
        settings,
        database_url=settings.database_url,
        replica_url=settings.database_replica_url,
        outbox_table=store.outbox,
    )
    try:
        channels, timeout = runtime.channels, settings.peer_deadline_seconds
        post_store = store.SqlPostStore(
            runtime.engine, outbox=runtime.outbox(), replica=runtime.replica
        )
        privacy = peers.GrpcPrivacy(
            graph_service_pb2_grpc.GraphServiceStub(channels.channel("graph_svc")),
            timeout=timeout,
        )
        directory = peers.GrpcDirectory(
            user_service_pb2_grpc.UserServiceStub(channels.channel("user_svc")),
            timeout=timeout,
            cache_seconds=settings.author_cache_seconds,
            cache_entries=settings.hydration_cache_entries,
        )
        media = peers.GrpcMediaCatalog(
            media_service_pb2_grpc.MediaServiceStub(channels.channel("media_svc")),
            service_token=runtime.identity,
            timeout=timeout,
            cache_seconds=settings.media_cache_seconds,
            cache_entries=settings.hydration_cache_entries,
        )
        engagement = await _engagement_store(runtime, settings)
        reels_kept = reel_store.SqlReelStore(runtime.engine)
        posts = domain.Posts(
            post_store,
            engagement,
            privacy=privacy,
            directory=directory,
            media=media,
            ids=runtime.ids,
            feed=feed_sync(
                channels.channel("feed_svc"),
                service_token=runtime.identity,
                timeout=settings.feed_sync_deadline_seconds,
            ),
            reel_views=reels_kept,
        )
        story_rules = stories.Stories(
            post_store,
            store.SqlStoryStore(runtime.engine),
            privacy=privacy,
            directory=directory,
            media=media,
            ids=runtime.ids,
        )
        reel_rules = reels.Reels(
            posts,
            post_store,
            reels_kept,
            engagement,
            privacy=privacy,
            relations=peers.GrpcRelations(
                graph_service_pb2_grpc.GraphServiceStub(channels.channel("graph_svc")),
                timeout=timeout,
            ),
            media=media,
            ids=runtime.ids,
        )
        servicer = PostServicer(posts, story_rules, reel_rules)
        await runtime.consume(
            group=events.CLEANUP_GROUP,
            handler=events.cleanup_handler(posts, story_rules),
            event_types=events.CONSUMED,
        )
        await runtime.consume(
            group="post_svc" + deletion.GROUP_SUFFIX,
            handler=deletion.handler(
                deletion.DeletionLedger(runtime.engine, store.deletion_ledger),
                [*posts.deletion_steps(), *story_rules.deletion_steps()],
            ),
            event_types={deletion.ACCOUNT_DELETED},
        )
        await runtime.consume(
            group=events.authors_group(settings.id_shard),
            handler=events.author_handler(directory),
            event_types=set(events.AUTHOR_EVENTS),
        )
        await runtime.consume(
            group=events.BLOCKS_GROUP,
            handler=events.block_handler(posts),
            event_types={events.BLOCKED},
        )
        return await runtime.serve(
            register=lambda server: post_service_pb2_grpc.add_PostServiceServicer_to_server(
                servicer, server
            ),
            service_names=[post_service_pb2.DESCRIPTOR.services_by_name["PostService"].full_name],
        )
    except BaseException:
        await runtime.close()
        raise
