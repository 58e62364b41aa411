"""media_svc's domain errors, each with a stable reason.

- UploadNotFound, MediaNotFound (NOT_FOUND): no such id, deleted, or another user's: ids are
  time-ordered, so PERMISSION_DENIED would tell a stranger that the id exists.
- BlobNotFound (NOT_FOUND): no stored file has that key.
- MediaTooLarge (INVALID_ARGUMENT, reason MEDIA_TOO_LARGE): the declared size is over the limit of
  its type; the edge answers it with 413.
- UnsupportedMediaType (INVALID_ARGUMENT): the declared type, or the bytes streamed, are not
  media we accept.
- StreamSizeMismatch (INVALID_ARGUMENT) while streaming, UploadSizeMismatch (FAILED_PRECONDITION)
  at CompleteUpload, both with reason UPLOAD_SIZE_MISMATCH: the bytes are more or fewer than
  declared.
- UploadIncomplete (FAILED_PRECONDITION): CompleteUpload before any bytes arrived.
- UploadExpired (FAILED_PRECONDITION): the upload's time ran out.
- UploadNotPending (FAILED_PRECONDITION): bytes for an upload that was already completed.
- UploadAlreadyCompleted (FAILED_PRECONDITION): CompleteUpload again with another filter, or on an
  upload that failed.
- ExportNotFound (NOT_FOUND): the account has no export (or it expired).
- NotExportOwner (PERMISSION_DENIED): only an account's owner exports its data.
"""

from __future__ import annotations

from mesh.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied


class UploadNotFound(NotFound):
    reason = "UPLOAD_NOT_FOUND"


class MediaNotFound(NotFound):
    reason = "MEDIA_NOT_FOUND"


class BlobNotFound(NotFound):
    reason = "BLOB_NOT_FOUND"


class MediaTooLarge(InvalidArgument):
    reason = "MEDIA_TOO_LARGE"


class UnsupportedMediaType(InvalidArgument):
    reason = "UNSUPPORTED_MEDIA_TYPE"


class StreamSizeMismatch(InvalidArgument):
    reason = "UPLOAD_SIZE_MISMATCH"


class UploadSizeMismatch(FailedPrecondition):
    reason = "UPLOAD_SIZE_MISMATCH"


class UploadIncomplete(FailedPrecondition):
    reason = "UPLOAD_INCOMPLETE"


class UploadExpired(FailedPrecondition):
    reason = "UPLOAD_EXPIRED"


class UploadNotPending(FailedPrecondition):
    reason = "UPLOAD_NOT_PENDING"


class UploadAlreadyCompleted(FailedPrecondition):
    reason = "UPLOAD_ALREADY_COMPLETED"


class ExportNotFound(NotFound):
    reason = "EXPORT_NOT_FOUND"


class NotExportOwner(PermissionDenied):
    reason = "NOT_EXPORT_OWNER"
