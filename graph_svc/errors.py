"""graph_svc's domain errors, each with a stable reason.

- UserNotFound (NOT_FOUND, USER_NOT_FOUND): no account has that id, or it blocked the caller (or,
  for Follow, the caller blocked it); the two cases are told apart for nobody.
- FollowRequestNotFound (NOT_FOUND, FOLLOW_REQUEST_NOT_FOUND): approving an account that neither
  asked to follow the caller nor follows them.
- PrivateAccount (PERMISSION_DENIED, PRIVATE_ACCOUNT): a private account's lists are for the
  account and its approved followers.
- NotViewer (PERMISSION_DENIED, NOT_VIEWER): a user asked on behalf of another viewer.
- ServiceRequired (PERMISSION_DENIED, SERVICE_REQUIRED): an internal call made by a user.

Bad fields raise mesh.errors.InvalidArgument naming the field; acting on one's own account (follow,
block, mute yourself...) has the reason CANNOT_TARGET_SELF.
"""

from __future__ import annotations

from mesh.errors import NotFound, PermissionDenied

CANNOT_TARGET_SELF = "CANNOT_TARGET_SELF"


class UserNotFound(NotFound):
    reason = "USER_NOT_FOUND"


class FollowRequestNotFound(NotFound):
    reason = "FOLLOW_REQUEST_NOT_FOUND"


class PrivateAccount(PermissionDenied):
    reason = "PRIVATE_ACCOUNT"


class NotViewer(PermissionDenied):
    reason = "NOT_VIEWER"


class ServiceRequired(PermissionDenied):
    reason = "SERVICE_REQUIRED"
