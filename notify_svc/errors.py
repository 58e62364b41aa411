"""notify_svc's domain errors, each with a stable reason.

- NotificationNotFound (NOT_FOUND, NOTIFICATION_NOT_FOUND): the caller has no notification with
  that id (another account's notification answers the same).
- TooManyStreams (RESOURCE_EXHAUSTED, TOO_MANY_STREAMS): the caller already holds the maximum of
  open notification streams.
- ShuttingDown (UNAVAILABLE, SHUTTING_DOWN): the service is stopping and opens no new stream;
  the caller reconnects (to another replica, or to this one once it is back).

Bad fields raise mesh.errors.InvalidArgument naming the field.
"""

from __future__ import annotations

from mesh.errors import NotFound, ResourceExhausted, Unavailable


class NotificationNotFound(NotFound):
    reason = "NOTIFICATION_NOT_FOUND"


class TooManyStreams(ResourceExhausted):
    reason = "TOO_MANY_STREAMS"


class ShuttingDown(Unavailable):
    reason = "SHUTTING_DOWN"
