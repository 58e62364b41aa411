from google.api import annotations_pb2 as _annotations_pb2
from shutter.events.v1 import envelope_pb2 as _envelope_pb2
from shutter.message.v1 import message_pb2 as _message_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateConversationRequest(_message.Message):
    __slots__ = ("participant_ids", "title")
    PARTICIPANT_IDS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    participant_ids: _containers.RepeatedScalarFieldContainer[int]
    title: str
    def __init__(self, participant_ids: _Optional[_Iterable[int]] = ..., title: _Optional[str] = ...) -> None: ...

class CreateConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _message_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_message_pb2.Conversation, _Mapping]] = ...) -> None: ...

class GetConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    def __init__(self, conversation_id: _Optional[int] = ...) -> None: ...

class GetConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _message_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_message_pb2.Conversation, _Mapping]] = ...) -> None: ...

class ListConversationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConversationsResponse(_message.Message):
    __slots__ = ("conversations", "next_page_token")
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversations: _containers.RepeatedCompositeFieldContainer[_message_pb2.Conversation]
    next_page_token: str
    def __init__(self, conversations: _Optional[_Iterable[_Union[_message_pb2.Conversation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListConversationRequestsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListConversationRequestsResponse(_message.Message):
    __slots__ = ("conversations", "next_page_token")
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversations: _containers.RepeatedCompositeFieldContainer[_message_pb2.Conversation]
    next_page_token: str
    def __init__(self, conversations: _Optional[_Iterable[_Union[_message_pb2.Conversation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AcceptConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    def __init__(self, conversation_id: _Optional[int] = ...) -> None: ...

class AcceptConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _message_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_message_pb2.Conversation, _Mapping]] = ...) -> None: ...

class DeleteConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    def __init__(self, conversation_id: _Optional[int] = ...) -> None: ...

class DeleteConversationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("conversation_id", "client_message_id", "text", "media_id", "shared_post_id")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    SHARED_POST_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    client_message_id: str
    text: str
    media_id: int
    shared_post_id: int
    def __init__(self, conversation_id: _Optional[int] = ..., client_message_id: _Optional[str] = ..., text: _Optional[str] = ..., media_id: _Optional[int] = ..., shared_post_id: _Optional[int] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: _message_pb2.Message
    def __init__(self, message: _Optional[_Union[_message_pb2.Message, _Mapping]] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ("conversation_id", "page_size", "page_token")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    page_size: int
    page_token: str
    def __init__(self, conversation_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[_message_pb2.Message]
    next_page_token: str
    def __init__(self, messages: _Optional[_Iterable[_Union[_message_pb2.Message, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteMessageRequest(_message.Message):
    __slots__ = ("conversation_id", "message_id")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    message_id: int
    def __init__(self, conversation_id: _Optional[int] = ..., message_id: _Optional[int] = ...) -> None: ...

class DeleteMessageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class MarkConversationReadRequest(_message.Message):
    __slots__ = ("conversation_id", "message_id")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    message_id: int
    def __init__(self, conversation_id: _Optional[int] = ..., message_id: _Optional[int] = ...) -> None: ...

class MarkConversationReadResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _message_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_message_pb2.Conversation, _Mapping]] = ...) -> None: ...

class GetUnreadCountRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetUnreadCountResponse(_message.Message):
    __slots__ = ("unread_count",)
    UNREAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    unread_count: int
    def __init__(self, unread_count: _Optional[int] = ...) -> None: ...

class AddParticipantsRequest(_message.Message):
    __slots__ = ("conversation_id", "user_ids")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, conversation_id: _Optional[int] = ..., user_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class AddParticipantsResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _message_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_message_pb2.Conversation, _Mapping]] = ...) -> None: ...

class LeaveConversationRequest(_message.Message):
    __slots__ = ("conversation_id",)
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: int
    def __init__(self, conversation_id: _Optional[int] = ...) -> None: ...

class LeaveConversationResponse(_message.Message):
    __slots__ = ("conversation",)
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    conversation: _message_pb2.Conversation
    def __init__(self, conversation: _Optional[_Union[_message_pb2.Conversation, _Mapping]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("after_message_id",)
    AFTER_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    after_message_id: int
    def __init__(self, after_message_id: _Optional[int] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("opened", "message", "heartbeat", "unsent")
    OPENED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    UNSENT_FIELD_NUMBER: _ClassVar[int]
    opened: StreamOpened
    message: _message_pb2.Message
    heartbeat: Heartbeat
    unsent: MessageUnsent
    def __init__(self, opened: _Optional[_Union[StreamOpened, _Mapping]] = ..., message: _Optional[_Union[_message_pb2.Message, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., unsent: _Optional[_Union[MessageUnsent, _Mapping]] = ...) -> None: ...

class MessageUnsent(_message.Message):
    __slots__ = ("event_id", "conversation_id", "message_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    conversation_id: int
    message_id: int
    def __init__(self, event_id: _Optional[int] = ..., conversation_id: _Optional[int] = ..., message_id: _Optional[int] = ...) -> None: ...

class ApplyEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_envelope_pb2.EventEnvelope]
    def __init__(self, events: _Optional[_Iterable[_Union[_envelope_pb2.EventEnvelope, _Mapping]]] = ...) -> None: ...

class ApplyEventsResponse(_message.Message):
    __slots__ = ("applied_count",)
    APPLIED_COUNT_FIELD_NUMBER: _ClassVar[int]
    applied_count: int
    def __init__(self, applied_count: _Optional[int] = ...) -> None: ...

class StreamOpened(_message.Message):
    __slots__ = ("heartbeat_interval_ms",)
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    heartbeat_interval_ms: int
    def __init__(self, heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

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

class GetReportedMessageRequest(_message.Message):
    __slots__ = ("message_id", "viewer_id")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: int
    viewer_id: int
    def __init__(self, message_id: _Optional[int] = ..., viewer_id: _Optional[int] = ...) -> None: ...

class GetReportedMessageResponse(_message.Message):
    __slots__ = ("sender_id",)
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    sender_id: int
    def __init__(self, sender_id: _Optional[int] = ...) -> None: ...

class HideReportedMessageRequest(_message.Message):
    __slots__ = ("message_id", "viewer_id")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    VIEWER_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: int
    viewer_id: int
    def __init__(self, message_id: _Optional[int] = ..., viewer_id: _Optional[int] = ...) -> None: ...

class HideReportedMessageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RemoveReportedMessageRequest(_message.Message):
    __slots__ = ("message_id",)
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: int
    def __init__(self, message_id: _Optional[int] = ...) -> None: ...

class RemoveReportedMessageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CountUnreadConversationsRequest(_message.Message):
    __slots__ = ("user_ids",)
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, user_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class CountUnreadConversationsResponse(_message.Message):
    __slots__ = ("unread_conversations",)
    class UnreadConversationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    UNREAD_CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    unread_conversations: _containers.ScalarMap[int, int]
    def __init__(self, unread_conversations: _Optional[_Mapping[int, int]] = ...) -> None: ...
