import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shutter.post.v1 import post_pb2 as _post_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PostCreated(_message.Message):
    __slots__ = ("post_id", "author_id", "created_at", "author_is_private", "media_ids", "hashtags", "mentioned_user_ids", "place_id", "post")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_IS_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    MEDIA_IDS_FIELD_NUMBER: _ClassVar[int]
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    PLACE_ID_FIELD_NUMBER: _ClassVar[int]
    POST_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    author_id: int
    created_at: _timestamp_pb2.Timestamp
    author_is_private: bool
    media_ids: _containers.RepeatedScalarFieldContainer[int]
    hashtags: _containers.RepeatedScalarFieldContainer[str]
    mentioned_user_ids: _containers.RepeatedScalarFieldContainer[int]
    place_id: int
    post: _post_pb2.Post
    def __init__(self, post_id: _Optional[int] = ..., author_id: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., author_is_private: _Optional[bool] = ..., media_ids: _Optional[_Iterable[int]] = ..., hashtags: _Optional[_Iterable[str]] = ..., mentioned_user_ids: _Optional[_Iterable[int]] = ..., place_id: _Optional[int] = ..., post: _Optional[_Union[_post_pb2.Post, _Mapping]] = ...) -> None: ...

class PostDeleted(_message.Message):
    __slots__ = ("post_id", "author_id", "created_at", "media_ids", "hashtags")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_IDS_FIELD_NUMBER: _ClassVar[int]
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    author_id: int
    created_at: _timestamp_pb2.Timestamp
    media_ids: _containers.RepeatedScalarFieldContainer[int]
    hashtags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, post_id: _Optional[int] = ..., author_id: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., media_ids: _Optional[_Iterable[int]] = ..., hashtags: _Optional[_Iterable[str]] = ...) -> None: ...

class PostLiked(_message.Message):
    __slots__ = ("post_id", "post_author_id", "liker_id", "liked_at")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    POST_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    LIKER_ID_FIELD_NUMBER: _ClassVar[int]
    LIKED_AT_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    post_author_id: int
    liker_id: int
    liked_at: _timestamp_pb2.Timestamp
    def __init__(self, post_id: _Optional[int] = ..., post_author_id: _Optional[int] = ..., liker_id: _Optional[int] = ..., liked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PostUnliked(_message.Message):
    __slots__ = ("post_id", "post_author_id", "liker_id")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    POST_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    LIKER_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    post_author_id: int
    liker_id: int
    def __init__(self, post_id: _Optional[int] = ..., post_author_id: _Optional[int] = ..., liker_id: _Optional[int] = ...) -> None: ...

class PostSaved(_message.Message):
    __slots__ = ("post_id", "user_id")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    user_id: int
    def __init__(self, post_id: _Optional[int] = ..., user_id: _Optional[int] = ...) -> None: ...

class PostUnsaved(_message.Message):
    __slots__ = ("post_id", "user_id")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    user_id: int
    def __init__(self, post_id: _Optional[int] = ..., user_id: _Optional[int] = ...) -> None: ...

class CommentCreated(_message.Message):
    __slots__ = ("comment_id", "post_id", "post_author_id", "commenter_id", "parent_comment_id", "parent_comment_author_id", "text", "mentioned_user_ids", "created_at")
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    POST_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENTER_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_COMMENT_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    comment_id: int
    post_id: int
    post_author_id: int
    commenter_id: int
    parent_comment_id: int
    parent_comment_author_id: int
    text: str
    mentioned_user_ids: _containers.RepeatedScalarFieldContainer[int]
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, comment_id: _Optional[int] = ..., post_id: _Optional[int] = ..., post_author_id: _Optional[int] = ..., commenter_id: _Optional[int] = ..., parent_comment_id: _Optional[int] = ..., parent_comment_author_id: _Optional[int] = ..., text: _Optional[str] = ..., mentioned_user_ids: _Optional[_Iterable[int]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CommentDeleted(_message.Message):
    __slots__ = ("comment_id", "post_id", "commenter_id", "deleted_by_id", "reply_ids")
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENTER_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_BY_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_IDS_FIELD_NUMBER: _ClassVar[int]
    comment_id: int
    post_id: int
    commenter_id: int
    deleted_by_id: int
    reply_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, comment_id: _Optional[int] = ..., post_id: _Optional[int] = ..., commenter_id: _Optional[int] = ..., deleted_by_id: _Optional[int] = ..., reply_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ReelViewed(_message.Message):
    __slots__ = ("post_id", "post_author_id", "viewer_id", "viewed_at")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    POST_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWED_AT_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    post_author_id: int
    viewer_id: int
    viewed_at: _timestamp_pb2.Timestamp
    def __init__(self, post_id: _Optional[int] = ..., post_author_id: _Optional[int] = ..., viewer_id: _Optional[int] = ..., viewed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UserMentioned(_message.Message):
    __slots__ = ("mentioned_user_id", "author_id", "post_id", "post_author_id", "comment_id", "created_at")
    MENTIONED_USER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    POST_AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    mentioned_user_id: int
    author_id: int
    post_id: int
    post_author_id: int
    comment_id: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, mentioned_user_id: _Optional[int] = ..., author_id: _Optional[int] = ..., post_id: _Optional[int] = ..., post_author_id: _Optional[int] = ..., comment_id: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StoryCreated(_message.Message):
    __slots__ = ("story_id", "author_id", "mentioned_user_ids", "created_at", "expires_at", "author_is_private", "close_friends_only")
    STORY_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    MENTIONED_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_IS_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FRIENDS_ONLY_FIELD_NUMBER: _ClassVar[int]
    story_id: int
    author_id: int
    mentioned_user_ids: _containers.RepeatedScalarFieldContainer[int]
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    author_is_private: bool
    close_friends_only: bool
    def __init__(self, story_id: _Optional[int] = ..., author_id: _Optional[int] = ..., mentioned_user_ids: _Optional[_Iterable[int]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., author_is_private: _Optional[bool] = ..., close_friends_only: _Optional[bool] = ...) -> None: ...

class StoryDeleted(_message.Message):
    __slots__ = ("story_id", "author_id", "media_id")
    STORY_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    story_id: int
    author_id: int
    media_id: int
    def __init__(self, story_id: _Optional[int] = ..., author_id: _Optional[int] = ..., media_id: _Optional[int] = ...) -> None: ...

class PostHiddenFromViewer(_message.Message):
    __slots__ = ("post_id", "viewer_id")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    viewer_id: int
    def __init__(self, post_id: _Optional[int] = ..., viewer_id: _Optional[int] = ...) -> None: ...
