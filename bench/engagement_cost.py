"""post_svc's write of a like and of a comment, as a session's transaction against one statement.

Runs against a PostgreSQL database, in a schema of its own (migrated, dropped at the end), in
this process, without the mesh: what it measures is the part of a like or comment that the
store's path decides (statements, round trips, session and ORM work), not the privacy call or
gRPC. Each round writes `--per-round` new likes (or top-level comments) through one path, then as
many through the other, alternating: the baseline is the same run's other path, on the same
tables, so a loaded machine slows both alike. Reports, per path, the median and p90 over rounds
of this process's CPU per write (time.process_time, user + system) and of the wall time.

    .venv/bin/python -m bench.engagement_cost --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from mesh import db
from mesh.config import MeshSettings
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.services import migrations_dir
from post_svc import events, store
from post_svc.store import CommentRecord, PostRecord

ids = IdGenerator(shard=11)


def _post(post_id: int, author: int) -> PostRecord:
    return PostRecord(
        post_id=post_id,
        author_id=author,
        caption="",
        hashtags=(),
        mentions=(),
        media_ids=(1,),
        place_id=None,
        location=None,
        created_at=datetime.now(UTC),
    )


async def _like_in_transaction(
    posts: store.SqlPostStore, engagement: store.SqlEngagementStore, post: PostRecord, user: int
) -> None:
    now = datetime.now(UTC)
    async with posts.transaction() as tx:
        if await engagement.add_like(
            tx, post_id=post.post_id, user_id=user, like_id=ids.next_id(), at=now
        ):
            await posts.outbox.add(
                tx, aggregate_id=post.post_id, event=events.post_liked(post, liker_id=user, at=now)
            )
        await engagement.counts(tx, post_ids=[post.post_id])


async def _like_in_one_statement(
    posts: store.SqlPostStore, engagement: store.SqlEngagementStore, post: PostRecord, user: int
) -> None:
    now = datetime.now(UTC)
    event = events.post_liked(post, liker_id=user, at=now)
    _, row = posts.outbox.detached_row(aggregate_id=post.post_id, event=event)
    done = await engagement.like_now(
        post_id=post.post_id, user_id=user, like_id=ids.next_id(), at=now, event=row
    )
    assert done is not None and done[0]


def _comment(post: PostRecord, user: int) -> CommentRecord:
    return CommentRecord(
        comment_id=ids.next_id(),
        post_id=post.post_id,
        author_id=user,
        parent_comment_id=0,
        text="Nice!",
        mentions=(),
        created_at=datetime.now(UTC),
    )


async def _comment_in_transaction(
    posts: store.SqlPostStore, engagement: store.SqlEngagementStore, post: PostRecord, user: int
) -> None:
    comment = _comment(post, user)
    event = events.comment_created(comment, post_author_id=post.author_id, parent_author_id=0)
    async with posts.transaction() as tx:
        await engagement.add_comment(tx, comment=comment)
        await posts.outbox.add(tx, aggregate_id=post.post_id, event=event)


async def _comment_in_one_statement(
    posts: store.SqlPostStore, engagement: store.SqlEngagementStore, post: PostRecord, user: int
) -> None:
    comment = _comment(post, user)
    event = events.comment_created(comment, post_author_id=post.author_id, parent_author_id=0)
    _, row = posts.outbox.detached_row(aggregate_id=post.post_id, event=event)
    assert await engagement.comment_now(comment=comment, event=row)


PATHS = {
    "like": {"transaction": _like_in_transaction, "one statement": _like_in_one_statement},
    "comment": {
        "transaction": _comment_in_transaction,
        "one statement": _comment_in_one_statement,
    },
}


async def main(options: argparse.Namespace) -> dict[str, Any]:
    settings = MeshSettings()
    name = f"post_svc_cost_{uuid.uuid4().hex[:8]}"
    engine = db.create_engine(name, settings, options.database_url)
    await db.migrate(engine, name, migrations_dir("post_svc"))
    posts = store.SqlPostStore(engine, outbox=Outbox(store.outbox, producer="post_svc", ids=ids))
    engagement = store.SqlEngagementStore(engine, shards=16)
    targets = [_post(ids.next_id(), ids.next_id()) for _ in range(20)]
    figures: dict[str, Any] = {}
    for operation, paths in PATHS.items():
        cpu: dict[str, list[float]] = {p: [] for p in paths}
        wall: dict[str, list[float]] = {p: [] for p in paths}
        for round_no in range(options.rounds + 1):
            for path, write in paths.items():
                users = [ids.next_id() for _ in range(options.per_round)]
                started_cpu, started = time.process_time(), time.perf_counter()
                for i, user in enumerate(users):
                    await write(posts, engagement, targets[i % len(targets)], user)
                if round_no:  # the first round warms both paths up (pool, statement caches)
                    cpu[path].append((time.process_time() - started_cpu) / len(users) * 1000)
                    wall[path].append((time.perf_counter() - started) / len(users) * 1000)
        figures[operation] = {
            path: {
                "cpu_ms_median": round(statistics.median(cpu[path]), 3),
                "cpu_ms_p90": round(statistics.quantiles(cpu[path], n=10)[-1], 3),
                "wall_ms_median": round(statistics.median(wall[path]), 3),
                "wall_ms_p90": round(statistics.quantiles(wall[path], n=10)[-1], 3),
            }
            for path in paths
        }
    async with engine.begin() as connection:  # its schema goes with it
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    await engine.dispose()
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=50)
    for operation, found in asyncio.run(main(parser.parse_args())).items():
        for path, numbers in found.items():
            print(f"{operation:8} {path:14} {numbers}")  # noqa: T201 - a command-line report
