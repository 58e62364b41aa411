"""post_svc's domain errors, each with a stable reason.

- PostNotFound (NOT_FOUND, POST_NOT_FOUND): no such post, it was deleted, or the caller may not
  see it (the answers are the same, so a hidden post's existence is never revealed).
- CommentNotFound (NOT_FOUND, COMMENT_NOT_FOUND): no such comment on a post the caller may see,
  or its author and the caller blocked one another.
- AuthorNotFound (NOT_FOUND, USER_NOT_FOUND): no such account, or it and the caller blocked one
  another.
- PrivateAccount (PERMISSION_DENIED, PRIVATE_ACCOUNT): the account is private and the caller is
  not an approved follower.
- NotPostAuthor (PERMISSION_DENIED, NOT_POST_AUTHOR): only a post's author deletes it.
- NotCommentAuthor (PERMISSION_DENIED, NOT_COMMENT_AUTHOR): only a comment's author or the post's
  author deletes a comment.
- NotViewer (PERMISSION_DENIED, NOT_VIEWER): a user asked on behalf of another viewer.
- MediaNotFound (INVALID_ARGUMENT, MEDIA_NOT_FOUND): a media id is unknown, deleted, or not the
  caller's.
- MediaNotReady (FAILED_PRECONDITION, MEDIA_NOT_READY): the media is still processing or failed.
- MediaAlreadyPosted (FAILED_PRECONDITION, MEDIA_ALREADY_POSTED): the media belongs to a post or
  a story.
- ReplyToReply (INVALID_ARGUMENT, REPLY_TO_REPLY): replies go one level deep.
- IdempotencyKeyReused (ALREADY_EXISTS, IDEMPOTENCY_KEY_REUSED): the key made a different post.
- StoryNotFound (NOT_FOUND, STORY_NOT_FOUND): no such story, it was deleted or has expired, or the
  caller may not see it (the answers are the same).
- NotStoryAuthor (PERMISSION_DENIED, NOT_STORY_AUTHOR): only a story's author deletes it or lists
  who saw it.
- ReelNotFound (NOT_FOUND, REEL_NOT_FOUND): no such reel (a feed post is not one), or the caller
  may not see it.
- ReelMediaInvalid (INVALID_ARGUMENT, REEL_NOT_VIDEO | REEL_NOT_VERTICAL | REEL_DURATION_INVALID):
  a reel is one vertical video of 3 to 90 seconds.
- VideoTooLongForPost (INVALID_ARGUMENT, VIDEO_TOO_LONG): a feed post's videos last at most 60 s
  (longer ones, up to 90 s, make reels).
- PageTokenExpired (INVALID_ARGUMENT, PAGE_TOKEN_EXPIRED): a Reels tab token outlived its
  ranking; start again from the first page.
"""

from __future__ import annotations

from mesh.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)


class PostNotFound(NotFound):
    reason = "POST_NOT_FOUND"


class CommentNotFound(NotFound):
    reason = "COMMENT_NOT_FOUND"


class AuthorNotFound(NotFound):
    reason = "USER_NOT_FOUND"


class PrivateAccount(PermissionDenied):
    reason = "PRIVATE_ACCOUNT"


class NotPostAuthor(PermissionDenied):
    reason = "NOT_POST_AUTHOR"


class NotCommentAuthor(PermissionDenied):
    reason = "NOT_COMMENT_AUTHOR"


class NotViewer(PermissionDenied):
    reason = "NOT_VIEWER"


class MediaNotFound(InvalidArgument):
    reason = "MEDIA_NOT_FOUND"


class MediaNotReady(FailedPrecondition):
    reason = "MEDIA_NOT_READY"


class MediaAlreadyPosted(FailedPrecondition):
    reason = "MEDIA_ALREADY_POSTED"


class ReplyToReply(InvalidArgument):
    reason = "REPLY_TO_REPLY"


class IdempotencyKeyReused(AlreadyExists):
    reason = "IDEMPOTENCY_KEY_REUSED"


class StoryNotFound(NotFound):
    reason = "STORY_NOT_FOUND"


class NotStoryAuthor(PermissionDenied):
    reason = "NOT_STORY_AUTHOR"


class ReelNotFound(NotFound):
    reason = "REEL_NOT_FOUND"


class ReelMediaInvalid(InvalidArgument):
    reason = "REEL_MEDIA_INVALID"


class VideoTooLongForPost(InvalidArgument):
    reason = "VIDEO_TOO_LONG"


class PageTokenExpired(InvalidArgument):
    reason = "PAGE_TOKEN_EXPIRED"
