"""Fixtures of the security suite: a client on the session's mesh, and actors that post."""

from __future__ import annotations

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
