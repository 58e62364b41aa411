"""`shutter bus ...`: operate the event bus: publish outbox rows again, inspect and replay dead
letters. Run against the same settings (SHUTTER_DATABASE_URL, SHUTTER_REDIS_URL, data_dir) as
the mesh."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Operate the event bus: republish outbox rows, dead letters.")
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
