"""Run user_svc alone: `python -m user_svc` (settings from SHUTTER_* variables)."""

from __future__ import annotations

import asyncio

from mesh import server, telemetry
from user_svc.servicer import NAME, create_user_service
from user_svc.settings import UserSettings


async def main() -> None:
    settings = UserSettings()
    telemetry.configure(settings, process_name=NAME)
    service = await create_user_service(settings)
    await server.run_until_signalled([service], settings.shutdown_grace_seconds)


if __name__ == "__main__":
    asyncio.run(main())
