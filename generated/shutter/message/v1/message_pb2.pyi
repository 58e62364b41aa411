import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shutter.media.v1 import media_pb2 as _media_pb2
from shutter.post.v1 import post_pb2 as _post_pb2
from shutter.user.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Participant(_message.Message):
    __slots__ = ("user_id", "user", "account_deleted", "has_left", "last_read_message_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_DELETED_FIELD_NUMBER: _ClassVar[int]
    HAS_LEFT_FIELD_NUMBER: _ClassVar[int]
    LAST_READ_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    user: _user_pb2.UserSummary
    account_deleted: bool
    has_left: bool
    last_read_message_id: int
    def __init__(self, user_id: _Optional[int] = ..., user: _Optional[_Union[_user_pb2.UserSummary, _Mapping]] = ..., account_deleted: _Optional[bool] = ..., has_left: _Optional[bool] = ..., last_read_message_id: _Optional[int] = ...) -> None: ...

class SharedPost(_message.Message):
    __slots__ = ("post_id", "unavailable", "post")
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    POST_FIELD_NUMBER: _ClassVar[int]
    post_id: int
    unavailable: bool
    post: _post_pb2.Post
    def __init__(self, post_id: _Optional[int] = ..., unavailable: _Optional[bool] = ..., post: _Optional[_Union[_post_pb2.Post, _Mapping]] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("message_id", "conversation_id", "sender_id", "client_message_id", "text", "media", "shared_post", "created_at")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    SHARED_POST_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    message_id: int
    conversation_id: int
    sender_id: int
    client_message_id: str
    text: str
    media: _media_pb2.Media
    shared_post: SharedPost
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[int] = ..., conversation_id: _Optional[int] = ..., sender_id: _Optional[int] = ..., client_message_id: _Optional[str] = ..., text: _Optional[str] = ..., media: _Optional[_Union[_media_pb2.Media, _Mapping]] = ..., shared_post: _Optional[_Union[SharedPost, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Conversation(_message.Message):
    __slots__ = ("conversation_id", "participants", "is_group", "title", "last_message", "unread_count", "is_request", "has_left", "created_at", "updated_at")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    IS_GROUP_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    LAST_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    IS_REQUEST_FIELD_NUMBER: _ClassVar[int]
    HAS_LEFT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    participants: _containers.RepeatedCompositeFieldContainer[Participant]
    is_group: bool
    title: str
    last_message: Message
    unread_count: int
    is_request: bool
    has_left: bool
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, conversation_id: _Optional[int] = ..., participants: _Optional[_Iterable[_Union[Participant, _Mapping]]] = ..., is_group: _Optional[bool] = ..., title: _Optional[str] = ..., last_message: _Optional[_Union[Message, _Mapping]] = ..., unread_count: _Optional[int] = ..., is_request: _Optional[bool] = ..., has_left: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
