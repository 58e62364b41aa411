from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

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
