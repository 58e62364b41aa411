"""Run post_svc alone: `python -m post_svc` (settings from SHUTTER_* variables)."""

from __future__ import annotations

import asyncio

from mesh import server, telemetry
from post_svc.servicer import NAME, create_post_service
from post_svc.settings import PostSettings


async def main() -> None:
    settings = PostSettings()
    telemetry.configure(settings, process_name=NAME)
    service = await create_post_service(settings)
    await server.run_until_signalled([service], settings.shutdown_grace_seconds)


if __name__ == "__main__":
    asyncio.run(main())
