import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MessageSent(_message.Message):
    __slots__ = ("conversation_id", "message_id", "sender_id", "recipient_ids", "is_group", "request_recipient_ids", "sent_at")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_IDS_FIELD_NUMBER: _ClassVar[int]
    IS_GROUP_FIELD_NUMBER: _ClassVar[int]
    REQUEST_RECIPIENT_IDS_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    message_id: int
    sender_id: int
    recipient_ids: _containers.RepeatedScalarFieldContainer[int]
    is_group: bool
    request_recipient_ids: _containers.RepeatedScalarFieldContainer[int]
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, conversation_id: _Optional[int] = ..., message_id: _Optional[int] = ..., sender_id: _Optional[int] = ..., recipient_ids: _Optional[_Iterable[int]] = ..., is_group: _Optional[bool] = ..., request_recipient_ids: _Optional[_Iterable[int]] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ConversationCreated(_message.Message):
    __slots__ = ("conversation_id", "creator_id", "participant_ids", "is_group")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CREATOR_ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_IDS_FIELD_NUMBER: _ClassVar[int]
    IS_GROUP_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    creator_id: int
    participant_ids: _containers.RepeatedScalarFieldContainer[int]
    is_group: bool
    def __init__(self, conversation_id: _Optional[int] = ..., creator_id: _Optional[int] = ..., participant_ids: _Optional[_Iterable[int]] = ..., is_group: _Optional[bool] = ...) -> None: ...
