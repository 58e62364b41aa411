import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shutter.user.v1 import user_pb2 as _user_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Relationship(_message.Message):
    __slots__ = ("user_id", "following", "followed_by", "requested", "incoming_request", "blocking", "blocked_by", "muting")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    FOLLOWED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    INCOMING_REQUEST_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_BY_FIELD_NUMBER: _ClassVar[int]
    MUTING_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    following: bool
    followed_by: bool
    requested: bool
    incoming_request: bool
    blocking: bool
    blocked_by: bool
    muting: bool
    def __init__(self, user_id: _Optional[int] = ..., following: _Optional[bool] = ..., followed_by: _Optional[bool] = ..., requested: _Optional[bool] = ..., incoming_request: _Optional[bool] = ..., blocking: _Optional[bool] = ..., blocked_by: _Optional[bool] = ..., muting: _Optional[bool] = ...) -> None: ...

class Connection(_message.Message):
    __slots__ = ("user", "relationship", "followed_at")
    USER_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    FOLLOWED_AT_FIELD_NUMBER: _ClassVar[int]
    user: _user_pb2.UserSummary
    relationship: Relationship
    followed_at: _timestamp_pb2.Timestamp
    def __init__(self, user: _Optional[_Union[_user_pb2.UserSummary, _Mapping]] = ..., relationship: _Optional[_Union[Relationship, _Mapping]] = ..., followed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PendingFollowRequest(_message.Message):
    __slots__ = ("user", "requested_at")
    USER_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    user: _user_pb2.UserSummary
    requested_at: _timestamp_pb2.Timestamp
    def __init__(self, user: _Optional[_Union[_user_pb2.UserSummary, _Mapping]] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FollowCounts(_message.Message):
    __slots__ = ("user_id", "follower_count", "following_count")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_COUNT_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    follower_count: int
    following_count: int
    def __init__(self, user_id: _Optional[int] = ..., follower_count: _Optional[int] = ..., following_count: _Optional[int] = ...) -> None: ...

class Visibility(_message.Message):
    __slots__ = ("owner_id", "can_view", "blocked")
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    CAN_VIEW_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    owner_id: int
    can_view: bool
    blocked: bool
    def __init__(self, owner_id: _Optional[int] = ..., can_view: _Optional[bool] = ..., blocked: _Optional[bool] = ...) -> None: ...
