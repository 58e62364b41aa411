import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shutter.user.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NotificationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFICATION_KIND_UNSPECIFIED: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_LIKE: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_COMMENT: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_COMMENT_REPLY: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_FOLLOWED: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_FOLLOW_REQUESTED: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_FOLLOW_APPROVED: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_MENTION: _ClassVar[NotificationKind]
    NOTIFICATION_KIND_REPORT_RESOLVED: _ClassVar[NotificationKind]
NOTIFICATION_KIND_UNSPECIFIED: NotificationKind
NOTIFICATION_KIND_LIKE: NotificationKind
NOTIFICATION_KIND_COMMENT: NotificationKind
NOTIFICATION_KIND_COMMENT_REPLY: NotificationKind
NOTIFICATION_KIND_FOLLOWED: NotificationKind
NOTIFICATION_KIND_FOLLOW_REQUESTED: NotificationKind
NOTIFICATION_KIND_FOLLOW_APPROVED: NotificationKind
NOTIFICATION_KIND_MENTION: NotificationKind
NOTIFICATION_KIND_REPORT_RESOLVED: NotificationKind

class Notification(_message.Message):
    __slots__ = ("notification_id", "kind", "actors", "actor_count", "post_id", "post_thumbnail_url", "comment_id", "text", "read", "created_at", "updated_at", "sequence")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    ACTOR_COUNT_FIELD_NUMBER: _ClassVar[int]
    POST_ID_FIELD_NUMBER: _ClassVar[int]
    POST_THUMBNAIL_URL_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    notification_id: int
    kind: NotificationKind
    actors: _containers.RepeatedCompositeFieldContainer[_user_pb2.UserSummary]
    actor_count: int
    post_id: int
    post_thumbnail_url: str
    comment_id: int
    text: str
    read: bool
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    sequence: int
    def __init__(self, notification_id: _Optional[int] = ..., kind: _Optional[_Union[NotificationKind, str]] = ..., actors: _Optional[_Iterable[_Union[_user_pb2.UserSummary, _Mapping]]] = ..., actor_count: _Optional[int] = ..., post_id: _Optional[int] = ..., post_thumbnail_url: _Optional[str] = ..., comment_id: _Optional[int] = ..., text: _Optional[str] = ..., read: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...
