from google.api import annotations_pb2 as _annotations_pb2
from shutter.events.v1 import envelope_pb2 as _envelope_pb2
from shutter.feed.v1 import feed_pb2 as _feed_pb2
from shutter.post.v1 import post_pb2 as _post_pb2
from shutter.user.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RebuildProjectionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RebuildProjectionResponse(_message.Message):
    __slots__ = ("post_count", "celebrity_count")
    POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    CELEBRITY_COUNT_FIELD_NUMBER: _ClassVar[int]
    post_count: int
    celebrity_count: int
    def __init__(self, post_count: _Optional[int] = ..., celebrity_count: _Optional[int] = ...) -> None: ...

class ApplyEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.EventEnvelope]
    def __init__(self, events: _Optional[_Iterable[_Union[_envelope_pb2.EventEnvelope, _Mapping]]] = ...) -> None: ...

class ApplyEventsResponse(_message.Message):
    __slots__ = ("applied_count",)
    APPLIED_COUNT_FIELD_NUMBER: _ClassVar[int]
    applied_count: int
    def __init__(self, applied_count: _Optional[int] = ...) -> None: ...

class GetStoryTrayRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetStoryTrayResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_feed_pb2.StoryTrayItem]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[_feed_pb2.StoryTrayItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetHomeFeedRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "mode")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    mode: _feed_pb2.FeedMode
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., mode: _Optional[_Union[_feed_pb2.FeedMode, str]] = ...) -> None: ...

class GetHomeFeedResponse(_message.Message):
    __slots__ = ("posts", "next_page_token")
    POSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    next_page_token: str
    def __init__(self, posts: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetExploreRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetExploreResponse(_message.Message):
    __slots__ = ("posts", "next_page_token")
    POSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    next_page_token: str
    def __init__(self, posts: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPostRequest(_message.Message):
    __slots__ = ("post_id",)
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    def __init__(self, post_id: _Optional[int] = ...) -> None: ...

class GetPostResponse(_message.Message):
    __slots__ = ("post",)
    POST_FIELD_NUMBER: _ClassVar[int]
    post: _post_pb2.Post
    def __init__(self, post: _Optional[_Union[_post_pb2.Post, _Mapping]] = ...) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id", "username")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    username: str
    def __init__(self, user_id: _Optional[int] = ..., username: _Optional[str] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: _user_pb2.User
    def __init__(self, user: _Optional[_Union[_user_pb2.User, _Mapping]] = ...) -> None: ...

class ListUserPostsRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUserPostsResponse(_message.Message):
    __slots__ = ("posts", "next_page_token")
    POSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    next_page_token: str
    def __init__(self, posts: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListPostsByHashtagRequest(_message.Message):
    __slots__ = ("tag", "page_size", "page_token")
    TAG_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tag: str
    page_size: int
    page_token: str
    def __init__(self, tag: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPostsByHashtagResponse(_message.Message):
    __slots__ = ("hashtag", "posts", "next_page_token")
    HASHTAG_FIELD_NUMBER: _ClassVar[int]
    POSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hashtag: _post_pb2.Hashtag
    posts: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    next_page_token: str
    def __init__(self, hashtag: _Optional[_Union[_post_pb2.Hashtag, _Mapping]] = ..., posts: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
