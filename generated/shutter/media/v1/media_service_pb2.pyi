import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from shutter.media.v1 import media_pb2 as _media_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataExportState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_EXPORT_STATE_UNSPECIFIED: _ClassVar[DataExportState]
    DATA_EXPORT_STATE_BUILDING: _ClassVar[DataExportState]
    DATA_EXPORT_STATE_READY: _ClassVar[DataExportState]
    DATA_EXPORT_STATE_FAILED: _ClassVar[DataExportState]
DATA_EXPORT_STATE_UNSPECIFIED: DataExportState
DATA_EXPORT_STATE_BUILDING: DataExportState
DATA_EXPORT_STATE_READY: DataExportState
DATA_EXPORT_STATE_FAILED: DataExportState

class CreateUploadRequest(_message.Message):
    __slots__ = ("content_type", "size_bytes")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    size_bytes: int
    def __init__(self, content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class CreateUploadResponse(_message.Message):
    __slots__ = ("upload",)
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    upload: _media_pb2.Upload
    def __init__(self, upload: _Optional[_Union[_media_pb2.Upload, _Mapping]] = ...) -> None: ...

class UploadRequest(_message.Message):
    __slots__ = ("upload_id", "chunk")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    upload_id: int
    chunk: bytes
    def __init__(self, upload_id: _Optional[int] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadResponse(_message.Message):
    __slots__ = ("upload", "received_bytes")
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    upload: _media_pb2.Upload
    received_bytes: int
    def __init__(self, upload: _Optional[_Union[_media_pb2.Upload, _Mapping]] = ..., received_bytes: _Optional[int] = ...) -> None: ...

class CompleteUploadRequest(_message.Message):
    __slots__ = ("upload_id", "filter")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    upload_id: int
    filter: str
    def __init__(self, upload_id: _Optional[int] = ..., filter: _Optional[str] = ...) -> None: ...

class CompleteUploadResponse(_message.Message):
    __slots__ = ("upload",)
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    upload: _media_pb2.Upload
    def __init__(self, upload: _Optional[_Union[_media_pb2.Upload, _Mapping]] = ...) -> None: ...

class GetUploadRequest(_message.Message):
    __slots__ = ("upload_id",)
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    upload_id: int
    def __init__(self, upload_id: _Optional[int] = ...) -> None: ...

class GetUploadResponse(_message.Message):
    __slots__ = ("upload",)
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    upload: _media_pb2.Upload
    def __init__(self, upload: _Optional[_Union[_media_pb2.Upload, _Mapping]] = ...) -> None: ...

class GetMediaRequest(_message.Message):
    __slots__ = ("media_id",)
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    def __init__(self, media_id: _Optional[int] = ...) -> None: ...

class GetMediaResponse(_message.Message):
    __slots__ = ("media",)
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    media: _media_pb2.Media
    def __init__(self, media: _Optional[_Union[_media_pb2.Media, _Mapping]] = ...) -> None: ...

class BatchGetMediaRequest(_message.Message):
    __slots__ = ("media_ids",)
    MEDIA_IDS_FIELD_NUMBER: _ClassVar[int]
    media_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, media_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetMediaResponse(_message.Message):
    __slots__ = ("media",)
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    media: _containers.RepeatedCompositeFieldContainer[_media_pb2.Media]
    def __init__(self, media: _Optional[_Iterable[_Union[_media_pb2.Media, _Mapping]]] = ...) -> None: ...

class DeleteMediaRequest(_message.Message):
    __slots__ = ("media_id",)
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    def __init__(self, media_id: _Optional[int] = ...) -> None: ...

class DeleteMediaResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReadBlobRequest(_message.Message):
    __slots__ = ("key", "offset", "length", "suffix_length", "metadata_only", "expires", "signature")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    SUFFIX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    METADATA_ONLY_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    key: str
    offset: int
    length: int
    suffix_length: int
    metadata_only: bool
    expires: int
    signature: str
    def __init__(self, key: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., suffix_length: _Optional[int] = ..., metadata_only: _Optional[bool] = ..., expires: _Optional[int] = ..., signature: _Optional[str] = ...) -> None: ...

class BlobMetadata(_message.Message):
    __slots__ = ("content_type", "size_bytes", "etag", "modified_at", "offset", "length")
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_AT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    size_bytes: int
    etag: str
    modified_at: _timestamp_pb2.Timestamp
    offset: int
    length: int
    def __init__(self, content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., etag: _Optional[str] = ..., modified_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class ReadBlobResponse(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: BlobMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[BlobMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class CreateDataExportRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class CreateDataExportResponse(_message.Message):
    __slots__ = ("export",)
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    export: DataExport
    def __init__(self, export: _Optional[_Union[DataExport, _Mapping]] = ...) -> None: ...

class GetDataExportRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: int
    def __init__(self, user_id: _Optional[int] = ...) -> None: ...

class GetDataExportResponse(_message.Message):
    __slots__ = ("export",)
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    export: DataExport
    def __init__(self, export: _Optional[_Union[DataExport, _Mapping]] = ...) -> None: ...

class DataExport(_message.Message):
    __slots__ = ("export_id", "state", "created_at", "ready_at", "expires_at", "download_url", "url_expires_at", "size_bytes")
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    READY_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    URL_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    export_id: int
    state: DataExportState
    created_at: _timestamp_pb2.Timestamp
    ready_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    download_url: str
    url_expires_at: _timestamp_pb2.Timestamp
    size_bytes: int
    def __init__(self, export_id: _Optional[int] = ..., state: _Optional[_Union[DataExportState, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ready_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., download_url: _Optional[str] = ..., url_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., size_bytes: _Optional[int] = ...) -> None: ...
