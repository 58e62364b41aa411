"""`shutter bus ...`: operate the event bus: publish outbox rows again, inspect and replay dead
letters. Run against the same settings (SHUTTER_DATABASE_URL, SHUTTER_REDIS_URL, data_dir) as
the mesh."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from mesh.bus import DeadLetter, EventBus
    from mesh.deadletters import DeadLetterArchive

T = TypeVar("T")

app = typer.Typer(
    help="Operate the event bus: republish outbox rows, dead letters, rebuild feed projections."
)
console = Console(stderr=True)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str) -> timedelta:
    """Return a duration written as a number and a unit: 90s, 15m, 2h, 7d."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"expected a duration such as 90s, 15m, 2h or 7d, got {text!r}")
    return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])


@app.command()
def republish(
    since: Annotated[
        str, typer.Option(help="Publish again what was published this long ago or later: 2h, 1d.")
    ],
    service: Annotated[
        list[str] | None, typer.Option(help="Only these producers (default: every one).")
    ] = None,
) -> None:
    """Publish outbox events again so every projection (feed posts, engagement counts,
    notifications) is rebuilt from its owner's record; consumers ignore what they already
    handled. Rows older than SHUTTER_OUTBOX_RETENTION_SECONDS are gone. The running services'
    relays do the publishing."""
    window = parse_duration(since)
    counts = asyncio.run(_republish(datetime.now(UTC) - window, service or None))
    for name, count in counts.items():
        console.print(f"{name}: {count} events to publish again")


async def _republish(since: datetime, only: list[str] | None) -> dict[str, int]:
    from sqlalchemy import MetaData, inspect

    from mesh import db
    from mesh.outbox import outbox_table
    from mesh.relay import republish
    from mesh.services import MESH

    known = {spec.name for spec in MESH}
    unknown = sorted(set(only or ()) - known)
    if unknown:
        raise typer.BadParameter(f"unknown service(s) {', '.join(unknown)}; known: {sorted(known)}")
    counts: dict[str, int] = {}
    for spec in MESH:
        if only is not None and spec.name not in only:
            continue
        settings = spec.settings()
        engine = db.create_engine(spec.name, settings, getattr(settings, "database_url", None))
        try:
            async with engine.connect() as conn:
                has_outbox = await conn.run_sync(lambda c: inspect(c).has_table("outbox"))
            if has_outbox:
                table = outbox_table(MetaData())
                counts[spec.name] = await republish(engine, table, since=since)
        finally:
            await engine.dispose()
    return counts


@app.command("rebuild-feeds")
def rebuild_feeds() -> None:
    """Rebuild feed_svc's projection (posts, counts, celebrities) from post_svc's posts and
    graph_svc's follower counts, not from events: for when it was lost or is doubted after the
    outbox's retention (SHUTTER_OUTBOX_RETENTION_SECONDS) let its events go. Cached feeds and post
    views are dropped and built again on their next read. The mesh must be running."""
    posts, celebs = asyncio.run(_rebuild_feeds())
    console.print(f"feed_svc: projection rebuilt with {posts} posts, {celebs} celebrities")


async def _rebuild_feeds() -> tuple[int, int]:
    from mesh.auth import identity_source
    from mesh.clients import Channels
    from mesh.config import MeshSettings
    from shutter.feed.v1 import feed_service_pb2, feed_service_pb2_grpc

    settings = MeshSettings()
    # The command acts for feed_svc's operator: it shows the mesh's service identity, which
    # only holders of the service secret (data_dir or SHUTTER_SERVICE_SECRET_FILE) can make.
    channels = Channels(settings, identity=identity_source(settings, "shutter_cli"))
    try:
        stub = feed_service_pb2_grpc.FeedServiceStub(channels.channel("feed_svc"))
        answer: feed_service_pb2.RebuildProjectionResponse = await stub.RebuildProjection(
            feed_service_pb2.RebuildProjectionRequest(), timeout=600
        )
        return answer.post_count, answer.celebrity_count
    finally:
        await channels.close()


dead_letters_app = typer.Typer(
    help="A consumer group's dead letters: events its handler gave up on. List them, hand them "
    "to the group again once the cause is fixed (a peer back up), or drop them."
)
app.add_typer(dead_letters_app, name="dead-letters")

GroupOption = Annotated[
    str, typer.Option(help="The consumer group, such as feed_svc or notify_svc.")
]
IdsOption = Annotated[
    list[str] | None,
    typer.Option("--id", help="Only this dead letter (repeatable); see `list` for ids."),
]
AllOption = Annotated[bool, typer.Option("--all", help="Every dead letter of the group.")]


@dead_letters_app.command("list")
def list_dead_letters(
    group: GroupOption,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
) -> None:
    """List a group's dead letters, oldest first."""
    from rich.table import Table

    letters = asyncio.run(group_dead_letters(group, limit))
    table = Table(title=f"dead letters of {group}: {len(letters)}")
    for column in ("id", "event", "type", "attempts", "failed at", "error"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            letter.letter_id,
            f"{letter.envelope.producer}/{letter.envelope.event_id}",
            letter.event_type,
            str(letter.attempts),
            letter.failed_at.isoformat(timespec="seconds"),
            letter.error,
        )
    Console(width=200).print(table)


@dead_letters_app.command("replay")
def replay_dead_letters(
    group: GroupOption, letter_id: IdsOption = None, every: AllOption = False
) -> None:
    """Hand dead letters to their group again (that group only); a running consumer handles
    them at once, with the usual retries."""
    ids = _chosen(letter_id, every)
    count = asyncio.run(_take(group, ids, replay=True))
    console.print(f"{group}: {count} dead letters handed to the group again")


@dead_letters_app.command("drop")
def drop_dead_letters(
    group: GroupOption, letter_id: IdsOption = None, every: AllOption = False
) -> None:
    """Forget dead letters for good."""
    ids = _chosen(letter_id, every)
    count = asyncio.run(_take(group, ids, replay=False))
    console.print(f"{group}: {count} dead letters dropped")


async def group_dead_letters(group: str, limit: int = 100) -> list[DeadLetter]:
    """A group's dead letters: those its service's database keeps (the Redis bus), then any
    the bus itself holds (the embedded bus; consumers started without a database)."""

    async def both(bus: EventBus, archive: DeadLetterArchive | None) -> list[DeadLetter]:
        from mesh.bus import DeadLetter

        kept = await archive.letters(group, limit=limit) if archive is not None else []
        found = [
            DeadLetter(
                group=group,
                envelope=k.envelope,
                event_type=k.event_type,
                error=k.error,
                attempts=k.attempts,
                failed_at=k.failed_at,
                letter_id=k.letter_id,
            )
            for k in kept
        ]
        return found + await bus.dead_letters(group, limit=limit - len(found))

    return await _with_letters(group, both)


async def _take(group: str, letter_ids: list[str] | None, *, replay: bool) -> int:
    """Replay (through the bus, to the group only) or drop dead letters; return how many."""

    async def take(bus: EventBus, archive: DeadLetterArchive | None) -> int:
        from mesh.bus import RedisStreamBus

        count, rest = 0, letter_ids
        if archive is not None and isinstance(bus, RedisStreamBus):
            kept = await archive.chosen(group, letter_ids)
            for letter in kept:
                if replay:
                    await bus.redeliver(group, letter.envelope)
                # Removed after it is on the bus: a crash in between replays it twice at worst,
                # and consumers are idempotent.
                await archive.remove(group, [letter.letter_id])
            count = len(kept)
            if letter_ids is not None:
                rest = [i for i in letter_ids if i not in {k.letter_id for k in kept}]
                if not rest:
                    return count
        if replay:
            return count + await bus.replay_dead_letters(group, letter_ids=rest)
        return count + await bus.drop_dead_letters(group, letter_ids=rest)

    return await _with_letters(group, take)


def _chosen(letter_ids: list[str] | None, every: bool) -> list[str] | None:
    if bool(letter_ids) == every:
        raise typer.BadParameter("name the dead letters with --id, or pass --all (not both)")
    return None if every else letter_ids


async def _with_letters(
    group: str, action: Callable[[EventBus, DeadLetterArchive | None], Awaitable[T]]
) -> T:
    """Run an action with the bus and the database of the group's service (the part of the
    group's name before the first dot), when that service keeps dead letters."""
    from sqlalchemy import inspect

    from mesh import db
    from mesh.deadletters import DeadLetterArchive
    from mesh.services import MESH

    spec = next((s for s in MESH if s.name == group.split(".", 1)[0]), None)
    if spec is None:
        return await _with_bus(lambda bus: action(bus, None))
    settings = spec.settings()
    engine = db.create_engine(spec.name, settings, getattr(settings, "database_url", None))
    try:
        async with engine.connect() as conn:
            kept = await conn.run_sync(lambda c: inspect(c).has_table("bus_dead_letters"))
        archive = DeadLetterArchive(engine) if kept else None
        return await _with_bus(lambda bus: action(bus, archive))
    finally:
        await engine.dispose()


async def _with_bus(action: Callable[[EventBus], Awaitable[T]]) -> T:
    from mesh.bus import create_bus
    from mesh.config import MeshSettings

    bus = create_bus(MeshSettings())
    try:
        return await action(bus)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        await bus.close()
