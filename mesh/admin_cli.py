"""`shutter admin ...`: grant and revoke the moderator role. Run against the same settings
(SHUTTER_DATABASE_URL or SHUTTER_USER_SVC_DATABASE_URL, the data dir) as the mesh; it writes
user_svc's database directly, so it works whether the mesh runs or not, embedded or on engines.
user_svc reads the role on every moderation call: the change applies on the next request."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Administer accounts: grant and revoke the moderator role.")
console = Console(stderr=True)


@app.command("grant-moderator")
def grant_moderator(
    username: Annotated[str, typer.Argument(help="The account's username (any case).")],
) -> None:
    """Make an account a moderator."""
    user_id = asyncio.run(_set_moderator(username, moderator=True))
    console.print(f"{username} (user {user_id}) is now a moderator")


@app.command("revoke-moderator")
def revoke_moderator(
    username: Annotated[str, typer.Argument(help="The account's username (any case).")],
) -> None:
    """Take the moderator role away from an account (effective on its next request)."""
    user_id = asyncio.run(_set_moderator(username, moderator=False))
    console.print(f"{username} (user {user_id}) is no longer a moderator")


async def _set_moderator(username: str, *, moderator: bool) -> int:
    from mesh import db
    from mesh.ids import IdGenerator
    from mesh.outbox import Outbox
    from mesh.services import MESH
    from user_svc.errors import UserNotFound
    from user_svc.moderation import set_moderator
    from user_svc.settings import UserSettings
    from user_svc.store import SqlUserStore, outbox

    settings = UserSettings()
    spec = next(s for s in MESH if s.name == "user_svc")
    engine = db.create_engine("user_svc", settings, settings.database_url)
    try:
        await db.migrate(engine, "user_svc", spec.migrations_dir())
        try:
            return await set_moderator(
                # A role change publishes no event; the outbox is there for the store's shape.
                SqlUserStore(engine, outbox=Outbox(outbox, producer="user_svc", ids=IdGenerator())),
                username=username,
                moderator=moderator,
            )
        except UserNotFound:
            console.print(f"no account is named {username!r}")
            raise typer.Exit(1) from None
    finally:
        await engine.dispose()
