import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReportTargetType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_TARGET_TYPE_UNSPECIFIED: _ClassVar[ReportTargetType]
    REPORT_TARGET_TYPE_POST: _ClassVar[ReportTargetType]
    REPORT_TARGET_TYPE_COMMENT: _ClassVar[ReportTargetType]
    REPORT_TARGET_TYPE_STORY: _ClassVar[ReportTargetType]
    REPORT_TARGET_TYPE_USER: _ClassVar[ReportTargetType]
    REPORT_TARGET_TYPE_MESSAGE: _ClassVar[ReportTargetType]

class ReportReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_REASON_UNSPECIFIED: _ClassVar[ReportReason]
    REPORT_REASON_SPAM: _ClassVar[ReportReason]
    REPORT_REASON_NUDITY: _ClassVar[ReportReason]
    REPORT_REASON_VIOLENCE: _ClassVar[ReportReason]
    REPORT_REASON_HARASSMENT: _ClassVar[ReportReason]
    REPORT_REASON_HATE: _ClassVar[ReportReason]
    REPORT_REASON_SELF_HARM: _ClassVar[ReportReason]
    REPORT_REASON_FALSE_INFORMATION: _ClassVar[ReportReason]
    REPORT_REASON_INTELLECTUAL_PROPERTY: _ClassVar[ReportReason]
    REPORT_REASON_OTHER: _ClassVar[ReportReason]

class ReportState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_STATE_UNSPECIFIED: _ClassVar[ReportState]
    REPORT_STATE_OPEN: _ClassVar[ReportState]
    REPORT_STATE_RESOLVED: _ClassVar[ReportState]

class ModerationAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODERATION_ACTION_UNSPECIFIED: _ClassVar[ModerationAction]
    MODERATION_ACTION_DISMISS: _ClassVar[ModerationAction]
    MODERATION_ACTION_REMOVE: _ClassVar[ModerationAction]
    MODERATION_ACTION_SUSPEND: _ClassVar[ModerationAction]
    MODERATION_ACTION_UNSUSPEND: _ClassVar[ModerationAction]
REPORT_TARGET_TYPE_UNSPECIFIED: ReportTargetType
REPORT_TARGET_TYPE_POST: ReportTargetType
REPORT_TARGET_TYPE_COMMENT: ReportTargetType
REPORT_TARGET_TYPE_STORY: ReportTargetType
REPORT_TARGET_TYPE_USER: ReportTargetType
REPORT_TARGET_TYPE_MESSAGE: ReportTargetType
REPORT_REASON_UNSPECIFIED: ReportReason
REPORT_REASON_SPAM: ReportReason
REPORT_REASON_NUDITY: ReportReason
REPORT_REASON_VIOLENCE: ReportReason
REPORT_REASON_HARASSMENT: ReportReason
REPORT_REASON_HATE: ReportReason
REPORT_REASON_SELF_HARM: ReportReason
REPORT_REASON_FALSE_INFORMATION: ReportReason
REPORT_REASON_INTELLECTUAL_PROPERTY: ReportReason
REPORT_REASON_OTHER: ReportReason
REPORT_STATE_UNSPECIFIED: ReportState
REPORT_STATE_OPEN: ReportState
REPORT_STATE_RESOLVED: ReportState
MODERATION_ACTION_UNSPECIFIED: ModerationAction
MODERATION_ACTION_DISMISS: ModerationAction
MODERATION_ACTION_REMOVE: ModerationAction
MODERATION_ACTION_SUSPEND: ModerationAction
MODERATION_ACTION_UNSUSPEND: ModerationAction

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

class Report(_message.Message):
    __slots__ = ("report_id", "target_type", "target_id", "reason", "note", "state", "resolution", "created_at")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    report_id: int
    target_type: ReportTargetType
    target_id: int
    reason: ReportReason
    note: str
    state: ReportState
    resolution: ModerationAction
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, report_id: _Optional[int] = ..., target_type: _Optional[_Union[ReportTargetType, str]] = ..., target_id: _Optional[int] = ..., reason: _Optional[_Union[ReportReason, str]] = ..., note: _Optional[str] = ..., state: _Optional[_Union[ReportState, str]] = ..., resolution: _Optional[_Union[ModerationAction, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReportGroup(_message.Message):
    __slots__ = ("report_id", "target_type", "target_id", "target_owner_id", "report_count", "reasons", "notes", "first_reported_at")
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_COUNT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    FIRST_REPORTED_AT_FIELD_NUMBER: _ClassVar[int]
    report_id: int
    target_type: ReportTargetType
    target_id: int
    target_owner_id: int
    report_count: int
    reasons: _containers.RepeatedScalarFieldContainer[ReportReason]
    notes: _containers.RepeatedScalarFieldContainer[str]
    first_reported_at: _timestamp_pb2.Timestamp
    def __init__(self, report_id: _Optional[int] = ..., target_type: _Optional[_Union[ReportTargetType, str]] = ..., target_id: _Optional[int] = ..., target_owner_id: _Optional[int] = ..., report_count: _Optional[int] = ..., reasons: _Optional[_Iterable[_Union[ReportReason, str]]] = ..., notes: _Optional[_Iterable[str]] = ..., first_reported_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModerationLogEntry(_message.Message):
    __slots__ = ("entry_id", "moderator_id", "action", "target_type", "target_id", "target_owner_id", "report_id", "report_count", "created_at")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    MODERATOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_TYPE_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    entry_id: int
    moderator_id: int
    action: ModerationAction
    target_type: ReportTargetType
    target_id: int
    target_owner_id: int
    report_id: int
    report_count: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, entry_id: _Optional[int] = ..., moderator_id: _Optional[int] = ..., action: _Optional[_Union[ModerationAction, str]] = ..., target_type: _Optional[_Union[ReportTargetType, str]] = ..., target_id: _Optional[int] = ..., target_owner_id: _Optional[int] = ..., report_id: _Optional[int] = ..., report_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
