"""Trust and safety rules: reports, the moderator role, resolutions, suspensions, the audit log.

Reports are kept here, beside the accounts, roles and suspensions they lead to; the reported
content stays with its owner (post_svc for posts, comments and stories, graph_svc for the
reporter's block of a reported account, message_svc for messages), reached through
`ContentOwners`. Names (target types, reasons, actions) are the lower-case enum value names
without their prefix, as stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from mesh import pagination
from mesh.errors import InvalidArgument
from mesh.ids import IdGenerator
from mesh.ratelimit import Limiter, Rate
from mesh.revocation import Revocations
from mesh.text import check_free_text
from user_svc import events
from user_svc.errors import (
    NotAModerator,
    OwnContent,
    ReportNotFound,
    ReportResolved,
    ReportsThrottled,
    ReportTargetNotFound,
    UserNotFound,
)
from user_svc.store import LogEntryRecord, ReportGroupRecord, ReportRecord, UserStore

if TYPE_CHECKING:
    from user_svc.domain import FeedSync

TARGET_TYPES = ("post", "comment", "story", "user", "message")
# Content a moderator can remove through its owner's delete path (an account is suspended).
REMOVABLE_TYPES = ("post", "comment", "story", "message")
REASONS = (
    "spam",
    "nudity",
    "violence",
    "harassment",
    "hate",
    "self_harm",
    "false_information",
    "intellectual_property",
    "other",
)
RESOLUTIONS = ("dismiss", "remove", "suspend")
NOTE_MAX = 500
PAGE_DEFAULT = 20
PAGE_MAX = 100
# Kept revoked a little past the tokens' lifetime: verifiers' clocks may run a little behind.
SESSION_REVOCATION_SLACK_SECONDS = 60


class ContentOwners(Protocol):
    """The services that own reported things, as the moderation rules need them."""

    async def owner(self, *, target_type: str, target_id: int, viewer_id: int) -> int:
        """Return the account that owns a thing the viewer can see (0: any viewer); raise
        ReportTargetNotFound when it does not exist or the viewer cannot see it."""
        ...

    async def hide_from(self, *, target_type: str, target_id: int, viewer_id: int) -> None:
        """Make sure the viewer no longer sees the thing (idempotent)."""
        ...

    async def remove(self, *, target_type: str, target_id: int) -> None:
        """Delete the thing through its owner's own delete path (idempotent)."""
        ...


@dataclass(frozen=True)
class Moderator:
    """A moderator's id."""

    user_id: int


class Moderation:
    """The rules of reports and of what moderators may do."""

    def __init__(
        self,
        store: UserStore,
        *,
        ids: IdGenerator,
        owners: ContentOwners,
        limiter: Limiter,
        report_rate: Rate,
        session_ttl_seconds: int,
        revocations: Revocations | None = None,
        feed: FeedSync | None = None,
    ) -> None:
        self._feed = feed
        self._store = store
        self._ids = ids
        self._owners = owners
        self._limiter = limiter
        self._report_rate = report_rate
        self._session_ttl = session_ttl_seconds
        self._revocations = revocations

    # -- reports ---------------------------------------------------------------------------

    async def report(
        self, *, caller: int, target_type: str, target_id: int, reason: str, note: str
    ) -> ReportRecord:
        """Report a thing the caller can see and hide it from them at once; a second report of
        the same thing by the same caller answers the first and changes nothing."""
        target_type = _check_target_type(target_type)
        if target_id <= 0:
            raise InvalidArgument.field("target_id", "must be a positive id")
        if reason not in REASONS:
            raise InvalidArgument.field("reason", "must be one of the listed reasons")
        note = check_free_text("note", note, limit=NOTE_MAX, multiline=True, required=False)
        async with self._store.transaction() as tx:
            earlier = await self._store.find_report(
                tx, reporter_id=caller, target_type=target_type, target_id=target_id
            )
        if earlier is not None:
            return earlier
        decision = await self._limiter.hit(f"reports:{caller}", self._report_rate)
        if not decision.allowed:
            seconds = max(1, int(decision.retry_after + 0.999))
            raise ReportsThrottled(
                f"too many reports; try again in {seconds} s",
                metadata={"retry_after_seconds": str(seconds)},
            )
        owner = await self._target_owner(caller, target_type, target_id)
        if owner == caller:
            raise InvalidArgument.field("target_id", "you cannot report your own account or posts")
        await self._owners.hide_from(target_type=target_type, target_id=target_id, viewer_id=caller)
        report = ReportRecord(
            report_id=self._ids.next_id(),
            reporter_id=caller,
            target_type=target_type,
            target_id=target_id,
            target_owner_id=owner,
            reason=reason,
            note=note,
            state="open",
            resolution="",
            created_at=datetime.now(UTC),
            resolved_at=None,
        )
        async with self._store.transaction() as tx:
            if not await self._store.insert_report(tx, report=report):
                # Two reports of the same thing raced: the first one stands.
                found = await self._store.find_report(
                    tx, reporter_id=caller, target_type=target_type, target_id=target_id
                )
                assert found is not None
                return found
        return report

    async def _target_owner(self, viewer: int, target_type: str, target_id: int) -> int:
        if target_type == "user":
            async with self._store.transaction() as tx:
                account = await self._store.get_user(tx, user_id=target_id)
            if account is None or account.suspended_at is not None:
                raise ReportTargetNotFound("no account has that id")
        return await self._owners.owner(
            target_type=target_type, target_id=target_id, viewer_id=viewer
        )

    # -- moderators ------------------------------------------------------------------------

    async def require_moderator(self, caller: int) -> Moderator:
        """Return the caller as a moderator, read from the primary on every call (so a revoked
        role ends access on the next request), or raise NotAModerator."""
        async with self._store.transaction() as tx:
            account = await self._store.get_user(tx, user_id=caller)
        if account is None or not account.is_moderator or account.suspended_at is not None:
            raise NotAModerator("only moderators may do this")
        return Moderator(caller)

    async def set_moderator(self, *, username: str, moderator: bool) -> int:
        """Grant or revoke the moderator role; return the account's id."""
        return await set_moderator(self._store, username=username, moderator=moderator)

    async def report_groups(
        self, *, caller: int, state: str, page_size: int, page_token: str
    ) -> tuple[list[ReportGroupRecord], str]:
        """Return one page of reported things in a state, oldest first, for a moderator."""
        await self.require_moderator(caller)
        if state not in ("open", "resolved"):
            raise InvalidArgument.field("state", "must be open or resolved")
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        after = _cursor(page_token, kind=f"reports:{state}")
        async with self._store.transaction() as tx:
            groups = await self._store.list_report_groups(
                tx, state=state, after=after, limit=limit + 1
            )
        page = groups[:limit]
        token = (
            pagination.encode_token({"k": f"reports:{state}", "at": page[-1].first.report_id})
            if len(groups) > limit
            else ""
        )
        return page, token

    async def resolve(self, *, caller: int, report_id: int, action: str) -> LogEntryRecord:
        """Resolve a report and every open report of the same thing: dismiss, remove the content
        or suspend its owner; log it and tell each reporter."""
        moderator = await self.require_moderator(caller)
        if action not in RESOLUTIONS:
            raise InvalidArgument.field("action", "must be dismiss, remove or suspend")
        async with self._store.transaction() as tx:
            report = await self._store.get_report(tx, report_id=report_id)
        if report is None:
            raise ReportNotFound("no report has that id")
        if report.target_owner_id == moderator.user_id:
            raise OwnContent("you cannot act on your own content or account")
        if report.state != "open":
            raise ReportResolved("this report was already resolved")
        if action == "remove":
            if report.target_type not in REMOVABLE_TYPES:
                raise InvalidArgument.field(
                    "action", "an account cannot be removed; suspend it instead"
                )
            # Through the owner's delete path first: a failure leaves the report open to retry.
            await self._owners.remove(target_type=report.target_type, target_id=report.target_id)
        now = datetime.now(UTC)
        ended: list[int] = []
        announced: list[Any] = []
        async with self._store.transaction() as tx:
            resolved = await self._store.resolve_reports(
                tx,
                target_type=report.target_type,
                target_id=report.target_id,
                resolution=action,
                at=now,
            )
            if not resolved:
                raise ReportResolved("this report was already resolved")
            if action == "suspend":
                ended = await self._suspend(
                    tx, user_id=report.target_owner_id, at=now, announced=announced
                )
            entry = LogEntryRecord(
                entry_id=self._ids.next_id(),
                moderator_id=moderator.user_id,
                action=action,
                target_type=report.target_type,
                target_id=report.target_id,
                target_owner_id=report.target_owner_id,
                report_id=report.report_id,
                report_count=len(resolved),
                created_at=now,
            )
            await self._store.add_log_entry(tx, entry=entry)
            for each in resolved:
                await self._store.outbox.add(
                    tx,
                    aggregate_id=each.reporter_id,
                    event=events.report_resolved(
                        report_id=each.report_id,
                        reporter_id=each.reporter_id,
                        target_type=each.target_type,
                        target_id=each.target_id,
                        outcome=action,
                    ),
                )
        await self._end_sessions(ended)
        await self._tell_feed(announced)
        return entry

    async def _suspend(
        self, tx: Any, *, user_id: int, at: datetime, announced: list[Any]
    ) -> list[int]:
        """Suspend an account in the caller's transaction; return its ended sessions (the
        events announcing it go into `announced`)."""
        account = await self._store.get_user(tx, user_id=user_id)
        if account is None:
            raise ReportTargetNotFound("the reported account no longer exists")
        if account.suspended_at is None:
            await self._store.update_user(tx, user_id=user_id, changes={"suspended_at": at})
            announced += await self._announce(
                tx, account.user_id, account.is_private, suspended=True
            )
        return await self._store.revoke_user_sessions(tx, user_id=user_id)

    async def _tell_feed(self, announced: list[Any]) -> None:
        # After the commit, before answering: the profile feed_svc serves is hidden (or back) on
        # the next read.
        if announced and self._feed is not None:
            await self._feed.apply(announced)

    async def _announce(
        self, tx: Any, user_id: int, is_private: bool, *, suspended: bool
    ) -> list[Any]:
        """Publish a suspension or its end, and a profile change beside it: the summary that
        services keep of the account is gone (or back), so the ones that cache it (graph_svc's
        privacy rule, feed_svc's read model) ask user_svc again, which hides a suspended one."""
        changed = (
            events.account_suspended(user_id=user_id)
            if suspended
            else events.account_unsuspended(user_id=user_id)
        )
        return [
            await self._store.outbox.add(tx, aggregate_id=user_id, event=changed),
            await self._store.outbox.add(
                tx,
                aggregate_id=user_id,
                event=events.profile_updated(
                    user_id=user_id, is_private=is_private, was_private=is_private
                ),
            ),
        ]

    async def _end_sessions(self, families: list[int]) -> None:
        """Refuse the sessions' access tokens everywhere until the last of them has expired."""
        if families and self._revocations is not None:
            until = time.time() + self._session_ttl + SESSION_REVOCATION_SLACK_SECONDS
            await self._revocations.revoke([str(f) for f in families], until=until)

    async def unsuspend(self, *, caller: int, user_id: int) -> LogEntryRecord:
        """Lift a suspension (idempotent: lifting none still logs the moderator's action)."""
        moderator = await self.require_moderator(caller)
        if user_id <= 0:
            raise InvalidArgument.field("user_id", "must be a positive id")
        if user_id == moderator.user_id:
            raise OwnContent("you cannot act on your own account")
        now = datetime.now(UTC)
        announced: list[Any] = []
        async with self._store.transaction() as tx:
            account = await self._store.get_user(tx, user_id=user_id)
            if account is None:
                raise UserNotFound("no user has that id")
            if account.suspended_at is not None:
                await self._store.update_user(tx, user_id=user_id, changes={"suspended_at": None})
                announced = await self._announce(tx, user_id, account.is_private, suspended=False)
            entry = LogEntryRecord(
                entry_id=self._ids.next_id(),
                moderator_id=moderator.user_id,
                action="unsuspend",
                target_type="user",
                target_id=user_id,
                target_owner_id=user_id,
                report_id=0,
                report_count=0,
                created_at=now,
            )
            await self._store.add_log_entry(tx, entry=entry)
        await self._tell_feed(announced)
        return entry

    async def audit_log(
        self, *, caller: int, page_size: int, page_token: str
    ) -> tuple[list[LogEntryRecord], str]:
        """Return one page of the audit log, newest first, for a moderator."""
        await self.require_moderator(caller)
        limit = pagination.page_size(page_size, default=PAGE_DEFAULT, maximum=PAGE_MAX)
        before = _cursor(page_token, kind="audit")
        async with self._store.transaction() as tx:
            rows = await self._store.list_log(tx, before=before, limit=limit + 1)
        page = rows[:limit]
        token = (
            pagination.encode_token({"k": "audit", "at": page[-1].entry_id})
            if len(rows) > limit
            else ""
        )
        return page, token


async def set_moderator(store: UserStore, *, username: str, moderator: bool) -> int:
    """Grant or revoke an account's moderator role (the `shutter admin` commands, which open
    the store alone); return the account's id."""
    async with store.transaction() as tx:
        account = await store.get_user_by_username(tx, username=username)
        if account is None:
            raise UserNotFound("no user has that username")
        await store.update_user(tx, user_id=account.user_id, changes={"is_moderator": moderator})
    return account.user_id


def _check_target_type(target_type: str) -> str:
    if target_type not in TARGET_TYPES:
        raise InvalidArgument.field("target_type", "must be post, comment, story, user or message")
    return target_type


def _cursor(page_token: str, *, kind: str) -> int:
    cursor = pagination.decode_token(page_token)
    if cursor is None:
        return 0
    at = cursor.get("at")
    if cursor.get("k") != kind or not isinstance(at, int):
        raise InvalidArgument.field("page_token", "does not belong to this list")
    return at
