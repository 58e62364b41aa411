"""user_svc's accounts as the graph sees them: BatchGetUsers calls behind a short-lived cache."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from graph_svc.domain import UserCard
from mesh import metrics
from shutter.user.v1 import user_pb2, user_service_pb2, user_service_pb2_grpc

# BatchGetUsers answers at most this many ids per call.
BATCH_GET_MAX = 100


def card(summary: user_pb2.UserSummary) -> UserCard:
    """Return the graph's view of a user_svc summary."""
    return UserCard(
        user_id=summary.user_id,
        username=summary.username,
        full_name=summary.full_name,
        profile_pic_url=summary.profile_pic_url,
        is_verified=summary.is_verified,
        is_private=summary.is_private,
    )


class GrpcUserDirectory:
    """Look accounts up in user_svc, one BatchGetUsers call per 100 ids, remembering the answers
    (absent accounts included) for `ttl_seconds`; `cached=False` lookups always ask and refresh.

    What user_svc answers changes with a profile update (is_private), a suspension, its end and
    a deletion: every graph_svc replica forgets the account when the bus brings such an event
    (events.card_handler, in a group per replica), so the TTL only bounds a stale answer while
    the bus is down. A lookup that asked before a forget and got its answer after it does not
    keep that answer (the generation counter): a stale "public" never outlives the switch.
    """

    def __init__(
        self,
        stub: user_service_pb2_grpc.UserServiceStub,
        *,
        ttl_seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stub = stub
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        # user id -> (expiry on the monotonic clock, the account or None when it does not exist)
        self._cache: OrderedDict[int, tuple[float, UserCard | None]] = OrderedDict()
        self._generation = 0  # bumped by every forget: an answer asked before one is not kept

    async def get_users(
        self, user_ids: Sequence[int], *, cached: bool = False
    ) -> dict[int, UserCard]:
        """Return the accounts that exist among these ids."""
        wanted = list(dict.fromkeys(user_ids))
        found: dict[int, UserCard] = {}
        missing = wanted
        if cached and self._ttl > 0:
            now = self._clock()
            missing = []
            for user_id in wanted:
                entry = self._cache.get(user_id)
                fresh = entry is not None and entry[0] > now
                metrics.cache_lookup("graph_svc.users", hit=fresh)
                if entry is None or not fresh:
                    missing.append(user_id)
                elif entry[1] is not None:
                    found[user_id] = entry[1]
        if not missing:
            return found
        generation = self._generation
        chunks = [missing[i : i + BATCH_GET_MAX] for i in range(0, len(missing), BATCH_GET_MAX)]
        answers = await asyncio.gather(
            *(
                self._stub.BatchGetUsers(user_service_pb2.BatchGetUsersRequest(user_ids=chunk))
                for chunk in chunks
            )
        )
        fetched = {s.user_id: card(s) for answer in answers for s in answer.users}
        found.update(fetched)
        if generation == self._generation:
            self._remember({user_id: fetched.get(user_id) for user_id in missing})
        return found

    def forget(self, user_id: int) -> None:
        """Drop what the cache knows about an account (it changed)."""
        self._cache.pop(user_id, None)
        self._generation += 1

    def _remember(self, answers: dict[int, UserCard | None]) -> None:
        if self._ttl <= 0:
            return
        expires = self._clock() + self._ttl
        for user_id, found in answers.items():
            self._cache.pop(user_id, None)
            self._cache[user_id] = (expires, found)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)  # the oldest answer leaves first
