"""post_svc's likes and comments (and their counts) in Cassandra, through cassandra-driver.

`CassandraEngagementStore` implements store.EngagementStore for write rates one relational
database cannot take; post_svc picks it when SHUTTER_CASSANDRA_HOSTS is set. These machines have
no Cassandra server: the contract suite runs it only where a cluster is reachable.

Tables (`schema_statements`, applied at start-up with IF NOT EXISTS, like migrations):

- likes_by_post ((post_id), like_id DESC): the likers list, newest first.
- like_members ((post_id, user_id)): whether a user likes a post. Inserted and deleted only by
  lightweight transactions (IF NOT EXISTS / IF like_id = ?), so of two racing likes one wins and
  is counted. The user is part of the partition key because Paxos serialises the transactions of
  one partition: keyed by the post alone, the likes of a hot post would queue behind each other.
- comments_by_post ((post_id), parent_comment_id, comment_id): threads, oldest first.
- comments_by_id ((comment_id)): a comment by id, and which post it belongs to. Inserted and
  deleted only by lightweight transactions, so a comment is counted and uncounted once.
- post_counts ((post_id), shard): counters, spread over `counter_shards` rows like the relational
  store's, summed on read.
- engagement_repairs ((bucket), post_id) and engagement_repair_lease: posts whose counts must be
  recounted, and which replica is recounting.

The membership and by-id tables decide what exists; the lists and counters follow them. Writes
go in an order that keeps "exists" implying "listed": a like writes its likes_by_post row before
its membership, an unlike deletes the membership first (a comment likewise with its two tables).
The likers list is checked against the memberships when read, so it is exact. A comments list
can show, for the few milliseconds a write is in flight, a comment about to exist, and a row
that a failed write left behind until the repair pass that the failure asked for (below).

Guarantees, and what happens on failure:

- A like counts once, whatever the retries and races: only the call whose transaction inserted
  (or deleted) the membership touches the counter.
- The relational transaction holds the outbox event. Every write registers, before it starts,
  an undo that runs when that transaction ends without committing (SQLAlchemy session events),
  after the write's own steps finished (they are shielded from the caller's cancellation). So a
  rolled-back like, unlike, comment or deletion is taken back, and an error half-way through one
  is undone the same way. The undo runs in the background just after the rollback; if Cassandra
  fails it too, the change stays without its event (logged, and the post marked for a repair),
  never an event without its change.
- Counter writes are not idempotent, so they are never retried; one that fails or times out
  leaves the count unknown. The write still stands (the membership decides), and the post is
  marked in engagement_repairs. A background job (one replica at a time, under a lease)
  recounts marked posts from the membership and by-id tables, drops list rows that a failure left
  behind, and corrects the counters by the difference. It corrects only when the counters did
  not move while it counted, leaves a post alone while it sees one of its writes half-done, and
  keeps the mark until a pass finds nothing to correct (so a correction that raced a write is
  corrected in turn). So counts are exact when every write succeeds, and eventually exact
  after failures: a marked post is exact once a repair pass meets it quiet.
- Cassandra has no locks. `get_comment(lock=True)` reads at serial consistency instead, and a
  reply re-reads its parent after it is written: if the parent was deleted meanwhile, the reply
  takes itself back and fails with CommentNotFound, so no reply outlives its parent.
- purge_post deletes a (deleted) post's partitions; counters of a purged post must not be written
  again (Cassandra cannot reuse a deleted counter), which holds because deleted posts take no
  likes or comments.

Requests go through the driver's libev reactor (the asyncore one warns and is gone in Python
3.12); its callbacks run on the driver's I/O thread and hand results to the event loop with
call_soon_threadsafe, so nothing waits on the loop. Timestamps of comments are kept in
microseconds, so they read back exactly.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from cassandra import (
    ConsistencyLevel,
    DriverException,
    OperationTimedOut,
    RequestExecutionException,
)
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.connection import ConnectionException
from cassandra.io.libevreactor import LibevConnection
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import dict_factory
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from mesh.errors import Unavailable
from mesh.ids import id_time
from post_svc.errors import CommentNotFound
from post_svc.settings import PostSettings, parse_hosts
from post_svc.store import CommentRecord, Counts, Mention, shard_of

log = logging.getLogger(__name__)

T = TypeVar("T")
Row = dict[str, Any]

# Schema changes (table creation) wait for every node to agree: allow more than one request.
SCHEMA_TIMEOUT_SECONDS = 60.0
# How many requests one call keeps in flight at once when it fans out (liked_among, purges).
FANOUT = 64
# Conflicting unlike attempts (the same user liking again in between) before giving up.
LWT_ATTEMPTS = 3
# Marks are spread over this many partitions, so an outage's worth of marks is no hot partition.
REPAIR_BUCKETS = 16
REPAIR_BATCH = 100
REPAIR_LEASE = "repairs"
REPAIR_LEASE_TTL_SECONDS = 300
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Driver failures a retry may get past: the cluster (or enough of it) is out of reach or slow.
_TRANSIENT = (RequestExecutionException, OperationTimedOut, NoHostAvailable, ConnectionException)


class EngagementUnavailable(Unavailable):
    """Cassandra did not answer (in time, or with enough replicas); the caller may retry."""

    reason = "ENGAGEMENT_UNAVAILABLE"


class CassandraUnreachable(Exception):
    """The cluster could not be reached or prepared at start-up: the message says why, in one
    line."""


# -- the schema and the statements ----------------------------------------------------------------


def schema_statements(keyspace: str, replication_factor: int) -> list[str]:
    """Return the CQL that creates the keyspace and every table, each statement idempotent."""
    comment_columns = (
        "author_id bigint, body text, mentions list<frozen<tuple<bigint, text>>>, "
        "created_at_us bigint"
    )
    return [
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'NetworkTopologyStrategy', 'replication_factor': {replication_factor}}}",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.likes_by_post (post_id bigint, like_id bigint, "
        "user_id bigint, liked_at timestamp, PRIMARY KEY ((post_id), like_id)) "
        "WITH CLUSTERING ORDER BY (like_id DESC)",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.like_members (post_id bigint, user_id bigint, "
        "like_id bigint, liked_at timestamp, PRIMARY KEY ((post_id, user_id)))",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.comments_by_post (post_id bigint, "
        f"parent_comment_id bigint, comment_id bigint, {comment_columns}, "
        "PRIMARY KEY ((post_id), parent_comment_id, comment_id))",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.comments_by_id (comment_id bigint, "
        f"post_id bigint, parent_comment_id bigint, {comment_columns}, "
        "PRIMARY KEY ((comment_id)))",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.post_counts (post_id bigint, shard int, "
        "like_count counter, comment_count counter, PRIMARY KEY ((post_id), shard))",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.engagement_repairs (bucket int, post_id bigint, "
        "marked_at timestamp, PRIMARY KEY ((bucket), post_id))",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.engagement_repair_lease (name text, owner text, "
        "PRIMARY KEY ((name)))",
    ]


# What kind of request a statement is decides how it may be retried and at what consistency.
READ = "read"  # retried by the driver: reading twice is harmless
WRITE = "write"  # a plain insert or delete: idempotent, retried
LWT = "lwt"  # a lightweight transaction: a retry could read its own write as a conflict
COUNTER = "counter"  # a counter update: a retry could count twice
SERIAL_READ = "serial_read"  # a read that completes in-flight transactions first (LOCAL_SERIAL)

_COMMENT = "post_id, parent_comment_id, comment_id, author_id, body, mentions, created_at_us"

# The only statements that do not name their partition: bounded scans for account deletion.
SCAN_STATEMENTS = frozenset({"member_posts_of_user", "comments_of_author"})

STATEMENTS: dict[str, tuple[str, str]] = {
    "like_row_add": (
        "INSERT INTO likes_by_post (post_id, like_id, user_id, liked_at) VALUES (?, ?, ?, ?)",
        WRITE,
    ),
    "like_row_remove": ("DELETE FROM likes_by_post WHERE post_id = ? AND like_id = ?", WRITE),
    "like_rows": ("SELECT like_id, user_id FROM likes_by_post WHERE post_id = ? LIMIT ?", READ),
    "like_rows_before": (
        "SELECT like_id, user_id FROM likes_by_post WHERE post_id = ? AND like_id < ? LIMIT ?",
        READ,
    ),
    "like_rows_all": ("SELECT like_id, user_id FROM likes_by_post WHERE post_id = ?", READ),
    "likes_purge": ("DELETE FROM likes_by_post WHERE post_id = ?", WRITE),
    "member_add": (
        "INSERT INTO like_members (post_id, user_id, like_id, liked_at) VALUES (?, ?, ?, ?) "
        "IF NOT EXISTS",
        LWT,
    ),
    "member_remove_if": (
        "DELETE FROM like_members WHERE post_id = ? AND user_id = ? IF like_id = ?",
        LWT,
    ),
    "member_get": ("SELECT like_id FROM like_members WHERE post_id = ? AND user_id = ?", READ),
    "member_get_serial": (
        "SELECT like_id, liked_at FROM like_members WHERE post_id = ? AND user_id = ?",
        SERIAL_READ,
    ),
    "member_purge": ("DELETE FROM like_members WHERE post_id = ? AND user_id = ?", WRITE),
    "comment_row_add": (
        f"INSERT INTO comments_by_post ({_COMMENT}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        WRITE,
    ),
    "comment_row_remove": (
        "DELETE FROM comments_by_post WHERE post_id = ? AND parent_comment_id = ? "
        "AND comment_id = ?",
        WRITE,
    ),
    "comment_rows": (
        f"SELECT {_COMMENT} FROM comments_by_post WHERE post_id = ? AND parent_comment_id = ? "
        "LIMIT ?",
        READ,
    ),
    "comment_rows_after": (
        f"SELECT {_COMMENT} FROM comments_by_post WHERE post_id = ? AND parent_comment_id = ? "
        "AND comment_id > ? LIMIT ?",
        READ,
    ),
    "comment_replies_all": (
        f"SELECT {_COMMENT} FROM comments_by_post WHERE post_id = ? AND parent_comment_id = ?",
        READ,
    ),
    "comment_rows_all": (
        "SELECT parent_comment_id, comment_id FROM comments_by_post WHERE post_id = ?",
        READ,
    ),
    "reply_count": (
        "SELECT COUNT(*) AS n FROM comments_by_post WHERE post_id = ? AND parent_comment_id = ?",
        READ,
    ),
    "comments_purge": ("DELETE FROM comments_by_post WHERE post_id = ?", WRITE),
    "comment_add": (
        f"INSERT INTO comments_by_id ({_COMMENT}) VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
        LWT,
    ),
    "comment_remove_if": ("DELETE FROM comments_by_id WHERE comment_id = ? IF EXISTS", LWT),
    "comment_get": (f"SELECT {_COMMENT} FROM comments_by_id WHERE comment_id = ?", READ),
    # Account deletion and data export only (rare): no table is keyed by the liker or the
    # commenter, so these two scan (SCAN_STATEMENTS) rather than keep two more tables written
    # on every like and comment.
    "member_posts_of_user": (
        "SELECT post_id FROM like_members WHERE user_id = ? LIMIT ? ALLOW FILTERING",
        READ,
    ),
    "comments_of_author": (
        f"SELECT {_COMMENT} FROM comments_by_id WHERE author_id = ? LIMIT ? ALLOW FILTERING",
        READ,
    ),
    "comment_get_serial": (
        f"SELECT {_COMMENT} FROM comments_by_id WHERE comment_id = ?",
        SERIAL_READ,
    ),
    "comment_purge": ("DELETE FROM comments_by_id WHERE comment_id = ?", WRITE),
    "count_add": (
        "UPDATE post_counts SET like_count = like_count + ?, comment_count = comment_count + ? "
        "WHERE post_id = ? AND shard = ?",
        COUNTER,
    ),
    "counts_get": ("SELECT like_count, comment_count FROM post_counts WHERE post_id = ?", READ),
    "counts_purge": ("DELETE FROM post_counts WHERE post_id = ?", WRITE),
    "repair_mark": (
        "INSERT INTO engagement_repairs (bucket, post_id, marked_at) VALUES (?, ?, ?)",
        WRITE,
    ),
    "repair_marks": (
        "SELECT post_id, WRITETIME(marked_at) AS written FROM engagement_repairs "
        "WHERE bucket = ? LIMIT ?",
        READ,
    ),
    # Deleting at the mark's own write time keeps a mark made again since (it is newer).
    "repair_unmark": (
        "DELETE FROM engagement_repairs USING TIMESTAMP ? WHERE bucket = ? AND post_id = ?",
        WRITE,
    ),
    "repair_forget": ("DELETE FROM engagement_repairs WHERE bucket = ? AND post_id = ?", WRITE),
    "lease_take": (
        "INSERT INTO engagement_repair_lease (name, owner) VALUES (?, ?) IF NOT EXISTS USING TTL ?",
        LWT,
    ),
    "lease_release": ("DELETE FROM engagement_repair_lease WHERE name = ? IF owner = ?", LWT),
}


def serial_of(consistency: str) -> str:
    """Return the serial consistency that goes with a consistency level."""
    return "LOCAL_SERIAL" if consistency.startswith("LOCAL_") else "SERIAL"


# -- from the driver's thread to the event loop ---------------------------------------------------


class ResponseFutureLike(Protocol):
    """What the bridge uses of the driver's ResponseFuture."""

    @property
    def has_more_pages(self) -> bool: ...
    def add_callbacks(
        self, callback: Callable[[Any], None], errback: Callable[[BaseException], None]
    ) -> Any: ...
    def clear_callbacks(self) -> None: ...
    def start_fetching_next_page(self) -> None: ...


def _settle(future: asyncio.Future[list[Row]], rows: Any, error: BaseException | None) -> None:
    if future.done():  # the waiter was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(list(rows or ()))


def _deliver(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[list[Row]],
    rows: Any,
    error: BaseException | None,
) -> None:
    # Runs on the driver's I/O thread (or at once, when the result was in already): only the
    # loop's own thread may touch the future.
    try:
        loop.call_soon_threadsafe(_settle, future, rows, error)
    except RuntimeError:
        log.debug("a Cassandra answer arrived after its event loop closed")


async def _page(
    response: ResponseFutureLike, loop: asyncio.AbstractEventLoop, *, next_page: bool
) -> list[Row]:
    future: asyncio.Future[list[Row]] = loop.create_future()
    # The driver keeps callbacks across pages: drop the last page's before asking for the next,
    # and add the new ones after (added earlier, they would fire at once with the last page).
    response.clear_callbacks()
    if next_page:
        response.start_fetching_next_page()
    response.add_callbacks(
        lambda rows: _deliver(loop, future, rows, None),
        lambda error: _deliver(loop, future, None, error),
    )
    return await future


async def first_page(response: ResponseFutureLike) -> list[Row]:
    """Return the first (often only) page of a request's rows, without blocking the loop."""
    return await _page(response, asyncio.get_running_loop(), next_page=False)


async def pages(response: ResponseFutureLike) -> AsyncIterator[list[Row]]:
    """Yield every page of a request's rows as it arrives, without blocking the loop."""
    loop = asyncio.get_running_loop()
    yield await _page(response, loop, next_page=False)
    while response.has_more_pages:
        yield await _page(response, loop, next_page=True)


# -- undo when the relational transaction does not commit -----------------------------------------

Undo = Callable[[], Awaitable[None]]
_PENDING = "shutter.cassandra_undo"
_LISTENING = "shutter.cassandra_undo_listening"


@dataclass
class _Pending:
    root: SessionTransaction
    tasks: set[asyncio.Task[None]]
    undos: list[Undo] = field(default_factory=list)
    committed: bool = False


def on_rollback(session: AsyncSession, undo: Undo, *, tasks: set[asyncio.Task[None]]) -> bool:
    """Run `undo` in the background if the session's current transaction ends without
    committing; undos of one transaction run one after the other, the latest first, as a task
    kept in `tasks` until it ends. Return False (and do nothing) when no transaction is open."""
    sync = session.sync_session
    root = sync.get_transaction()
    if root is None:
        return False
    pending = sync.info.get(_PENDING)
    if pending is None or pending.root is not root:
        pending = _Pending(root, tasks)
        sync.info[_PENDING] = pending
    if not sync.info.get(_LISTENING):
        event.listen(sync, "after_commit", _committed)
        event.listen(sync, "after_transaction_end", _ended)
        sync.info[_LISTENING] = True
    pending.undos.append(undo)
    return True


def _committed(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if pending is not None:
        pending.committed = True


def _ended(session: Session, transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if pending is None or pending.root is not transaction:
        return  # a savepoint ended, or a transaction with nothing to undo
    del session.info[_PENDING]
    if pending.committed:
        return
    try:
        task = asyncio.get_running_loop().create_task(_undo_all(pending.undos))
    except RuntimeError:
        log.error("a transaction rolled back outside the event loop: its Cassandra writes stay")
        return
    pending.tasks.add(task)
    task.add_done_callback(pending.tasks.discard)


async def _undo_all(undos: list[Undo]) -> None:
    for undo in reversed(undos):
        try:
            await undo()
        except Exception:
            log.exception("undoing a Cassandra write after a rollback failed")


# -- the store -------------------------------------------------------------------------------------


def _applied(rows: list[Row]) -> bool:
    return bool(rows and rows[0].get("[applied]"))


def _micros(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


def _comment_values(comment: CommentRecord) -> tuple[Any, ...]:
    return (
        comment.post_id,
        comment.parent_comment_id,
        comment.comment_id,
        comment.author_id,
        comment.text,
        [(m.user_id, m.username) for m in comment.mentions],
        _micros(comment.created_at),
    )


def _comment_of(row: Row) -> CommentRecord:
    return CommentRecord(
        comment_id=int(row["comment_id"]),
        post_id=int(row["post_id"]),
        author_id=int(row["author_id"]),
        parent_comment_id=int(row["parent_comment_id"]),
        text=str(row["body"]),
        # Cassandra stores an empty list as no list.
        mentions=tuple(Mention(int(u), str(n)) for u, n in row["mentions"] or ()),
        created_at=_EPOCH + timedelta(microseconds=int(row["created_at_us"])),
    )


def _describe(error: BaseException) -> str:
    """Return a driver error as one line (NoHostAvailable carries one error per host)."""
    errors = getattr(error, "errors", None)
    if isinstance(error, NoHostAvailable) and isinstance(errors, dict) and errors:
        text = "; ".join(f"{host}: {reason}" for host, reason in errors.items())
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


@dataclass
class _Like:
    post_id: int
    user_id: int
    like_id: int
    liked_at: datetime
    row: bool = False  # our likes_by_post row may exist
    member: bool | None = None  # True: our membership went in; False: the user liked already
    counted: bool | None = False  # True: +1 applied; False: not tried; None: unknown


@dataclass
class _Unlike:
    post_id: int
    user_id: int
    removed: tuple[int, datetime] | None = None  # (like_id, liked_at) of the membership we took
    uncounted: bool | None = False  # True: -1 applied; False: not tried; None: unknown


@dataclass
class _AddComment:
    comment: CommentRecord
    row: bool = False
    owned: bool | None = None  # True: our by-id row went in; False: the comment existed already
    counted: bool | None = False


@dataclass
class _DeleteComment:
    comment: CommentRecord
    # What this call took (or may have: a timed-out transaction), the parent first.
    gone: list[CommentRecord] = field(default_factory=list)
    uncounted: bool | None = False


class CassandraEngagementStore:
    """EngagementStore on a Cassandra cluster (see the module doc for tables and guarantees).

    The relational session each method takes is used only to undo writes on rollback."""

    in_post_database = False  # likes and comments live in Cassandra

    def __init__(
        self, cluster: Any, session: Any, statements: dict[str, Any], *, settings: PostSettings
    ) -> None:
        self._cluster = cluster
        self._session = session
        self._cql = statements
        self._shards = settings.counter_shards
        # A like or comment younger than this may still be half-written: repairs leave it be.
        self._in_flight = timedelta(
            seconds=max(60.0, 6 * settings.cassandra_request_timeout_seconds)
        )
        self._owner = uuid.uuid4().hex
        self._undoing: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, settings: PostSettings) -> CassandraEngagementStore:
        """Connect, create the keyspace and tables where missing and prepare every statement;
        raise CassandraUnreachable (one line) when the cluster cannot be reached or prepared."""
        if not settings.cassandra_hosts:
            raise ValueError("cassandra_hosts is not set")
        hosts = parse_hosts(settings.cassandra_hosts)
        consistency = ConsistencyLevel.name_to_value[settings.cassandra_consistency]
        serial = ConsistencyLevel.name_to_value[serial_of(settings.cassandra_consistency)]
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)
            ),
            consistency_level=consistency,
            serial_consistency_level=serial,
            request_timeout=settings.cassandra_request_timeout_seconds,
            row_factory=dict_factory,
        )
        keyspace = settings.cassandra_keyspace

        def connect() -> tuple[Any, Any, dict[str, Any]]:
            # Blocking driver calls (name resolution, connecting, schema changes): run on a
            # worker thread, once, at start-up.
            cluster = Cluster(
                contact_points=hosts,
                port=hosts[0][1],  # the port of the nodes found through the contact points
                connection_class=LibevConnection,
                execution_profiles={EXEC_PROFILE_DEFAULT: profile},
                connect_timeout=settings.cassandra_connect_timeout_seconds,
                control_connection_timeout=settings.cassandra_connect_timeout_seconds,
            )
            try:
                session = cluster.connect()
                for cql in schema_statements(keyspace, settings.cassandra_replication_factor):
                    session.execute(cql, timeout=SCHEMA_TIMEOUT_SECONDS)
                session.set_keyspace(keyspace)
                prepared = {}
                for name, (cql, kind) in STATEMENTS.items():
                    statement = session.prepare(cql)
                    statement.is_idempotent = kind in (READ, WRITE, SERIAL_READ)
                    if kind == SERIAL_READ:
                        statement.consistency_level = serial
                    prepared[name] = statement
            except BaseException:
                cluster.shutdown()
                raise
            return cluster, session, prepared

        try:
            cluster, session, statements = await asyncio.to_thread(connect)
        except (*_TRANSIENT, DriverException) as exc:
            where = ", ".join(f"{host}:{port}" for host, port in hosts)
            raise CassandraUnreachable(
                f"could not use the Cassandra cluster at {where} (SHUTTER_CASSANDRA_HOSTS): "
                f"{_describe(exc)}"
            ) from None
        return cls(cluster, session, statements, settings=settings)

    async def close(self) -> None:
        """Let running undos finish, then disconnect."""
        await self.settle()
        await asyncio.to_thread(self._cluster.shutdown)

    async def settle(self) -> None:
        """Wait until the undos of rolled-back transactions have run."""
        while self._undoing:
            await asyncio.gather(*list(self._undoing), return_exceptions=True)

    # -- requests --------------------------------------------------------------------------------

    async def _run(self, name: str, *params: Any) -> list[Row]:
        try:
            return await first_page(self._session.execute_async(self._cql[name], params))
        except _TRANSIENT as exc:
            raise EngagementUnavailable(
                "likes and comments are unavailable right now; try again"
            ) from exc

    async def _scan(self, name: str, *params: Any) -> AsyncIterator[list[Row]]:
        try:
            async for page in pages(self._session.execute_async(self._cql[name], params)):
                yield page
        except _TRANSIENT as exc:
            raise EngagementUnavailable(
                "likes and comments are unavailable right now; try again"
            ) from exc

    async def _each(self, items: Iterable[T], run: Callable[[T], Awaitable[Any]]) -> list[Any]:
        """Run `run` on every item, FANOUT at a time; return the results in order."""
        batch, results = list(items), []
        for start in range(0, len(batch), FANOUT):
            results += await asyncio.gather(*(run(i) for i in batch[start : start + FANOUT]))
        return results

    async def _guarded(
        self, session: AsyncSession, post_id: int, forward: Coroutine[Any, Any, T], undo: Undo
    ) -> T:
        task = asyncio.create_task(forward)
        # Registered before the first write: however the steps end (an error, the caller
        # cancelled, a later rollback), a transaction that does not commit takes them back.
        on_rollback(session, lambda: self._after(post_id, task, undo), tasks=self._undoing)
        return await asyncio.shield(task)

    async def _after(self, post_id: int, task: asyncio.Task[Any], undo: Undo) -> None:
        await asyncio.wait([task])  # the steps run to their end before they are undone
        try:
            await undo()
        except EngagementUnavailable:
            log.error(
                "Cassandra failed while undoing a rolled-back write to post %s; what it left "
                "stays, unannounced, and the post is marked for a repair",
                post_id,
            )
            await self._mark(post_id)

    async def _count(
        self, post_id: int, shard: int, *, likes: int = 0, comments: int = 0
    ) -> bool | None:
        """Add to a post's counts: True when applied, None when the outcome is unknown (the post
        is then marked for a recount; counter writes are never retried, a retry could count
        twice)."""
        try:
            await self._run("count_add", likes, comments, post_id, shard)
        except EngagementUnavailable:
            log.warning("a counter update of post %s failed; marking it for a recount", post_id)
            await self._mark(post_id)
            return None
        return True

    async def _mark(self, post_id: int) -> None:
        try:
            await self._run(
                "repair_mark", shard_of(post_id, REPAIR_BUCKETS), post_id, datetime.now(UTC)
            )
        except EngagementUnavailable:
            log.error("post %s needs a recount and could not be marked for one", post_id)

    # -- likes -----------------------------------------------------------------------------------

    async def add_like(
        self, session: AsyncSession, *, post_id: int, user_id: int, like_id: int, at: datetime
    ) -> bool:
        """Add a like and count it; False (nothing counted) when the user liked it already."""
        op = _Like(post_id, user_id, like_id, at)
        return await self._guarded(session, post_id, self._like(op), lambda: self._undo_like(op))

    async def _like(self, op: _Like) -> bool:
        op.row = True  # set first: a write that fails may still have landed
        await self._run("like_row_add", op.post_id, op.like_id, op.user_id, op.liked_at)
        added = await self._run("member_add", op.post_id, op.user_id, op.like_id, op.liked_at)
        op.member = _applied(added)
        if not op.member:
            await self._run("like_row_remove", op.post_id, op.like_id)
            op.row = False
            return False
        op.counted = await self._count(op.post_id, shard_of(op.user_id, self._shards), likes=1)
        return True

    async def _undo_like(self, op: _Like) -> None:
        if op.member is not False:
            taken = await self._run("member_remove_if", op.post_id, op.user_id, op.like_id)
            if _applied(taken) and op.counted:
                await self._count(op.post_id, shard_of(op.user_id, self._shards), likes=-1)
        if op.counted is None:
            await self._mark(op.post_id)
        if op.row:
            await self._run("like_row_remove", op.post_id, op.like_id)

    async def remove_like(self, session: AsyncSession, *, post_id: int, user_id: int) -> bool:
        """Remove a like and uncount it; False when there was none."""
        op = _Unlike(post_id, user_id)
        return await self._guarded(
            session, post_id, self._unlike(op), lambda: self._undo_unlike(op)
        )

    async def _unlike(self, op: _Unlike) -> bool:
        current = await self._run("member_get_serial", op.post_id, op.user_id)
        for _ in range(LWT_ATTEMPTS):
            if not current or current[0].get("like_id") is None:
                return False
            like_id, liked_at = int(current[0]["like_id"]), current[0]["liked_at"]
            # Set first: a transaction that times out may still have gone through.
            op.removed = (like_id, liked_at)
            taken = await self._run("member_remove_if", op.post_id, op.user_id, like_id)
            if _applied(taken):
                break
            op.removed = None
            # The user liked again in between (a new like id): take that one.
            current = await self._run("member_get_serial", op.post_id, op.user_id)
        else:
            raise EngagementUnavailable("the like changed under every attempt; try again")
        await self._run("like_row_remove", op.post_id, like_id)
        op.uncounted = await self._count(op.post_id, shard_of(op.user_id, self._shards), likes=-1)
        return True

    async def _undo_unlike(self, op: _Unlike) -> None:
        if op.removed is None:
            return
        like_id, liked_at = op.removed
        await self._run("like_row_add", op.post_id, like_id, op.user_id, liked_at)
        back = await self._run("member_add", op.post_id, op.user_id, like_id, liked_at)
        if not _applied(back):
            # The like is there: the unlike never went through, or the user liked again
            # meanwhile (a new like id, with its own row: the old one goes).
            if back and back[0].get("like_id") != like_id:
                await self._run("like_row_remove", op.post_id, like_id)
        elif op.uncounted:
            await self._count(op.post_id, shard_of(op.user_id, self._shards), likes=1)
        if op.uncounted is None:
            await self._mark(op.post_id)

    async def like_now(
        self,
        *,
        post_id: int,
        user_id: int,
        like_id: int,
        at: datetime,
        event: dict[str, Any],
    ) -> tuple[bool, int] | None:
        """None: a like here spans Cassandra and the post database's outbox, so the caller
        writes it in a transaction (add_like)."""
        return None

    async def comment_now(self, *, comment: CommentRecord, event: dict[str, Any]) -> bool:
        """False: the caller writes the comment in a transaction (add_comment)."""
        return False

    async def liked_among(
        self, session: AsyncSession, *, user_id: int, post_ids: Sequence[int]
    ) -> set[int]:
        """Return which of these posts the user likes."""
        wanted = list(dict.fromkeys(post_ids))
        found = await self._each(wanted, lambda p: self._run("member_get", p, user_id))
        return {post_id for post_id, rows in zip(wanted, found, strict=True) if rows}

    async def list_likers(
        self, session: AsyncSession, *, post_id: int, before: int | None, limit: int
    ) -> list[tuple[int, int]]:
        """Return (like_id, user_id) of a post's likes, most recent first, before `before`; rows
        whose membership is not theirs (a like in flight, or left by a failure) are skipped."""
        found: list[tuple[int, int]] = []
        cursor = before
        while len(found) < limit:
            want = limit - len(found)
            if cursor is None:
                rows = await self._run("like_rows", post_id, want)
            else:
                rows = await self._run("like_rows_before", post_id, cursor, want)
            members = await self._each(
                rows, lambda r: self._run("member_get", post_id, r["user_id"])
            )
            for row, member in zip(rows, members, strict=True):
                if member and member[0]["like_id"] == row["like_id"]:
                    found.append((int(row["like_id"]), int(row["user_id"])))
            if len(rows) < want:
                break
            cursor = int(rows[-1]["like_id"])
        return found

    async def liked_by(self, session: AsyncSession, *, user_id: int, limit: int) -> list[int]:
        """Return up to `limit` ids of posts the user likes (a scan: account deletion only)."""
        rows = await self._run("member_posts_of_user", user_id, limit)
        return [int(row["post_id"]) for row in rows]

    # -- comments --------------------------------------------------------------------------------

    async def add_comment(self, session: AsyncSession, *, comment: CommentRecord) -> None:
        """Add a comment and count it; raise CommentNotFound when it is a reply whose parent was
        deleted while it was written (the reply is then taken back)."""
        op = _AddComment(comment)
        await self._guarded(
            session, comment.post_id, self._add_comment(op), lambda: self._undo_add_comment(op)
        )

    async def _add_comment(self, op: _AddComment) -> None:
        comment = op.comment
        op.row = True
        await self._run("comment_row_add", *_comment_values(comment))
        op.owned = _applied(await self._run("comment_add", *_comment_values(comment)))
        if not op.owned:
            return  # this very comment went in before (a repeated call): counted then
        op.counted = await self._count(
            comment.post_id, shard_of(comment.comment_id, self._shards), comments=1
        )
        if comment.parent_comment_id:
            # Stands in for the relational store's lock on the parent: whichever of this reply
            # and the parent's deletion came second sees the other (see the module doc).
            if not await self._run("comment_get_serial", comment.parent_comment_id):
                await self._undo_add_comment(op)
                raise CommentNotFound("no comment has that id")

    async def _undo_add_comment(self, op: _AddComment) -> None:
        comment = op.comment
        if op.owned is False:
            return  # the comment is the earlier call's
        taken = await self._run("comment_remove_if", comment.comment_id)
        if _applied(taken) and op.counted:
            await self._count(
                comment.post_id, shard_of(comment.comment_id, self._shards), comments=-1
            )
        if op.counted is None:
            await self._mark(comment.post_id)
        if op.row:
            await self._run(
                "comment_row_remove",
                comment.post_id,
                comment.parent_comment_id,
                comment.comment_id,
            )
        op.counted = False  # undone: a second undo (the rollback after a failed reply) is a no-op

    async def get_comment(
        self, session: AsyncSession, *, comment_id: int, lock: bool = False
    ) -> CommentRecord | None:
        """Return a comment; `lock` reads at serial consistency (Cassandra has no row locks: a
        reply re-checks its parent once written instead)."""
        rows = await self._run("comment_get_serial" if lock else "comment_get", comment_id)
        return _comment_of(rows[0]) if rows else None

    async def comments_by(
        self, session: AsyncSession, *, author_id: int, limit: int
    ) -> list[CommentRecord]:
        """Return up to `limit` of an author's comments (a scan: account deletion only)."""
        rows = await self._run("comments_of_author", author_id, limit)
        return [_comment_of(row) for row in rows]

    async def delete_comment(self, session: AsyncSession, *, comment: CommentRecord) -> list[int]:
        """Delete a comment with its replies, uncount them, and return the ids of the replies
        this call deleted."""
        op = _DeleteComment(comment)
        return await self._guarded(
            session,
            comment.post_id,
            self._delete_comment(op),
            lambda: self._undo_delete_comment(op),
        )

    async def _take(self, op: _DeleteComment, comment: CommentRecord) -> None:
        # Listed first: a transaction that times out may still have gone through.
        op.gone.append(comment)
        if not _applied(await self._run("comment_remove_if", comment.comment_id)):
            op.gone.remove(comment)
        else:
            await self._run(
                "comment_row_remove", comment.post_id, comment.parent_comment_id, comment.comment_id
            )

    async def _delete_comment(self, op: _DeleteComment) -> list[int]:
        comment = op.comment
        await self._take(op, comment)
        if not op.gone:
            return []  # deleted already (by another call)
        if comment.parent_comment_id == 0:
            async for page in self._scan(
                "comment_replies_all", comment.post_id, comment.comment_id
            ):
                await self._each([_comment_of(r) for r in page], lambda r: self._take(op, r))
        op.uncounted = await self._count(
            comment.post_id, shard_of(comment.comment_id, self._shards), comments=-len(op.gone)
        )
        return [c.comment_id for c in op.gone[1:]]

    async def _undo_delete_comment(self, op: _DeleteComment) -> None:
        back = 0
        for comment in list(op.gone):  # the parent first, so no reply is back before it
            await self._run("comment_row_add", *_comment_values(comment))
            if _applied(await self._run("comment_add", *_comment_values(comment))):
                back += 1
        post_id = op.comment.post_id
        if op.uncounted and back:
            await self._count(post_id, shard_of(op.comment.comment_id, self._shards), comments=back)
        if op.uncounted is None:
            await self._mark(post_id)

    async def list_comments(
        self,
        session: AsyncSession,
        *,
        post_id: int,
        parent_comment_id: int,
        after: int | None,
        limit: int,
    ) -> list[CommentRecord]:
        """Return a post's top-level comments (parent 0) or one comment's replies, oldest first,
        after comment id `after`."""
        if after is None:
            rows = await self._run("comment_rows", post_id, parent_comment_id, limit)
        else:
            rows = await self._run("comment_rows_after", post_id, parent_comment_id, after, limit)
        return [_comment_of(row) for row in rows]

    async def reply_counts(
        self, session: AsyncSession, *, post_id: int, comment_ids: Sequence[int]
    ) -> dict[int, int]:
        """Return how many replies each of these comments of a post has (absent: none)."""
        wanted = list(dict.fromkeys(comment_ids))
        found = await self._each(wanted, lambda c: self._run("reply_count", post_id, c))
        return {
            comment_id: int(rows[0]["n"])
            for comment_id, rows in zip(wanted, found, strict=True)
            if rows and rows[0]["n"]
        }

    # -- counts and purging ----------------------------------------------------------------------

    async def _summed(self, post_id: int) -> Counts | None:
        rows = await self._run("counts_get", post_id)
        if not rows:
            return None
        return Counts(
            sum(int(r["like_count"] or 0) for r in rows),
            sum(int(r["comment_count"] or 0) for r in rows),
        )

    async def counts(self, session: AsyncSession, *, post_ids: Sequence[int]) -> dict[int, Counts]:
        """Return the like and comment counts of the posts among these that have counters."""
        wanted = list(dict.fromkeys(post_ids))
        found = await self._each(wanted, self._summed)
        return {p: c for p, c in zip(wanted, found, strict=True) if c is not None}

    async def purge_post(self, session: AsyncSession, *, post_id: int) -> None:
        """Delete every like, comment and counter of a (deleted) post."""
        async for page in self._scan("like_rows_all", post_id):
            await self._each(page, lambda r: self._run("member_purge", post_id, r["user_id"]))
        await self._run("likes_purge", post_id)
        async for page in self._scan("comment_rows_all", post_id):
            await self._each(page, lambda r: self._run("comment_purge", r["comment_id"]))
        await self._run("comments_purge", post_id)
        await self._run("counts_purge", post_id)
        await self._run("repair_forget", shard_of(post_id, REPAIR_BUCKETS), post_id)

    # -- repairs ---------------------------------------------------------------------------------

    async def repair_post(self, post_id: int) -> bool:
        """Recount a post from its memberships and by-id rows, drop list rows a failure left
        behind, and correct its counters; True when everything was exact already. Changes
        nothing and returns False when a write to the post was in flight."""
        before = await self._summed(post_id) or Counts()
        settled = datetime.now(UTC) - self._in_flight
        likes, comments, clean = 0, 0, True
        async for page in self._scan("like_rows_all", post_id):
            members = await self._each(
                page, lambda r: self._run("member_get", post_id, r["user_id"])
            )
            for row, member in zip(page, members, strict=True):
                if member and member[0]["like_id"] == row["like_id"]:
                    likes += 1
                elif id_time(int(row["like_id"])) >= settled:
                    return False
                else:
                    await self._run("like_row_remove", post_id, row["like_id"])
                    clean = False
        top_level: set[int] = set()
        replies: list[CommentRecord] = []
        async for page in self._scan("comment_rows_all", post_id):
            kept = await self._each(page, lambda r: self._run("comment_get", r["comment_id"]))
            for row, by_id in zip(page, kept, strict=True):
                if by_id:
                    comments += 1
                    record = _comment_of(by_id[0])
                    if record.parent_comment_id:
                        replies.append(record)
                    else:
                        top_level.add(record.comment_id)
                elif id_time(int(row["comment_id"])) >= settled:
                    return False
                else:
                    await self._run(
                        "comment_row_remove", post_id, row["parent_comment_id"], row["comment_id"]
                    )
                    clean = False
        for reply in replies:
            if reply.parent_comment_id in top_level:
                continue
            # An orphan: its parent was deleted while it was written, and it failed to go.
            if id_time(reply.comment_id) >= settled:
                return False
            if _applied(await self._run("comment_remove_if", reply.comment_id)):
                comments -= 1
            await self._run(
                "comment_row_remove", post_id, reply.parent_comment_id, reply.comment_id
            )
            clean = False
        after = await self._summed(post_id) or Counts()
        if after != before:
            return False  # counted while the counters moved: try again later
        delta = (likes - after.like_count, comments - after.comment_count)
        if delta != (0, 0):
            await self._run("count_add", delta[0], delta[1], post_id, 0)
            log.warning("post %s: counts corrected by %+d likes, %+d comments", post_id, *delta)
            return False  # the next pass checks the correction
        return clean

    async def repair_marked(self) -> int:
        """Repair the posts marked for a recount, if this replica gets the lease; return how many
        came out exact (and lost their mark)."""
        if not _applied(
            await self._run("lease_take", REPAIR_LEASE, self._owner, REPAIR_LEASE_TTL_SECONDS)
        ):
            return 0
        done = 0
        try:
            for bucket in range(REPAIR_BUCKETS):
                for mark in await self._run("repair_marks", bucket, REPAIR_BATCH):
                    if await self.repair_post(int(mark["post_id"])):
                        await self._run("repair_unmark", mark["written"], bucket, mark["post_id"])
                        done += 1
        finally:
            try:
                await self._run("lease_release", REPAIR_LEASE, self._owner)
            except EngagementUnavailable:
                log.warning("could not release the repair lease; it expires by itself")
        return done

    async def run_repairs(self, *, interval_seconds: float) -> None:
        """Repair marked posts every `interval_seconds`, until cancelled."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self.repair_marked()
            except EngagementUnavailable:
                log.warning("Cassandra is unavailable; count repairs wait for the next pass")
            except Exception:
                log.exception("a count repair pass failed")
