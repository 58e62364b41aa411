"""The plumbing every service opens the same way, and closes in reverse on stop.

A service's `create_<x>_service` opens a ServiceRuntime (its database, migrated, and its read
replica when one is set; channels to its peers carrying the service's identity; the event bus;
its outbox relay), builds its own store, rules and servicer on top, then calls `serve`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from typing import Any

from grpc import aio
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import auth, db
from mesh.bus import BatchHandler, EventBus, Handler, create_bus
from mesh.clients import Channels
from mesh.config import MeshSettings
from mesh.deadletters import DeadLetterArchive
from mesh.ids import IdGenerator
from mesh.outbox import Outbox
from mesh.relay import OutboxRelay
from mesh.server import Service, create_server
from mesh.services import migrations_dir

Close = Callable[[], Awaitable[None]]


def service_identity(settings: MeshSettings, name: str) -> Callable[[], str]:
    """Return the identity a service shows when it calls out (x-shutter-service), renewed well
    before it expires. Signed with the service secret: a service never holds the key that
    signs user tokens (only user_svc does)."""
    auth.ensure_service_secret(settings)
    return auth.identity_source(settings, name)


class ServiceRuntime:
    """A service's database, peer channels, bus and outbox relay, and what else it must close."""

    def __init__(
        self,
        name: str,
        settings: MeshSettings,
        *,
        engine: AsyncEngine,
        replica: AsyncEngine | None = None,
        channels: Channels,
        bus: EventBus,
        relay: OutboxRelay | None,
        outbox_table: Table | None,
        identity: Callable[[], str],
    ) -> None:
        self.name = name
        self.settings = settings
        self.engine = engine
        # The read-only engine of the replica, or None: stores then read from `engine`.
        self.replica = replica
        self.channels = channels
        self.bus = bus
        self.relay = relay
        self.ids = IdGenerator(settings.id_shard)
        # The service's own token, for calls made outside any caller's request.
        self.identity = identity
        self._outbox_table = outbox_table
        # Closed last-in first-out: consumers and workers before the relay, the bus, the channels
        # and the database they use.
        self._closers: list[Close] = [engine.dispose, channels.close, bus.close]
        if replica is not None:
            self._closers.insert(1, replica.dispose)
        if relay is not None:
            self._closers.append(relay.stop)

    @classmethod
    async def open(
        cls,
        name: str,
        settings: MeshSettings,
        *,
        database_url: str | None,
        replica_url: str | None = None,
        outbox_table: Table | None,
    ) -> ServiceRuntime:
        """Open the database (migrated to the newest schema), its replica when `replica_url` is
        set (read-only, never migrated: migrations reach it from the primary), channels, the bus
        and, for a service that publishes events (it has an outbox table), the relay."""
        auth.ensure_keys(settings)
        engine = db.create_engine(name, settings, database_url)
        try:
            await db.migrate(engine, name, migrations_dir(name))
        except BaseException:
            await engine.dispose()
            raise
        replica = db.create_replica_engine(name, settings, replica_url) if replica_url else None
        bus = create_bus(settings)
        relay = None
        if outbox_table is not None:
            relay = OutboxRelay(
                engine,
                outbox_table,
                bus,
                producer=name,
                batch_size=settings.relay_batch_size,
                poll_interval_seconds=settings.relay_poll_interval_seconds,
                retention_seconds=settings.outbox_retention_seconds,
                replay_window_seconds=settings.outbox_replay_window_seconds,
            )
        identity = service_identity(settings, name)
        return cls(
            name,
            settings,
            engine=engine,
            replica=replica,
            channels=Channels(settings, identity=identity),
            bus=bus,
            relay=relay,
            outbox_table=outbox_table,
            identity=identity,
        )

    def outbox(self) -> Outbox:
        """Return the service's outbox; a commit that adds events nudges the relay at once."""
        if self._outbox_table is None or self.relay is None:
            raise RuntimeError(f"{self.name} was opened without an outbox table")
        return Outbox(
            self._outbox_table, producer=self.name, ids=self.ids, on_commit=self.relay.notify
        )

    def close_on_stop(self, close: Close) -> None:
        """Close something more when the service stops (before what was opened earlier)."""
        self._closers.append(close)

    def run_in_background(self, job: Callable[[], Coroutine[Any, Any, None]], *, name: str) -> None:
        """Run a periodic job (pruning, sweeping) as a task, cancelled when the service stops."""
        task = asyncio.create_task(job(), name=f"{self.name}:{name}")

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self.close_on_stop(cancel)

    async def consume(
        self,
        *,
        group: str,
        handler: Handler,
        event_types: Collection[str] | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        """Start a consumer of the bus (with a batch handler: see mesh.bus), stopped when the
        service stops."""
        consumer = await self.bus.start_consumer(
            group=group,
            handler=handler,
            event_types=event_types,
            archive=DeadLetterArchive(self.engine),
            batch_handler=batch_handler,
        )
        self.close_on_stop(consumer.stop)

    async def serve(
        self, *, register: Callable[[aio.Server], None], service_names: Sequence[str]
    ) -> Service:
        """Start the relay and the gRPC server; on any failure close everything opened so far."""
        try:
            if self.relay is not None:
                await self.relay.start()
            return await create_server(
                self.name,
                self.settings,
                register=register,
                service_names=service_names,
                on_stop=self._closers,
            )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close everything, the latest opened first (again is a no-op)."""
        while self._closers:
            await self._closers.pop()()
