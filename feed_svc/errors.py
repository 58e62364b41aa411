"""feed_svc's domain errors, each with a stable reason.

- SnapshotExpired (FAILED_PRECONDITION, FEED_SNAPSHOT_EXPIRED): a ranked home feed or explore
  page token whose snapshot is gone (older than snapshot_ttl_seconds, or the cache was lost);
  the client starts again from the first page.

Bad fields raise mesh.errors.InvalidArgument naming the field (page_size, page_token, mode).
"""

from __future__ import annotations

from mesh.errors import FailedPrecondition


class SnapshotExpired(FailedPrecondition):
    reason = "FEED_SNAPSHOT_EXPIRED"
