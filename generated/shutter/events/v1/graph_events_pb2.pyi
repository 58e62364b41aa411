from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UnfollowReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UNFOLLOW_REASON_UNSPECIFIED: _ClassVar[UnfollowReason]
    UNFOLLOW_REASON_UNFOLLOWED: _ClassVar[UnfollowReason]
    UNFOLLOW_REASON_REMOVED: _ClassVar[UnfollowReason]
    UNFOLLOW_REASON_BLOCKED: _ClassVar[UnfollowReason]

class FollowRequestEndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FOLLOW_REQUEST_END_REASON_UNSPECIFIED: _ClassVar[FollowRequestEndReason]
    FOLLOW_REQUEST_END_REASON_CANCELLED: _ClassVar[FollowRequestEndReason]
    FOLLOW_REQUEST_END_REASON_DENIED: _ClassVar[FollowRequestEndReason]
    FOLLOW_REQUEST_END_REASON_BLOCKED: _ClassVar[FollowRequestEndReason]
UNFOLLOW_REASON_UNSPECIFIED: UnfollowReason
UNFOLLOW_REASON_UNFOLLOWED: UnfollowReason
UNFOLLOW_REASON_REMOVED: UnfollowReason
UNFOLLOW_REASON_BLOCKED: UnfollowReason
FOLLOW_REQUEST_END_REASON_UNSPECIFIED: FollowRequestEndReason
FOLLOW_REQUEST_END_REASON_CANCELLED: FollowRequestEndReason
FOLLOW_REQUEST_END_REASON_DENIED: FollowRequestEndReason
FOLLOW_REQUEST_END_REASON_BLOCKED: FollowRequestEndReason

class Followed(_message.Message):
    __slots__ = ("follower_id", "followee_id")
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_ID_FIELD_NUMBER: _ClassVar[int]
    follower_id: int
    followee_id: int
    def __init__(self, follower_id: _Optional[int] = ..., followee_id: _Optional[int] = ...) -> None: ...

class Unfollowed(_message.Message):
    __slots__ = ("follower_id", "followee_id", "reason")
    FOLLOWER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    follower_id: int
    followee_id: int
    reason: UnfollowReason
    def __init__(self, follower_id: _Optional[int] = ..., followee_id: _Optional[int] = ..., reason: _Optional[_Union[UnfollowReason, str]] = ...) -> None: ...

class FollowRequested(_message.Message):
    __slots__ = ("requester_id", "target_id")
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    requester_id: int
    target_id: int
    def __init__(self, requester_id: _Optional[int] = ..., target_id: _Optional[int] = ...) -> None: ...

class FollowApproved(_message.Message):
    __slots__ = ("requester_id", "target_id", "automatic")
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    AUTOMATIC_FIELD_NUMBER: _ClassVar[int]
    requester_id: int
    target_id: int
    automatic: bool
    def __init__(self, requester_id: _Optional[int] = ..., target_id: _Optional[int] = ..., automatic: _Optional[bool] = ...) -> None: ...

class FollowRequestEnded(_message.Message):
    __slots__ = ("requester_id", "target_id", "reason")
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    requester_id: int
    target_id: int
    reason: FollowRequestEndReason
    def __init__(self, requester_id: _Optional[int] = ..., target_id: _Optional[int] = ..., reason: _Optional[_Union[FollowRequestEndReason, str]] = ...) -> None: ...

class Blocked(_message.Message):
    __slots__ = ("blocker_id", "blocked_id")
    BLOCKER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ID_FIELD_NUMBER: _ClassVar[int]
    blocker_id: int
    blocked_id: int
    def __init__(self, blocker_id: _Optional[int] = ..., blocked_id: _Optional[int] = ...) -> None: ...

class Unblocked(_message.Message):
    __slots__ = ("blocker_id", "blocked_id")
    BLOCKER_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_ID_FIELD_NUMBER: _ClassVar[int]
    blocker_id: int
    blocked_id: int
    def __init__(self, blocker_id: _Optional[int] = ..., blocked_id: _Optional[int] = ...) -> None: ...

class Muted(_message.Message):
    __slots__ = ("muter_id", "muted_id")
    MUTER_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_ID_FIELD_NUMBER: _ClassVar[int]
    muter_id: int
    muted_id: int
    def __init__(self, muter_id: _Optional[int] = ..., muted_id: _Optional[int] = ...) -> None: ...

class Unmuted(_message.Message):
    __slots__ = ("muter_id", "muted_id")
    MUTER_ID_FIELD_NUMBER: _ClassVar[int]
    MUTED_ID_FIELD_NUMBER: _ClassVar[int]
    muter_id: int
    muted_id: int
    def __init__(self, muter_id: _Optional[int] = ..., muted_id: _Optional[int] = ...) -> None: ...
