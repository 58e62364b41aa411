"""Fixtures for message_svc tests: the rules on a fresh SQLite store, with peers kept in memory."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mesh import db
from mesh.config import MeshSettings
from mesh.errors import Unavailable
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir
from message_svc import domain, events, store
from message_svc.live import Wakeups
from shutter.events.v1 import envelope_pb2, graph_events_pb2
from shutter.media.v1 import media_pb2
from shutter.post.v1 import post_pb2
from shutter.user.v1 import user_pb2


class FakeGraph:
    """graph_svc's follows and blocks in memory; `down` makes every question fail."""

    def __init__(self) -> None:
        self.follows: set[tuple[int, int]] = set()  # (follower, followee)
        self.blocks: set[tuple[int, int]] = set()  # (blocker, blocked)
        self.down = False
        self.asked = 0

    async def relationships(
        self, viewer_id: int, user_ids: Sequence[int]
    ) -> dict[int, domain.Relationship]:
        self.asked += 1
        if self.down:
            raise Unavailable("graph_svc did not answer", reason="PEER_UNAVAILABLE")
        return {
            u: domain.Relationship(
                following=(viewer_id, u) in self.follows,
                followed_by=(u, viewer_id) in self.follows,
                blocking=(viewer_id, u) in self.blocks,
                blocked_by=(u, viewer_id) in self.blocks,
            )
            for u in user_ids
        }


class FakeDirectory:
    """user_svc's accounts: every positive id exists unless deleted."""

    def __init__(self) -> None:
        self.deleted: set[int] = set()

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        return {
            i: user_pb2.UserSummary(user_id=i, username=f"user{i}")
            for i in user_ids
            if i not in self.deleted
        }


class FakeMedia:
    """media_svc's media: id -> (owner, status)."""

    def __init__(self) -> None:
        self.items: dict[int, tuple[int, media_pb2.MediaStatus]] = {}

    async def media(self, media_ids: Sequence[int]) -> dict[int, media_pb2.Media]:
        return {
            i: media_pb2.Media(media_id=i, owner_user_id=owner, status=status)
            for i in media_ids
            if i in self.items
            for owner, status in [self.items[i]]
        }


class FakePosts:
    """post_svc's posts: post id -> author; `hidden_from` holds (viewer, post) pairs refused."""

    def __init__(self) -> None:
        self.authors: dict[int, int] = {}
        self.hidden_from: set[tuple[int, int]] = set()

    async def visible_posts(
        self, viewer_id: int, post_ids: Sequence[int]
    ) -> dict[int, post_pb2.Post]:
        return {
            p: post_pb2.Post(post_id=p, caption=f"post {p}")
            for p in post_ids
            if p in self.authors and (viewer_id, p) not in self.hidden_from
        }


@dataclass
class World:
    """The rules and their fakes."""

    m: domain.Messenger
    graph: FakeGraph
    directory: FakeDirectory
    media: FakeMedia
    posts: FakePosts
    wakeups: Wakeups
    store: store.SqlMessageStore
    keys: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def block(self, blocker: int, blocked: int, *, lifted: bool = False) -> None:
        """Block (or, `lifted`, unblock) in graph_svc, and apply the event graph_svc sends."""
        event: graph_events_pb2.Blocked | graph_events_pb2.Unblocked
        if lifted:
            self.graph.blocks.discard((blocker, blocked))
            event = graph_events_pb2.Unblocked(blocker_id=blocker, blocked_id=blocked)
        else:
            self.graph.blocks.add((blocker, blocked))
            event = graph_events_pb2.Blocked(blocker_id=blocker, blocked_id=blocked)
        envelope = envelope_pb2.EventEnvelope(event_id=next(self.keys), producer="graph_svc")
        envelope.payload.Pack(event)
        assert await events.graph_handler(self.m.blocks)(envelope)

    async def say(self, sender: int, conversation_id: int, text: str = "hello") -> int:
        """Send a text with a fresh client id; return the message id."""
        view = await self.m.send(
            sender,
            conversation_id=conversation_id,
            client_message_id=f"k{next(self.keys)}",
            text=text,
            media_id=0,
            shared_post_id=0,
        )
        return view.record.message_id

    async def dm(self, a: int, b: int) -> int:
        """Create (or find) the 1:1 of two accounts; return its id."""
        view = await self.m.create_conversation(a, participant_ids=[b], title="")
        return view.conversation.conversation_id


@pytest.fixture
async def world(data_dir: Path) -> AsyncIterator[World]:
    engine = db.create_engine("message_svc", MeshSettings(data_dir=data_dir), None)
    await db.migrate(engine, "message_svc", migrations_dir("message_svc"))
    ids = IdGenerator()
    sql = store.SqlMessageStore(
        engine, outbox=Outbox(store.outbox, producer="message_svc", ids=ids)
    )
    graph, directory, media, posts = FakeGraph(), FakeDirectory(), FakeMedia(), FakePosts()
    wakeups = Wakeups(max_per_user=2)
    messenger = domain.Messenger(
        sql,
        relationships=graph,
        directory=directory,
        media=media,
        posts=posts,
        wakeups=wakeups,
        ids=ids,
        heartbeat_seconds=0.2,
    )
    yield World(messenger, graph, directory, media, posts, wakeups, sql)
    await engine.dispose()
