"""What feed_svc consumes (it publishes nothing): posts, engagement and graph changes.

Consumed in one group, `feed_svc`:

- post_svc: PostCreated (record, fan out or mark a celebrity, into its hashtags' indexes),
  PostDeleted (out of every feed and hashtag index),
  PostLiked, PostUnliked, CommentCreated, CommentDeleted (engagement and affinity counts,
  deduplicated by event id), ReelViewed (a reel's view count, the same way).
- post_svc: PostSaved, PostUnsaved (the saver's flag in the read model).
- post_svc: PostHiddenFromViewer (a reported post leaves its reporter's feed for good).
- user_svc: UserProfileUpdated (the author summary posts are served with, and the profile),
  AccountSuspended, AccountUnsuspended, AccountDeleted (the profile is read again: user_svc
  hides a suspended or deleted account).
- media_svc: MediaDeleted (out of the post the read model shows it in), MediaLadderFinished (that
  post read again from post_svc: the video's HLS ladder and status changed).
- graph_svc: every follow, follow request, block and mute change also drops the two accounts'
  cached relationship (the read model's privacy answers and profiles), a follow made or gone
  (block included) their profiles (the counts); then Followed (merge the followee's recent
  posts), Unfollowed and Muted (take the other account's posts out), Blocked (take each one's
  posts out of the other's feed and hide each from the other in the read model), Unblocked (lift
  that), Unmuted (drop the feed so it is rebuilt with the unmuted account's posts).

Every handler is idempotent: delivery is at least once. A batch of events read together goes to
`feed_batch_handler`, which applies runs of follows and runs of new posts in one step each,
and all the batch's engagement events in one transaction (the seeding of a real graph is tens of
thousands of follows, then posts, likes and comments). The same handler also serves
ApplyEvents, which services call right after a commit whose effect their caller must see on the
next read (`sync_handler`): the later delivery of those events then changes nothing, and an
engagement event ApplyEvents applied in full is skipped (its mark in the read model).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC
from typing import Any

from feed_svc.domain import Created, Engaged, Feeds
from mesh.bus import BatchHandler, event_type, unpack
from shutter.events.v1 import (
    envelope_pb2,
    graph_events_pb2,
    media_events_pb2,
    post_events_pb2,
    user_events_pb2,
)
from shutter.post.v1 import post_pb2

log = logging.getLogger("shutter.feed_svc.events")

GROUP = "feed_svc"

Handler = Callable[[envelope_pb2.EventEnvelope], Awaitable[None]]

_POST = post_events_pb2
_GRAPH = graph_events_pb2
CONSUMED = frozenset(
    m.DESCRIPTOR.full_name
    for m in (
        _POST.PostCreated,
        _POST.PostDeleted,
        _POST.PostLiked,
        _POST.PostUnliked,
        _POST.CommentCreated,
        _POST.CommentDeleted,
        _POST.ReelViewed,
        _POST.PostSaved,
        _POST.PostUnsaved,
        _POST.PostHiddenFromViewer,
        user_events_pb2.UserProfileUpdated,
        user_events_pb2.AccountSuspended,
        user_events_pb2.AccountUnsuspended,
        user_events_pb2.AccountDeleted,
        media_events_pb2.MediaDeleted,
        media_events_pb2.MediaLadderFinished,
        _GRAPH.Followed,
        _GRAPH.Unfollowed,
        _GRAPH.FollowRequested,
        _GRAPH.FollowRequestEnded,
        _GRAPH.Blocked,
        _GRAPH.Unblocked,
        _GRAPH.Muted,
        _GRAPH.Unmuted,
    )
)


def feed_handler(feeds: Feeds, *, from_bus: bool = True) -> Handler:
    """Return the consumer of every event feeds react to; `from_bus` skips what ApplyEvents
    already did (an engagement event applied in full, a new post's read-model part), by the
    mark it left (ApplyEvents' own handler is built without it)."""

    async def handle(envelope: envelope_pb2.EventEnvelope) -> None:
        kind = event_type(envelope)
        if kind == _POST.PostCreated.DESCRIPTOR.full_name:
            created = unpack(envelope, _POST.PostCreated)
            await feeds.post_created(
                post_id=created.post_id,
                author_id=created.author_id,
                created_at=created.created_at.ToDatetime(tzinfo=UTC),
                author_is_private=created.author_is_private,
                hashtags=list(created.hashtags),
                shared=shared_post(created),
                event=(envelope.producer, envelope.event_id) if from_bus else None,
            )
        elif kind == _POST.PostDeleted.DESCRIPTOR.full_name:
            deleted = unpack(envelope, _POST.PostDeleted)
            await feeds.post_deleted(
                post_id=deleted.post_id,
                author_id=deleted.author_id,
                created_at=deleted.created_at.ToDatetime(tzinfo=UTC),
                hashtags=list(deleted.hashtags),
            )
        elif kind in _ENGAGEMENT:
            await _engagement(feeds, envelope, kind, unless_applied=from_bus)
        elif kind == _POST.PostSaved.DESCRIPTOR.full_name:
            save = unpack(envelope, _POST.PostSaved)
            await feeds.saved(
                event_id=envelope.event_id, post_id=save.post_id, user_id=save.user_id, saved=True
            )
        elif kind == _POST.PostUnsaved.DESCRIPTOR.full_name:
            unsave = unpack(envelope, _POST.PostUnsaved)
            await feeds.saved(
                event_id=envelope.event_id,
                post_id=unsave.post_id,
                user_id=unsave.user_id,
                saved=False,
            )
        elif kind == _POST.PostHiddenFromViewer.DESCRIPTOR.full_name:
            hidden = unpack(envelope, _POST.PostHiddenFromViewer)
            await feeds.post_hidden(viewer_id=hidden.viewer_id, post_id=hidden.post_id)
        elif kind == user_events_pb2.UserProfileUpdated.DESCRIPTOR.full_name:
            updated = unpack(envelope, user_events_pb2.UserProfileUpdated)
            await feeds.profile_changed(user_id=updated.user_id)
        elif kind in _ACCOUNT:
            await feeds.account_changed(user_id=_account_of(envelope, kind))
        elif kind == media_events_pb2.MediaDeleted.DESCRIPTOR.full_name:
            await feeds.media_deleted(
                media_id=unpack(envelope, media_events_pb2.MediaDeleted).media_id
            )
        elif kind == media_events_pb2.MediaLadderFinished.DESCRIPTOR.full_name:
            finished = unpack(envelope, media_events_pb2.MediaLadderFinished)
            await feeds.media_changed(media_id=finished.media_id, owner_id=finished.owner_user_id)
        elif kind == _GRAPH.Followed.DESCRIPTOR.full_name:
            followed = unpack(envelope, _GRAPH.Followed)
            await feeds.relation_changed(followed.follower_id, followed.followee_id, counts=True)
            await feeds.followed(follower_id=followed.follower_id, followee_id=followed.followee_id)
        elif kind == _GRAPH.Unfollowed.DESCRIPTOR.full_name:
            gone = unpack(envelope, _GRAPH.Unfollowed)
            await feeds.relation_changed(gone.follower_id, gone.followee_id, counts=True)
            await feeds.separated(viewer_id=gone.follower_id, author_id=gone.followee_id)
        elif kind == _GRAPH.Blocked.DESCRIPTOR.full_name:
            blocked = unpack(envelope, _GRAPH.Blocked)
            # The block ended any follow between the two: their counts changed too.
            await feeds.relation_changed(blocked.blocker_id, blocked.blocked_id, counts=True)
            await feeds.blocked(blocker_id=blocked.blocker_id, blocked_id=blocked.blocked_id)
        elif kind == _GRAPH.FollowRequested.DESCRIPTOR.full_name:
            asked = unpack(envelope, _GRAPH.FollowRequested)
            await feeds.relation_changed(asked.requester_id, asked.target_id)
        elif kind == _GRAPH.FollowRequestEnded.DESCRIPTOR.full_name:
            ended = unpack(envelope, _GRAPH.FollowRequestEnded)
            await feeds.relation_changed(ended.requester_id, ended.target_id)
        elif kind == _GRAPH.Unblocked.DESCRIPTOR.full_name:
            lifted = unpack(envelope, _GRAPH.Unblocked)
            await feeds.relation_changed(lifted.blocker_id, lifted.blocked_id)
            await feeds.unblocked(blocker_id=lifted.blocker_id, blocked_id=lifted.blocked_id)
        elif kind == _GRAPH.Muted.DESCRIPTOR.full_name:
            muted = unpack(envelope, _GRAPH.Muted)
            await feeds.relation_changed(muted.muter_id, muted.muted_id)
            await feeds.separated(viewer_id=muted.muter_id, author_id=muted.muted_id)
        elif kind == _GRAPH.Unmuted.DESCRIPTOR.full_name:
            unmuted = unpack(envelope, _GRAPH.Unmuted)
            await feeds.relation_changed(unmuted.muter_id, unmuted.muted_id)
            await feeds.forget(viewer_id=unmuted.muter_id)
        else:
            log.warning("ignoring event %s of unexpected type %s", envelope.event_id, kind)

    return handle


def feed_batch_handler(feeds: Feeds) -> BatchHandler:
    """Return the consumer of a batch of events (mesh.bus): each run of consecutive follows is
    applied in one step (Feeds.followed_many), each run of consecutive new posts in one step
    (Feeds.posts_created), every engagement event of the batch in one step after the rest
    (Feeds.engaged_many: they commute with every other event), every other event on its own,
    all in the order they came, so an unfollow after a follow is still applied after it."""
    handle = feed_handler(feeds)

    async def handle_batch(envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        follows: list[tuple[int, int]] = []
        created: list[Created] = []
        engaged: list[Engaged] = []

        async def flush() -> None:
            if follows:
                await feeds.relations_changed(follows)
                await feeds.followed_many(follows)
                follows.clear()
            if created:
                await feeds.posts_created(created)
                created.clear()

        for envelope in envelopes:
            kind = event_type(envelope)
            if kind in _ENGAGEMENT:
                engaged.append(engagement_of(envelope, kind))
                continue
            if kind == _FOLLOWED:
                if created:
                    await flush()
                followed = unpack(envelope, _GRAPH.Followed)
                follows.append((followed.follower_id, followed.followee_id))
                continue
            if kind == _CREATED:
                if follows:
                    await flush()
                made = unpack(envelope, _POST.PostCreated)
                created.append(
                    Created(
                        post_id=made.post_id,
                        author_id=made.author_id,
                        created_at=made.created_at.ToDatetime(tzinfo=UTC),
                        author_is_private=made.author_is_private,
                        hashtags=tuple(made.hashtags),
                        shared=shared_post(made),
                        event=(envelope.producer, envelope.event_id),
                    )
                )
                continue
            await flush()
            await handle(envelope)
        await flush()
        await feeds.engaged_many(engaged)

    return handle_batch


def sync_handler(feeds: Feeds) -> Callable[[envelope_pb2.EventEnvelope], Awaitable[bool]]:
    """Return what ApplyEvents runs for one event: the consumer's handling, but for a deleted
    post only its tombstone and its author's grid, for a new post only the projection and its
    author's grid (fan-out and the removal from followers' feeds are the bus's to do); False for
    an event feed_svc does not consume."""
    handle = feed_handler(feeds, from_bus=False)

    async def apply(envelope: envelope_pb2.EventEnvelope) -> bool:
        kind = event_type(envelope)
        if kind not in CONSUMED:
            return False
        if kind == _POST.PostDeleted.DESCRIPTOR.full_name:
            deleted = unpack(envelope, _POST.PostDeleted)
            await feeds.post_gone(
                post_id=deleted.post_id,
                author_id=deleted.author_id,
                created_at=deleted.created_at.ToDatetime(tzinfo=UTC),
                hashtags=list(deleted.hashtags),
            )
        elif kind == _POST.PostCreated.DESCRIPTOR.full_name:
            created = unpack(envelope, _POST.PostCreated)
            await feeds.post_published(
                post_id=created.post_id,
                author_id=created.author_id,
                created_at=created.created_at.ToDatetime(tzinfo=UTC),
                author_is_private=created.author_is_private,
                hashtags=list(created.hashtags),
                shared=shared_post(created),
                event=(envelope.producer, envelope.event_id),
            )
        else:
            await handle(envelope)
        return True

    return apply


def shared_post(created: post_events_pb2.PostCreated) -> post_pb2.Post | None:
    """Return the event's copy of the new post as every viewer sees it, or None when it
    carries none (media not final, or an event older than the field) or one of another post."""
    if not created.HasField("post") or created.post.post_id != created.post_id:
        return None
    if created.post.user.user_id != created.author_id:
        return None
    return created.post


_FOLLOWED = _GRAPH.Followed.DESCRIPTOR.full_name
_ACCOUNT_EVENTS = (
    user_events_pb2.AccountSuspended,
    user_events_pb2.AccountUnsuspended,
    user_events_pb2.AccountDeleted,
)
_ACCOUNT = {m.DESCRIPTOR.full_name: m for m in _ACCOUNT_EVENTS}


def _account_of(envelope: envelope_pb2.EventEnvelope, kind: str) -> int:
    """Return the account a suspension, its end or a deletion names."""
    event: Any = unpack(envelope, _ACCOUNT[kind])
    return int(event.user_id)


_CREATED = _POST.PostCreated.DESCRIPTOR.full_name
_ENGAGEMENT = frozenset(
    m.DESCRIPTOR.full_name
    for m in (
        _POST.PostLiked,
        _POST.PostUnliked,
        _POST.CommentCreated,
        _POST.CommentDeleted,
        _POST.ReelViewed,
    )
)


def engagement_of(envelope: envelope_pb2.EventEnvelope, kind: str) -> Engaged:
    """Return what an engagement event (one of _ENGAGEMENT) counts."""

    def item(
        post_id: int, author_id: int, actor_id: int, likes: int, comments: int, views: int = 0
    ) -> Engaged:
        return Engaged(
            producer=envelope.producer,
            event_id=envelope.event_id,
            post_id=post_id,
            author_id=author_id,
            actor_id=actor_id,
            likes=likes,
            comments=comments,
            views=views,
        )

    if kind == _POST.PostLiked.DESCRIPTOR.full_name:
        liked = unpack(envelope, _POST.PostLiked)
        return item(liked.post_id, liked.post_author_id, liked.liker_id, 1, 0)
    if kind == _POST.PostUnliked.DESCRIPTOR.full_name:
        unliked = unpack(envelope, _POST.PostUnliked)
        return item(unliked.post_id, unliked.post_author_id, unliked.liker_id, -1, 0)
    if kind == _POST.ReelViewed.DESCRIPTOR.full_name:
        viewed = unpack(envelope, _POST.ReelViewed)
        return item(viewed.post_id, viewed.post_author_id, viewed.viewer_id, 0, 0, 1)
    if kind == _POST.CommentCreated.DESCRIPTOR.full_name:
        comment = unpack(envelope, _POST.CommentCreated)
        return item(comment.post_id, comment.post_author_id, comment.commenter_id, 0, 1)
    removed = unpack(envelope, _POST.CommentDeleted)
    # The author of the post is not in this event; affinity is left as it was.
    return item(removed.post_id, 0, 0, 0, -(1 + len(removed.reply_ids)))


async def _engagement(
    feeds: Feeds, envelope: envelope_pb2.EventEnvelope, kind: str, *, unless_applied: bool
) -> None:
    e = engagement_of(envelope, kind)
    await feeds.engaged(
        producer=e.producer,
        event_id=e.event_id,
        post_id=e.post_id,
        author_id=e.author_id,
        actor_id=e.actor_id,
        likes=e.likes,
        comments=e.comments,
        views=e.views,
        unless_applied=unless_applied,
    )
