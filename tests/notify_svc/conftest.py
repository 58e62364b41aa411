"""Fixtures for notify_svc tests: the rules on a fresh SQLite store, with peers kept in memory."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mesh import db
from mesh.config import MeshSettings
from mesh.ids import IdGenerator
from mesh.services import migrations_dir
from notify_svc import domain, store
from shutter.user.v1 import user_pb2

WINDOW = timedelta(hours=24)
RETENTION = timedelta(days=90)


class FakeRelationships:
    """graph_svc's blocks and mutes in memory, recording every question."""

    def __init__(self) -> None:
        self.blocks: set[tuple[int, int]] = set()  # (blocker, blocked)
        self.mutes: set[tuple[int, int]] = set()  # (muter, muted)
        self.asked: list[list[tuple[int, int]]] = []
        self.forgotten: list[int] = []

    async def suppressed(self, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        self.asked.append(list(pairs))
        return {
            (r, a)
            for r, a in pairs
            if (r, a) in self.blocks or (a, r) in self.blocks or (r, a) in self.mutes
        }

    def forget(self, user_id: int) -> None:
        self.forgotten.append(user_id)


class FakeDirectory:
    """user_svc's accounts: every positive id exists unless removed."""

    def __init__(self) -> None:
        self.missing: set[int] = set()
        self.calls: list[list[int]] = []

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        self.calls.append(list(user_ids))
        return {
            i: user_pb2.UserSummary(user_id=i, username=f"user{i}")
            for i in user_ids
            if i not in self.missing
        }


class FakePosts:
    """post_svc's posts: each has a thumbnail unless hidden."""

    def __init__(self) -> None:
        self.hidden: set[int] = set()
        self.calls: list[tuple[int, list[int]]] = []

    async def thumbnails(self, viewer_id: int, post_ids: Sequence[int]) -> dict[int, str]:
        self.calls.append((viewer_id, list(post_ids)))
        return {p: f"https://cdn.test/{p}/thumb.jpg" for p in post_ids if p not in self.hidden}


class FakeBadges:
    """message_svc's DM badge: a count per account, or a failure when `down`."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.down = False

    async def unread_conversations(self, user_ids: Sequence[int]) -> dict[int, int]:
        if self.down:
            raise ConnectionError("message_svc is down")
        return {u: self.counts[u] for u in user_ids if self.counts.get(u)}


class Clock:
    """A settable clock."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    """The rules and their fakes."""

    n: domain.Notifications
    relationships: FakeRelationships
    directory: FakeDirectory
    posts: FakePosts
    wakeups: domain.Wakeups
    clock: Clock
    store: store.SqlNotifyStore
    badges: FakeBadges
    events: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def key(self, producer: str = "post_svc") -> domain.EventKey:
        """Return a fresh event key."""
        return domain.EventKey(producer=producer, event_id=next(self.events))


@pytest.fixture
async def world(data_dir: Path) -> AsyncIterator[World]:
    engine = db.create_engine("notify_svc", MeshSettings(data_dir=data_dir), None)
    await db.migrate(engine, "notify_svc", migrations_dir("notify_svc"))
    relationships, directory, posts = FakeRelationships(), FakeDirectory(), FakePosts()
    wakeups, clock, sql = domain.Wakeups(max_per_user=2), Clock(), store.SqlNotifyStore(engine)
    badges = FakeBadges()
    notifications = domain.Notifications(
        sql,
        relationships=relationships,
        directory=directory,
        posts=posts,
        wakeups=wakeups,
        ids=IdGenerator(),
        like_window=WINDOW,
        retention=RETENTION,
        processed_retention=timedelta(days=7),
        heartbeat_seconds=0.2,
        badges=badges,
        clock=clock,
    )
    yield World(notifications, relationships, directory, posts, wakeups, clock, sql, badges)
    await engine.dispose()
