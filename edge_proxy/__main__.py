"""Run the edge proxy alone: `python -m edge_proxy` (settings from SHUTTER_* variables)."""

from __future__ import annotations

import asyncio

import uvicorn

from edge_proxy.app import create_app
from edge_proxy.settings import EdgeSettings
from mesh import metrics, telemetry
from mesh.clients import Channels


async def main() -> None:
    settings = EdgeSettings()
    telemetry.configure(settings, process_name="edge_proxy")
    # Only on the metrics port (`shutter up --engines` gives it one), never on the public port.
    metrics.serve_metrics(settings.metrics_port, settings.edge_host)
    channels = Channels(settings)
    app = create_app(settings, channels)
    # log_config=None keeps the logging that telemetry.configure set up.
    config = uvicorn.Config(
        app,
        host=settings.edge_host,
        port=settings.edge_port,
        log_config=None,
        server_header=False,  # no 'server: uvicorn' banner
        lifespan="off",
        # Live streams (SSE) never end by themselves: stop waiting for them after the grace.
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    try:
        # uvicorn stops on SIGINT/SIGTERM after in-flight requests finish.
        await uvicorn.Server(config).serve()
    finally:
        await channels.close()


if __name__ == "__main__":
    asyncio.run(main())
