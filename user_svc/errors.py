"""user_svc's domain errors, each with a stable reason.

- UsernameTaken, EmailTaken (ALREADY_EXISTS): the name or address belongs to another account.
- UserNotFound (NOT_FOUND): no account has that id or username.
- InvalidCredentials (UNAUTHENTICATED): unknown account or wrong password, told apart for nobody.
- RefreshTokenInvalid (UNAUTHENTICATED): unknown, expired or revoked refresh token.
- RefreshTokenReused (UNAUTHENTICATED): a spent refresh token came back; its family is revoked.
- NotProfileOwner (PERMISSION_DENIED): only an account's owner changes its profile.
- MediaNotUsable (INVALID_ARGUMENT): a profile picture must be a ready photo of one's own.
- AccountSuspended (PERMISSION_DENIED): a moderator suspended the account; it cannot sign in.
- NotAModerator (PERMISSION_DENIED): moderation routes are for moderators only.
- OwnContent (PERMISSION_DENIED): a moderator cannot act on their own content or account.
- ReportTargetNotFound (NOT_FOUND): the reported thing does not exist or the reporter cannot see it.
- ReportNotFound (NOT_FOUND): no report has that id.
- ReportResolved (FAILED_PRECONDITION): the report was already resolved.
- ReportsThrottled (RESOURCE_EXHAUSTED): the caller reported too much too fast.
- RelationshipUnknown (UNAVAILABLE): graph_svc cannot say whether a block hides an account from
  the viewer just now; nothing is served rather than something a block should hide (retry).
"""

from __future__ import annotations

from mesh.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PeerUnavailable,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)


class UsernameTaken(AlreadyExists):
    reason = "USERNAME_TAKEN"


class EmailTaken(AlreadyExists):
    reason = "EMAIL_TAKEN"


class UserNotFound(NotFound):
    reason = "USER_NOT_FOUND"


class InvalidCredentials(Unauthenticated):
    reason = "INVALID_CREDENTIALS"


class RefreshTokenInvalid(Unauthenticated):
    reason = "REFRESH_TOKEN_INVALID"


class RefreshTokenReused(Unauthenticated):
    reason = "REFRESH_TOKEN_REUSED"


class NotProfileOwner(PermissionDenied):
    reason = "NOT_PROFILE_OWNER"


class MediaNotUsable(InvalidArgument):
    reason = "MEDIA_NOT_USABLE"


class RelationshipUnknown(PeerUnavailable):
    reason = "RELATIONSHIP_UNAVAILABLE"


class AccountSuspended(PermissionDenied):
    reason = "ACCOUNT_SUSPENDED"


class NotAModerator(PermissionDenied):
    reason = "NOT_A_MODERATOR"


class OwnContent(PermissionDenied):
    reason = "OWN_CONTENT"


class ReportTargetNotFound(NotFound):
    reason = "REPORT_TARGET_NOT_FOUND"


class ReportNotFound(NotFound):
    reason = "REPORT_NOT_FOUND"


class ReportResolved(FailedPrecondition):
    reason = "REPORT_RESOLVED"


class ReportsThrottled(ResourceExhausted):
    reason = "REPORTS_THROTTLED"
