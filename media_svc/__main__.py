"""Run media_svc alone: `python -m media_svc` (settings from SHUTTER_* variables)."""

from __future__ import annotations

import asyncio

from media_svc.servicer import NAME, create_media_service
from media_svc.settings import MediaSettings
from mesh import server, telemetry


async def main() -> None:
    settings = MediaSettings()
    telemetry.configure(settings, process_name=NAME)
    service = await create_media_service(settings)
    await server.run_until_signalled([service], settings.shutdown_grace_seconds)


if __name__ == "__main__":
    asyncio.run(main())
