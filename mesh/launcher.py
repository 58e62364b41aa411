"""Run the whole mesh in one process: every service on its own gRPC port, plus the HTTP edge.

Services still talk to each other over real gRPC on localhost, exactly as when each runs alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from mesh import preflight
from mesh.clients import Channels
from mesh.config import MeshSettings, exit_with, load_settings_or_exit
from mesh.server import Service
from mesh.services import MESH, ServiceSpec

SettingsT = TypeVar("SettingsT", bound=MeshSettings)
log = logging.getLogger(__name__)
EDGE_SHUTDOWN_GRACE_SECONDS = 5
# Starts of a mesh whose picked free port another process took before its service bound it.
PICK_ATTEMPTS = 3


class StartupError(RuntimeError):
    """The mesh could not start (a port in use, a database out of reach): the message says why."""


class EdgePortInUse(StartupError):
    """The edge could not listen on its port."""


async def _serve_edge(edge: uvicorn.Server) -> None:
    # uvicorn raises SystemExit when it cannot bind, which would end the whole event loop:
    # contain it, and let start_mesh report the failure.
    with contextlib.suppress(SystemExit):
        await edge.serve()


# Ports handed out below the kernel's ephemeral range: a port picked there can be taken by any
# outgoing connection (PostgreSQL, Redis, gRPC clients) between the pick and the bind.
_PICK_FROM = 10_000
_PICK_TRIES = 200


def _ephemeral_low() -> int:
    try:
        low = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]
        return int(low)
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port that is free right now (for tests and for settings that ask for port 0):
    a random one below the ephemeral range when there is room, else one the kernel picks."""
    high = _ephemeral_low() - 1
    for _ in range(_PICK_TRIES if high > _PICK_FROM else 0):
        port = random.randint(_PICK_FROM, high)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def free_port_run(count: int, host: str = "127.0.0.1") -> int:
    """Return the first of `count` consecutive ports that are all free right now (for tests, and
    for `shutter up --port-base` in scripts), below the ephemeral range."""
    high = _ephemeral_low() - count - 1
    for _ in range(_PICK_TRIES):
        first = random.randint(_PICK_FROM, high)
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind((host, port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"found no {count} consecutive free ports")


@dataclass
class RunningMesh:
    """The services and the edge of a running mesh."""

    services: list[Service]
    edge_url: str | None
    addresses: dict[str, str]
    _edge: uvicorn.Server | None = None
    _edge_task: asyncio.Task[None] | None = None
    _channels: list[Channels] = field(default_factory=list)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the edge first (no new requests), then drain and stop every service."""
        if self._edge is not None and self._edge_task is not None:
            self._edge.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._edge_task
        for channels in self._channels:
            await channels.close()
        await asyncio.gather(*(service.stop(grace) for service in self.services))


def _with(settings: SettingsT, overrides: Mapping[str, Any]) -> SettingsT:
    """Return settings with the overrides that are fields of theirs (others do not apply)."""
    fields = type(settings).model_fields
    return settings.model_copy(update={k: v for k, v in overrides.items() if k in fields})


def resolve_addresses(base: MeshSettings, specs: Sequence[ServiceSpec]) -> dict[str, str]:
    """Return each service's address, with a concrete free port where the settings say port 0."""
    addresses = {}
    for spec in specs:
        address = base.address_of(spec.name)
        host, _, port = address.rpartition(":")
        if port == "0":
            address = f"{host}:{free_port(host or '127.0.0.1')}"
        addresses[spec.name] = address
    return addresses


async def start_mesh(
    *,
    overrides: Mapping[str, Any] | None = None,
    specs: Sequence[ServiceSpec] = MESH,
    with_edge: bool = True,
) -> RunningMesh:
    """Start every service (and the edge), with settings from the environment plus overrides.

    A port the settings leave to the mesh (port 0) is picked free, but another process may take
    it before its service binds it (the services before it start in between): then everything
    started is stopped and the mesh starts again on fresh picks, PICK_ATTEMPTS times at most. A
    port the settings name is never picked again: its error is the answer."""
    from mesh.server import PortInUse

    for _ in range(PICK_ATTEMPTS - 1):
        try:
            return await _start_mesh(overrides=overrides, specs=specs, with_edge=with_edge)
        except (PortInUse, EdgePortInUse) as exc:
            if not _was_picked(exc, overrides, specs):
                raise
            log.warning("%s; starting again on other free ports", exc)
    return await _start_mesh(overrides=overrides, specs=specs, with_edge=with_edge)


def _was_picked(
    exc: RuntimeError, overrides: Mapping[str, Any] | None, specs: Sequence[ServiceSpec]
) -> bool:
    """Tell whether the port a start failed on was one the mesh picked (the settings said 0)."""
    from edge_proxy.settings import EdgeSettings
    from mesh.server import PortInUse

    given = dict(overrides or {})
    if isinstance(exc, PortInUse):
        base = MeshSettings().model_copy(update=given)
        return exc.address not in {base.address_of(spec.name) for spec in specs}
    return not _with(EdgeSettings(), given).edge_port


async def _start_mesh(
    *,
    overrides: Mapping[str, Any] | None,
    specs: Sequence[ServiceSpec],
    with_edge: bool,
) -> RunningMesh:
    from edge_proxy.app import create_app
    from edge_proxy.serve import EdgeServer
    from edge_proxy.settings import EdgeSettings

    overrides = dict(overrides or {})
    base = MeshSettings().model_copy(update=overrides)
    addresses = resolve_addresses(base, specs)
    overrides.update({f"{name}_addr": address for name, address in addresses.items()})
    edge_settings = _with(EdgeSettings(), overrides)
    edge_port = edge_settings.edge_port or free_port(edge_settings.edge_host)
    edge_url = f"http://{edge_settings.edge_host}:{edge_port}"
    # URLs handed to clients (upload targets, media files) point at this edge unless configured.
    for key, url in (("public_url", edge_url), ("media_base_url", f"{edge_url}/media/")):
        if f"SHUTTER_{key.upper()}" not in os.environ:
            overrides.setdefault(key, url)
    services: list[Service] = []
    try:
        for spec in specs:
            settings = _with(spec.settings(), overrides)
            services.append(await spec.create()(settings))
    except BaseException:
        await asyncio.gather(*(service.stop(0) for service in services))
        raise
    running = RunningMesh(services=services, edge_url=None, addresses=addresses)
    if with_edge:
        port = edge_port
        channels = Channels(edge_settings, addresses=addresses)
        app = create_app(edge_settings, channels)
        config = uvicorn.Config(
            app,
            host=edge_settings.edge_host,
            port=port,
            log_level="warning",
            # One line per HTTP request only when asked for (SHUTTER_LOG_LEVEL=DEBUG).
            access_log=logging.getLogger().isEnabledFor(logging.DEBUG),
            server_header=False,  # no 'server: uvicorn' banner
            lifespan="on",
            # Live streams (SSE) never end by themselves: stop waiting for them after this.
            timeout_graceful_shutdown=EDGE_SHUTDOWN_GRACE_SECONDS,
        )
        # The launcher owns SIGINT/SIGTERM for the whole mesh: the edge stops when told.
        edge = EdgeServer(config, app=app, own_signals=False)
        running._edge = edge
        running._channels.append(channels)
        running._edge_task = asyncio.create_task(_serve_edge(edge))
        while not edge.started:
            if running._edge_task.done():
                # uvicorn exits (SystemExit) when it cannot bind: stop what started, say why.
                running._edge, running._edge_task = None, None
                await running.stop(grace=0)
                raise EdgePortInUse(
                    f"the edge could not listen on {edge_settings.edge_host}:{edge_port} "
                    "(is the port in use? set SHUTTER_EDGE_PORT or --edge-port)"
                )
            await asyncio.sleep(0.02)
        running.edge_url = edge_url
    return running


def run_service(name: str) -> None:
    """Run one service of the mesh alone until SIGINT or SIGTERM: what `python -m <svc>` does.

    Bad settings, missing files and ports in use are refused first, one line each, with exit
    status 2 and nothing started.
    """
    spec = next(s for s in MESH if s.name == name)
    settings = load_settings_or_exit(spec.settings_type())
    planned = [preflight.service_port(settings, name)]
    if settings.metrics_port:
        planned.append(
            preflight.PlannedPort(
                f"SHUTTER_METRICS_PORT={settings.metrics_port}",
                f"{name} metrics",
                settings.host,
                settings.metrics_port,
            )
        )
    problems = preflight.file_problems(settings) + preflight.port_problems(planned)
    if problems:
        exit_with(problems)
    asyncio.run(_run_service(spec, settings))
    # Everything is stopped and closed by now. Skip the interpreter's final garbage collection:
    # grpc.aio objects freed in arbitrary order there can deadlock (grpc/grpc#23945, #40989),
    # which left stopped services hanging until the supervisor killed them.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def _run_service(spec: ServiceSpec, settings: MeshSettings) -> None:
    from mesh import heap, server, telemetry

    name = spec.name
    telemetry.configure(settings, process_name=name)
    service = await spec.create()(settings)
    heap.freeze_startup_heap()
    await server.run_until_signalled([service], settings.shutdown_grace_seconds)
