"""Start a service: a grpc.aio server with interceptors, health, reflection and graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from google.api import annotations_pb2
from google.protobuf import descriptor_pool
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mesh import interceptors, metrics, telemetry
from mesh.auth import ServiceTokens, TokenVerifier, ensure_keys
from mesh.config import MeshSettings
from mesh.revocation import revocations_for

log = logging.getLogger("shutter.server")

# Large enough for a batch of 100 hydrated posts; uploads stream in chunks well below it.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass
class Service:
    """A running gRPC service and what must be closed when it stops."""

    name: str
    server: aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: Sequence[str]
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Called once the service reports NOT_SERVING, before in-flight calls are waited for: ends
    # what never ends by itself (live streams), so stopping takes no longer than it needs.
    on_drain: list[Callable[[], None]] = field(default_factory=list)

    @property
    def address(self) -> str:
        """Return the loopback address clients on this machine can dial."""
        return f"127.0.0.1:{self.port}"

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, let in-flight calls finish within `grace`, then release resources."""
        await self.health.enter_graceful_shutdown()
        for drain in self.on_drain:
            drain()
        await self.server.stop(grace)
        for close in reversed(self.on_stop):
            await close()


class PortInUse(RuntimeError):
    """A service could not listen on its address (another process holds the port)."""

    def __init__(self, message: str, address: str) -> None:
        super().__init__(message)
        self.address = address


async def create_server(
    name: str,
    settings: MeshSettings,
    *,
    register: Callable[[aio.Server], None],
    service_names: Sequence[str],
    on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
) -> Service:
    """Build, bind and start the gRPC server of one service; port 0 in settings picks a free port.

    `register` adds the service's servicers; `service_names` are their full names, announced by
    health and reflection.
    """
    ensure_keys(settings)
    telemetry.instrument_libraries()
    metrics.serve_metrics(settings.metrics_port, settings.host)
    revoked = revocations_for(settings)
    await revoked.start()
    on_stop = [revoked.stop, *on_stop]
    server = aio.server(
        interceptors=[
            *telemetry.server_interceptors(),
            interceptors.MeshInterceptor(
                name,
                admission=interceptors.Admission(
                    max_reads=settings.rpc_max_in_flight_reads,
                    max_writes=settings.rpc_max_in_flight_writes,
                ),
                authenticator=interceptors.Authenticator(
                    TokenVerifier(settings, revocations=revoked),
                    services=ServiceTokens(settings),
                    internal_methods=internal_methods(service_names),
                    bind_to_certificates=mutual_tls(settings),
                ),
            ),
        ],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if settings.grpc_reflection:
        reflection.enable_server_reflection(
            [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
    address = f"{settings.host}:{settings.port_of(name)}"
    credentials = server_credentials(settings)
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError:
        raise PortInUse(
            f"{name} could not listen on {address} (is the port in use? set "
            f"SHUTTER_{name.upper()}_ADDR)",
            address,
        ) from None
    await server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    for service_name in ("", *service_names):
        await health_servicer.set(service_name, serving)
    log.info("%s listening on %s:%d", name, settings.host, port)
    return Service(
        name=name,
        server=server,
        port=port,
        health=health_servicer,
        service_names=service_names,
        on_stop=list(on_stop),
    )


async def run_until_signalled(services: Sequence[Service], grace: float) -> None:
    """Serve until SIGINT or SIGTERM, then stop everything gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: draining in-flight calls for up to %.1fs", grace)
    await asyncio.gather(*(service.stop(grace) for service in services))


def internal_methods(service_names: Sequence[str]) -> set[str]:
    """Return the methods of these services that clients never call: those without a
    google.api.http route (batch lookups, privacy answers, streams between services)."""
    pool = descriptor_pool.Default()
    found = set()
    for name in service_names:
        service = pool.FindServiceByName(name)
        for method in service.methods:
            if not method.GetOptions().HasExtension(annotations_pb2.http):
                found.add(f"/{service.full_name}/{method.name}")
    return found


def mutual_tls(settings: MeshSettings) -> bool:
    """Whether servers require client certificates (and so bind identities to them)."""
    return (
        settings.mesh_tls_cert_file is not None
        and settings.mesh_tls_key_file is not None
        and settings.mesh_tls_ca_file is not None
    )


def server_credentials(settings: MeshSettings) -> grpc.ServerCredentials | None:
    """Return TLS credentials when the mesh has a certificate (mutual TLS with a CA), else None."""
    if settings.mesh_tls_cert_file is None or settings.mesh_tls_key_file is None:
        return None
    pair = (settings.mesh_tls_key_file.read_bytes(), settings.mesh_tls_cert_file.read_bytes())
    ca = settings.mesh_tls_ca_file.read_bytes() if settings.mesh_tls_ca_file else None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=ca, require_client_auth=ca is not None
    )
