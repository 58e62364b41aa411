"""The rules of the social graph: who may follow, request, block and mute whom, and who sees what.

Accounts and their privacy belong to user_svc; the graph asks it through a UserDirectory, one
batch call at a time, never one call per account. Every change is written together with its
events (the outbox) in one transaction, after locking the pair of accounts it concerns.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from graph_svc import events
from graph_svc.errors import (
    CANNOT_TARGET_SELF,
    FollowRequestNotFound,
    NotViewer,
    PrivateAccount,
    ServiceRequired,
    UserNotFound,
)
from graph_svc.store import TIE_KINDS, Counts, Edge, GraphStore, Relationship
from mesh import pagination
from mesh.context import Principal
from mesh.errors import InvalidArgument
from mesh.export import EXPORT_PAGE, EXPORT_ROWS_MAX, json_file
from mesh.ids import IdGenerator
from shutter.events.v1 import envelope_pb2, graph_events_pb2

BATCH_MAX = 100
LIST_PAGE_DEFAULT = 20
LIST_PAGE_MAX = 50
STREAM_PAGE_DEFAULT = 1000
STREAM_PAGE_MAX = 10_000
# Follows per account in one batch answer: 100 accounts x 1000 ids stay well inside a message.
BATCH_FOLLOWING_PAGE_MAX = 1000
# Requests approved per transaction when an account turns public: short transactions, bounded locks.
APPROVE_CHUNK = 100
# Ties of a deleted account read per query while ending them one by one.
DELETION_BATCH = 200


@dataclass(frozen=True)
class UserCard:
    """What the graph needs to know about an account: its summary and whether it is private."""

    user_id: int
    username: str
    full_name: str
    profile_pic_url: str
    is_verified: bool
    is_private: bool


class UserDirectory(Protocol):
    """The accounts of user_svc, looked up in batches."""

    async def get_users(
        self, user_ids: Sequence[int], *, cached: bool = False
    ) -> dict[int, UserCard]:
        """Return the accounts that exist among these ids; `cached` accepts a few seconds' age."""
        ...

    def forget(self, user_id: int) -> None:
        """Drop what the cache knows about an account."""
        ...


@dataclass(frozen=True)
class Connection:
    """One account in a followers or following list, with the viewer's relationship to it."""

    user: UserCard
    relationship: Relationship
    followed_at: datetime


@dataclass(frozen=True)
class PendingRequest:
    """A pending request to follow the caller."""

    user: UserCard
    requested_at: datetime


@dataclass(frozen=True)
class Visibility:
    """The privacy rule's answer for one owner."""

    owner_id: int
    can_view: bool
    blocked: bool


@dataclass(frozen=True)
class ProfileGraph:
    """An account's counts and the viewer's relationship to it (None for itself or nobody)."""

    counts: Counts
    relationship: Relationship | None


def check_user_id(value: int, field: str = "user_id") -> int:
    """Return a valid account id or raise InvalidArgument naming the field."""
    if value <= 0:
        raise InvalidArgument.field(field, "must be a positive account id")
    return value


def check_user_ids(values: Sequence[int], field: str = "user_ids") -> list[int]:
    """Return up to BATCH_MAX distinct positive ids in request order, or raise InvalidArgument."""
    if len(values) > BATCH_MAX:
        raise InvalidArgument.field(field, f"at most {BATCH_MAX} ids per call")
    if any(value <= 0 for value in values):
        raise InvalidArgument.field(field, "every id must be a positive account id")
    return list(dict.fromkeys(values))


def resolve_viewer(who: Principal, viewer_id: int) -> int | None:
    """Return the viewer a call acts for: users only for themselves, services for anyone.

    0 means the calling user, or nobody in particular for a service.
    """
    if viewer_id < 0:
        raise InvalidArgument.field("viewer_id", "must be 0 or a positive account id")
    if who.user_id is not None:
        if viewer_id not in (0, who.user_id):
            raise NotViewer("a user may ask only on their own behalf")
        return who.user_id
    return viewer_id or None


def require_service(who: Principal) -> None:
    """Refuse internal-only calls made by users."""
    if not who.is_service:
        raise ServiceRequired("only services of the mesh may make this call")


def shown(relationship: Relationship) -> Relationship:
    """Return a relationship as a client may see it: whether the other blocked them, never."""
    return replace(relationship, blocked_by=False)


def _not_found() -> UserNotFound:
    return UserNotFound("no user has that id")


def _cursor(token: str, *, kind: str, owner: int) -> tuple[int, int] | None:
    cursor = pagination.decode_token(token)
    if cursor is None:
        return None
    edge_id, user_id = cursor.get("e"), cursor.get("u")
    if (
        cursor.get("k") != kind
        or cursor.get("o") != owner
        or not isinstance(edge_id, int)
        or not isinstance(user_id, int)
    ):
        raise InvalidArgument.field("page_token", "does not belong to this list")
    return edge_id, user_id


def _next_token(rows: list[Edge], limit: int, *, kind: str, owner: int) -> str:
    if len(rows) <= limit:
        return ""
    last = rows[limit - 1]
    return pagination.encode_token({"k": kind, "o": owner, "e": last.edge_id, "u": last.user_id})


class FeedSync(Protocol):
    """The read models told of committed changes at once: feed_svc's, and message_svc's
    cached block answers."""

    async def apply(self, events: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Apply these committed events in those services now."""
        ...


# The events one change wrote, collected for feed_svc (one list per running change).
_written: ContextVar[list[envelope_pb2.EventEnvelope] | None] = ContextVar(
    "graph_svc_written", default=None
)


class Graph:
    """The rules of follows, follow requests, blocks, mutes and privacy."""

    def __init__(
        self,
        store: GraphStore,
        users: UserDirectory,
        *,
        ids: IdGenerator,
        feed: FeedSync | None = None,
    ) -> None:
        self._store = store
        self._users = users
        self._ids = ids
        self._feed = feed

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _other(caller: int, user_id: int) -> int:
        target = check_user_id(user_id)
        if target == caller:
            raise InvalidArgument.field(
                "user_id", "must be another account than the caller's", reason=CANNOT_TARGET_SELF
            )
        return target

    async def _relationship(self, viewer: int, other: int) -> Relationship:
        found = await self._store.current_relationships(viewer_id=viewer, user_ids=[other])
        return found[other]

    async def _existing(self, user_id: int, *, cached: bool = False) -> UserCard:
        card = (await self._users.get_users([user_id], cached=cached)).get(user_id)
        if card is None:
            raise _not_found()
        return card

    async def _require_visible(self, relationship: Relationship) -> None:
        """Raise UserNotFound unless the account exists and did not block the caller."""
        # Permission before existence: a block answers without asking user_svc.
        if relationship.blocked_by:
            raise _not_found()
        await self._existing(relationship.user_id)

    async def _emit(self, tx: Any, aggregate_id: int, event: Any) -> None:
        envelope = await self._store.outbox.add(tx, aggregate_id=aggregate_id, event=event)
        written = _written.get()
        if written is not None:
            written.append(envelope)

    async def _change(
        self,
        caller: int,
        target: int,
        apply: Callable[[Any, datetime], Awaitable[bool]],
    ) -> tuple[Relationship, bool]:
        """Run one change of a pair under its lock; return the relationship after it and
        whether anything changed."""
        now = datetime.now(UTC)
        written: list[envelope_pb2.EventEnvelope] = []
        reset = _written.set(written)
        try:
            async with self._store.transaction() as tx:
                await self._store.lock_pairs(tx, pairs=[(caller, target)])
                changed = await apply(tx, now)
                after = await self._store.relationships(tx, viewer_id=caller, user_ids=[target])
        finally:
            _written.reset(reset)
        if written and self._feed is not None:
            # Before answering: a block or an unfollow holds for the caller's next feed read
            # (and a block for the next direct message).
            await self._feed.apply(written)
        return after[target], changed

    # -- follows and requests ----------------------------------------------------------------

    async def follow(self, *, caller: int, user_id: int) -> Relationship:
        """Follow a public account, or ask to follow a private one; idempotent."""
        target = self._other(caller, user_id)
        if (await self._relationship(caller, target)).blocked:
            raise _not_found()  # the same answer whichever of the two blocked
        card = await self._existing(target)

        async def apply(tx: Any, now: datetime) -> bool:
            before = (await self._store.relationships(tx, viewer_id=caller, user_ids=[target]))[
                target
            ]
            if before.blocked:  # a block landed since the first look
                raise _not_found()
            if before.following:
                return False
            if card.is_private:
                if not await self._store.insert_request(
                    tx,
                    requester_id=caller,
                    target_id=target,
                    request_id=self._ids.next_id(),
                    created_at=now,
                ):
                    return False
                await self._emit(
                    tx, caller, events.follow_requested(requester_id=caller, target_id=target)
                )
                return True
            # A request left from when the account was private is superseded by the follow.
            await self._store.delete_request(tx, requester_id=caller, target_id=target)
            await self._store.insert_follow(
                tx,
                follower_id=caller,
                followee_id=target,
                follow_id=self._ids.next_id(),
                created_at=now,
            )
            await self._emit(tx, caller, events.followed(follower_id=caller, followee_id=target))
            return True

        relationship, _ = await self._change(caller, target, apply)
        return shown(relationship)

    async def unfollow(self, *, caller: int, user_id: int) -> Relationship:
        """Stop following an account or cancel the request to follow it; idempotent."""
        target = self._other(caller, user_id)

        async def apply(tx: Any, _now: datetime) -> bool:
            removed = await self._store.delete_follow(tx, follower_id=caller, followee_id=target)
            if removed:
                await self._emit(
                    tx,
                    caller,
                    events.unfollowed(
                        follower_id=caller,
                        followee_id=target,
                        reason=graph_events_pb2.UNFOLLOW_REASON_UNFOLLOWED,
                    ),
                )
            cancelled = await self._store.delete_request(tx, requester_id=caller, target_id=target)
            if cancelled:
                await self._emit(
                    tx,
                    caller,
                    events.follow_request_ended(
                        requester_id=caller,
                        target_id=target,
                        reason=graph_events_pb2.FOLLOW_REQUEST_END_REASON_CANCELLED,
                    ),
                )
            return removed or cancelled

        relationship, changed = await self._change(caller, target, apply)
        if not changed:
            await self._require_visible(relationship)
        return shown(relationship)

    async def remove_follower(self, *, caller: int, user_id: int) -> Relationship:
        """Remove an account from the caller's followers; idempotent."""
        follower = self._other(caller, user_id)

        async def apply(tx: Any, _now: datetime) -> bool:
            if not await self._store.delete_follow(tx, follower_id=follower, followee_id=caller):
                return False
            await self._emit(
                tx,
                follower,
                events.unfollowed(
                    follower_id=follower,
                    followee_id=caller,
                    reason=graph_events_pb2.UNFOLLOW_REASON_REMOVED,
                ),
            )
            return True

        relationship, changed = await self._change(caller, follower, apply)
        if not changed:
            await self._require_visible(relationship)
        return shown(relationship)

    async def _approve(
        self, tx: Any, now: datetime, *, requester: int, target: int, automatic: bool
    ) -> bool:
        if not await self._store.delete_request(tx, requester_id=requester, target_id=target):
            return False
        await self._store.insert_follow(
            tx,
            follower_id=requester,
            followee_id=target,
            follow_id=self._ids.next_id(),
            created_at=now,
        )
        await self._emit(
            tx,
            requester,
            events.follow_approved(requester_id=requester, target_id=target, automatic=automatic),
        )
        await self._emit(tx, requester, events.followed(follower_id=requester, followee_id=target))
        return True

    async def approve_request(self, *, caller: int, user_id: int) -> Relationship:
        """Approve a pending request to follow the caller; approving a follower changes nothing."""
        requester = self._other(caller, user_id)

        async def apply(tx: Any, now: datetime) -> bool:
            return await self._approve(tx, now, requester=requester, target=caller, automatic=False)

        relationship, changed = await self._change(caller, requester, apply)
        if not changed and not relationship.followed_by:
            await self._require_visible(relationship)
            raise FollowRequestNotFound("that account has not asked to follow you")
        return shown(relationship)

    async def deny_request(self, *, caller: int, user_id: int) -> Relationship:
        """Deny a pending request to follow the caller; idempotent."""
        requester = self._other(caller, user_id)

        async def apply(tx: Any, _now: datetime) -> bool:
            if not await self._store.delete_request(tx, requester_id=requester, target_id=caller):
                return False
            await self._emit(
                tx,
                requester,
                events.follow_request_ended(
                    requester_id=requester,
                    target_id=caller,
                    reason=graph_events_pb2.FOLLOW_REQUEST_END_REASON_DENIED,
                ),
            )
            return True

        relationship, changed = await self._change(caller, requester, apply)
        if not changed:
            await self._require_visible(relationship)
        return shown(relationship)

    async def list_requests(
        self, *, caller: int, page_size: int, page_token: str
    ) -> tuple[list[PendingRequest], str]:
        """Return one page of the pending requests to follow the caller, newest first (from
        the replica)."""
        limit = pagination.page_size(page_size, default=LIST_PAGE_DEFAULT, maximum=LIST_PAGE_MAX)
        before = _cursor(page_token, kind="requests", owner=caller)
        async with self._store.read_transaction() as tx:
            rows = await self._store.list_requests(
                tx, target_id=caller, before=before, limit=limit + 1
            )
        page = rows[:limit]
        cards = await self._users.get_users([row.user_id for row in page])
        found = [PendingRequest(cards[r.user_id], r.created_at) for r in page if r.user_id in cards]
        return found, _next_token(rows, limit, kind="requests", owner=caller)

    async def on_profile_updated(self, *, user_id: int, is_private: bool) -> int:
        """React to a profile change: forget the cached account and, if it is public now,
        approve every pending request to follow it. Return how many were approved."""
        self._users.forget(user_id)
        if is_private:
            return 0
        # The event may be old (redelivered, or overtaken by a switch back to private):
        # what user_svc says now decides.
        card = (await self._users.get_users([user_id])).get(user_id)
        if card is None or card.is_private:
            return 0
        approved = 0
        while True:
            async with self._store.transaction() as tx:
                requesters = await self._store.pending_requesters(
                    tx, target_id=user_id, limit=APPROVE_CHUNK
                )
            if not requesters:
                return approved
            now = datetime.now(UTC)
            async with self._store.transaction() as tx:
                await self._store.lock_pairs(tx, pairs=[(r, user_id) for r in requesters])
                for requester in requesters:
                    if await self._approve(
                        tx, now, requester=requester, target=user_id, automatic=True
                    ):
                        approved += 1

    # -- blocks and mutes --------------------------------------------------------------------

    async def block(self, *, caller: int, user_id: int) -> Relationship:
        """Block an account: follows both ways and pending requests between the two go."""
        target = self._other(caller, user_id)
        await self._require_visible(await self._relationship(caller, target))

        async def apply(tx: Any, now: datetime) -> bool:
            if not await self._store.insert_block(
                tx, blocker_id=caller, blocked_id=target, created_at=now
            ):
                return False
            for follower, followee in ((caller, target), (target, caller)):
                if await self._store.delete_follow(tx, follower_id=follower, followee_id=followee):
                    await self._emit(
                        tx,
                        follower,
                        events.unfollowed(
                            follower_id=follower,
                            followee_id=followee,
                            reason=graph_events_pb2.UNFOLLOW_REASON_BLOCKED,
                        ),
                    )
                if await self._store.delete_request(tx, requester_id=follower, target_id=followee):
                    await self._emit(
                        tx,
                        follower,
                        events.follow_request_ended(
                            requester_id=follower,
                            target_id=followee,
                            reason=graph_events_pb2.FOLLOW_REQUEST_END_REASON_BLOCKED,
                        ),
                    )
            await self._emit(tx, caller, events.blocked(blocker_id=caller, blocked_id=target))
            return True

        relationship, _ = await self._change(caller, target, apply)
        return shown(relationship)

    async def unblock(self, *, caller: int, user_id: int) -> Relationship:
        """Lift a block; follows it removed are not restored. Idempotent."""
        target = self._other(caller, user_id)

        async def apply(tx: Any, _now: datetime) -> bool:
            if not await self._store.delete_block(tx, blocker_id=caller, blocked_id=target):
                return False
            await self._emit(tx, caller, events.unblocked(blocker_id=caller, blocked_id=target))
            return True

        relationship, changed = await self._change(caller, target, apply)
        if not changed:
            await self._require_visible(relationship)
        return shown(relationship)

    async def mute(self, *, caller: int, user_id: int) -> Relationship:
        """Mute an account: its posts stay out of the caller's feed. Idempotent."""
        target = self._other(caller, user_id)
        await self._require_visible(await self._relationship(caller, target))

        async def apply(tx: Any, now: datetime) -> bool:
            if not await self._store.insert_mute(
                tx, muter_id=caller, muted_id=target, created_at=now
            ):
                return False
            await self._emit(tx, caller, events.muted(muter_id=caller, muted_id=target))
            return True

        relationship, _ = await self._change(caller, target, apply)
        return shown(relationship)

    async def unmute(self, *, caller: int, user_id: int) -> Relationship:
        """Lift a mute. Idempotent."""
        target = self._other(caller, user_id)

        async def apply(tx: Any, _now: datetime) -> bool:
            if not await self._store.delete_mute(tx, muter_id=caller, muted_id=target):
                return False
            await self._emit(tx, caller, events.unmuted(muter_id=caller, muted_id=target))
            return True

        relationship, changed = await self._change(caller, target, apply)
        if not changed:
            await self._require_visible(relationship)
        return shown(relationship)

    # -- data export -------------------------------------------------------------------------

    async def export(self, *, user_id: int) -> dict[str, bytes]:
        """Return the account's part of its data export: following.json and followers.json."""
        files = {}
        for name, listing in (
            ("following.json", self._store.list_following),
            ("followers.json", self._store.list_followers),
        ):
            rows: list[dict[str, object]] = []
            before: tuple[int, int] | None = None
            while len(rows) < EXPORT_ROWS_MAX:
                async with self._store.transaction() as tx:
                    page = await listing(tx, user_id=user_id, before=before, limit=EXPORT_PAGE)
                rows += [{"userId": str(e.user_id), "since": e.created_at} for e in page]
                if len(page) < EXPORT_PAGE:
                    break
                before = (page[-1].edge_id, page[-1].user_id)
            cards = {}
            for start in range(0, len(rows), BATCH_MAX):
                ids = [int(str(r["userId"])) for r in rows[start : start + BATCH_MAX]]
                cards.update(await self._users.get_users(ids))
            for row in rows:
                card = cards.get(int(str(row["userId"])))
                row["username"] = card.username if card is not None else ""
            files[name] = json_file(rows)
        return files

    # -- account deletion --------------------------------------------------------------------

    def deletion_steps(self) -> list[tuple[str, Callable[[int], Awaitable[object]]]]:
        """Return the steps that remove a deleted account from the graph, in order (see
        mesh.deletion): each tie ends as its ordinary undo does, with the same event."""
        steps: list[tuple[str, Callable[[int], Awaitable[object]]]] = [
            (kind, functools.partial(self._end_ties, kind)) for kind in TIE_KINDS
        ]
        steps.append(("counts", self._drop_counts))
        return steps

    async def _end_ties(self, kind: str, user_id: int) -> int:
        """End every tie of one kind that involves a deleted account; return how many ended."""
        self._users.forget(user_id)
        ended = 0
        while True:
            async with self._store.transaction() as tx:
                pairs = await self._store.ties_of(
                    tx, user_id=user_id, kind=kind, limit=DELETION_BATCH
                )
            for a, b in pairs:
                await self._change(a, b, functools.partial(self._end_tie, kind, a, b))
                ended += 1
            if len(pairs) < DELETION_BATCH:
                return ended

    async def _end_tie(self, kind: str, a: int, b: int, tx: Any, _now: datetime) -> bool:
        if kind == "follows":
            if not await self._store.delete_follow(tx, follower_id=a, followee_id=b):
                return False
            reason = graph_events_pb2.UNFOLLOW_REASON_UNFOLLOWED
            await self._emit(tx, a, events.unfollowed(follower_id=a, followee_id=b, reason=reason))
        elif kind == "follow_requests":
            if not await self._store.delete_request(tx, requester_id=a, target_id=b):
                return False
            ended = graph_events_pb2.FOLLOW_REQUEST_END_REASON_CANCELLED
            await self._emit(
                tx, a, events.follow_request_ended(requester_id=a, target_id=b, reason=ended)
            )
        elif kind == "blocks":
            if not await self._store.delete_block(tx, blocker_id=a, blocked_id=b):
                return False
            await self._emit(tx, a, events.unblocked(blocker_id=a, blocked_id=b))
        else:
            if not await self._store.delete_mute(tx, muter_id=a, muted_id=b):
                return False
            await self._emit(tx, a, events.unmuted(muter_id=a, muted_id=b))
        return True

    async def _drop_counts(self, user_id: int) -> None:
        async with self._store.transaction() as tx:
            await self._store.drop_counts(tx, user_id=user_id)

    # -- reading -----------------------------------------------------------------------------

    async def get_relationship(self, *, caller: int, user_id: int) -> Relationship:
        """Return the caller's relationship to one account, as a client may see it."""
        other = check_user_id(user_id)
        if other == caller:
            return Relationship(other)
        relationship = await self._relationship(caller, other)
        if relationship.blocked_by and not relationship.blocking:
            raise _not_found()
        if not relationship.blocking:
            await self._existing(other, cached=True)
        return shown(relationship)

    async def get_relationships(
        self, *, viewer: int | None, user_ids: Sequence[int]
    ) -> list[Relationship]:
        """Return the viewer's relationships to up to BATCH_MAX accounts, in one query."""
        if viewer is None:
            raise InvalidArgument.field("viewer_id", "is required when a service calls")
        ids = check_user_ids(user_ids)
        found = await self._store.current_relationships(viewer_id=viewer, user_ids=ids)
        return [found[user_id] for user_id in ids]

    async def profile_graph(self, *, viewer: int | None, user_id: int) -> ProfileGraph:
        """Return an account's counts and the viewer's relationship to it; an account that
        blocked the viewer is not found."""
        owner = check_user_id(user_id)
        relationship = None
        async with self._store.transaction() as tx:
            if viewer is not None and viewer != owner:
                found = await self._store.relationships(tx, viewer_id=viewer, user_ids=[owner])
                relationship = found[owner]
            counts = (await self._store.get_counts(tx, user_ids=[owner]))[owner]
        if relationship is not None and relationship.blocked_by:
            raise _not_found()
        return ProfileGraph(counts, relationship)

    async def batch_counts(self, *, user_ids: Sequence[int]) -> list[Counts]:
        """Return the counts of up to BATCH_MAX accounts, in request order (from the replica)."""
        ids = check_user_ids(user_ids)
        async with self._store.read_transaction() as tx:
            found = await self._store.get_counts(tx, user_ids=ids)
        return [found[user_id] for user_id in ids]

    async def _visibilities(self, viewer: int | None, owners: list[int]) -> list[Visibility]:
        relationships: dict[int, Relationship] = {}
        if viewer is not None:
            relationships = await self._store.current_relationships(
                viewer_id=viewer, user_ids=owners
            )
        cards = await self._users.get_users(owners, cached=True)
        answers = []
        for owner in owners:
            card = cards.get(owner)
            if card is None:
                continue
            relationship = relationships.get(owner, Relationship(owner))
            if owner == viewer:
                answers.append(Visibility(owner, can_view=True, blocked=False))
            elif relationship.blocked:
                answers.append(Visibility(owner, can_view=False, blocked=True))
            else:
                visible = not card.is_private or relationship.following
                answers.append(Visibility(owner, can_view=visible, blocked=False))
        return answers

    async def can_view(self, *, viewer: int | None, owner_id: int) -> Visibility:
        """Apply the privacy rule to one owner: may the viewer see its posts, stories, lists?"""
        owner = check_user_id(owner_id, "owner_id")
        found = await self._visibilities(viewer, [owner])
        if not found:
            raise _not_found()
        return found[0]

    async def batch_can_view(
        self, *, viewer: int | None, owner_ids: Sequence[int]
    ) -> list[Visibility]:
        """Apply the privacy rule to up to BATCH_MAX owners; unknown owners are left out."""
        return await self._visibilities(viewer, check_user_ids(owner_ids, "owner_ids"))

    async def _require_list_access(self, viewer: int | None, owner: int) -> None:
        if viewer == owner:
            return
        relationship = Relationship(owner)
        if viewer is not None:
            relationship = await self._relationship(viewer, owner)
            if relationship.blocked:
                raise _not_found()
        card = await self._existing(owner, cached=True)
        if card.is_private and not relationship.following:
            raise PrivateAccount("this account is private; only its followers see its lists")

    async def _list(
        self,
        *,
        kind: str,
        viewer: int | None,
        user_id: int,
        page_size: int,
        page_token: str,
    ) -> tuple[list[Connection], str]:
        owner = check_user_id(user_id)
        limit = pagination.page_size(page_size, default=LIST_PAGE_DEFAULT, maximum=LIST_PAGE_MAX)
        before = _cursor(page_token, kind=kind, owner=owner)
        # The privacy rule reads the primary; the list itself, the replica.
        await self._require_list_access(viewer, owner)
        reader = self._store.list_followers if kind == "followers" else self._store.list_following
        async with self._store.read_transaction() as tx:
            rows = await reader(tx, user_id=owner, before=before, limit=limit + 1)
            page = rows[:limit]
            relationships = (
                await self._store.relationships(
                    tx, viewer_id=viewer, user_ids=[row.user_id for row in page]
                )
                if viewer is not None
                else {}
            )
        cards = await self._users.get_users([row.user_id for row in page])
        found = []
        for row in page:
            relationship = relationships.get(row.user_id, Relationship(row.user_id))
            # A block hides each from the other everywhere, lists included.
            if row.user_id in cards and not relationship.blocked:
                found.append(Connection(cards[row.user_id], relationship, row.created_at))
        return found, _next_token(rows, limit, kind=kind, owner=owner)

    async def list_followers(
        self, *, viewer: int | None, user_id: int, page_size: int, page_token: str
    ) -> tuple[list[Connection], str]:
        """Return one page of an account's followers, newest first, for a viewer allowed to see."""
        return await self._list(
            kind="followers",
            viewer=viewer,
            user_id=user_id,
            page_size=page_size,
            page_token=page_token,
        )

    async def list_following(
        self, *, viewer: int | None, user_id: int, page_size: int, page_token: str
    ) -> tuple[list[Connection], str]:
        """Return one page of the accounts an account follows, newest first."""
        return await self._list(
            kind="following",
            viewer=viewer,
            user_id=user_id,
            page_size=page_size,
            page_token=page_token,
        )

    async def following_page(
        self, *, user_id: int, page_size: int, exclude_muted: bool
    ) -> tuple[list[int], bool]:
        """Return the first `page_size` ids of the accounts an account follows, ascending (one
        statement), and whether more follow."""
        owner = check_user_id(user_id)
        size = pagination.page_size(page_size, default=STREAM_PAGE_DEFAULT, maximum=STREAM_PAGE_MAX)
        found = await self._store.current_id_page(
            followers=False, user_id=owner, after=0, limit=size + 1, exclude_muted=exclude_muted
        )
        return found[:size], len(found) > size

    async def following_pages(
        self, *, user_ids: Sequence[int], page_size: int, exclude_muted: bool
    ) -> list[tuple[int, list[int], bool]]:
        """Return, for each of these accounts in order (repeats once), the first `page_size` ids
        of the accounts it follows, ascending, and whether more follow (one statement)."""
        owners = check_user_ids(user_ids)
        size = pagination.page_size(
            page_size, default=BATCH_FOLLOWING_PAGE_MAX, maximum=BATCH_FOLLOWING_PAGE_MAX
        )
        if not owners:
            return []
        found = await self._store.current_following_pages(
            user_ids=owners, limit=size + 1, exclude_muted=exclude_muted
        )
        pages = {owner: found.get(owner, []) for owner in owners}
        return [(owner, page[:size], len(page) > size) for owner, page in pages.items()]

    async def silenced_pages(
        self, *, user_ids: Sequence[int], page_size: int
    ) -> list[tuple[int, list[int], bool]]:
        """Return, for each of these accounts in order (repeats once), the first `page_size` ids
        of the accounts it should not hear from (it blocked them, they blocked it, it muted
        them), ascending, and whether there are more (one statement)."""
        owners = check_user_ids(user_ids)
        size = pagination.page_size(
            page_size, default=BATCH_FOLLOWING_PAGE_MAX, maximum=BATCH_FOLLOWING_PAGE_MAX
        )
        if not owners:
            return []
        found = await self._store.current_silenced_pages(user_ids=owners, limit=size + 1)
        pages = {owner: found.get(owner, []) for owner in owners}
        return [(owner, page[:size], len(page) > size) for owner, page in pages.items()]

    async def block_page(
        self, *, user_id: int, page_size: int
    ) -> tuple[list[int], list[int], bool]:
        """Return the accounts an account blocked and those that blocked it, ascending, at most
        `page_size` in all, and whether more exist."""
        owner = check_user_id(user_id)
        size = pagination.page_size(page_size, default=STREAM_PAGE_DEFAULT, maximum=STREAM_PAGE_MAX)
        async with self._store.statements() as session:
            ties = await self._store.ties_of(session, user_id=owner, kind="blocks", limit=size + 1)
        kept = ties[:size]
        blocking = sorted(blocked for blocker, blocked in kept if blocker == owner)
        blocked_by = sorted(blocker for blocker, blocked in kept if blocked == owner)
        return blocking, blocked_by, len(ties) > size

    async def counted_follower_ids(
        self, *, user_id: int, page_size: int, exclude_muted: bool
    ) -> tuple[int, AsyncIterator[list[int]]]:
        """Return an account's follower count (muted ones included) as committed now on the
        primary, and its follower ids in batches as stream_ids gives them: the count and the
        first batch are one statement, what a fan-out decides push or pull by."""
        owner = check_user_id(user_id)
        size = pagination.page_size(page_size, default=STREAM_PAGE_DEFAULT, maximum=STREAM_PAGE_MAX)
        count, first = await self._store.current_followers_head(
            user_id=owner, limit=size, exclude_muted=exclude_muted
        )

        async def batches() -> AsyncIterator[list[int]]:
            if first:
                yield first
            if len(first) == size:
                async for batch in self._id_batches(True, owner, size, exclude_muted, first[-1]):
                    yield batch

        return count, batches()

    def stream_ids(
        self, *, followers: bool, user_id: int, page_size: int, exclude_muted: bool
    ) -> AsyncIterator[list[int]]:
        """Return batches of follower ids (or followed ids) in ascending order; each batch is
        one statement of its own, so a slow reader holds nothing open."""
        owner = check_user_id(user_id)
        size = pagination.page_size(page_size, default=STREAM_PAGE_DEFAULT, maximum=STREAM_PAGE_MAX)
        return self._id_batches(followers, owner, size, exclude_muted, 0)

    def _id_batches(
        self, followers: bool, owner: int, size: int, exclude_muted: bool, after: int
    ) -> AsyncIterator[list[int]]:
        """Return the batches of ids above `after`, one statement each."""

        async def batches() -> AsyncIterator[list[int]]:
            nonlocal after
            while True:
                batch = await self._store.current_id_page(
                    followers=followers,
                    user_id=owner,
                    after=after,
                    limit=size,
                    exclude_muted=exclude_muted,
                )
                if batch:
                    yield batch
                if len(batch) < size:
                    return
                after = batch[-1]

        return batches()
