"""feed_svc's domain errors, each with a stable reason.

- SnapshotExpired (FAILED_PRECONDITION, FEED_SNAPSHOT_EXPIRED): a ranked home feed or explore
  page token whose snapshot is gone (older than snapshot_ttl_seconds, or the cache was lost);
  the client starts again from the first page.
- PostNotFound (NOT_FOUND, POST_NOT_FOUND): no such post, it was deleted, or the caller may not
  see it (the same answer, as post_svc gives).
- AuthorNotFound (NOT_FOUND, USER_NOT_FOUND): no such account, or it and the caller blocked one
  another.
- PrivateAccount (PERMISSION_DENIED, PRIVATE_ACCOUNT): a private account the caller does not
  follow.
- RelationshipUnknown (UNAVAILABLE, RELATIONSHIP_UNAVAILABLE): graph_svc could not say just now
  how the caller and an account stand (a block may hide it): fail closed, retry.

Bad fields raise mesh.errors.InvalidArgument naming the field (page_size, page_token, mode).
"""

from __future__ import annotations

from mesh.errors import FailedPrecondition, NotFound, PeerUnavailable, PermissionDenied


class SnapshotExpired(FailedPrecondition):
    reason = "FEED_SNAPSHOT_EXPIRED"


class PostNotFound(NotFound):
    reason = "POST_NOT_FOUND"


class AuthorNotFound(NotFound):
    reason = "USER_NOT_FOUND"


class PrivateAccount(PermissionDenied):
    reason = "PRIVATE_ACCOUNT"


class RelationshipUnknown(PeerUnavailable):
    reason = "RELATIONSHIP_UNAVAILABLE"
