"""The event bus: services publish domain events; every consumer group receives every event.

One interface (EventBus, Consumer), two implementations; create_bus picks one from settings:

- EmbeddedBus (default, nothing to install): a durable append-only log in the SQLite file
  `data_dir/bus.db`, shared by every process that uses the same data_dir. Each group keeps an
  offset that advances only after its handler succeeded (or the event was dead-lettered), so a
  group sees events in publish order. One consumer per group works at a time: it holds a lease
  that it renews while alive and that expires bus_idle_timeout_seconds after it died. Consumers
  in the publishing process wake at once; others poll every bus_poll_interval_seconds.
- RedisStreamBus (SHUTTER_REDIS_URL set): a stream per topic, `{prefix}:events:<topic>` for the
  events of `shutter/events/v1/<topic>_events.proto` (post, graph, user, media, message), and the
  main stream `{prefix}:events` for any other type (the hash tag keeps every bus key in one
  Redis Cluster slot; each stream trimmed with MAXLEN ~ bus_max_length). A consumer reads the
  main stream and the streams of the types it asked for, in one Redis consumer group per group
  on each: an event wakes only the groups that may want it. Several consumers of one group
  share its events (order across them is not kept). An event whose consumer went quiet for
  bus_idle_timeout_seconds is taken over with XAUTOCLAIM; its delivery count says how many
  attempts it has had. Needs Redis 7 or newer.

Semantics shared by both:

- Delivery is at least once: an event may arrive again after a consumer stopped or died in the
  middle of it. Handlers must be idempotent; dedupe on (envelope.producer, envelope.event_id):
  ids come from each producer's own IdGenerator, so two producers may mint the same id.
- Publishing is idempotent per (producer, event_id): the embedded log stores each event once;
  Redis remembers published ids for bus_dedupe_ttl_seconds. An outbox relay that crashed between
  publishing and marking its rows therefore does not publish twice within that window.
- A handler that raises is called again after a backoff (bus_retry_backoff_seconds, doubling,
  at most bus_retry_backoff_max_seconds): by default about three minutes of retries, enough for
  a peer to restart. After bus_max_attempts calls, or when consumers stopped or died during that
  many attempts, the event goes to the group's dead letters (see EventBus.dead_letters; the newest
  DEAD_LETTERS_MAX per group are kept; a log line and shutter_bus_dead_letters_total say so) and
  the group moves on. Dead letters are a queue: `replay_dead_letters` hands them to that group
  again (only that group: the entry names it, other groups skip it), `drop_dead_letters` forgets
  them (`shutter bus dead-letters list|replay|drop`).
- A consumer says it is alive every third of bus_idle_timeout_seconds, also while its handler
  runs, so a slow handler is not taken over; only a dead or frozen consumer is.
- A group that starts for the first time begins at the oldest event the bus still holds (Redis:
  XGROUP CREATE ... 0), so nothing published before a consumer first started is lost, as long as
  it is among the newest bus_max_length events. Its handler must cope with that history.
- Events of types a consumer did not ask for are acknowledged without calling its handler.
- Order: the embedded log keeps publish order across all events; Redis keeps it within a topic
  (a producer's post events stay in order, a post event and a graph event may be handled in
  either order). Retries reorder anyway, so handlers never rely on order across topics.
- Batches: a consumer may also have a batch handler. Then the events it reads in one go (up to
  bus_batch_size, in order, none of them tried before) go to the batch handler in one call and
  are acknowledged in one write; it must apply them as the handler would one by one, in order
  (it may group independent events, never reorder two about the same thing). If it raises,
  nothing of the batch is acknowledged and every event of it goes through the handler on its
  own, with the usual retries: a poison event is dead-lettered alone and the others succeed
  (handlers are idempotent, so what the failed batch already applied is applied again
  harmlessly). An event delivered again after a consumer died is always handled on its own.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

import redis.asyncio as aioredis
from google.protobuf import descriptor_pool
from google.protobuf.message import DecodeError, Message
from redis.exceptions import RedisError, ResponseError

from mesh import context, metrics
from mesh.config import MeshSettings
from mesh.deadletters import DeadLetterArchive
from shutter.events.v1 import (
    envelope_pb2,
    graph_events_pb2,
    media_events_pb2,
    message_events_pb2,
    post_events_pb2,
    user_events_pb2,
)

log = logging.getLogger("shutter.bus")

Handler = Callable[[envelope_pb2.EventEnvelope], Awaitable[None]]
BatchHandler = Callable[[Sequence[envelope_pb2.EventEnvelope]], Awaitable[None]]
M = TypeVar("M", bound=Message)
T = TypeVar("T")

GROUP_MAX = 100
_GROUP = re.compile(r"[A-Za-z0-9_.:-]+")
DEAD_LETTERS_MAX = 1000
# Events per Redis publish script call: bounds how long one script blocks the server.
_PUBLISH_CHUNK = 100


@dataclass(frozen=True)
class DeadLetter:
    """An event a group gave up on, with the last error its handler raised."""

    group: str
    envelope: envelope_pb2.EventEnvelope
    event_type: str
    error: str
    attempts: int
    failed_at: datetime
    # What replay_dead_letters and drop_dead_letters take to name this letter.
    letter_id: str = ""


class Consumer(Protocol):
    """A running consumer of one group."""

    async def stop(self) -> None:
        """Stop consuming; an event in the middle of its handler is delivered again later."""
        ...


class EventBus(Protocol):
    """Publish events and consume them in groups."""

    async def publish(self, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Append events in order; an event already published (same producer and id) is skipped."""
        ...

    async def start_consumer(
        self,
        *,
        group: str,
        handler: Handler,
        event_types: Collection[str] | None = None,
        archive: DeadLetterArchive | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> Consumer:
        """Start calling `handler` with the group's events (of `event_types`, or all);
        `batch_handler`, when given, with each batch of fresh events first (see above). On the
        Redis bus, dead letters go to `archive` (the service's database) when given."""
        ...

    async def dead_letters(self, group: str, *, limit: int = 100) -> list[DeadLetter]:
        """Return the oldest events a group gave up on, up to `limit`."""
        ...

    async def replay_dead_letters(self, group: str, *, letter_ids: Sequence[str] | None) -> int:
        """Hand dead letters (these, or all when None) to their group again, as new events that
        only that group receives, and take them out of the dead letters; return how many."""
        ...

    async def drop_dead_letters(self, group: str, *, letter_ids: Sequence[str] | None) -> int:
        """Forget dead letters (these, or all when None); return how many."""
        ...

    async def backlog(self, group: str) -> int:
        """Return how many events a group has not finished: not yet read, or in progress (0 for
        a group that never started)."""
        ...

    async def epoch(self, producer: str) -> tuple[str, bool]:
        """Return the epoch of a producer's events on the bus, and whether this call began it.

        The epoch is a random id the bus keeps with the events. A new one (the bus had none, or
        no longer has the one a relay saw) means the bus may have lost what the producer
        published before: Redis restarted empty, or the bus file was deleted.
        """
        ...

    async def finished_before(self) -> datetime | None:
        """Return a time before which every event the bus holds is finished by every group
        (handled, or dead-lettered); None when the bus has no group or no events."""
        ...

    async def close(self) -> None:
        """Stop this bus's consumers and release its connections."""
        ...


def create_bus(settings: MeshSettings) -> EventBus:
    """Return Redis Streams when SHUTTER_REDIS_URL is set, else the embedded bus in data_dir."""
    if settings.redis_url:
        from mesh.redis import create_redis

        return RedisStreamBus(create_redis(settings), settings, owns_client=True)
    return EmbeddedBus(settings.data_dir / "bus.db", settings)


def event_type(envelope: envelope_pb2.EventEnvelope) -> str:
    """Return the payload's full message name, such as "shutter.events.v1.UserRegistered"."""
    return envelope.payload.TypeName()


def unpack(envelope: envelope_pb2.EventEnvelope, message_cls: type[M]) -> M:
    """Return the event an envelope carries; raise TypeError when it is of another type."""
    message = message_cls()
    if not envelope.payload.Unpack(message):
        raise TypeError(
            f"event {envelope.event_id} is a {event_type(envelope)}, "
            f"not a {message_cls.DESCRIPTOR.full_name}"
        )
    return message


def _check_envelopes(envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
    for envelope in envelopes:
        if envelope.event_id <= 0 or not envelope.producer or not event_type(envelope):
            raise ValueError(
                "an envelope needs a positive event_id, a producer and a payload "
                f"(got event_id={envelope.event_id}, producer={envelope.producer!r})"
            )


def _check_consumer(group: str, event_types: Collection[str] | None) -> frozenset[str] | None:
    if not group or len(group) > GROUP_MAX or not _GROUP.fullmatch(group):
        raise ValueError(f"group must be 1 to {GROUP_MAX} letters, digits or '_.:-', got {group!r}")
    if event_types is None:
        return None
    if isinstance(event_types, str):
        raise ValueError("event_types is a collection of names, not one name")
    types = frozenset(event_types)
    if not types:
        raise ValueError("event_types must not be empty; pass None to receive every type")
    return types


def _report_dead_letter(group: str, kind: str, payload: bytes, error: str, attempts: int) -> None:
    """Count a dead letter and say, in one line, what it is and how to replay it."""
    metrics.BUS_DEAD_LETTERS.labels(group, kind or "unknown").inc()
    try:
        envelope = envelope_pb2.EventEnvelope.FromString(payload)
        what = f"event {envelope.producer}/{envelope.event_id}"
    except DecodeError:
        what = "an undecodable event"
    log.error(
        "bus %s: %s (%s) goes to the dead letters after %d attempts: %s; "
        "replay with `shutter bus dead-letters replay --group %s`",
        group,
        what,
        kind,
        attempts,
        error,
        group,
    )


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


class _ConsumerBase(abc.ABC):
    """The delivery rules both buses share: filtering, retries with backoff, giving up."""

    def __init__(
        self,
        *,
        group: str,
        handler: Handler,
        batch_handler: BatchHandler | None = None,
        event_types: frozenset[str] | None,
        settings: MeshSettings,
    ) -> None:
        self.group = group
        self._handler = handler
        self._batch_handler = batch_handler
        self._types = event_types
        self._max_attempts = settings.bus_max_attempts
        self._backoff = settings.bus_retry_backoff_seconds
        self._backoff_max = settings.bus_retry_backoff_max_seconds
        self._idle = settings.bus_idle_timeout_seconds
        self._poll = settings.bus_poll_interval_seconds
        self._batch = settings.bus_batch_size
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False

    def _wants(self, kind: str) -> bool:
        return self._types is None or kind in self._types

    def _delay(self, attempt: int) -> float:
        """Return the wait after failed attempt number `attempt` (1-based)."""
        return float(min(self._backoff * 2 ** (attempt - 1), self._backoff_max))

    def _launch(self) -> None:
        name = f"bus:{self.group}"
        self._tasks = [
            asyncio.create_task(self._run(), name=name),
            asyncio.create_task(self._heartbeat(), name=f"{name}:heartbeat"),
            asyncio.create_task(self._report_backlog(), name=f"{name}:backlog"),
        ]

    async def stop(self) -> None:
        """Stop consuming; an event in the middle of its handler is delivered again later."""
        if self._stopped:
            return
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._after_stop()

    def _check_running(self) -> None:
        """End the consumer's task once stop() was called.

        A cancellation alone is not enough: redis-py sometimes swallows one that arrives while
        a reply is being read, so every loop also checks the flag (a blocking read ends within
        a poll interval).
        """
        if self._stopped:
            raise asyncio.CancelledError()

    async def _report_backlog(self) -> None:
        # The group's queue depth (for feed_svc, its fan-out queue) as a gauge for operators.
        while True:
            self._check_running()
            try:
                metrics.BUS_BACKLOG.labels(self.group).set(await self._backlog())
            except Exception:  # a metric must never disturb consuming
                log.debug("bus %s: backlog not measured", self.group, exc_info=True)
            await asyncio.sleep(self._poll * 2)

    @abc.abstractmethod
    async def _backlog(self) -> int:
        """Return how many events the group has not finished: unread plus in progress."""

    async def _heartbeat(self) -> None:
        # Says "still alive" while a handler runs, so nobody takes its event over meanwhile.
        while True:
            self._check_running()
            await asyncio.sleep(self._idle / 3)
            try:
                await self._keep_alive()
            except Exception:  # the next write notices a real loss; keep beating
                log.warning("bus %s: heartbeat failed", self.group, exc_info=True)

    async def _handle(
        self, envelope: envelope_pb2.EventEnvelope, prior_attempts: int
    ) -> tuple[str | None, int]:
        """Call the handler until it succeeds or attempts run out.

        Return None (success) or the last error, and the number of attempts the event has had.
        """
        if prior_attempts >= self._max_attempts:
            error = (
                f"no answer after {prior_attempts} attempts: the consumers stopped or died "
                "while handling it"
            )
            return error, prior_attempts
        attempt = prior_attempts
        while True:
            self._check_running()
            attempt += 1
            await self._begin_attempt(attempt, first=attempt == prior_attempts + 1)
            token = context.request_id.set(f"event-{envelope.event_id}")
            background = context.background.set(True)
            try:
                await self._handler(envelope)
            except Exception as exc:
                failure: BaseException = exc
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if self._stopped or (task is not None and task.cancelling()):
                    raise  # we are being stopped
                failure = exc  # something inside the handler was cancelled: a failure
            else:
                metrics.observe_event_handled(self.group, event_type(envelope), envelope)
                return None, attempt
            finally:
                context.background.reset(background)
                context.request_id.reset(token)
            log.warning(
                "bus %s: handler failed on event %d (%s), attempt %d of %d",
                self.group,
                envelope.event_id,
                event_type(envelope),
                attempt,
                self._max_attempts,
                exc_info=failure,
            )
            if attempt >= self._max_attempts:
                return _error_text(failure), attempt
            await asyncio.sleep(self._delay(attempt))

    async def _handle_batch(self, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> bool:
        """Call the batch handler once with fresh events; return whether it succeeded (when it
        did not, the caller hands each event to the handler on its own)."""
        assert self._batch_handler is not None
        self._check_running()
        token = context.request_id.set(f"events-{envelopes[0].event_id}..{envelopes[-1].event_id}")
        background = context.background.set(True)
        try:
            await self._batch_handler(envelopes)
        except Exception as exc:
            failure: BaseException = exc
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if self._stopped or (task is not None and task.cancelling()):
                raise  # we are being stopped
            failure = exc
        else:
            for envelope in envelopes:
                metrics.observe_event_handled(self.group, event_type(envelope), envelope)
            return True
        finally:
            context.background.reset(background)
            context.request_id.reset(token)
        log.warning(
            "bus %s: batch handler failed on %d events; handling each on its own",
            self.group,
            len(envelopes),
            exc_info=failure,
        )
        return False

    @abc.abstractmethod
    async def _run(self) -> None:
        """Consume until stopped."""

    @abc.abstractmethod
    async def _keep_alive(self) -> None:
        """Tell the other consumers of the group that this one is alive."""

    @abc.abstractmethod
    async def _begin_attempt(self, attempt: int, *, first: bool) -> None:
        """Record that handler attempt number `attempt` on the current event starts."""

    @abc.abstractmethod
    async def _after_stop(self) -> None:
        """Release what the consumer held, once its tasks have ended."""


# ---------------------------------------------------------------------------------------------
# The embedded bus: a SQLite log.

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS bus_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        producer TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        envelope BLOB NOT NULL,
        published_at REAL NOT NULL,
        -- Set on a replayed dead letter: the one group that receives it.
        only_group TEXT,
        UNIQUE (producer, event_id)
    )""",
    # position: the seq of the last event the group is done with. attempts: handler calls
    # begun on event attempt_seq, kept so that a consumer dying mid-handler counts too.
    """CREATE TABLE IF NOT EXISTS bus_groups (
        group_name TEXT PRIMARY KEY,
        position INTEGER NOT NULL DEFAULT 0,
        attempt_seq INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_expires REAL NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS bus_dead_letters (
        group_name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        envelope BLOB NOT NULL,
        error TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        failed_at REAL NOT NULL,
        PRIMARY KEY (group_name, seq)
    )""",
    # One random id per producer, made when the producer first relays to this file: a relay that
    # finds another (or makes one) knows the file lost what it published (see EventBus.epoch).
    """CREATE TABLE IF NOT EXISTS bus_epochs (
        producer TEXT PRIMARY KEY,
        epoch TEXT NOT NULL
    )""",
)

# Consumers waiting on a bus file in this process, woken right after a publish to it.
_wakers: dict[Path, set[Callable[[], None]]] = {}
_wakers_lock = threading.Lock()


def _wake(path: Path) -> None:
    with _wakers_lock:
        callbacks = list(_wakers.get(path, ()))
    for callback in callbacks:
        callback()


@contextlib.contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front (waiting up to the busy timeout), instead of
    # failing when a read transaction later tries to become a write.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _use_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch the file to write-ahead logging, so readers never wait for the writer.

    Two connections opening a new file at once can both try the switch, and SQLite answers the
    loser "database is locked" at once instead of waiting its busy timeout: try again briefly.
    """
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _open(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    _use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    with _write(conn):
        for statement in _SCHEMA:
            conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(bus_events)")}
        if "only_group" not in columns:  # a file made before dead letters could be replayed
            conn.execute("ALTER TABLE bus_events ADD COLUMN only_group TEXT")
    return conn


def _insert(
    conn: sqlite3.Connection, rows: list[tuple[str, int, str, bytes]], max_length: int
) -> int:
    now = time.time()
    with _write(conn):
        added = 0
        for producer, event_id, kind, envelope in rows:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO bus_events"
                " (producer, event_id, event_type, envelope, published_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (producer, event_id, kind, envelope, now),
            )
            added += cursor.rowcount
        if added:
            # seq only grows (AUTOINCREMENT), so this keeps exactly the newest max_length.
            conn.execute(
                "DELETE FROM bus_events WHERE seq <= (SELECT max(seq) FROM bus_events) - ?",
                (max_length,),
            )
    return added


def _acquire(
    conn: sqlite3.Connection, group: str, owner: str, lease_seconds: float
) -> tuple[int, int, int] | None:
    """Take the group's lease if it is free, ours or expired; return its state if we hold it."""
    now = time.time()
    with _write(conn):
        conn.execute("INSERT OR IGNORE INTO bus_groups (group_name) VALUES (?)", (group,))
        cursor = conn.execute(
            "UPDATE bus_groups SET lease_owner = ?, lease_expires = ?"
            " WHERE group_name = ?"
            " AND (lease_owner IS NULL OR lease_owner = ? OR lease_expires < ?)",
            (owner, now + lease_seconds, group, owner, now),
        )
        if cursor.rowcount != 1:
            return None
        row = conn.execute(
            "SELECT position, attempt_seq, attempts FROM bus_groups WHERE group_name = ?",
            (group,),
        ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def _update_group(
    conn: sqlite3.Connection,
    group: str,
    owner: str,
    lease_seconds: float,
    changes: dict[str, int],
    dead: tuple[int, str, bytes, str, int] | None = None,
    dead_letters_max: int = DEAD_LETTERS_MAX,
) -> bool:
    """Apply changes to the group's row if we still hold its lease (renewing it)."""
    assignments = "".join(f", {column} = ?" for column in changes)
    with _write(conn):
        cursor = conn.execute(
            f"UPDATE bus_groups SET lease_expires = ?{assignments}"
            " WHERE group_name = ? AND lease_owner = ?",
            (time.time() + lease_seconds, *changes.values(), group, owner),
        )
        if cursor.rowcount != 1:
            return False
        if dead is not None:
            seq, kind, envelope, error, attempts = dead
            conn.execute(
                "INSERT OR REPLACE INTO bus_dead_letters"
                " (group_name, seq, event_type, envelope, error, attempts, failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (group, seq, kind, envelope, error, attempts, time.time()),
            )
            conn.execute(
                "DELETE FROM bus_dead_letters WHERE group_name = ? AND seq <= ("
                " SELECT seq FROM bus_dead_letters WHERE group_name = ?"
                " ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (group, group, dead_letters_max),
            )
    return True


def _release(conn: sqlite3.Connection, group: str, owner: str) -> None:
    with _write(conn):
        conn.execute(
            "UPDATE bus_groups SET lease_owner = NULL, lease_expires = 0"
            " WHERE group_name = ? AND lease_owner = ?",
            (group, owner),
        )


def _count_after(conn: sqlite3.Connection, after: int) -> int:
    return int(
        conn.execute("SELECT count(*) FROM bus_events WHERE seq > ?", (after,)).fetchone()[0]
    )


def _fetch(
    conn: sqlite3.Connection, after: int, limit: int
) -> list[tuple[int, str, bytes, str | None]]:
    return conn.execute(
        "SELECT seq, event_type, envelope, only_group FROM bus_events WHERE seq > ?"
        " ORDER BY seq LIMIT ?",
        (after, limit),
    ).fetchall()


def _group_backlog(conn: sqlite3.Connection, group: str) -> int:
    row = conn.execute("SELECT position FROM bus_groups WHERE group_name = ?", (group,)).fetchone()
    return 0 if row is None else _count_after(conn, int(row[0]))


def _dead_letters(
    conn: sqlite3.Connection, group: str, limit: int
) -> list[tuple[int, str, bytes, str, int, float]]:
    return conn.execute(
        "SELECT seq, event_type, envelope, error, attempts, failed_at FROM bus_dead_letters"
        " WHERE group_name = ? ORDER BY seq LIMIT ?",
        (group, limit),
    ).fetchall()


def _take_dead_letters(
    conn: sqlite3.Connection, group: str, seqs: list[int] | None, replay: bool, max_length: int
) -> int:
    """Delete dead letters of a group (these seqs, or all); when replaying, append each again to
    the log for that group alone. One transaction: a letter is never both lost and kept."""
    where = "WHERE group_name = ?"
    args: list[str | int] = [group]
    if seqs is not None:
        if not seqs:
            return 0
        where += f" AND seq IN ({','.join('?' * len(seqs))})"
        args += seqs
    with _write(conn):
        rows = conn.execute(
            f"SELECT seq, event_type, envelope FROM bus_dead_letters {where} ORDER BY seq", args
        ).fetchall()
        if replay:
            now = time.time()
            for _seq, kind, envelope in rows:
                # A key of its own: the log keeps each (producer, event_id) once, and this
                # event is in it already.
                conn.execute(
                    "INSERT INTO bus_events"
                    " (producer, event_id, event_type, envelope, published_at, only_group)"
                    " VALUES (?, 0, ?, ?, ?, ?)",
                    (f"replay:{uuid.uuid4().hex}", kind, envelope, now, group),
                )
        conn.execute(f"DELETE FROM bus_dead_letters {where}", args)
        if replay and rows:
            conn.execute(
                "DELETE FROM bus_events WHERE seq <= (SELECT max(seq) FROM bus_events) - ?",
                (max_length,),
            )
    return len(rows)


def _epoch(conn: sqlite3.Connection, producer: str, candidate: str) -> tuple[str, bool]:
    # Read first: relays ask every second, and a write would take the file's lock each time.
    row = conn.execute("SELECT epoch FROM bus_epochs WHERE producer = ?", (producer,)).fetchone()
    if row is not None:
        return str(row[0]), False
    with _write(conn):
        cursor = conn.execute(
            "INSERT OR IGNORE INTO bus_epochs (producer, epoch) VALUES (?, ?)",
            (producer, candidate),
        )
        row = conn.execute(
            "SELECT epoch FROM bus_epochs WHERE producer = ?", (producer,)
        ).fetchone()
    return str(row[0]), cursor.rowcount == 1


def _finished_before(conn: sqlite3.Connection) -> float | None:
    """Return when the oldest event some group has not finished was published (now when every
    group is done); None without groups."""
    row = conn.execute("SELECT min(position) FROM bus_groups").fetchone()
    if row is None or row[0] is None:
        return None
    oldest = conn.execute(
        "SELECT published_at FROM bus_events WHERE seq > ? ORDER BY seq LIMIT 1", (int(row[0]),)
    ).fetchone()
    return time.time() if oldest is None else float(oldest[0])


def _embedded_letter(letter_id: str) -> int:
    if not letter_id.isdigit():
        raise ValueError(f"{letter_id!r} is not a dead letter id of the embedded bus (a number)")
    return int(letter_id)


class _LeaseLost(Exception):
    """Another consumer took the group over (ours went quiet longer than the idle timeout)."""


class EmbeddedBus:
    """The event bus in a SQLite file: durable, shared by the processes of one data_dir."""

    def __init__(self, path: Path, settings: MeshSettings) -> None:
        self.path = path.resolve()
        self._settings = settings
        # One thread owns the connection: sqlite3 objects must stay on the thread that made them.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shutter-bus")
        self._conn: sqlite3.Connection | None = None
        self._consumers: set[_EmbeddedConsumer] = set()
        self._closed = False

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._conn is None:
            self._conn = _open(self.path)
        return fn(self._conn, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a storage function on the bus's database thread."""
        if self._closed:
            raise RuntimeError("the event bus is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._call, fn, *args))

    async def publish(self, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Append events in order; an event already published (same producer and id) is skipped."""
        if not envelopes:
            return
        _check_envelopes(envelopes)
        rows = [(e.producer, e.event_id, event_type(e), e.SerializeToString()) for e in envelopes]
        added = await self.run(_insert, rows, self._settings.bus_max_length)
        if added:
            _wake(self.path)

    async def start_consumer(
        self,
        *,
        group: str,
        handler: Handler,
        event_types: Collection[str] | None = None,
        archive: DeadLetterArchive | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> Consumer:
        """Start calling `handler` with the group's events (of `event_types`, or all);
        `batch_handler`, when given, with each batch of fresh events first. On the Redis bus,
        dead letters go to `archive` (the service's database) when given."""
        types = _check_consumer(group, event_types)
        consumer = _EmbeddedConsumer(
            self,
            group=group,
            handler=handler,
            batch_handler=batch_handler,
            event_types=types,
            settings=self._settings,
        )
        await consumer.start()
        self._consumers.add(consumer)
        return consumer

    async def dead_letters(self, group: str, *, limit: int = 100) -> list[DeadLetter]:
        """Return the oldest events a group gave up on, up to `limit`."""
        rows = await self.run(_dead_letters, group, max(0, limit))
        return [
            DeadLetter(
                group=group,
                envelope=envelope_pb2.EventEnvelope.FromString(envelope),
                event_type=kind,
                error=error,
                attempts=attempts,
                failed_at=datetime.fromtimestamp(failed_at, UTC),
                letter_id=str(seq),
            )
            for seq, kind, envelope, error, attempts, failed_at in rows
        ]

    async def replay_dead_letters(self, group: str, *, letter_ids: Sequence[str] | None) -> int:
        """Hand dead letters (these, or all) to their group again; return how many."""
        seqs = None if letter_ids is None else [_embedded_letter(i) for i in letter_ids]
        count = await self.run(_take_dead_letters, group, seqs, True, self._settings.bus_max_length)
        if count:
            _wake(self.path)
        return count

    async def drop_dead_letters(self, group: str, *, letter_ids: Sequence[str] | None) -> int:
        """Forget dead letters (these, or all); return how many."""
        seqs = None if letter_ids is None else [_embedded_letter(i) for i in letter_ids]
        return await self.run(_take_dead_letters, group, seqs, False, 0)

    async def epoch(self, producer: str) -> tuple[str, bool]:
        """Return the epoch of a producer's events in this file, and whether this call began it."""
        return await self.run(_epoch, producer, uuid.uuid4().hex)

    async def finished_before(self) -> datetime | None:
        """Return a time before which every event in the file is finished by every group."""
        at = await self.run(_finished_before)
        return None if at is None else datetime.fromtimestamp(at, UTC)

    async def backlog(self, group: str) -> int:
        """Return how many events a group has not finished: after its position in the log (the
        one in progress included); 0 for a group that never started."""
        return int(await self.run(_group_backlog, group))

    async def close(self) -> None:
        """Stop this bus's consumers and close the database."""
        if self._closed:
            return
        for consumer in list(self._consumers):
            await consumer.stop()
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connection)
        self._executor.shutdown(wait=False)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _EmbeddedConsumer(_ConsumerBase):
    """Consume one group of the SQLite log while holding the group's lease."""

    def __init__(self, bus: EmbeddedBus, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bus = bus
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._holding = False
        self._position = 0
        self._attempt_seq = 0
        self._attempts = 0
        self._seq = 0
        self._wakeup = asyncio.Event()
        self._waker: Callable[[], None] | None = None

    async def start(self) -> None:
        """Make sure the bus file opens, then start the consuming task."""
        await self._bus.run(lambda conn: None)
        loop = asyncio.get_running_loop()

        def waker() -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._wakeup.set)

        self._waker = waker
        with _wakers_lock:
            _wakers.setdefault(self._bus.path, set()).add(waker)
        self._launch()

    async def _backlog(self) -> int:
        return int(await self._bus.run(_count_after, self._position))

    async def _after_stop(self) -> None:
        with _wakers_lock:
            if self._waker is not None:
                _wakers.get(self._bus.path, set()).discard(self._waker)
        self._bus._consumers.discard(self)
        if not self._bus._closed:
            # The next consumer of the group can start at once, instead of after the lease.
            # Released even when we think we do not hold it: an _acquire cut short by stop()
            # may still have taken it (the database thread runs queued calls in order).
            await self._bus.run(_release, self.group, self._owner)
        self._holding = False

    async def _run(self) -> None:
        while True:
            self._check_running()
            try:
                if not self._holding:
                    state = await self._bus.run(_acquire, self.group, self._owner, self._idle)
                    if state is None:  # another consumer of the group is at work
                        await self._wait()
                        continue
                    self._holding = True
                    self._position, self._attempt_seq, self._attempts = state
                await self._work()
            except _LeaseLost:
                log.warning("bus %s: another consumer took the group over", self.group)
                self._holding = False
            except Exception:
                self._check_running()
                log.exception("bus %s: consuming failed; retrying", self.group)
                self._holding = False  # read the group's state afresh
                await asyncio.sleep(self._poll)

    async def _wait(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation (stop).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._poll):
                await self._wakeup.wait()

    async def _work(self) -> None:
        while True:
            self._check_running()
            self._wakeup.clear()  # before reading, so a publish during the read is not missed
            rows = await self._bus.run(_fetch, self._position, self._batch)
            if not rows:
                await self._wait()
                continue
            wanted = [
                (seq, kind, payload)
                for seq, kind, payload, only_group in rows
                if self._wants(kind) and (only_group is None or only_group == self.group)
            ]
            if await self._deliver_batch(wanted):
                await self._update(position=rows[-1][0], attempt_seq=0, attempts=0)
                continue
            skipped = 0
            for seq, kind, payload, only_group in rows:
                self._check_running()
                if not self._wants(kind) or (only_group is not None and only_group != self.group):
                    skipped = seq
                    continue
                await self._deliver(seq, kind, payload)
                skipped = 0
            if skipped:  # acknowledge the unwanted events at the end of the batch in one write
                await self._update(position=skipped)

    async def _deliver_batch(self, wanted: list[tuple[int, str, bytes]]) -> bool:
        """Hand fresh events to the batch handler in one call; return whether it took them.

        The first event's attempt is recorded before the call: a consumer dying in the batch
        leaves it counted, so the next consumer handles these events one by one (and a poison
        event that kills the process still reaches the dead letters).
        """
        if self._batch_handler is None or len(wanted) < 2 or self._attempt_seq == wanted[0][0]:
            return False
        try:
            envelopes = [envelope_pb2.EventEnvelope.FromString(p) for _, _, p in wanted]
        except DecodeError:
            return False  # the undecodable one is dead-lettered on its own
        await self._update(attempt_seq=wanted[0][0], attempts=1)
        if await self._handle_batch(envelopes):
            return True
        await self._update(attempt_seq=0, attempts=0)  # each event's own attempts start afresh
        return False

    async def _deliver(self, seq: int, kind: str, payload: bytes) -> None:
        prior = self._attempts if self._attempt_seq == seq else 0
        self._seq = seq
        try:
            envelope = envelope_pb2.EventEnvelope.FromString(payload)
        except DecodeError as exc:
            error: str | None = f"the envelope cannot be decoded: {exc}"
            attempts = 0
        else:
            error, attempts = await self._handle(envelope, prior)
        if error is None:
            await self._update(position=seq, attempt_seq=0, attempts=0)
            return
        _report_dead_letter(self.group, kind, payload, error, attempts)
        await self._update(
            position=seq, attempt_seq=0, attempts=0, dead=(seq, kind, payload, error, attempts)
        )

    async def _begin_attempt(self, attempt: int, *, first: bool) -> None:
        await self._update(attempt_seq=self._seq, attempts=attempt)

    async def _update(
        self, *, dead: tuple[int, str, bytes, str, int] | None = None, **changes: int
    ) -> None:
        done = await self._bus.run(
            _update_group, self.group, self._owner, self._idle, changes, dead
        )
        if not done:
            raise _LeaseLost()
        if "position" in changes:
            self._position = changes["position"]
        if "attempt_seq" in changes:
            self._attempt_seq = changes["attempt_seq"]
        if "attempts" in changes:
            self._attempts = changes["attempts"]

    async def _keep_alive(self) -> None:
        # A lost lease is noticed by the next write (which then raises _LeaseLost).
        if self._holding:
            await self._bus.run(_update_group, self.group, self._owner, self._idle, {})


# ---------------------------------------------------------------------------------------------
# Redis Streams.

# The stream of a topic holds the events declared in `shutter/events/v1/<topic>_events.proto`;
# events of any other type go to the main stream, which every consumer also reads (and which
# held every event before topics: what was left in it is still delivered).
_TOPIC_FILE = re.compile(r"shutter/events/v1/(\w+)_events\.proto")
TOPICS: tuple[str, ...] = tuple(
    sorted(
        m.group(1)
        for module in (
            graph_events_pb2,
            media_events_pb2,
            message_events_pb2,
            post_events_pb2,
            user_events_pb2,
        )
        if (m := _TOPIC_FILE.fullmatch(module.DESCRIPTOR.name))
    )
)


@functools.lru_cache(maxsize=1024)
def topic_of(type_name: str) -> str:
    """Return the topic of an event type ("post" for shutter.events.v1.PostLiked), or "" for a
    type declared outside the event files."""
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(type_name)
    except KeyError:
        return ""
    found = _TOPIC_FILE.fullmatch(descriptor.file.name)
    return found.group(1) if found else ""


# Adds each event unless its (producer, event_id) was published within the dedupe window; both
# in one atomic step, so a crash can never mark an event seen without adding it.
# KEYS: the streams written to, then one "seen" key per event. ARGV: maxlen, ttl, how many
# streams, then per event the index of its stream in KEYS, its type, producer, event_id and
# serialized envelope.
_PUBLISH_SCRIPT = """
local streams = tonumber(ARGV[3])
local added = 0
for i = streams + 1, #KEYS do
  local at = 4 + (i - streams - 1) * 5
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('XADD', KEYS[tonumber(ARGV[at])], 'MAXLEN', '~', ARGV[1], '*',
      'type', ARGV[at + 1], 'producer', ARGV[at + 2], 'event_id', ARGV[at + 3],
      'envelope', ARGV[at + 4])
    added = added + 1
  end
end
return added
"""


Entry = tuple[bytes, dict[bytes, bytes]]


class _Ref(NamedTuple):
    """An entry of one of the bus's streams (entry ids are unique only within their stream)."""

    stream: str
    entry_id: bytes


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(raw: Any) -> list[Entry]:
    """Return stream entries as (id, fields); entries deleted from the stream get no fields."""
    return [(entry_id, dict(fields or {})) for entry_id, fields in raw or [] if entry_id]


def _read_entries(response: Any) -> list[tuple[str, bytes, dict[bytes, bytes]]]:
    """Return the entries of an XREADGROUP answer as (stream, id, fields), stream by stream
    (RESP2 list or RESP3 map)."""
    streams = response.items() if isinstance(response, dict) else response or []
    return [
        (_text(stream), entry_id, fields)
        for stream, entries in streams
        for entry_id, fields in _entries(entries)
    ]


def _by_stream(refs: Sequence[_Ref]) -> dict[str, list[bytes]]:
    grouped: dict[str, list[bytes]] = {}
    for ref in refs:
        grouped.setdefault(ref.stream, []).append(ref.entry_id)
    return grouped


class RedisStreamBus:
    """The event bus on Redis Streams: a stream per topic, a Redis consumer group per group on
    each stream the group reads.

    A consumer reads only the streams of the types it asked for (and the main stream), so an
    event wakes the groups that may want it, not every group of the mesh. Order holds within a
    stream: a topic's events, as its producer published them.
    """

    def __init__(
        self, client: aioredis.Redis, settings: MeshSettings, *, owns_client: bool = False
    ) -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the bus needs a Redis client that returns bytes (decode_responses)")
        self.redis = client
        self._settings = settings
        self._owns_client = owns_client
        self.prefix = settings.bus_stream_prefix
        self.stream = f"{{{self.prefix}}}:events"  # the main stream
        self.streams = [self.stream, *(self.topic_stream(t) for t in TOPICS)]
        self._publish_script = client.register_script(_PUBLISH_SCRIPT)
        self._consumers: set[_RedisConsumer] = set()

    def topic_stream(self, topic: str) -> str:
        """Return the stream of a topic ("" is the main stream)."""
        return f"{self.stream}:{topic}" if topic else self.stream

    def stream_of(self, type_name: str) -> str:
        """Return the stream an event type is published to."""
        return self.topic_stream(topic_of(type_name))

    def streams_for(self, event_types: Collection[str] | None) -> list[str]:
        """Return the streams a consumer of these types (None: every type) reads."""
        if event_types is None:
            return list(self.streams)
        return list(dict.fromkeys([self.stream, *sorted(map(self.stream_of, event_types))]))

    def dead_key(self, group: str) -> str:
        """Return the stream that holds a group's dead letters."""
        return f"{{{self.prefix}}}:dead:{group}"

    def _seen_key(self, envelope: envelope_pb2.EventEnvelope) -> str:
        return f"{{{self.prefix}}}:seen:{envelope.producer}:{envelope.event_id}"

    async def publish(self, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Append events in order; an event already published (same producer and id) is skipped."""
        _check_envelopes(envelopes)
        for start in range(0, len(envelopes), _PUBLISH_CHUNK):
            chunk = envelopes[start : start + _PUBLISH_CHUNK]
            kinds = [event_type(envelope) for envelope in chunk]
            streams = list(dict.fromkeys(self.stream_of(kind) for kind in kinds))
            args: list[str | bytes | int] = [
                self._settings.bus_max_length,
                self._settings.bus_dedupe_ttl_seconds,
                len(streams),
            ]
            for envelope, kind in zip(chunk, kinds, strict=True):
                args += [
                    streams.index(self.stream_of(kind)) + 1,
                    kind,
                    envelope.producer,
                    envelope.event_id,
                    envelope.SerializeToString(),
                ]
            await self._publish_script(
                keys=[*streams, *(self._seen_key(e) for e in chunk)], args=args
            )

    async def start_consumer(
        self,
        *,
        group: str,
        handler: Handler,
        event_types: Collection[str] | None = None,
        archive: DeadLetterArchive | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> Consumer:
        """Start calling `handler` with the group's events (of `event_types`, or all);
        `batch_handler`, when given, with each batch of fresh events first. On the Redis bus,
        dead letters go to `archive` (the service's database) when given."""
        types = _check_consumer(group, event_types)
        consumer = _RedisConsumer(
            self,
            group=group,
            handler=handler,
            batch_handler=batch_handler,
            event_types=types,
            settings=self._settings,
        )
        consumer.archive = archive
        await consumer.start()
        self._consumers.add(consumer)
        return consumer

    async def dead_letters(self, group: str, *, limit: int = 100) -> list[DeadLetter]:
        """Return the oldest events a group gave up on, up to `limit`."""
        if limit <= 0:
            return []
        entries = _entries(await self.redis.xrange(self.dead_key(group), count=limit))
        letters = []
        for entry_id, fields in entries:
            letters.append(
                DeadLetter(
                    group=group,
                    envelope=envelope_pb2.EventEnvelope.FromString(fields[b"envelope"]),
                    event_type=_text(fields[b"type"]),
                    error=_text(fields[b"error"]),
                    attempts=int(fields[b"attempts"]),
                    failed_at=datetime.fromtimestamp(int(fields[b"failed_at"]) / 1000, UTC),
                    letter_id=_text(entry_id),
                )
            )
        return letters

    async def _letters(
        self, group: str, letter_ids: Sequence[str] | None
    ) -> list[tuple[bytes, dict[bytes, bytes]]]:
        key = self.dead_key(group)
        if letter_ids is None:
            return _entries(await self.redis.xrange(key))
        found = []
        for letter_id in letter_ids:
            found += _entries(await self.redis.xrange(key, min=letter_id, max=letter_id))
        return found

    async def replay_dead_letters(self, group: str, *, letter_ids: Sequence[str] | None) -> int:
        """Hand dead letters (these, or all) to their group again; return how many."""
        letters = await self._letters(group, letter_ids)
        for entry_id, fields in letters:
            entry: dict[Any, Any] = {
                "type": fields.get(b"type", b""),
                "producer": fields.get(b"producer", b""),
                "event_id": fields.get(b"event_id", b"0"),
                "envelope": fields.get(b"envelope", b""),
                "group": group,  # other groups skip it
            }
            # Past the publish script: the event's "seen" key would make it skip the event.
            stream = self.stream_of(_text(entry["type"]))
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xadd(stream, entry, maxlen=self._settings.bus_max_length, approximate=True)
                pipe.xdel(self.dead_key(group), entry_id)
                await pipe.execute()
        return len(letters)

    async def redeliver(self, group: str, envelope: envelope_pb2.EventEnvelope) -> None:
        """Hand one event to one group again (a dead letter kept in a service's database);
        the other groups skip it."""
        entry: dict[Any, Any] = {
            "type": event_type(envelope),
            "producer": envelope.producer,
            "event_id": envelope.event_id,
            "envelope": envelope.SerializeToString(),
            "group": group,
        }
        await self.redis.xadd(
            self.stream_of(entry["type"]),
            entry,
            maxlen=self._settings.bus_max_length,
            approximate=True,
        )

    async def drop_dead_letters(self, group: str, *, letter_ids: Sequence[str] | None) -> int:
        """Forget dead letters (these, or all); return how many."""
        letters = await self._letters(group, letter_ids)
        if letters:
            await self.redis.xdel(self.dead_key(group), *(entry_id for entry_id, _ in letters))
        return len(letters)

    async def epoch(self, producer: str) -> tuple[str, bool]:
        """Return the epoch of a producer's events in Redis, and whether this call began it.

        The key lives and dies with the stream: Redis restarted without persistence has neither.
        """
        key = f"{{{self.prefix}}}:epoch:{producer}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, uuid.uuid4().hex, nx=True)
            pipe.get(key)
            created, value = await pipe.execute()
        return _text(value), bool(created)

    async def finished_before(self) -> datetime | None:
        """Return a time before which every event in the streams is finished by every group:
        the time (Redis's clock, from its entry id) of the oldest entry some group has not
        acknowledged yet, or Redis's now when all are done; None without groups."""
        infos = await self._groups(self.streams)
        if not any(infos.values()):
            return None
        # One round trip for every group's oldest unfinished entry on every stream.
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream, groups in infos.items():
                for info in groups:
                    if int(info.get("pending") or 0):
                        # Pending entries were delivered, so they are older than any undelivered.
                        pipe.xpending(stream, _text(info["name"]))
                    else:
                        after = f"({_text(info['last-delivered-id'])}"
                        pipe.xrange(stream, min=after, max="+", count=1)
            answers = await pipe.execute()
        oldest: tuple[int, int] | None = None
        for answer in answers:
            if isinstance(answer, dict):  # XPENDING's summary
                first: bytes | str | None = answer.get("min")
            else:
                first = answer[0][0] if answer else None
            if first is not None:
                ms, _, seq = _text(first).partition("-")
                key = (int(ms), int(seq or 0))
                oldest = key if oldest is None else min(oldest, key)
        if oldest is None:
            seconds, micros = await self.redis.time()
            return datetime.fromtimestamp(seconds + micros / 1e6, UTC)
        return datetime.fromtimestamp(oldest[0] / 1000, UTC)

    async def _groups(self, streams: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Return XINFO GROUPS of each stream ([] for a stream that does not exist), in one
        round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xinfo_groups(stream)
            answers = await pipe.execute(raise_on_error=False)
        found: dict[str, list[dict[str, Any]]] = {}
        for stream, answer in zip(streams, answers, strict=True):
            if isinstance(answer, ResponseError):
                if "no such key" not in str(answer).lower():
                    raise answer
                answer = []
            found[stream] = list(answer)
        return found

    async def backlog(self, group: str, *, streams: Sequence[str] | None = None) -> int:
        """Return how many events a group has not finished: not yet read, plus read and not
        acknowledged; 0 for a group that never started. `streams` limits the count to those
        the group reads (default: every stream)."""
        left = 0
        for groups in (await self._groups(streams or self.streams)).values():
            for info in groups:
                if _text(info["name"]) == group:
                    # "lag" (Redis 7) counts entries not yet read; "pending" those read, not acked.
                    left += int(info.get("lag") or 0) + int(info.get("pending") or 0)
        return left

    async def close(self) -> None:
        """Stop this bus's consumers and, if this bus made its client, close it."""
        for consumer in list(self._consumers):
            await consumer.stop()
        if self._owns_client:
            await self.redis.aclose()


class _RedisConsumer(_ConsumerBase):
    """Consume one Redis consumer group as one named consumer, on every stream it reads."""

    def __init__(self, bus: RedisStreamBus, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bus = bus
        self._redis = bus.redis
        self._streams = bus.streams_for(self._types)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._current: _Ref | None = None
        self.archive: DeadLetterArchive | None = None
        self._counted = False  # whether the current entry's delivery counted its first attempt
        self._waiting: list[_Ref] = []  # entries delivered to us, not yet started
        # BLOCK no longer than half the idle timeout, so stale entries are reclaimed in time.
        self._block_ms = max(1, int(min(self._poll, self._idle / 2) * 1000))
        self._idle_ms = max(1, int(self._idle * 1000))

    async def start(self) -> None:
        """Create the group on each stream where it is new (from the oldest retained event),
        then start."""
        await self._ensure_groups()
        self._launch()

    async def _ensure_groups(self) -> None:
        for stream in self._streams:
            try:
                await self._redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _backlog(self) -> int:
        return await self._bus.backlog(self.group, streams=self._streams)

    async def _after_stop(self) -> None:
        self._bus._consumers.discard(self)
        # Forget this consumer's name unless it still owns pending events (deleting it would
        # drop them, and they must be taken over by another consumer instead).
        with contextlib.suppress(RedisError, OSError):
            for stream in self._streams:
                if await self._redis.xpending_range(
                    stream, self.group, "-", "+", 1, consumername=self.name
                ):
                    return
            for stream in self._streams:
                await self._redis.xgroup_delconsumer(stream, self.group, self.name)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_reclaim = 0.0
        while True:
            self._check_running()
            try:
                if loop.time() >= next_reclaim:
                    for stream in self._streams:
                        await self._reclaim(stream)
                    next_reclaim = loop.time() + self._idle / 2
                response = await self._redis.xreadgroup(
                    self.group,
                    self.name,
                    dict.fromkeys(self._streams, ">"),
                    count=self._batch,
                    block=self._block_ms,
                )
                await self._process([(_Ref(s, i), f, 1) for s, i, f in _read_entries(response)])
            except ResponseError as exc:
                self._check_running()
                # A stream was deleted (a flush, a new Redis): NOGROUP on the next read, or
                # UNBLOCKED for a read that was waiting on it. Start it again, quietly.
                if str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                    log.warning("bus %s: a stream is gone; creating it again", self.group)
                    await self._ensure_groups()
                    continue
                log.exception("bus %s: Redis refused a command; retrying", self.group)
                await asyncio.sleep(self._poll)
            except Exception:
                self._check_running()
                log.exception(
                    "bus %s: consuming failed (is Redis reachable?); retrying", self.group
                )
                await asyncio.sleep(self._poll)

    async def _reclaim(self, stream: str) -> None:
        """Take over a stream's events whose consumer has been quiet longer than the idle
        timeout."""
        cursor: bytes | str = "0-0"
        while True:
            self._check_running()
            result = await self._redis.xautoclaim(
                stream, self.group, self.name, self._idle_ms, cursor, count=self._batch
            )
            cursor, entries = result[0], _entries(result[1])
            live = [(i, f) for i, f in entries if f]
            # Before Redis 7, entries trimmed from the stream come back without fields.
            gone = [i for i, f in entries if not f]
            if gone:
                await self._redis.xack(stream, self.group, *gone)
            if live:
                pending = await self._redis.xpending_range(
                    stream,
                    self.group,
                    live[0][0],
                    live[-1][0],
                    len(live),
                    consumername=self.name,
                )
                counts = {p["message_id"]: int(p["times_delivered"]) for p in pending}
                await self._process([(_Ref(stream, i), f, counts.get(i, 2)) for i, f in live])
            if _text(cursor) == "0-0":
                return

    async def _ack(self, refs: Sequence[_Ref]) -> None:
        for stream, ids in _by_stream(refs).items():
            await self._redis.xack(stream, self.group, *ids)

    async def _process(self, entries: list[tuple[_Ref, dict[bytes, bytes], int]]) -> None:
        """Handle entries just delivered to us, each with its delivery count (this one included).

        The delivery count of a pending entry is kept equal to the handler attempts it has had:
        an entry read in a batch but not yet started gets its count set back, so a consumer
        dying mid-batch does not charge the entries it never started an attempt.
        """
        unwanted: list[_Ref] = []
        wanted: list[tuple[_Ref, dict[bytes, bytes], str, int]] = []
        for ref, fields, deliveries in entries:
            kind = _text(fields.get(b"type", b""))
            only = fields.get(b"group")
            if self._wants(kind) and (only is None or _text(only) == self.group):
                wanted.append((ref, fields, kind, deliveries - 1))
            else:
                unwanted.append(ref)
        if unwanted:
            await self._ack(unwanted)
        if await self._deliver_batch(wanted):
            return
        if len(wanted) > 1:
            await self._set_attempts([(ref, prior) for ref, _, _, prior in wanted[1:]])
        self._waiting = [ref for ref, _, _, _ in wanted]
        try:
            for index, (ref, fields, kind, prior) in enumerate(wanted):
                self._check_running()
                self._waiting.remove(ref)
                # The first entry's delivery already counted its first attempt.
                self._counted = index == 0
                await self._deliver(ref, fields, kind, prior)
        finally:
            self._waiting = []

    async def _deliver_batch(self, wanted: list[tuple[_Ref, dict[bytes, bytes], str, int]]) -> bool:
        """Hand fresh entries to the batch handler in one call and acknowledge them in one
        write per stream; return whether that happened.

        Only entries never tried before: their delivery (one each) counts this attempt, so a
        consumer dying in the batch hands them over with one attempt counted, and the consumer
        that takes them over handles each on its own.
        """
        if self._batch_handler is None or len(wanted) < 2 or any(p for _, _, _, p in wanted):
            return False
        try:
            envelopes = [
                envelope_pb2.EventEnvelope.FromString(f[b"envelope"]) for _, f, _, _ in wanted
            ]
        except (DecodeError, KeyError):
            return False  # the undecodable one is dead-lettered on its own
        refs = [ref for ref, _, _, _ in wanted]
        self._waiting = list(refs)  # kept alive by the heartbeat meanwhile
        try:
            if not await self._handle_batch(envelopes):
                return False
        finally:
            self._waiting = []
        await self._ack(refs)
        return True

    async def _set_attempts(self, counts: list[tuple[_Ref, int]]) -> list[Any]:
        """Set pending entries' delivery counts; return, per entry, [] when it is not ours."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for ref, count in counts:
                pipe.xclaim(
                    ref.stream,
                    self.group,
                    self.name,
                    0,
                    [ref.entry_id],
                    justid=True,
                    retrycount=count,
                )
            return list(await pipe.execute())

    async def _deliver(self, ref: _Ref, fields: dict[bytes, bytes], kind: str, prior: int) -> None:
        self._current = ref
        try:
            try:
                envelope = envelope_pb2.EventEnvelope.FromString(fields[b"envelope"])
            except (DecodeError, KeyError) as exc:
                error: str | None = f"the envelope cannot be decoded: {exc!r}"
                attempts = 0
            else:
                error, attempts = await self._handle(envelope, prior)
            if error is None:
                await self._redis.xack(ref.stream, self.group, ref.entry_id)
                return
            _report_dead_letter(self.group, kind, fields.get(b"envelope", b""), error, attempts)
            await self._dead_letter(ref, fields, kind, error, attempts)
        except _Gone:
            log.warning("bus %s: entry %s is no longer ours", self.group, _text(ref.entry_id))
        finally:
            self._current = None

    async def _dead_letter(
        self, ref: _Ref, fields: dict[bytes, bytes], kind: str, error: str, attempts: int
    ) -> None:
        letter: dict[Any, Any] = {
            "type": kind,
            "producer": fields.get(b"producer", b""),
            "event_id": fields.get(b"event_id", b"0"),
            "envelope": fields.get(b"envelope", b""),
            "error": error,
            "attempts": attempts,
            "failed_at": int(time.time() * 1000),
            "entry_id": ref.entry_id,
        }
        if self.archive is not None:
            # Durable first (the service's database), then acknowledged: a crash in between
            # delivers the event again, and the archive keeps one letter per entry (entry ids
            # are unique within a stream: the topic's name keeps two streams' apart).
            topic = ref.stream.removeprefix(self._bus.stream).lstrip(":")
            await self.archive.add(
                group=self.group,
                letter_id=f"{topic}:{_text(ref.entry_id)}" if topic else _text(ref.entry_id),
                event_type=kind,
                envelope=fields.get(b"envelope", b""),
                error=error,
                attempts=attempts,
            )
            await self._redis.xack(ref.stream, self.group, ref.entry_id)
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self._bus.dead_key(self.group), letter, maxlen=DEAD_LETTERS_MAX, approximate=True
            )
            pipe.xack(ref.stream, self.group, ref.entry_id)
            await pipe.execute()

    async def _begin_attempt(self, attempt: int, *, first: bool) -> None:
        if (first and self._counted) or self._current is None:
            return
        # Count the attempt in the entry's delivery count before it starts, so a consumer that
        # dies during it hands the right count to the next one.
        [claimed] = await self._set_attempts([(self._current, attempt)])
        if not claimed:
            raise _Gone()

    async def _keep_alive(self) -> None:
        mine = ([] if self._current is None else [self._current]) + self._waiting
        for stream, ids in _by_stream(mine).items():
            # JUSTID resets the idle time without counting a delivery.
            claimed: list[Any] = list(ids)
            await self._redis.xclaim(stream, self.group, self.name, 0, claimed, justid=True)


class _Gone(Exception):
    """The entry left the group's pending list (trimmed, or acknowledged by another consumer)."""
