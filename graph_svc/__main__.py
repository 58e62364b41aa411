"""Run graph_svc alone: `python -m graph_svc` (settings from SHUTTER_* variables)."""

from __future__ import annotations

import asyncio

from graph_svc.servicer import NAME, create_graph_service
from graph_svc.settings import GraphSettings
from mesh import server, telemetry


async def main() -> None:
    settings = GraphSettings()
    telemetry.configure(settings, process_name=NAME)
    service = await create_graph_service(settings)
    await server.run_until_signalled([service], settings.shutdown_grace_seconds)


if __name__ == "__main__":
    asyncio.run(main())
