"""user_svc's domain errors, each with a stable reason.

- UsernameTaken, EmailTaken (ALREADY_EXISTS): the name or address belongs to another account.
- UserNotFound (NOT_FOUND): no account has that id or username.
- InvalidCredentials (UNAUTHENTICATED): unknown account or wrong password, told apart for nobody.
- RefreshTokenInvalid (UNAUTHENTICATED): unknown, expired or revoked refresh token.
- RefreshTokenReused (UNAUTHENTICATED): a spent refresh token came back; its family is revoked.
- NotProfileOwner (PERMISSION_DENIED): only an account's owner changes its profile.
- MediaNotUsable (INVALID_ARGUMENT): a profile picture must be a ready photo of one's own.
- RelationshipUnknown (UNAVAILABLE): graph_svc cannot say whether a block hides an account from
  the viewer just now; nothing is served rather than something a block should hide (retry).
"""

from __future__ import annotations

from mesh.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
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


class RelationshipUnknown(Unavailable):
    reason = "RELATIONSHIP_UNAVAILABLE"
