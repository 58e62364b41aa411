import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class UserRegistered(_message.Message):
    __slots__ = ("user_id", "username")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    username: str
    def __init__(self, user_id: _Optional[int] = ..., username: _Optional[str] = ...) -> None: ...

class UserProfileUpdated(_message.Message):
    __slots__ = ("user_id", "is_private", "became_public")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    IS_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    BECAME_PUBLIC_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    is_private: bool
    became_public: bool
    def __init__(self, user_id: _Optional[int] = ..., is_private: _Optional[bool] = ..., became_public: _Optional[bool] = ...) -> None: ...

class AccountDeleted(_message.Message):
    __slots__ = ("user_id", "deleted_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    deleted_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[int] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AccountSuspended(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class AccountUnsuspended(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class ReportResolved(_message.Message):
    __slots__ = ("report_id", "reporter_id", "target_type", "target_id", "outcome")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    REPORTER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    report_id: int
    reporter_id: int
    target_type: str
    target_id: int
    outcome: str
    def __init__(self, report_id: _Optional[int] = ..., reporter_id: _Optional[int] = ..., target_type: _Optional[str] = ..., target_id: _Optional[int] = ..., outcome: _Optional[str] = ...) -> None: ...
