"""Fixtures of the security suite: a client on the session's mesh, and actors that post."""

from __future__ import annotations

import contextlib
import io
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import Account, upload_photo


@pytest.fixture
async def client(running_mesh: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Return an HTTP client speaking to the edge as any client, hostile or not, would."""
    async with httpx.AsyncClient(base_url=running_mesh.edge_url, timeout=30) as http:
        yield http


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    """Return a small PNG of a random colour."""
    out = io.BytesIO()
    Image.new("RGB", size, (random.randrange(256), 90, 40)).save(out, format="PNG")
    return out.getvalue()


async def make_post(
    client: httpx.AsyncClient,
    who: Account,
    *,
    caption: str = "",
    location: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Upload a photo and post it; return the post as the edge answered it."""
    media_id = await upload_photo(client, who, png())
    body: dict[str, Any] = {"mediaIds": [media_id], "caption": caption}
    if location is not None:
        body["location"] = location
    created = await client.post("/api/v1/posts", json=body, headers=who.headers)
    assert created.status_code == 200, created.text
    return dict(created.json())


def reason(response: httpx.Response) -> str:
    """Return the ErrorInfo reason of an error answer ("" when it has none)."""
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return str(detail["reason"])
    return ""


def mesh_settings_of(running_mesh: Any) -> dict[str, Any]:
    """Return what an extra edge in front of the session's mesh needs: the services' addresses
    and the mesh's data dir (its token keys)."""
    assert running_mesh._edge is not None
    settings = running_mesh._edge.config.app.state.settings
    addresses = {f"{name}_addr": address for name, address in running_mesh.addresses.items()}
    return {"data_dir": settings.data_dir, **addresses}


@contextlib.asynccontextmanager
async def edge_client(running_mesh: Any, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run an extra edge with these settings in front of the session's mesh (in this process,
    its lifespan included); yield a client of it."""
    from edge_proxy.app import create_app
    from edge_proxy.settings import EdgeSettings
    from mesh.clients import Channels

    settings = EdgeSettings(**mesh_settings_of(running_mesh), **overrides)
    channels = Channels(settings, addresses=running_mesh.addresses)
    app = create_app(settings, channels)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
                yield http
    finally:
        await channels.close()
