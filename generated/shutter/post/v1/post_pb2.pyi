import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shutter.media.v1 import media_pb2 as _media_pb2
from shutter.user.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PostKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POST_KIND_UNSPECIFIED: _ClassVar[PostKind]
    POST_KIND_POST: _ClassVar[PostKind]
    POST_KIND_REEL: _ClassVar[PostKind]
POST_KIND_UNSPECIFIED: PostKind
POST_KIND_POST: PostKind
POST_KIND_REEL: PostKind

class Location(_message.Message):
    __slots__ = ("name", "lat", "lng")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LNG_FIELD_NUMBER: _ClassVar[int]
    name: str
    lat: float
    lng: float
    def __init__(self, name: _Optional[str] = ..., lat: _Optional[float] = ..., lng: _Optional[float] = ...) -> None: ...

class Post(_message.Message):
    __slots__ = ("post_id", "user", "media", "caption", "hashtags", "mentions", "location", "like_count", "comment_count", "created_at", "has_liked", "has_saved", "place_id", "kind", "view_count")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    MENTIONS_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    HAS_LIKED_FIELD_NUMBER: _ClassVar[int]
    HAS_SAVED_FIELD_NUMBER: _ClassVar[int]
    PLACE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    user: _user_pb2.UserSummary
    media: _containers.RepeatedCompositeFieldContainer[_media_pb2.Media]
    caption: str
    hashtags: _containers.RepeatedScalarFieldContainer[str]
    mentions: _containers.RepeatedScalarFieldContainer[str]
    location: Location
    like_count: int
    comment_count: int
    created_at: _timestamp_pb2.Timestamp
    has_liked: bool
    has_saved: bool
    place_id: int
    kind: PostKind
    view_count: int
    def __init__(self, post_id: _Optional[int] = ..., user: _Optional[_Union[_user_pb2.UserSummary, _Mapping]] = ..., media: _Optional[_Iterable[_Union[_media_pb2.Media, _Mapping]]] = ..., caption: _Optional[str] = ..., hashtags: _Optional[_Iterable[str]] = ..., mentions: _Optional[_Iterable[str]] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., like_count: _Optional[int] = ..., comment_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., has_liked: _Optional[bool] = ..., has_saved: _Optional[bool] = ..., place_id: _Optional[int] = ..., kind: _Optional[_Union[PostKind, str]] = ..., view_count: _Optional[int] = ...) -> None: ...

class Comment(_message.Message):
    __slots__ = ("comment_id", "post_id", "user", "text", "mentions", "parent_comment_id", "reply_count", "created_at")
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MENTIONS_FIELD_NUMBER: _ClassVar[int]
    PARENT_COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    comment_id: int
    post_id: int
    user: _user_pb2.UserSummary
    text: str
    mentions: _containers.RepeatedScalarFieldContainer[str]
    parent_comment_id: int
    reply_count: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, comment_id: _Optional[int] = ..., post_id: _Optional[int] = ..., user: _Optional[_Union[_user_pb2.UserSummary, _Mapping]] = ..., text: _Optional[str] = ..., mentions: _Optional[_Iterable[str]] = ..., parent_comment_id: _Optional[int] = ..., reply_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Hashtag(_message.Message):
    __slots__ = ("tag", "post_count")
    TAG_FIELD_NUMBER: _ClassVar[int]
    POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    tag: str
    post_count: int
    def __init__(self, tag: _Optional[str] = ..., post_count: _Optional[int] = ...) -> None: ...

class Place(_message.Message):
    __slots__ = ("place_id", "name", "lat", "lng", "post_count")
    PLACE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LNG_FIELD_NUMBER: _ClassVar[int]
    POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    place_id: int
    name: str
    lat: float
    lng: float
    post_count: int
    def __init__(self, place_id: _Optional[int] = ..., name: _Optional[str] = ..., lat: _Optional[float] = ..., lng: _Optional[float] = ..., post_count: _Optional[int] = ...) -> None: ...

class PostCount(_message.Message):
    __slots__ = ("user_id", "post_count")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    post_count: int
    def __init__(self, user_id: _Optional[int] = ..., post_count: _Optional[int] = ...) -> None: ...

class Story(_message.Message):
    __slots__ = ("story_id", "user", "media", "caption", "mentions", "created_at", "expires_at", "seen", "view_count", "close_friends_only")
    STORY_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    MENTIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SEEN_FIELD_NUMBER: _ClassVar[int]
    VIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FRIENDS_ONLY_FIELD_NUMBER: _ClassVar[int]
    story_id: int
    user: _user_pb2.UserSummary
    media: _media_pb2.Media
    caption: str
    mentions: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    seen: bool
    view_count: int
    close_friends_only: bool
    def __init__(self, story_id: _Optional[int] = ..., user: _Optional[_Union[_user_pb2.UserSummary, _Mapping]] = ..., media: _Optional[_Union[_media_pb2.Media, _Mapping]] = ..., caption: _Optional[str] = ..., mentions: _Optional[_Iterable[str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., seen: _Optional[bool] = ..., view_count: _Optional[int] = ..., close_friends_only: _Optional[bool] = ...) -> None: ...

class StoryViewer(_message.Message):
    __slots__ = ("user", "seen_at")
    USER_FIELD_NUMBER: _ClassVar[int]
    SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    user: _user_pb2.UserSummary
    seen_at: _timestamp_pb2.Timestamp
    def __init__(self, user: _Optional[_Union[_user_pb2.UserSummary, _Mapping]] = ..., seen_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StoryRing(_message.Message):
    __slots__ = ("user_id", "story_count", "latest_created_at", "latest_story_id", "has_unseen", "close_friends")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STORY_COUNT_FIELD_NUMBER: _ClassVar[int]
    LATEST_CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LATEST_STORY_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_UNSEEN_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FRIENDS_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    story_count: int
    latest_created_at: _timestamp_pb2.Timestamp
    latest_story_id: int
    has_unseen: bool
    close_friends: bool
    def __init__(self, user_id: _Optional[int] = ..., story_count: _Optional[int] = ..., latest_created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latest_story_id: _Optional[int] = ..., has_unseen: _Optional[bool] = ..., close_friends: _Optional[bool] = ...) -> None: ...
