"""Start a service: a grpc.aio server with interceptors, health, reflection and graceful stop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mesh import interceptors, metrics, telemetry
from mesh.auth import TokenVerifier, ensure_keys
from mesh.config import MeshSettings

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

    @property
    def address(self) -> str:
        """Return the loopback address clients on this machine can dial."""
        return f"127.0.0.1:{self.port}"

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, let in-flight calls finish within `grace`, then release resources."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for close in reversed(self.on_stop):
            await close()


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
    server = aio.server(
        interceptors=[
            telemetry.server_interceptor(),
            interceptors.RequestIdInterceptor(),
            interceptors.AccessLogInterceptor(),
            metrics.MetricsInterceptor(name),
            interceptors.ErrorInterceptor(domain=f"{name}.shutter"),
            interceptors.AdmissionInterceptor(
                max_reads=settings.rpc_max_in_flight_reads,
                max_writes=settings.rpc_max_in_flight_writes,
            ),
            interceptors.DeadlineInterceptor(),
            interceptors.AuthInterceptor(TokenVerifier(settings)),
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
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    address = f"{settings.host}:{settings.port_of(name)}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError:
        raise RuntimeError(
            f"{name} could not listen on {address} (is the port in use? set "
            f"SHUTTER_{name.upper()}_ADDR)"
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
