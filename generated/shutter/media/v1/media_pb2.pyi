import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MediaType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEDIA_TYPE_UNSPECIFIED: _ClassVar[MediaType]
    MEDIA_TYPE_PHOTO: _ClassVar[MediaType]
    MEDIA_TYPE_VIDEO: _ClassVar[MediaType]

class MediaStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEDIA_STATUS_UNSPECIFIED: _ClassVar[MediaStatus]
    MEDIA_STATUS_PENDING: _ClassVar[MediaStatus]
    MEDIA_STATUS_PROCESSING: _ClassVar[MediaStatus]
    MEDIA_STATUS_READY: _ClassVar[MediaStatus]
    MEDIA_STATUS_FAILED: _ClassVar[MediaStatus]

class UploadStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    UPLOAD_STATUS_UNSPECIFIED: _ClassVar[UploadStatus]
    UPLOAD_STATUS_PENDING: _ClassVar[UploadStatus]
    UPLOAD_STATUS_PROCESSING: _ClassVar[UploadStatus]
    UPLOAD_STATUS_READY: _ClassVar[UploadStatus]
    UPLOAD_STATUS_FAILED: _ClassVar[UploadStatus]

class HlsStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HLS_STATUS_UNSPECIFIED: _ClassVar[HlsStatus]
    HLS_STATUS_PROCESSING: _ClassVar[HlsStatus]
    HLS_STATUS_READY: _ClassVar[HlsStatus]
    HLS_STATUS_FAILED: _ClassVar[HlsStatus]
MEDIA_TYPE_UNSPECIFIED: MediaType
MEDIA_TYPE_PHOTO: MediaType
MEDIA_TYPE_VIDEO: MediaType
MEDIA_STATUS_UNSPECIFIED: MediaStatus
MEDIA_STATUS_PENDING: MediaStatus
MEDIA_STATUS_PROCESSING: MediaStatus
MEDIA_STATUS_READY: MediaStatus
MEDIA_STATUS_FAILED: MediaStatus
UPLOAD_STATUS_UNSPECIFIED: UploadStatus
UPLOAD_STATUS_PENDING: UploadStatus
UPLOAD_STATUS_PROCESSING: UploadStatus
UPLOAD_STATUS_READY: UploadStatus
UPLOAD_STATUS_FAILED: UploadStatus
HLS_STATUS_UNSPECIFIED: HlsStatus
HLS_STATUS_PROCESSING: HlsStatus
HLS_STATUS_READY: HlsStatus
HLS_STATUS_FAILED: HlsStatus

class MediaVariants(_message.Message):
    __slots__ = ("thumbnail", "feed", "full", "thumbnail_webp", "feed_webp", "full_webp", "thumbnail_key", "story", "story_full", "story_webp", "story_full_webp", "story_width", "story_height")
    THUMBNAIL_FIELD_NUMBER: _ClassVar[int]
    FEED_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_WEBP_FIELD_NUMBER: _ClassVar[int]
    FEED_WEBP_FIELD_NUMBER: _ClassVar[int]
    FULL_WEBP_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_KEY_FIELD_NUMBER: _ClassVar[int]
    STORY_FIELD_NUMBER: _ClassVar[int]
    STORY_FULL_FIELD_NUMBER: _ClassVar[int]
    STORY_WEBP_FIELD_NUMBER: _ClassVar[int]
    STORY_FULL_WEBP_FIELD_NUMBER: _ClassVar[int]
    STORY_WIDTH_FIELD_NUMBER: _ClassVar[int]
    STORY_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    thumbnail: str
    feed: str
    full: str
    thumbnail_webp: str
    feed_webp: str
    full_webp: str
    thumbnail_key: str
    story: str
    story_full: str
    story_webp: str
    story_full_webp: str
    story_width: int
    story_height: int
    def __init__(self, thumbnail: _Optional[str] = ..., feed: _Optional[str] = ..., full: _Optional[str] = ..., thumbnail_webp: _Optional[str] = ..., feed_webp: _Optional[str] = ..., full_webp: _Optional[str] = ..., thumbnail_key: _Optional[str] = ..., story: _Optional[str] = ..., story_full: _Optional[str] = ..., story_webp: _Optional[str] = ..., story_full_webp: _Optional[str] = ..., story_width: _Optional[int] = ..., story_height: _Optional[int] = ...) -> None: ...

class VideoRendition(_message.Message):
    __slots__ = ("url", "width", "height", "label", "size_bytes")
    URL_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    url: str
    width: int
    height: int
    label: str
    size_bytes: int
    def __init__(self, url: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., label: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class Media(_message.Message):
    __slots__ = ("media_id", "owner_user_id", "type", "status", "width", "height", "variants", "duration_ms", "video_url", "video_renditions", "filter", "created_at", "hls_url", "hls_status", "alt_text")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_USER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    VIDEO_URL_FIELD_NUMBER: _ClassVar[int]
    VIDEO_RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    HLS_URL_FIELD_NUMBER: _ClassVar[int]
    HLS_STATUS_FIELD_NUMBER: _ClassVar[int]
    ALT_TEXT_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    owner_user_id: int
    type: MediaType
    status: MediaStatus
    width: int
    height: int
    variants: MediaVariants
    duration_ms: int
    video_url: str
    video_renditions: _containers.RepeatedCompositeFieldContainer[VideoRendition]
    filter: str
    created_at: _timestamp_pb2.Timestamp
    hls_url: str
    hls_status: HlsStatus
    alt_text: str
    def __init__(self, media_id: _Optional[int] = ..., owner_user_id: _Optional[int] = ..., type: _Optional[_Union[MediaType, str]] = ..., status: _Optional[_Union[MediaStatus, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., variants: _Optional[_Union[MediaVariants, _Mapping]] = ..., duration_ms: _Optional[int] = ..., video_url: _Optional[str] = ..., video_renditions: _Optional[_Iterable[_Union[VideoRendition, _Mapping]]] = ..., filter: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hls_url: _Optional[str] = ..., hls_status: _Optional[_Union[HlsStatus, str]] = ..., alt_text: _Optional[str] = ...) -> None: ...

class Upload(_message.Message):
    __slots__ = ("upload_id", "media_id", "status", "upload_url", "upload_method", "upload_headers", "expires_at", "content_type", "size_bytes", "media", "failure_reason", "failure_code", "created_at")
    class UploadHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_METHOD_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_HEADERS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    upload_id: int
    media_id: int
    status: UploadStatus
    upload_url: str
    upload_method: str
    upload_headers: _containers.ScalarMap[str, str]
    expires_at: _timestamp_pb2.Timestamp
    content_type: str
    size_bytes: int
    media: Media
    failure_reason: str
    failure_code: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, upload_id: _Optional[int] = ..., media_id: _Optional[int] = ..., status: _Optional[_Union[UploadStatus, str]] = ..., upload_url: _Optional[str] = ..., upload_method: _Optional[str] = ..., upload_headers: _Optional[_Mapping[str, str]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., failure_reason: _Optional[str] = ..., failure_code: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
