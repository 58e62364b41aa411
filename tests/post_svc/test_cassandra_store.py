"""Unit tests of the Cassandra engagement store's pieces that need no cluster.

Settings and host parsing, the CQL it creates and runs, the bridge from the driver's callbacks
to asyncio, the undo-on-rollback hook, and start-up against an address nothing listens on. Its
behaviour against a live cluster is the engagement contract suite's
(tests/contract/test_post_store.py), which skips here: these machines have no Cassandra server.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from mesh.launcher import StartupError, free_port
from post_svc import cassandra_store as cs
from post_svc.servicer import create_post_service
from post_svc.settings import PostSettings, parse_hosts
from post_svc.store import CommentRecord, Mention

# -- settings ---------------------------------------------------------------------------------


def test_hosts_parse_with_default_and_explicit_ports() -> None:
    assert parse_hosts("cass-1") == [("cass-1", 9042)]
    assert parse_hosts(" 10.0.0.1:1 , cass-2:65535,[::1]:9043,[fe80::1]") == [
        ("10.0.0.1", 1),
        ("cass-2", 65535),
        ("::1", 9043),
        ("fe80::1", 9042),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a:0", "bad Cassandra port in 'a:0': expected 1..65535"),
        ("a:65536", "bad Cassandra port in 'a:65536'"),
        ("a,", "bad Cassandra host ''"),
        ("a:", "bad Cassandra host 'a:'"),
        ("a:x", "bad Cassandra host 'a:x'"),
        ("::1", "bad Cassandra host '::1'"),  # an IPv6 address needs brackets
        ("[::1", "bad Cassandra host '\\[::1'"),
        ("[::1]9042", "bad Cassandra host"),
        ("two words", "bad Cassandra host 'two words'"),
    ],
)
def test_bad_hosts_fail_naming_the_entry(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hosts(value)
    with pytest.raises(ValidationError, match="cassandra_hosts"):
        PostSettings(cassandra_hosts=value)


def test_settings_default_to_the_relational_store_and_bound_every_knob() -> None:
    assert PostSettings().cassandra_hosts is None
    assert PostSettings(cassandra_hosts="  ").cassandra_hosts is None
    assert PostSettings(cassandra_hosts=" a:9042 ").cassandra_hosts == "a:9042"
    longest = "k" * 48
    assert PostSettings(cassandra_keyspace=longest).cassandra_keyspace == longest
    ok: dict[str, Any] = {
        "cassandra_replication_factor": [1, 9],
        "cassandra_consistency": ["LOCAL_QUORUM", "QUORUM", "ALL"],
        "cassandra_connect_timeout_seconds": [0.001, 60],
        "cassandra_request_timeout_seconds": [0.001, 120],
        "cassandra_repair_interval_seconds": [0.001, 3600],
    }
    bad: dict[str, Any] = {
        "cassandra_keyspace": ["k" * 49, "1ks", "ks-1", "ks;DROP"],
        "cassandra_replication_factor": [0, 10],
        "cassandra_consistency": ["ONE", "LOCAL_ONE", "local_quorum"],
        "cassandra_connect_timeout_seconds": [0, 60.01],
        "cassandra_request_timeout_seconds": [0, 120.01],
        "cassandra_repair_interval_seconds": [0, 3600.01],
    }
    for name, values in ok.items():
        for value in values:
            assert getattr(PostSettings(**{name: value}), name) == value
    for name, values in bad.items():
        for value in values:
            with pytest.raises(ValidationError, match=name):
                PostSettings(**{name: value})


def test_serial_consistency_follows_the_datacenter_scope() -> None:
    assert cs.serial_of("LOCAL_QUORUM") == "LOCAL_SERIAL"
    assert cs.serial_of("QUORUM") == "SERIAL"
    assert cs.serial_of("ALL") == "SERIAL"


# -- the CQL ----------------------------------------------------------------------------------


def _tables(schema: list[str]) -> dict[str, str]:
    """Return each table's primary key clause, by name."""
    found = {}
    for cql in schema[1:]:
        match = re.search(r"TABLE IF NOT EXISTS \w+\.(\w+) .*PRIMARY KEY (\(\(.*?\)[^)]*\))", cql)
        assert match, cql
        found[match[1]] = match[2]
    return found


def test_schema_is_idempotent_and_keys_engagement_by_post() -> None:
    schema = cs.schema_statements("shutter_post", 3)
    assert all(" IF NOT EXISTS " in cql for cql in schema)
    assert schema[0] == (
        "CREATE KEYSPACE IF NOT EXISTS shutter_post WITH replication = "
        "{'class': 'NetworkTopologyStrategy', 'replication_factor': 3}"
    )
    assert all(cql.split()[5].startswith("shutter_post.") for cql in schema[1:])
    assert _tables(schema) == {
        "likes_by_post": "((post_id), like_id)",
        "like_members": "((post_id, user_id))",
        "comments_by_post": "((post_id), parent_comment_id, comment_id)",
        "comments_by_id": "((comment_id))",
        "post_counts": "((post_id), shard)",
        "engagement_repairs": "((bucket), post_id)",
        "engagement_repair_lease": "((name))",
    }
    assert "CLUSTERING ORDER BY (like_id DESC)" in schema[1]


def test_every_statement_names_its_partition_and_only_transactions_are_conditional() -> None:
    schema = cs.schema_statements("ks", 1)
    keys = _tables(schema)
    for name, (cql, kind) in cs.STATEMENTS.items():
        table = re.search(r"(?:FROM|INTO|UPDATE) (\w+)", cql)
        assert table and table[1] in keys, name
        if name in cs.SCAN_STATEMENTS:
            # Account deletion's two scans: reads, bounded, and saying so.
            assert kind == cs.READ and cql.endswith("LIMIT ? ALLOW FILTERING"), name
            continue
        # Every other statement binds every partition key column: it scans no table.
        partition = keys[table[1]].split(")")[0].strip("(").split(", ")
        columns, _, where = cql.partition(" WHERE ")
        for column in partition:
            if cql.startswith("INSERT"):
                assert re.search(rf"[(,] ?{column}\b", columns.split(" VALUES ")[0]), name
            else:
                assert re.search(rf"\b{column} = \?", where), (name, column)
        conditional = re.search(r" IF (NOT EXISTS|EXISTS|\w+ = \?)", cql) is not None
        assert conditional == (kind == cs.LWT), name
        assert ("post_counts" in cql and cql.startswith("UPDATE")) == (kind == cs.COUNTER), name
        assert (kind == cs.SERIAL_READ) <= cql.startswith("SELECT"), name
    assert cs.STATEMENTS["member_add"][1] == cs.LWT
    assert cs.STATEMENTS["comment_remove_if"][1] == cs.LWT


def test_comments_keep_their_timestamps_to_the_microsecond() -> None:
    comment = CommentRecord(
        comment_id=5,
        post_id=4,
        author_id=3,
        parent_comment_id=0,
        text="hi",
        mentions=(Mention(7, "seven"),),
        created_at=datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    )
    columns = cs._COMMENT.split(", ")
    row = dict(zip(columns, cs._comment_values(comment), strict=True))
    assert cs._comment_of(row) == comment
    assert cs._comment_of({**row, "mentions": None}).mentions == ()


# -- the bridge from the driver's thread ------------------------------------------------------


RELEASE_WAIT_SECONDS = 5.0


class FakeResponse:
    """Stands in for the driver's ResponseFuture with its documented callback rules: callbacks
    stay registered across pages, and one added after the result is in runs at once. Results
    are delivered from another thread, as the driver's I/O thread does."""

    def __init__(
        self,
        results: list[Any],
        *,
        delay: float = 0.05,
        release: threading.Event | None = None,
    ) -> None:
        self._results = list(results)  # one page's rows, or an exception, per page
        self._delay = delay
        # When given, each result waits until it is set (at most RELEASE_WAIT_SECONDS).
        self._release = release
        self.released: list[bool] = []
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[Any], None]] = []
        self._errbacks: list[Callable[[BaseException], None]] = []
        self._final: tuple[bool, Any] | None = None
        self.threads: set[int] = set()
        self.has_more_pages = False
        self._fetch()

    def _fetch(self) -> None:
        result = self._results.pop(0)
        self.has_more_pages = bool(self._results)

        def arrive() -> None:
            time.sleep(self._delay)
            if self._release is not None:
                self.released.append(self._release.wait(RELEASE_WAIT_SECONDS))
            self.threads.add(threading.get_ident())
            with self._lock:
                self._final = (not isinstance(result, BaseException), result)
                calls = list(self._callbacks if self._final[0] else self._errbacks)
            for call in calls:
                call(result)

        threading.Thread(target=arrive, daemon=True).start()

    def add_callbacks(
        self, callback: Callable[[Any], None], errback: Callable[[BaseException], None]
    ) -> None:
        with self._lock:
            self._callbacks.append(callback)
            self._errbacks.append(errback)
            final = self._final
        if final is not None:
            (callback if final[0] else errback)(final[1])

    def clear_callbacks(self) -> None:
        with self._lock:
            self._callbacks, self._errbacks = [], []

    def start_fetching_next_page(self) -> None:
        with self._lock:
            self._final = None
        self._fetch()


async def test_a_result_from_the_driver_thread_reaches_the_loop_without_blocking_it() -> None:
    # The driver's thread answers only once a task of the loop let it: were the wait for the
    # answer to block the loop, that task could not run and the answer would come late.
    release = threading.Event()
    response = FakeResponse([[{"like_id": 1}]], delay=0, release=release)

    async def let_the_driver_answer() -> None:
        await asyncio.sleep(0.01)
        release.set()

    rows, _ = await asyncio.gather(cs.first_page(response), let_the_driver_answer())
    assert rows == [{"like_id": 1}]
    assert response.released == [True]
    assert threading.get_ident() not in response.threads


async def test_a_driver_error_is_raised_in_the_awaiting_task() -> None:
    failure = TimeoutError("no replica answered")
    with pytest.raises(TimeoutError, match="no replica answered"):
        await cs.first_page(FakeResponse([failure]))


async def test_a_result_already_in_and_an_empty_result_are_delivered() -> None:
    response = FakeResponse([None], delay=0)  # a write: no rows
    await asyncio.sleep(0.05)  # the result is in before anyone waits for it
    assert await cs.first_page(response) == []


async def test_pages_are_fetched_one_after_the_other_each_delivered_once() -> None:
    response = FakeResponse([[{"n": 1}, {"n": 2}], [{"n": 3}], [{"n": 4}]])
    seen = [page async for page in cs.pages(response)]
    assert seen == [[{"n": 1}, {"n": 2}], [{"n": 3}], [{"n": 4}]]


async def test_an_error_on_a_later_page_ends_the_iteration_with_it() -> None:
    response = FakeResponse([[{"n": 1}], OSError("connection reset")])
    seen = []
    with pytest.raises(OSError, match="connection reset"):
        async for page in cs.pages(response):
            seen.append(page)
    assert seen == [[{"n": 1}]]


async def test_an_answer_after_its_waiter_was_cancelled_is_dropped_quietly() -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        response = FakeResponse([[{"n": 1}]], delay=0.1)
        waiter = asyncio.create_task(cs.first_page(response))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await asyncio.sleep(0.2)  # the answer arrives, for a future that is cancelled
        assert response.threads
    finally:
        loop.set_exception_handler(previous)
    assert errors == []


# -- undo on rollback -------------------------------------------------------------------------


async def _settle(tasks: set[asyncio.Task[None]]) -> None:
    # The undo task may be done already (closing the session lets the loop run).
    while tasks:
        await asyncio.gather(*list(tasks))
    await asyncio.sleep(0)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}")
    yield async_sessionmaker(engine)
    await engine.dispose()


async def test_undos_run_latest_first_when_the_transaction_rolls_back_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    ran: list[str] = []

    def undo(name: str) -> cs.Undo:
        async def run() -> None:
            ran.append(name)
            if name == "broken":
                raise RuntimeError("Cassandra said no")

        return run

    async with sessions() as session, session.begin():
        assert cs.on_rollback(session, undo("committed"), tasks=tasks)
        await session.execute(text("select 1"))
    assert not tasks and ran == []

    with pytest.raises(LookupError):
        async with sessions() as session, session.begin():
            assert cs.on_rollback(session, undo("first"), tasks=tasks)
            assert cs.on_rollback(session, undo("broken"), tasks=tasks)
            assert cs.on_rollback(session, undo("last"), tasks=tasks)
            raise LookupError("the outbox write failed")
    await _settle(tasks)
    # One failing undo does not stop the others.
    assert ran == ["last", "broken", "first"]


async def test_a_savepoint_rolling_back_does_not_undo_and_no_transaction_means_no_undo(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    ran: list[str] = []

    async def undo() -> None:
        ran.append("undo")

    async with sessions() as session:
        assert not cs.on_rollback(session, undo, tasks=tasks)
        async with session.begin():
            assert cs.on_rollback(session, undo, tasks=tasks)
            nested = await session.begin_nested()
            await nested.rollback()
    assert not tasks and ran == []
    # The same session, a second transaction that rolls back: only its own undo runs.
    async with sessions() as session:
        async with session.begin():
            cs.on_rollback(session, undo, tasks=tasks)
        with pytest.raises(LookupError):
            async with session.begin():
                cs.on_rollback(session, undo, tasks=tasks)
                raise LookupError
    await _settle(tasks)
    assert ran == ["undo"]


# -- start-up ---------------------------------------------------------------------------------


async def test_an_unreachable_cluster_stops_start_up_with_one_clear_line(data_dir: Path) -> None:
    port = free_port()  # nothing listens there
    settings = PostSettings(
        data_dir=data_dir,
        post_svc_addr="127.0.0.1:0",
        cassandra_hosts=f"127.0.0.1:{port}",
        cassandra_connect_timeout_seconds=2,
    )
    started = time.monotonic()
    with pytest.raises(StartupError) as caught:
        await create_post_service(settings)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        f"post_svc could not use the Cassandra cluster at 127.0.0.1:{port} "
        "(SHUTTER_CASSANDRA_HOSTS): "
    )
    assert "refused" in message.lower()
    assert time.monotonic() - started < 30
    # The store alone says the same, without the service's name.
    with pytest.raises(cs.CassandraUnreachable, match=f"at 127.0.0.1:{port} "):
        await cs.CassandraEngagementStore.open(settings)
