"""Run the edge proxy alone: `python -m edge_proxy` (settings from SHUTTER_* variables)."""

from __future__ import annotations

import asyncio

import uvicorn

from edge_proxy.app import create_app
from edge_proxy.serve import EdgeServer
from edge_proxy.settings import EdgeSettings
from mesh import heap, metrics, preflight, telemetry
from mesh.clients import Channels
from mesh.config import exit_with, load_settings_or_exit


def checked_settings() -> EdgeSettings:
    """Return the edge's settings, or print each bad setting or taken port and exit (status 2)
    before anything starts."""
    settings = load_settings_or_exit(EdgeSettings)
    planned = [
        preflight.PlannedPort(
            f"SHUTTER_EDGE_PORT={settings.edge_port}",
            "the edge",
            settings.edge_host,
            settings.edge_port,
        )
    ]
    if settings.metrics_port:
        planned.append(
            preflight.PlannedPort(
                f"SHUTTER_METRICS_PORT={settings.metrics_port}",
                "edge_proxy metrics",
                settings.edge_host,
                settings.metrics_port,
            )
        )
    problems = preflight.file_problems(settings) + preflight.port_problems(planned)
    if problems:
        exit_with(problems)
    return settings


async def main(settings: EdgeSettings) -> None:
    """Serve the edge until SIGINT or SIGTERM."""
    telemetry.configure(settings, process_name="edge_proxy")
    # Only on the metrics port (`shutter up --engines` gives it one), never on the public port.
    metrics.serve_metrics(settings.metrics_port, settings.edge_host)
    channels = Channels(settings)
    app = create_app(settings, channels)
    heap.freeze_startup_heap()
    # log_config=None keeps the logging that telemetry.configure set up.
    config = uvicorn.Config(
        app,
        host=settings.edge_host,
        port=settings.edge_port,
        log_config=None,
        server_header=False,  # no 'server: uvicorn' banner
        # One line per HTTP request only when asked for (SHUTTER_LOG_LEVEL=DEBUG).
        access_log=settings.log_level == "DEBUG",
        lifespan="off",
        # Live streams (SSE) never end by themselves: stop waiting for them after the grace.
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    try:
        # uvicorn stops on SIGINT/SIGTERM after in-flight requests finish; live streams end
        # first, each with a final event.
        await EdgeServer(config, app=app).serve()
    finally:
        await channels.close()


if __name__ == "__main__":
    asyncio.run(main(checked_settings()))
