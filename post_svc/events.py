"""What post_svc publishes through its outbox, and what it consumes: its own deletions, blocks.

Published, in the transaction of the change (see domain.Posts): PostCreated, PostDeleted,
PostLiked, PostUnliked, CommentCreated, CommentDeleted, UserMentioned (one per account a post
or comment mentions), StoryCreated (with the accounts its caption mentions) and StoryDeleted
(see stories.Stories). Consumed: graph_svc's Blocked, to take each one's likes and
comments off the other's posts (each with its PostUnliked or CommentDeleted); post_svc's own
PostDeleted, to delete the post's media in media_svc and purge its likes and comments after the
deletion committed, and its own StoryDeleted, to delete the story's media. Retried by the bus
until they succeed, and idempotent, so a redelivered event does no harm. Every replica also
consumes user_svc's account changes in a group of its own, to forget them in its remembered
author summaries (author_handler).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mesh import convert, forgetting
from shutter.events.v1 import envelope_pb2, graph_events_pb2, post_events_pb2
from shutter.post.v1 import post_pb2

if TYPE_CHECKING:
    from post_svc.domain import Posts
    from post_svc.store import CommentRecord, PostRecord, StoryRecord
    from post_svc.stories import Stories

log = logging.getLogger("shutter.post_svc.events")

PRODUCER = "post_svc"
POST_DELETED = post_events_pb2.PostDeleted.DESCRIPTOR.full_name
STORY_DELETED = post_events_pb2.StoryDeleted.DESCRIPTOR.full_name
CONSUMED = frozenset({POST_DELETED, STORY_DELETED})
CLEANUP_GROUP = "post_svc.cleanup"
BLOCKED = graph_events_pb2.Blocked.DESCRIPTOR.full_name
BLOCKS_GROUP = "post_svc.blocks"
# What changes an account's summary (or whether it exists): each replica's remembered summaries
# forget the account on these (peers.GrpcDirectory).
AUTHOR_EVENTS = forgetting.ACCOUNT_CHANGES
AUTHORS_GROUP = "post_svc.authors"

Handler = Callable[[envelope_pb2.EventEnvelope], Awaitable[None]]


def authors_group(id_shard: int) -> str:
    """Return the consumer group in which the replica with this id shard forgets changed
    accounts' summaries (mesh.forgetting)."""
    return forgetting.replica_group(AUTHORS_GROUP, id_shard)


def author_handler(directory: forgetting.Forgets) -> Handler:
    """Return the consumer that forgets a changed account's remembered summary in this
    replica."""
    return forgetting.handler(directory, AUTHOR_EVENTS)


def post_created(
    post: PostRecord, *, author_is_private: bool, shared: post_pb2.Post | None = None
) -> post_events_pb2.PostCreated:
    """Return the event of a new post; `shared` is the post as every viewer sees it (only when
    its media are final), for feed_svc to keep without reading the post back."""
    return post_events_pb2.PostCreated(
        post_id=post.post_id,
        author_id=post.author_id,
        created_at=convert.timestamp(post.created_at),
        author_is_private=author_is_private,
        media_ids=post.media_ids,
        hashtags=post.hashtags,
        mentioned_user_ids=[m.user_id for m in post.mentions],
        place_id=post.place_id or 0,
        post=shared,
    )


def post_deleted(post: PostRecord) -> post_events_pb2.PostDeleted:
    """Return the event of a deleted post."""
    return post_events_pb2.PostDeleted(
        post_id=post.post_id,
        author_id=post.author_id,
        created_at=convert.timestamp(post.created_at),
        media_ids=post.media_ids,
        hashtags=post.hashtags,
    )


def post_liked(post: PostRecord, *, liker_id: int, at: datetime) -> post_events_pb2.PostLiked:
    """Return the event of a new like."""
    return post_events_pb2.PostLiked(
        post_id=post.post_id,
        post_author_id=post.author_id,
        liker_id=liker_id,
        liked_at=convert.timestamp(at),
    )


def post_unliked(post: PostRecord, *, liker_id: int) -> post_events_pb2.PostUnliked:
    """Return the event of a like taken back."""
    return post_events_pb2.PostUnliked(
        post_id=post.post_id, post_author_id=post.author_id, liker_id=liker_id
    )


def reel_viewed(post: PostRecord, *, viewer_id: int, at: datetime) -> post_events_pb2.ReelViewed:
    """Return the event of a reel's view counted for the day."""
    return post_events_pb2.ReelViewed(
        post_id=post.post_id,
        post_author_id=post.author_id,
        viewer_id=viewer_id,
        viewed_at=convert.timestamp(at),
    )


def post_saved(*, post_id: int, user_id: int) -> post_events_pb2.PostSaved:
    """Return the PostSaved event of a new save."""
    return post_events_pb2.PostSaved(post_id=post_id, user_id=user_id)


def post_unsaved(*, post_id: int, user_id: int) -> post_events_pb2.PostUnsaved:
    """Return the PostUnsaved event of a save taken back."""
    return post_events_pb2.PostUnsaved(post_id=post_id, user_id=user_id)


def comment_created(
    comment: CommentRecord, *, post_author_id: int, parent_author_id: int
) -> post_events_pb2.CommentCreated:
    """Return the event of a new comment or reply."""
    return post_events_pb2.CommentCreated(
        comment_id=comment.comment_id,
        post_id=comment.post_id,
        post_author_id=post_author_id,
        commenter_id=comment.author_id,
        parent_comment_id=comment.parent_comment_id,
        parent_comment_author_id=parent_author_id,
        text=comment.text,
        mentioned_user_ids=[m.user_id for m in comment.mentions],
        created_at=convert.timestamp(comment.created_at),
    )


def comment_deleted(
    comment: CommentRecord, *, deleted_by: int, reply_ids: Sequence[int]
) -> post_events_pb2.CommentDeleted:
    """Return the event of a deleted comment and its replies."""
    return post_events_pb2.CommentDeleted(
        comment_id=comment.comment_id,
        post_id=comment.post_id,
        commenter_id=comment.author_id,
        deleted_by_id=deleted_by,
        reply_ids=reply_ids,
    )


def user_mentioned(
    *,
    mentioned_user_id: int,
    author_id: int,
    post_id: int,
    post_author_id: int,
    comment_id: int,
    created_at: datetime,
) -> post_events_pb2.UserMentioned:
    """Return the event of one account mentioned in a caption (comment_id 0) or a comment."""
    return post_events_pb2.UserMentioned(
        mentioned_user_id=mentioned_user_id,
        author_id=author_id,
        post_id=post_id,
        post_author_id=post_author_id,
        comment_id=comment_id,
        created_at=convert.timestamp(created_at),
    )


def story_created(story: StoryRecord, *, author_is_private: bool) -> post_events_pb2.StoryCreated:
    """Return the event of a new story."""
    return post_events_pb2.StoryCreated(
        story_id=story.story_id,
        author_id=story.author_id,
        mentioned_user_ids=[m.user_id for m in story.mentions if m.user_id != story.author_id],
        created_at=convert.timestamp(story.created_at),
        expires_at=convert.timestamp(story.expires_at),
        author_is_private=author_is_private,
        close_friends_only=story.close_friends_only,
    )


def story_deleted(story: StoryRecord) -> post_events_pb2.StoryDeleted:
    """Return the event of a story its author deleted."""
    return post_events_pb2.StoryDeleted(
        story_id=story.story_id, author_id=story.author_id, media_id=story.media_id
    )


def cleanup_handler(posts: Posts, stories: Stories) -> Handler:
    """Return the consumer of post_svc's own PostDeleted and StoryDeleted: delete the media,
    purge a post's engagement."""

    async def handle(envelope: envelope_pb2.EventEnvelope) -> None:
        post, story = post_events_pb2.PostDeleted(), post_events_pb2.StoryDeleted()
        if envelope.producer != PRODUCER:
            log.warning("ignoring event %s of unexpected origin", envelope.event_id)
        elif envelope.payload.Unpack(post):
            await posts.clean_up_deleted(post_id=post.post_id, media_ids=list(post.media_ids))
        elif envelope.payload.Unpack(story):
            await stories.clean_up_deleted(media_id=story.media_id)
        else:
            # Subscribed to two types of our own; anything else is a routing mistake, not ours.
            log.warning("ignoring event %s of unexpected type", envelope.event_id)

    return handle


def block_handler(posts: Posts) -> Handler:
    """Return the consumer of graph_svc's Blocked: a block takes each one's likes and
    comments off the other's posts, so counts and lists (which already hide the other) agree."""

    async def handle(envelope: envelope_pb2.EventEnvelope) -> None:
        blocked = graph_events_pb2.Blocked()
        if envelope.payload.Unpack(blocked):
            await posts.drop_likes_after_block(
                blocker_id=blocked.blocker_id, blocked_id=blocked.blocked_id
            )
            await posts.drop_likes_after_block(
                blocker_id=blocked.blocked_id, blocked_id=blocked.blocker_id
            )
            # Each one's comments on the other's posts go too: lists hid them, counts did not.
            await posts.drop_comments_after_block(
                blocker_id=blocked.blocker_id, blocked_id=blocked.blocked_id
            )
            await posts.drop_comments_after_block(
                blocker_id=blocked.blocked_id, blocked_id=blocked.blocker_id
            )
        else:
            log.warning("ignoring event %s of unexpected type", envelope.event_id)

    return handle


def post_hidden_from_viewer(
    *, post_id: int, viewer_id: int
) -> post_events_pb2.PostHiddenFromViewer:
    """Return the event of a post a viewer reported and no longer sees."""
    return post_events_pb2.PostHiddenFromViewer(post_id=post_id, viewer_id=viewer_id)
