"""message_svc's domain errors, each with a stable reason.

- ConversationNotFound (NOT_FOUND, CONVERSATION_NOT_FOUND): no such conversation, or the caller is
  not one of its members; the two are told apart for nobody.
- MessageNotFound (NOT_FOUND, MESSAGE_NOT_FOUND): no such message the caller may see.
- UserNotFound (NOT_FOUND, USER_NOT_FOUND): an account to talk with does not exist.
- MediaNotFound (NOT_FOUND, MEDIA_NOT_FOUND): the media does not exist or is not the sender's.
- PostNotFound (NOT_FOUND, POST_NOT_FOUND): the post does not exist or the sender may not see it.
- MediaNotReady (INVALID_ARGUMENT, MEDIA_NOT_READY): the media is still being processed (or
  failed).
- CannotMessage (PERMISSION_DENIED, CANNOT_MESSAGE_USER): one of the two blocked the other; which
  one is not said.
- NotMessageSender (PERMISSION_DENIED, NOT_MESSAGE_SENDER): unsending someone else's message.
- HasLeft (FAILED_PRECONDITION, HAS_LEFT): writing to a group the caller left.
- NotAGroup (FAILED_PRECONDITION, NOT_A_GROUP): adding to or leaving a 1:1.
- GroupFull (FAILED_PRECONDITION, GROUP_FULL): a group would pass its member limit.
- TooManyStreams (RESOURCE_EXHAUSTED, TOO_MANY_STREAMS): the caller holds the maximum of streams.
- TooManyRequests (RESOURCE_EXHAUSTED, MESSAGE_REQUESTS_LIMITED): the caller started as many
  message requests as their limit allows for now; metadata `retry_after_seconds` says when the
  next one may start (the edge's Retry-After).

Bad fields raise mesh.errors.InvalidArgument naming the field; peers out of reach raise
mesh.errors.Unavailable (writes fail closed).
"""

from __future__ import annotations

from mesh.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
)


class ConversationNotFound(NotFound):
    reason = "CONVERSATION_NOT_FOUND"


class MessageNotFound(NotFound):
    reason = "MESSAGE_NOT_FOUND"


class UserNotFound(NotFound):
    reason = "USER_NOT_FOUND"


class MediaNotFound(NotFound):
    reason = "MEDIA_NOT_FOUND"


class PostNotFound(NotFound):
    reason = "POST_NOT_FOUND"


class MediaNotReady(InvalidArgument):
    reason = "MEDIA_NOT_READY"


class CannotMessage(PermissionDenied):
    reason = "CANNOT_MESSAGE_USER"


class NotMessageSender(PermissionDenied):
    reason = "NOT_MESSAGE_SENDER"


class HasLeft(FailedPrecondition):
    reason = "HAS_LEFT"


class NotAGroup(FailedPrecondition):
    reason = "NOT_A_GROUP"


class GroupFull(FailedPrecondition):
    reason = "GROUP_FULL"


class TooManyStreams(ResourceExhausted):
    reason = "TOO_MANY_STREAMS"


class TooManyRequests(ResourceExhausted):
    reason = "MESSAGE_REQUESTS_LIMITED"
