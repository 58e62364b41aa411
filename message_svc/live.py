"""Wake-up signals of this process's open message streams, with a limit of streams per account.

A wake-up tells a stream to read the store again (at every heartbeat too), so it carries no
data: it can be lost or repeated without a message being lost or sent twice. The sender's
process wakes the streams it holds right after the commit; with several replicas of message_svc,
a stream held by another replica than the one that took the send sees the message at its next
heartbeat (a Redis PUBLISH per send, one SUBSCRIBE per process, would forward the signal).

A send hands its committed message to the streams instead (`deliver`), with what the member's
row said under the conversation's lock: the newest event of the conversation the member could
see before it. A stream that has sent that event (or everything up to it) has no gap to fill
and sends the message without reading the store; otherwise it reads, as on a wake-up. So the
store is read again only for what a hand-over cannot prove complete (unsendings, other
replicas' sends, heartbeats), never for the usual message.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from message_svc.errors import TooManyStreams
from message_svc.store import MessageRecord

# Messages one stream holds waiting to be sent; past it the stream reads the store instead.
MAX_PENDING = 100


@dataclass(frozen=True)
class Delivery:
    """A committed message handed to one member's streams by the process that took it."""

    record: MessageRecord
    # The member's newest event of the conversation before this message (their stream_id,
    # read under the conversation's lock), and what they see messages after.
    previous_event_id: int
    visible_after: int


@dataclass(eq=False)  # kept in a set, by identity
class Listener:
    """One open stream: its signal, and what it has to do when it wakes."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    # Read the store (first of all, and after any wake-up that carries no message).
    reread: bool = True
    pending: list[Delivery] = field(default_factory=list)

    def take(self) -> list[Delivery]:
        """Return the messages handed over so far, oldest first, and forget them."""
        taken, self.pending = self.pending, []
        return taken


class Wakeups:
    """Per-account wake-up events of the open streams of this process."""

    def __init__(self, *, max_per_user: int) -> None:
        self._max = max_per_user
        self._listeners: dict[int, set[Listener]] = {}

    def open_streams(self, user_id: int) -> int:
        """Return how many streams an account holds open in this process."""
        return len(self._listeners.get(user_id, ()))

    @contextlib.contextmanager
    def listen(self, user_id: int) -> Iterator[Listener]:
        """Hold one stream of an account open; TooManyStreams past the limit."""
        listeners = self._listeners.setdefault(user_id, set())
        if len(listeners) >= self._max:
            raise TooManyStreams(
                f"at most {self._max} message streams may be open at once",
                metadata={"max_streams": str(self._max)},
            )
        listener = Listener()
        listeners.add(listener)
        try:
            yield listener
        finally:
            listeners.discard(listener)
            if not listeners:
                self._listeners.pop(user_id, None)

    def wake(self, user_ids: Iterable[int]) -> None:
        """Make every stream of these accounts read the store again."""
        for user_id in user_ids:
            for listener in self._listeners.get(user_id, ()):
                listener.reread = True
                listener.event.set()

    def deliver(self, deliveries: Iterable[tuple[int, Delivery]]) -> None:
        """Hand a committed message to every stream of each account (user id, delivery)."""
        for user_id, delivery in deliveries:
            for listener in self._listeners.get(user_id, ()):
                if len(listener.pending) < MAX_PENDING:
                    listener.pending.append(delivery)
                else:
                    listener.reread = True  # too much waiting: one read gives it all
                listener.event.set()
