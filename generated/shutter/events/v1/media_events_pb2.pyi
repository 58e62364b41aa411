from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class MediaReady(_message.Message):
    __slots__ = ("media_id", "owner_user_id", "is_video")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    IS_VIDEO_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    owner_user_id: int
    is_video: bool
    def __init__(self, media_id: _Optional[int] = ..., owner_user_id: _Optional[int] = ..., is_video: _Optional[bool] = ...) -> None: ...

class MediaFailed(_message.Message):
    __slots__ = ("media_id", "owner_user_id", "failure_code")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODE_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    owner_user_id: int
    failure_code: str
    def __init__(self, media_id: _Optional[int] = ..., owner_user_id: _Optional[int] = ..., failure_code: _Optional[str] = ...) -> None: ...

class MediaLadderFinished(_message.Message):
    __slots__ = ("media_id", "owner_user_id", "ready")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    owner_user_id: int
    ready: bool
    def __init__(self, media_id: _Optional[int] = ..., owner_user_id: _Optional[int] = ..., ready: _Optional[bool] = ...) -> None: ...

class MediaDeleted(_message.Message):
    __slots__ = ("media_id", "owner_user_id")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    owner_user_id: int
    def __init__(self, media_id: _Optional[int] = ..., owner_user_id: _Optional[int] = ...) -> None: ...
