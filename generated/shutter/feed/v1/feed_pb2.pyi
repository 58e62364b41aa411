import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shutter.user.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeedMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEED_MODE_UNSPECIFIED: _ClassVar[FeedMode]
    FEED_MODE_RANKED: _ClassVar[FeedMode]
    FEED_MODE_CHRONOLOGICAL: _ClassVar[FeedMode]
FEED_MODE_UNSPECIFIED: FeedMode
FEED_MODE_RANKED: FeedMode
FEED_MODE_CHRONOLOGICAL: FeedMode

class StoryTrayItem(_message.Message):
    __slots__ = ("user", "story_count", "latest_created_at", "latest_story_id", "has_unseen", "close_friends", "is_self")
    USER_FIELD_NUMBER: _ClassVar[int]
    STORY_COUNT_FIELD_NUMBER: _ClassVar[int]
    LATEST_CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LATEST_STORY_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_UNSEEN_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FRIENDS_FIELD_NUMBER: _ClassVar[int]
    IS_SELF_FIELD_NUMBER: _ClassVar[int]
    user: _user_pb2.UserSummary
    story_count: int
    latest_created_at: _timestamp_pb2.Timestamp
    latest_story_id: int
    has_unseen: bool
    close_friends: bool
    is_self: bool
    def __init__(self, user: _Optional[_Union[_user_pb2.UserSummary, _Mapping]] = ..., story_count: _Optional[int] = ..., latest_created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latest_story_id: _Optional[int] = ..., has_unseen: _Optional[bool] = ..., close_friends: _Optional[bool] = ..., is_self: _Optional[bool] = ...) -> None: ...
