"""Wake-up signals of this process's open message streams, with a limit of streams per account.

A stream re-reads the store when woken (and at every heartbeat), so a signal carries no data: it
can be lost or repeated without a message being lost or sent twice. The sender's process wakes
the streams it holds right after the commit; with several replicas of message_svc, a stream held
by another replica than the one that took the send sees the message at its next heartbeat (a
Redis PUBLISH per send, one SUBSCRIBE per process, would forward the signal).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator

from message_svc.errors import TooManyStreams


class Wakeups:
    """Per-account wake-up events of the open streams of this process."""

    def __init__(self, *, max_per_user: int) -> None:
        self._max = max_per_user
        self._events: dict[int, set[asyncio.Event]] = {}

    def open_streams(self, user_id: int) -> int:
        """Return how many streams an account holds open in this process."""
        return len(self._events.get(user_id, ()))

    @contextlib.contextmanager
    def listen(self, user_id: int) -> Iterator[asyncio.Event]:
        """Hold one stream of an account open; TooManyStreams past the limit."""
        events = self._events.setdefault(user_id, set())
        if len(events) >= self._max:
            raise TooManyStreams(
                f"at most {self._max} message streams may be open at once",
                metadata={"max_streams": str(self._max)},
            )
        event = asyncio.Event()
        events.add(event)
        try:
            yield event
        finally:
            events.discard(event)
            if not events:
                self._events.pop(user_id, None)

    def wake(self, user_ids: Iterable[int]) -> None:
        """Wake every stream of these accounts."""
        for user_id in user_ids:
            for event in self._events.get(user_id, ()):
                event.set()
