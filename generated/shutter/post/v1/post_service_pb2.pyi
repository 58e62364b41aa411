import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shutter.post.v1 import post_pb2 as _post_pb2
from shutter.user.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NearbyOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NEARBY_ORDER_UNSPECIFIED: _ClassVar[NearbyOrder]
    NEARBY_ORDER_NEAREST: _ClassVar[NearbyOrder]
    NEARBY_ORDER_NEWEST: _ClassVar[NearbyOrder]
NEARBY_ORDER_UNSPECIFIED: NearbyOrder
NEARBY_ORDER_NEAREST: NearbyOrder
NEARBY_ORDER_NEWEST: NearbyOrder

class CreatePostRequest(_message.Message):
    __slots__ = ("media_ids", "caption", "location", "idempotency_key", "alt_texts")
    MEDIA_IDS_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ALT_TEXTS_FIELD_NUMBER: _ClassVar[int]
    media_ids: _containers.RepeatedScalarFieldContainer[int]
    caption: str
    location: _post_pb2.Location
    idempotency_key: str
    alt_texts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, media_ids: _Optional[_Iterable[int]] = ..., caption: _Optional[str] = ..., location: _Optional[_Union[_post_pb2.Location, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., alt_texts: _Optional[_Iterable[str]] = ...) -> None: ...

class CreatePostResponse(_message.Message):
    __slots__ = ("post",)
    POST_FIELD_NUMBER: _ClassVar[int]
    post: _post_pb2.Post
    def __init__(self, post: _Optional[_Union[_post_pb2.Post, _Mapping]] = ...) -> None: ...

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

class BatchGetPostsRequest(_message.Message):
    __slots__ = ("viewer_id", "post_ids")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    POST_IDS_FIELD_NUMBER: _ClassVar[int]
    viewer_id: int
    post_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, viewer_id: _Optional[int] = ..., post_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetPostsResponse(_message.Message):
    __slots__ = ("posts",)
    POSTS_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    def __init__(self, posts: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ...) -> None: ...

class BatchGetViewerFlagsRequest(_message.Message):
    __slots__ = ("viewer_id", "post_ids", "since_post_id")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    POST_IDS_FIELD_NUMBER: _ClassVar[int]
    SINCE_POST_ID_FIELD_NUMBER: _ClassVar[int]
    viewer_id: int
    post_ids: _containers.RepeatedScalarFieldContainer[int]
    since_post_id: int
    def __init__(self, viewer_id: _Optional[int] = ..., post_ids: _Optional[_Iterable[int]] = ..., since_post_id: _Optional[int] = ...) -> None: ...

class BatchGetViewerFlagsResponse(_message.Message):
    __slots__ = ("liked_post_ids", "saved_post_ids", "hidden_post_ids", "listed_since_post_id")
    LIKED_POST_IDS_FIELD_NUMBER: _ClassVar[int]
    SAVED_POST_IDS_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_POST_IDS_FIELD_NUMBER: _ClassVar[int]
    LISTED_SINCE_POST_ID_FIELD_NUMBER: _ClassVar[int]
    liked_post_ids: _containers.RepeatedScalarFieldContainer[int]
    saved_post_ids: _containers.RepeatedScalarFieldContainer[int]
    hidden_post_ids: _containers.RepeatedScalarFieldContainer[int]
    listed_since_post_id: int
    def __init__(self, liked_post_ids: _Optional[_Iterable[int]] = ..., saved_post_ids: _Optional[_Iterable[int]] = ..., hidden_post_ids: _Optional[_Iterable[int]] = ..., listed_since_post_id: _Optional[int] = ...) -> None: ...

class BatchGetViewersFlagsRequest(_message.Message):
    __slots__ = ("viewers",)
    VIEWERS_FIELD_NUMBER: _ClassVar[int]
    viewers: _containers.RepeatedCompositeFieldContainer[BatchGetViewerFlagsRequest]
    def __init__(self, viewers: _Optional[_Iterable[_Union[BatchGetViewerFlagsRequest, _Mapping]]] = ...) -> None: ...

class BatchGetViewersFlagsResponse(_message.Message):
    __slots__ = ("viewers",)
    VIEWERS_FIELD_NUMBER: _ClassVar[int]
    viewers: _containers.RepeatedCompositeFieldContainer[BatchGetViewerFlagsResponse]
    def __init__(self, viewers: _Optional[_Iterable[_Union[BatchGetViewerFlagsResponse, _Mapping]]] = ...) -> None: ...

class BatchGetSharedPostsRequest(_message.Message):
    __slots__ = ("post_ids",)
    POST_IDS_FIELD_NUMBER: _ClassVar[int]
    post_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, post_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetSharedPostsResponse(_message.Message):
    __slots__ = ("posts",)
    POSTS_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    def __init__(self, posts: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ...) -> None: ...

class DeletePostRequest(_message.Message):
    __slots__ = ("post_id",)
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    def __init__(self, post_id: _Optional[int] = ...) -> None: ...

class DeletePostResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

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

class LikePostRequest(_message.Message):
    __slots__ = ("post_id",)
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    def __init__(self, post_id: _Optional[int] = ...) -> None: ...

class LikePostResponse(_message.Message):
    __slots__ = ("post_id", "like_count", "has_liked")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    LIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    HAS_LIKED_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    like_count: int
    has_liked: bool
    def __init__(self, post_id: _Optional[int] = ..., like_count: _Optional[int] = ..., has_liked: _Optional[bool] = ...) -> None: ...

class UnlikePostRequest(_message.Message):
    __slots__ = ("post_id",)
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    def __init__(self, post_id: _Optional[int] = ...) -> None: ...

class UnlikePostResponse(_message.Message):
    __slots__ = ("post_id", "like_count", "has_liked")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    LIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    HAS_LIKED_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    like_count: int
    has_liked: bool
    def __init__(self, post_id: _Optional[int] = ..., like_count: _Optional[int] = ..., has_liked: _Optional[bool] = ...) -> None: ...

class ListLikersRequest(_message.Message):
    __slots__ = ("post_id", "page_size", "page_token")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    page_size: int
    page_token: str
    def __init__(self, post_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListLikersResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_user_pb2.UserSummary]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[_user_pb2.UserSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateCommentRequest(_message.Message):
    __slots__ = ("post_id", "text", "parent_comment_id", "idempotency_key")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PARENT_COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    text: str
    parent_comment_id: int
    idempotency_key: str
    def __init__(self, post_id: _Optional[int] = ..., text: _Optional[str] = ..., parent_comment_id: _Optional[int] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class CreateCommentResponse(_message.Message):
    __slots__ = ("comment",)
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    comment: _post_pb2.Comment
    def __init__(self, comment: _Optional[_Union[_post_pb2.Comment, _Mapping]] = ...) -> None: ...

class ListCommentsRequest(_message.Message):
    __slots__ = ("post_id", "parent_comment_id", "page_size", "page_token")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    parent_comment_id: int
    page_size: int
    page_token: str
    def __init__(self, post_id: _Optional[int] = ..., parent_comment_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCommentsResponse(_message.Message):
    __slots__ = ("comments", "next_page_token")
    COMMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    comments: _containers.RepeatedCompositeFieldContainer[_post_pb2.Comment]
    next_page_token: str
    def __init__(self, comments: _Optional[_Iterable[_Union[_post_pb2.Comment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteCommentRequest(_message.Message):
    __slots__ = ("comment_id",)
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    comment_id: int
    def __init__(self, comment_id: _Optional[int] = ...) -> None: ...

class DeleteCommentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SavePostRequest(_message.Message):
    __slots__ = ("post_id",)
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    def __init__(self, post_id: _Optional[int] = ...) -> None: ...

class SavePostResponse(_message.Message):
    __slots__ = ("post_id", "has_saved")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_SAVED_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    has_saved: bool
    def __init__(self, post_id: _Optional[int] = ..., has_saved: _Optional[bool] = ...) -> None: ...

class UnsavePostRequest(_message.Message):
    __slots__ = ("post_id",)
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    def __init__(self, post_id: _Optional[int] = ...) -> None: ...

class UnsavePostResponse(_message.Message):
    __slots__ = ("post_id", "has_saved")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    HAS_SAVED_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    has_saved: bool
    def __init__(self, post_id: _Optional[int] = ..., has_saved: _Optional[bool] = ...) -> None: ...

class ListSavedPostsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSavedPostsResponse(_message.Message):
    __slots__ = ("posts", "next_page_token")
    POSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    next_page_token: str
    def __init__(self, posts: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SearchHashtagsRequest(_message.Message):
    __slots__ = ("query", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchHashtagsResponse(_message.Message):
    __slots__ = ("hashtags", "next_page_token")
    HASHTAGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hashtags: _containers.RepeatedCompositeFieldContainer[_post_pb2.Hashtag]
    next_page_token: str
    def __init__(self, hashtags: _Optional[_Iterable[_Union[_post_pb2.Hashtag, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

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

class ListHashtagIndexRequest(_message.Message):
    __slots__ = ("tag", "before_post_id", "page_size", "with_author_counts")
    TAG_FIELD_NUMBER: _ClassVar[int]
    BEFORE_POST_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    WITH_AUTHOR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    tag: str
    before_post_id: int
    page_size: int
    with_author_counts: bool
    def __init__(self, tag: _Optional[str] = ..., before_post_id: _Optional[int] = ..., page_size: _Optional[int] = ..., with_author_counts: _Optional[bool] = ...) -> None: ...

class HashtagIndexEntry(_message.Message):
    __slots__ = ("post_id", "author_id")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    author_id: int
    def __init__(self, post_id: _Optional[int] = ..., author_id: _Optional[int] = ...) -> None: ...

class ListHashtagIndexResponse(_message.Message):
    __slots__ = ("tag", "entries", "author_counts")
    class AuthorCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    TAG_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    tag: str
    entries: _containers.RepeatedCompositeFieldContainer[HashtagIndexEntry]
    author_counts: _containers.ScalarMap[int, int]
    def __init__(self, tag: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[HashtagIndexEntry, _Mapping]]] = ..., author_counts: _Optional[_Mapping[int, int]] = ...) -> None: ...

class SearchPlacesRequest(_message.Message):
    __slots__ = ("query", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchPlacesResponse(_message.Message):
    __slots__ = ("places", "next_page_token")
    PLACES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    places: _containers.RepeatedCompositeFieldContainer[_post_pb2.Place]
    next_page_token: str
    def __init__(self, places: _Optional[_Iterable[_Union[_post_pb2.Place, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListPostsNearLocationRequest(_message.Message):
    __slots__ = ("lat", "lng", "radius_km", "order", "page_size", "page_token")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LNG_FIELD_NUMBER: _ClassVar[int]
    RADIUS_KM_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lng: float
    radius_km: float
    order: NearbyOrder
    page_size: int
    page_token: str
    def __init__(self, lat: _Optional[float] = ..., lng: _Optional[float] = ..., radius_km: _Optional[float] = ..., order: _Optional[_Union[NearbyOrder, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPostsNearLocationResponse(_message.Message):
    __slots__ = ("posts", "distances_km", "next_page_token")
    POSTS_FIELD_NUMBER: _ClassVar[int]
    DISTANCES_KM_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    distances_km: _containers.RepeatedScalarFieldContainer[float]
    next_page_token: str
    def __init__(self, posts: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ..., distances_km: _Optional[_Iterable[float]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SearchPostsRequest(_message.Message):
    __slots__ = ("query", "type", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    type: str
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., type: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchPostsResponse(_message.Message):
    __slots__ = ("posts", "next_page_token")
    POSTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    next_page_token: str
    def __init__(self, posts: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class BatchGetPostCountsRequest(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, user_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetPostCountsResponse(_message.Message):
    __slots__ = ("counts",)
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[_post_pb2.PostCount]
    def __init__(self, counts: _Optional[_Iterable[_Union[_post_pb2.PostCount, _Mapping]]] = ...) -> None: ...

class ExportPostsRequest(_message.Message):
    __slots__ = ("after_post_id", "page_size")
    AFTER_POST_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    after_post_id: int
    page_size: int
    def __init__(self, after_post_id: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class ExportPostsResponse(_message.Message):
    __slots__ = ("posts",)
    POSTS_FIELD_NUMBER: _ClassVar[int]
    posts: _containers.RepeatedCompositeFieldContainer[ExportedPost]
    def __init__(self, posts: _Optional[_Iterable[_Union[ExportedPost, _Mapping]]] = ...) -> None: ...

class ExportedPost(_message.Message):
    __slots__ = ("post_id", "author_id", "created_at", "like_count", "comment_count")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    LIKE_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    author_id: int
    created_at: _timestamp_pb2.Timestamp
    like_count: int
    comment_count: int
    def __init__(self, post_id: _Optional[int] = ..., author_id: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., like_count: _Optional[int] = ..., comment_count: _Optional[int] = ...) -> None: ...

class CreateStoryRequest(_message.Message):
    __slots__ = ("media_id", "caption", "close_friends_only")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FRIENDS_ONLY_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    caption: str
    close_friends_only: bool
    def __init__(self, media_id: _Optional[int] = ..., caption: _Optional[str] = ..., close_friends_only: _Optional[bool] = ...) -> None: ...

class CreateStoryResponse(_message.Message):
    __slots__ = ("story",)
    STORY_FIELD_NUMBER: _ClassVar[int]
    story: _post_pb2.Story
    def __init__(self, story: _Optional[_Union[_post_pb2.Story, _Mapping]] = ...) -> None: ...

class ListUserStoriesRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUserStoriesResponse(_message.Message):
    __slots__ = ("stories", "next_page_token")
    STORIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    stories: _containers.RepeatedCompositeFieldContainer[_post_pb2.Story]
    next_page_token: str
    def __init__(self, stories: _Optional[_Iterable[_Union[_post_pb2.Story, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MarkStorySeenRequest(_message.Message):
    __slots__ = ("story_id",)
    STORY_ID_FIELD_NUMBER: _ClassVar[int]
    story_id: int
    def __init__(self, story_id: _Optional[int] = ...) -> None: ...

class MarkStorySeenResponse(_message.Message):
    __slots__ = ("story_id", "seen")
    STORY_ID_FIELD_NUMBER: _ClassVar[int]
    SEEN_FIELD_NUMBER: _ClassVar[int]
    story_id: int
    seen: bool
    def __init__(self, story_id: _Optional[int] = ..., seen: _Optional[bool] = ...) -> None: ...

class ListStoryViewersRequest(_message.Message):
    __slots__ = ("story_id", "page_size", "page_token")
    STORY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    story_id: int
    page_size: int
    page_token: str
    def __init__(self, story_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStoryViewersResponse(_message.Message):
    __slots__ = ("viewers", "next_page_token")
    VIEWERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    viewers: _containers.RepeatedCompositeFieldContainer[_post_pb2.StoryViewer]
    next_page_token: str
    def __init__(self, viewers: _Optional[_Iterable[_Union[_post_pb2.StoryViewer, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteStoryRequest(_message.Message):
    __slots__ = ("story_id",)
    STORY_ID_FIELD_NUMBER: _ClassVar[int]
    story_id: int
    def __init__(self, story_id: _Optional[int] = ...) -> None: ...

class DeleteStoryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStoryArchiveRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStoryArchiveResponse(_message.Message):
    __slots__ = ("stories", "next_page_token")
    STORIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    stories: _containers.RepeatedCompositeFieldContainer[_post_pb2.Story]
    next_page_token: str
    def __init__(self, stories: _Optional[_Iterable[_Union[_post_pb2.Story, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class BatchGetStoryRingsRequest(_message.Message):
    __slots__ = ("viewer_id", "author_ids")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_IDS_FIELD_NUMBER: _ClassVar[int]
    viewer_id: int
    author_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, viewer_id: _Optional[int] = ..., author_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetStoryRingsResponse(_message.Message):
    __slots__ = ("rings",)
    RINGS_FIELD_NUMBER: _ClassVar[int]
    rings: _containers.RepeatedCompositeFieldContainer[_post_pb2.StoryRing]
    def __init__(self, rings: _Optional[_Iterable[_Union[_post_pb2.StoryRing, _Mapping]]] = ...) -> None: ...

class AddCloseFriendRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class AddCloseFriendResponse(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class RemoveCloseFriendRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class RemoveCloseFriendResponse(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class ListCloseFriendsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCloseFriendsResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_user_pb2.UserSummary]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[_user_pb2.UserSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateReelRequest(_message.Message):
    __slots__ = ("media_id", "caption", "location", "idempotency_key", "alt_text")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ALT_TEXT_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    caption: str
    location: _post_pb2.Location
    idempotency_key: str
    alt_text: str
    def __init__(self, media_id: _Optional[int] = ..., caption: _Optional[str] = ..., location: _Optional[_Union[_post_pb2.Location, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., alt_text: _Optional[str] = ...) -> None: ...

class CreateReelResponse(_message.Message):
    __slots__ = ("reel",)
    REEL_FIELD_NUMBER: _ClassVar[int]
    reel: _post_pb2.Post
    def __init__(self, reel: _Optional[_Union[_post_pb2.Post, _Mapping]] = ...) -> None: ...

class ListReelsFeedRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReelsFeedResponse(_message.Message):
    __slots__ = ("reels", "next_page_token")
    REELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    reels: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    next_page_token: str
    def __init__(self, reels: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RecordReelViewRequest(_message.Message):
    __slots__ = ("post_id", "watched_ms")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    WATCHED_MS_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    watched_ms: int
    def __init__(self, post_id: _Optional[int] = ..., watched_ms: _Optional[int] = ...) -> None: ...

class RecordReelViewResponse(_message.Message):
    __slots__ = ("post_id", "view_count", "counted", "completed")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    view_count: int
    counted: bool
    completed: bool
    def __init__(self, post_id: _Optional[int] = ..., view_count: _Optional[int] = ..., counted: _Optional[bool] = ..., completed: _Optional[bool] = ...) -> None: ...

class ListUserReelsRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUserReelsResponse(_message.Message):
    __slots__ = ("reels", "next_page_token")
    REELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    reels: _containers.RepeatedCompositeFieldContainer[_post_pb2.Post]
    next_page_token: str
    def __init__(self, reels: _Optional[_Iterable[_Union[_post_pb2.Post, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ExportAccountDataRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class ExportAccountDataResponse(_message.Message):
    __slots__ = ("files",)
    class FilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.ScalarMap[str, bytes]
    def __init__(self, files: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class GetModerationTargetRequest(_message.Message):
    __slots__ = ("target_type", "target_id", "viewer_id")
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    target_type: _user_pb2.ReportTargetType
    target_id: int
    viewer_id: int
    def __init__(self, target_type: _Optional[_Union[_user_pb2.ReportTargetType, str]] = ..., target_id: _Optional[int] = ..., viewer_id: _Optional[int] = ...) -> None: ...

class GetModerationTargetResponse(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: int
    def __init__(self, owner_id: _Optional[int] = ...) -> None: ...

class HideFromViewerRequest(_message.Message):
    __slots__ = ("target_type", "target_id", "viewer_id")
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    target_type: _user_pb2.ReportTargetType
    target_id: int
    viewer_id: int
    def __init__(self, target_type: _Optional[_Union[_user_pb2.ReportTargetType, str]] = ..., target_id: _Optional[int] = ..., viewer_id: _Optional[int] = ...) -> None: ...

class HideFromViewerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveContentRequest(_message.Message):
    __slots__ = ("target_type", "target_id")
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    target_type: _user_pb2.ReportTargetType
    target_id: int
    def __init__(self, target_type: _Optional[_Union[_user_pb2.ReportTargetType, str]] = ..., target_id: _Optional[int] = ...) -> None: ...

class RemoveContentResponse(_message.Message):
    __slots__ = ("owner_id",)
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    owner_id: int
    def __init__(self, owner_id: _Optional[int] = ...) -> None: ...
