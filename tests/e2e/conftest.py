"""Fixtures for end-to-end tests: an HTTP client on the running mesh's edge, and sign-ups."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mesh.launcher import RunningMesh, start_mesh
from mesh.services import MESH

_counter = itertools.count()


@pytest.fixture
async def client(running_mesh: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Return an HTTP client speaking to the edge as a mobile or web client would."""
    async with httpx.AsyncClient(base_url=running_mesh.edge_url, timeout=30) as http:
        yield http


def unique_name(prefix: str = "u") -> str:
    """Return a username no other test uses in this session."""
    return f"{prefix}{next(_counter)}_{uuid.uuid4().hex[:6]}"


@dataclass
class Account:
    """A registered user as a client holds it."""

    user_id: str
    username: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        """Return the Authorization header of this user."""
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(client: httpx.AsyncClient, prefix: str = "u", **fields: Any) -> Account:
    """Sign a new user up through the edge."""
    username = unique_name(prefix)
    password = "a good password"
    body = {"username": username, "email": f"{username}@example.com", "password": password}
    body.update(fields)
    response = await client.post("/api/v1/users/register", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    return Account(
        user_id=data["user"]["userId"],
        username=username,
        password=password,
        access_token=data["accessToken"],
        refresh_token=data["refreshToken"],
    )


async def send_upload_bytes(
    client: httpx.AsyncClient, who: Account, upload: dict[str, Any], data: bytes
) -> httpx.Response:
    """PUT the bytes where CreateUpload said, as a client does: the edge (with the user's token)
    or a presigned object-store URL (with only the headers it signs)."""
    url = upload["uploadUrl"]
    headers = dict(upload.get("uploadHeaders", {}))
    if url.startswith(str(client.base_url).rstrip("/") + "/"):
        headers.update(who.headers)
    return await client.put(url, content=data, headers=headers)


async def upload_photo(
    client: httpx.AsyncClient,
    who: Account,
    data: bytes,
    *,
    content_type: str = "image/png",
    filter_name: str = "",
) -> str:
    """Upload a photo through the API, wait until it is processed; return its media id."""
    created = await client.post(
        "/api/v1/uploads",
        json={"contentType": content_type, "sizeBytes": len(data)},
        headers=who.headers,
    )
    assert created.status_code == 200, created.text
    upload = created.json()
    sent = await send_upload_bytes(client, who, upload, data)
    assert sent.status_code == 200, sent.text
    upload_id = upload["uploadId"]
    completed = await client.post(
        f"/api/v1/uploads/{upload_id}/complete", json={"filter": filter_name}, headers=who.headers
    )
    assert completed.status_code == 200, completed.text
    deadline = time.monotonic() + 60
    while True:
        state = (await client.get(f"/api/v1/uploads/{upload_id}", headers=who.headers)).json()
        assert state["status"] != "UPLOAD_STATUS_FAILED", state
        if state["status"] == "UPLOAD_STATUS_READY":
            return str(state["mediaId"])
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)


@pytest.fixture
async def own_mesh(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[RunningMesh, dict[str, Any]]]:
    """A mesh of its own (a test stops and restarts one of its services), whose bus gives up on
    an event after two quick attempts."""
    monkeypatch.setenv("SHUTTER_DATA_DIR", str(data_dir))  # the CLI finds the same bus
    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "edge_port": 0,
        "argon2_memory_kib": 1024,
        "argon2_time_cost": 1,
        "transcode_video": False,
        "bus_max_attempts": 2,
        "bus_retry_backoff_seconds": 0.05,
        "bus_retry_backoff_max_seconds": 0.1,
        "bus_poll_interval_seconds": 0.05,
        **{f"{spec.name}_addr": "127.0.0.1:0" for spec in MESH},
    }
    mesh = await start_mesh(overrides=overrides)
    yield mesh, overrides
    await mesh.stop(grace=1.0)


async def restart_service(mesh: RunningMesh, overrides: dict[str, Any], name: str) -> None:
    """Start a stopped service of an own_mesh again, on the address it had."""
    spec = next(s for s in MESH if s.name == name)
    fields = spec.settings_type().model_fields
    values = {k: v for k, v in overrides.items() if k in fields}
    values.update({f"{peer}_addr": address for peer, address in mesh.addresses.items()})
    service = await spec.create()(spec.settings().model_copy(update=values))
    mesh.services = [service if s.name == name else s for s in mesh.services]
