import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shutter.user.v1 import user_pb2 as _user_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccountDeletionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_DELETION_STATE_UNSPECIFIED: _ClassVar[AccountDeletionState]
    ACCOUNT_DELETION_STATE_DELETING: _ClassVar[AccountDeletionState]
ACCOUNT_DELETION_STATE_UNSPECIFIED: AccountDeletionState
ACCOUNT_DELETION_STATE_DELETING: AccountDeletionState

class RegisterRequest(_message.Message):
    __slots__ = ("username", "email", "password", "full_name")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    username: str
    email: str
    password: str
    full_name: str
    def __init__(self, username: _Optional[str] = ..., email: _Optional[str] = ..., password: _Optional[str] = ..., full_name: _Optional[str] = ...) -> None: ...

class RegisterResponse(_message.Message):
    __slots__ = ("user", "access_token", "refresh_token", "expires_in")
    USER_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    user: _user_pb2.User
    access_token: str
    refresh_token: str
    expires_in: int
    def __init__(self, user: _Optional[_Union[_user_pb2.User, _Mapping]] = ..., access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_in: _Optional[int] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("username", "password")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("user", "access_token", "refresh_token", "expires_in")
    USER_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    user: _user_pb2.User
    access_token: str
    refresh_token: str
    expires_in: int
    def __init__(self, user: _Optional[_Union[_user_pb2.User, _Mapping]] = ..., access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_in: _Optional[int] = ...) -> None: ...

class RefreshTokenRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class RefreshTokenResponse(_message.Message):
    __slots__ = ("access_token", "refresh_token", "expires_in")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    refresh_token: str
    expires_in: int
    def __init__(self, access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_in: _Optional[int] = ...) -> None: ...

class LogoutRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class LogoutResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUserRequest(_message.Message):
    __slots__ = ("user_id", "username", "viewer_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    username: str
    viewer_id: int
    def __init__(self, user_id: _Optional[int] = ..., username: _Optional[str] = ..., viewer_id: _Optional[int] = ...) -> None: ...

class GetUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: _user_pb2.User
    def __init__(self, user: _Optional[_Union[_user_pb2.User, _Mapping]] = ...) -> None: ...

class BatchGetUsersRequest(_message.Message):
    __slots__ = ("user_ids", "usernames")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    USERNAMES_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    usernames: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Optional[_Iterable[int]] = ..., usernames: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetUsersResponse(_message.Message):
    __slots__ = ("users",)
    USERS_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_user_pb2.UserSummary]
    def __init__(self, users: _Optional[_Iterable[_Union[_user_pb2.UserSummary, _Mapping]]] = ...) -> None: ...

class UpdateProfileRequest(_message.Message):
    __slots__ = ("user_id", "full_name", "bio", "website", "is_private", "profile_media_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    BIO_FIELD_NUMBER: _ClassVar[int]
    WEBSITE_FIELD_NUMBER: _ClassVar[int]
    IS_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    full_name: str
    bio: str
    website: str
    is_private: bool
    profile_media_id: int
    def __init__(self, user_id: _Optional[int] = ..., full_name: _Optional[str] = ..., bio: _Optional[str] = ..., website: _Optional[str] = ..., is_private: _Optional[bool] = ..., profile_media_id: _Optional[int] = ...) -> None: ...

class UpdateProfileResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: _user_pb2.User
    def __init__(self, user: _Optional[_Union[_user_pb2.User, _Mapping]] = ...) -> None: ...

class SearchUsersRequest(_message.Message):
    __slots__ = ("query", "page_size", "page_token")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    query: str
    page_size: int
    page_token: str
    def __init__(self, query: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchUsersResponse(_message.Message):
    __slots__ = ("users", "next_page_token")
    USERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[_user_pb2.UserSummary]
    next_page_token: str
    def __init__(self, users: _Optional[_Iterable[_Union[_user_pb2.UserSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("user_id", "password")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    password: str
    def __init__(self, user_id: _Optional[int] = ..., password: _Optional[str] = ...) -> None: ...

class DeleteUserResponse(_message.Message):
    __slots__ = ("user_id", "state", "deleted_at", "username_released_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_RELEASED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    state: AccountDeletionState
    deleted_at: _timestamp_pb2.Timestamp
    username_released_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[int] = ..., state: _Optional[_Union[AccountDeletionState, str]] = ..., deleted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., username_released_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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

class CreateReportRequest(_message.Message):
    __slots__ = ("target_type", "target_id", "reason", "note")
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    target_type: _user_pb2.ReportTargetType
    target_id: int
    reason: _user_pb2.ReportReason
    note: str
    def __init__(self, target_type: _Optional[_Union[_user_pb2.ReportTargetType, str]] = ..., target_id: _Optional[int] = ..., reason: _Optional[_Union[_user_pb2.ReportReason, str]] = ..., note: _Optional[str] = ...) -> None: ...

class CreateReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _user_pb2.Report
    def __init__(self, report: _Optional[_Union[_user_pb2.Report, _Mapping]] = ...) -> None: ...

class ListReportGroupsRequest(_message.Message):
    __slots__ = ("state", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: _user_pb2.ReportState
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[_user_pb2.ReportState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReportGroupsResponse(_message.Message):
    __slots__ = ("groups", "next_page_token")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[_user_pb2.ReportGroup]
    next_page_token: str
    def __init__(self, groups: _Optional[_Iterable[_Union[_user_pb2.ReportGroup, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ResolveReportRequest(_message.Message):
    __slots__ = ("report_id", "action")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    report_id: int
    action: _user_pb2.ModerationAction
    def __init__(self, report_id: _Optional[int] = ..., action: _Optional[_Union[_user_pb2.ModerationAction, str]] = ...) -> None: ...

class ResolveReportResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: _user_pb2.ModerationLogEntry
    def __init__(self, entry: _Optional[_Union[_user_pb2.ModerationLogEntry, _Mapping]] = ...) -> None: ...

class UnsuspendUserRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class UnsuspendUserResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: _user_pb2.ModerationLogEntry
    def __init__(self, entry: _Optional[_Union[_user_pb2.ModerationLogEntry, _Mapping]] = ...) -> None: ...

class ListModerationLogRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListModerationLogResponse(_message.Message):
    __slots__ = ("entries", "next_page_token")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[_user_pb2.ModerationLogEntry]
    next_page_token: str
    def __init__(self, entries: _Optional[_Iterable[_Union[_user_pb2.ModerationLogEntry, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SetModeratorRequest(_message.Message):
    __slots__ = ("username", "moderator")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    MODERATOR_FIELD_NUMBER: _ClassVar[int]
    username: str
    moderator: bool
    def __init__(self, username: _Optional[str] = ..., moderator: _Optional[bool] = ...) -> None: ...

class SetModeratorResponse(_message.Message):
    __slots__ = ("user_id", "moderator")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODERATOR_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    moderator: bool
    def __init__(self, user_id: _Optional[int] = ..., moderator: _Optional[bool] = ...) -> None: ...
