"""The Post proto of a post view: the servicer's answers and PostCreated's copy of the post."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesh import convert
from shutter.media.v1 import media_pb2
from shutter.post.v1 import post_pb2

if TYPE_CHECKING:
    from post_svc.domain import PostView


def _described(media: media_pb2.Media, alt_text: str) -> media_pb2.Media:
    """Return the media with the post's alt text (a copy: `media` may be a cached answer)."""
    if not alt_text:
        return media
    described = media_pb2.Media()
    described.CopyFrom(media)
    described.alt_text = alt_text
    return described


def post_message(view: PostView) -> post_pb2.Post:
    """Return the Post proto of a post as its viewer sees it."""
    record = view.record
    message = post_pb2.Post(
        post_id=record.post_id,
        user=view.author,
        media=[_described(m, record.alt_text_of(m.media_id)) for m in view.media],
        caption=record.caption,
        hashtags=record.hashtags,
        mentions=[m.username for m in record.mentions],
        like_count=view.counts.like_count,
        view_count=view.view_count,
        comment_count=view.counts.comment_count,
        created_at=convert.timestamp(record.created_at),
        has_liked=view.has_liked,
        has_saved=view.has_saved,
        place_id=record.place_id or 0,
        kind=post_pb2.POST_KIND_REEL if record.kind == "reel" else post_pb2.POST_KIND_POST,
    )
    if record.location is not None:
        message.location.CopyFrom(
            post_pb2.Location(
                name=record.location.name,
                lat=record.location.point.lat,
                lng=record.location.point.lng,
            )
        )
    return message


def shared_message(view: PostView) -> post_pb2.Post:
    """Return the part of a post that is the same for every viewer: the author as its id
    only, no counts, no viewer flags (what PostCreated carries for feed_svc's read model)."""
    message = post_message(view)
    message.user.Clear()
    message.user.user_id = view.record.author_id
    message.like_count = 0
    message.comment_count = 0
    message.view_count = 0
    message.has_liked = False
    message.has_saved = False
    return message
