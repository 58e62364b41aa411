"""What user_svc publishes through its outbox: new accounts, profile changes, deleted and
suspended accounts, resolved reports."""

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


def account_suspended(*, user_id: int) -> user_events_pb2.AccountSuspended:
    """Return the event of a suspended account (every read path hides it)."""
    return user_events_pb2.AccountSuspended(user_id=user_id)


def account_unsuspended(*, user_id: int) -> user_events_pb2.AccountUnsuspended:
    """Return the event of a lifted suspension."""
    return user_events_pb2.AccountUnsuspended(user_id=user_id)


def report_resolved(
    *, report_id: int, reporter_id: int, target_type: str, target_id: int, outcome: str
) -> user_events_pb2.ReportResolved:
    """Return the event telling one reporter what became of their report."""
    return user_events_pb2.ReportResolved(
        report_id=report_id,
        reporter_id=reporter_id,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
    )
