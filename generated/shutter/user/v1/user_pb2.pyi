import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class User(_message.Message):
    __slots__ = ("user_id", "username", "full_name", "bio", "website", "profile_pic_url", "is_private", "is_verified", "follower_count", "following_count", "post_count", "created_at", "email", "relationship", "counts_unavailable")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    BIO_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_PIC_URL_FIELD_NUMBER: _ClassVar[int]
    IS_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    IS_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    FOLLOWER_COUNT_FIELD_NUMBER: _ClassVar[int]
    FOLLOWING_COUNT_FIELD_NUMBER: _ClassVar[int]
    POST_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    RELATIONSHIP_FIELD_NUMBER: _ClassVar[int]
    COUNTS_UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    username: str
    full_name: str
    bio: str
    website: str
    profile_pic_url: str
    is_private: bool
    is_verified: bool
    follower_count: int
    following_count: int
    post_count: int
    created_at: _timestamp_pb2.Timestamp
    email: str
    relationship: UserRelationship
    counts_unavailable: bool
    def __init__(self, user_id: _Optional[int] = ..., username: _Optional[str] = ..., full_name: _Optional[str] = ..., bio: _Optional[str] = ..., website: _Optional[str] = ..., profile_pic_url: _Optional[str] = ..., is_private: _Optional[bool] = ..., is_verified: _Optional[bool] = ..., follower_count: _Optional[int] = ..., following_count: _Optional[int] = ..., post_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., email: _Optional[str] = ..., relationship: _Optional[_Union[UserRelationship, _Mapping]] = ..., counts_unavailable: _Optional[bool] = ...) -> None: ...

class UserRelationship(_message.Message):
    __slots__ = ("following", "followed_by", "requested", "incoming_request", "blocking", "muting")
    FOLLOWING_FIELD_NUMBER: _ClassVar[int]
    FOLLOWED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    INCOMING_REQUEST_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_FIELD_NUMBER: _ClassVar[int]
    MUTING_FIELD_NUMBER: _ClassVar[int]
    following: bool
    followed_by: bool
    requested: bool
    incoming_request: bool
    blocking: bool
    muting: bool
    def __init__(self, following: _Optional[bool] = ..., followed_by: _Optional[bool] = ..., requested: _Optional[bool] = ..., incoming_request: _Optional[bool] = ..., blocking: _Optional[bool] = ..., muting: _Optional[bool] = ...) -> None: ...

class UserSummary(_message.Message):
    __slots__ = ("user_id", "username", "full_name", "profile_pic_url", "is_verified", "is_private")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    PROFILE_PIC_URL_FIELD_NUMBER: _ClassVar[int]
    IS_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    IS_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    username: str
    full_name: str
    profile_pic_url: str
    is_verified: bool
    is_private: bool
    def __init__(self, user_id: _Optional[int] = ..., username: _Optional[str] = ..., full_name: _Optional[str] = ..., profile_pic_url: _Optional[str] = ..., is_verified: _Optional[bool] = ..., is_private: _Optional[bool] = ...) -> None: ...
