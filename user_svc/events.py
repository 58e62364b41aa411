"""What user_svc publishes through its outbox: new accounts, profile changes, deleted accounts."""

from __future__ import annotations

from datetime import datetime

from mesh import convert
from shutter.events.v1 import user_events_pb2


def user_registered(*, user_id: int, username: str) -> user_events_pb2.UserRegistered:
    """Return the event of a new account."""
    return user_events_pb2.UserRegistered(user_id=user_id, username=username)


def profile_updated(
    *, user_id: int, is_private: bool, was_private: bool
) -> user_events_pb2.UserProfileUpdated:
    """Return the event of a changed profile (going public approves pending follow requests)."""
    return user_events_pb2.UserProfileUpdated(
        user_id=user_id, is_private=is_private, became_public=was_private and not is_private
    )


def account_deleted(*, user_id: int, at: datetime) -> user_events_pb2.AccountDeleted:
    """Return the event of a deleted account: every service removes what it holds of it."""
    return user_events_pb2.AccountDeleted(user_id=user_id, deleted_at=convert.timestamp(at))
