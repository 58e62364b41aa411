from google.api import annotations_pb2 as _annotations_pb2
from shutter.graph.v1 import graph_pb2 as _graph_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FollowRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class FollowResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class UnfollowRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class UnfollowResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class RemoveFollowerRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class RemoveFollowerResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class ListFollowRequestsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFollowRequestsResponse(_message.Message):
    __slots__ = ("follow_requests", "next_page_token")
    FOLLOW_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    follow_requests: _containers.RepeatedCompositeFieldContainer[_graph_pb2.PendingFollowRequest]
    next_page_token: str
    def __init__(self, follow_requests: _Optional[_Iterable[_Union[_graph_pb2.PendingFollowRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApproveFollowRequestRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class ApproveFollowRequestResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class DenyFollowRequestRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class DenyFollowRequestResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class BlockRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class BlockResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class UnblockRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class UnblockResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class MuteRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class MuteResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class UnmuteRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class UnmuteResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class ListFollowersRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFollowersResponse(_message.Message):
    __slots__ = ("followers", "next_page_token")
    FOLLOWERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    followers: _containers.RepeatedCompositeFieldContainer[_graph_pb2.Connection]
    next_page_token: str
    def __init__(self, followers: _Optional[_Iterable[_Union[_graph_pb2.Connection, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListFollowingRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "page_token")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    page_token: str
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListFollowingResponse(_message.Message):
    __slots__ = ("following", "next_page_token")
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    following: _containers.RepeatedCompositeFieldContainer[_graph_pb2.Connection]
    next_page_token: str
    def __init__(self, following: _Optional[_Iterable[_Union[_graph_pb2.Connection, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetRelationshipRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class GetRelationshipResponse(_message.Message):
    __slots__ = ("relationship",)
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    relationship: _graph_pb2.Relationship
    def __init__(self, relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class GetRelationshipsRequest(_message.Message):
    __slots__ = ("viewer_id", "user_ids")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    viewer_id: int
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, viewer_id: _Optional[int] = ..., user_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class GetRelationshipsResponse(_message.Message):
    __slots__ = ("relationships",)
    RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    relationships: _containers.RepeatedCompositeFieldContainer[_graph_pb2.Relationship]
    def __init__(self, relationships: _Optional[_Iterable[_Union[_graph_pb2.Relationship, _Mapping]]] = ...) -> None: ...

class GetProfileGraphRequest(_message.Message):
    __slots__ = ("user_id", "viewer_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    viewer_id: int
    def __init__(self, user_id: _Optional[int] = ..., viewer_id: _Optional[int] = ...) -> None: ...

class GetProfileGraphResponse(_message.Message):
    __slots__ = ("counts", "relationship")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    counts: _graph_pb2.FollowCounts
    relationship: _graph_pb2.Relationship
    def __init__(self, counts: _Optional[_Union[_graph_pb2.FollowCounts, _Mapping]] = ..., relationship: _Optional[_Union[_graph_pb2.Relationship, _Mapping]] = ...) -> None: ...

class BatchGetFollowCountsRequest(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, user_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetFollowCountsResponse(_message.Message):
    __slots__ = ("counts",)
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[_graph_pb2.FollowCounts]
    def __init__(self, counts: _Optional[_Iterable[_Union[_graph_pb2.FollowCounts, _Mapping]]] = ...) -> None: ...

class CanViewRequest(_message.Message):
    __slots__ = ("viewer_id", "owner_id")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    viewer_id: int
    owner_id: int
    def __init__(self, viewer_id: _Optional[int] = ..., owner_id: _Optional[int] = ...) -> None: ...

class CanViewResponse(_message.Message):
    __slots__ = ("visibility",)
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    visibility: _graph_pb2.Visibility
    def __init__(self, visibility: _Optional[_Union[_graph_pb2.Visibility, _Mapping]] = ...) -> None: ...

class BatchCanViewRequest(_message.Message):
    __slots__ = ("viewer_id", "owner_ids")
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_IDS_FIELD_NUMBER: _ClassVar[int]
    viewer_id: int
    owner_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, viewer_id: _Optional[int] = ..., owner_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchCanViewResponse(_message.Message):
    __slots__ = ("visibilities",)
    VISIBILITIES_FIELD_NUMBER: _ClassVar[int]
    visibilities: _containers.RepeatedCompositeFieldContainer[_graph_pb2.Visibility]
    def __init__(self, visibilities: _Optional[_Iterable[_Union[_graph_pb2.Visibility, _Mapping]]] = ...) -> None: ...

class StreamFollowerIdsRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "exclude_muted", "with_follower_count")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_MUTED_FIELD_NUMBER: _ClassVar[int]
    WITH_FOLLOWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    exclude_muted: bool
    with_follower_count: bool
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., exclude_muted: _Optional[bool] = ..., with_follower_count: _Optional[bool] = ...) -> None: ...

class StreamFollowerIdsResponse(_message.Message):
    __slots__ = ("follower_ids", "follower_count")
    FOLLOWER_IDS_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    follower_ids: _containers.RepeatedScalarFieldContainer[int]
    follower_count: int
    def __init__(self, follower_ids: _Optional[_Iterable[int]] = ..., follower_count: _Optional[int] = ...) -> None: ...

class StreamFollowingIdsRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "exclude_muted")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_MUTED_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    exclude_muted: bool
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., exclude_muted: _Optional[bool] = ...) -> None: ...

class StreamFollowingIdsResponse(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, user_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class GetFollowingIdsRequest(_message.Message):
    __slots__ = ("user_id", "page_size", "exclude_muted", "with_blocks")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_MUTED_FIELD_NUMBER: _ClassVar[int]
    WITH_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    page_size: int
    exclude_muted: bool
    with_blocks: bool
    def __init__(self, user_id: _Optional[int] = ..., page_size: _Optional[int] = ..., exclude_muted: _Optional[bool] = ..., with_blocks: _Optional[bool] = ...) -> None: ...

class GetFollowingIdsResponse(_message.Message):
    __slots__ = ("user_ids", "more", "blocking_ids", "blocked_by_ids", "more_blocks")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_IDS_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_BY_IDS_FIELD_NUMBER: _ClassVar[int]
    MORE_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    more: bool
    blocking_ids: _containers.RepeatedScalarFieldContainer[int]
    blocked_by_ids: _containers.RepeatedScalarFieldContainer[int]
    more_blocks: bool
    def __init__(self, user_ids: _Optional[_Iterable[int]] = ..., more: _Optional[bool] = ..., blocking_ids: _Optional[_Iterable[int]] = ..., blocked_by_ids: _Optional[_Iterable[int]] = ..., more_blocks: _Optional[bool] = ...) -> None: ...

class BatchGetFollowingIdsRequest(_message.Message):
    __slots__ = ("user_ids", "page_size", "exclude_muted")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_MUTED_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    page_size: int
    exclude_muted: bool
    def __init__(self, user_ids: _Optional[_Iterable[int]] = ..., page_size: _Optional[int] = ..., exclude_muted: _Optional[bool] = ...) -> None: ...

class FollowingIds(_message.Message):
    __slots__ = ("user_id", "followee_ids", "more")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FOLLOWEE_IDS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    followee_ids: _containers.RepeatedScalarFieldContainer[int]
    more: bool
    def __init__(self, user_id: _Optional[int] = ..., followee_ids: _Optional[_Iterable[int]] = ..., more: _Optional[bool] = ...) -> None: ...

class BatchGetFollowingIdsResponse(_message.Message):
    __slots__ = ("following",)
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    following: _containers.RepeatedCompositeFieldContainer[FollowingIds]
    def __init__(self, following: _Optional[_Iterable[_Union[FollowingIds, _Mapping]]] = ...) -> None: ...

class BatchGetSilencedIdsRequest(_message.Message):
    __slots__ = ("user_ids", "page_size")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    page_size: int
    def __init__(self, user_ids: _Optional[_Iterable[int]] = ..., page_size: _Optional[int] = ...) -> None: ...

class SilencedIds(_message.Message):
    __slots__ = ("user_id", "silenced_ids", "more")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SILENCED_IDS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    silenced_ids: _containers.RepeatedScalarFieldContainer[int]
    more: bool
    def __init__(self, user_id: _Optional[int] = ..., silenced_ids: _Optional[_Iterable[int]] = ..., more: _Optional[bool] = ...) -> None: ...

class BatchGetSilencedIdsResponse(_message.Message):
    __slots__ = ("silenced",)
    SILENCED_FIELD_NUMBER: _ClassVar[int]
    silenced: _containers.RepeatedCompositeFieldContainer[SilencedIds]
    def __init__(self, silenced: _Optional[_Iterable[_Union[SilencedIds, _Mapping]]] = ...) -> None: ...

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
