"""Fixtures for end-to-end tests: an HTTP client on the running mesh's edge, and sign-ups."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

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
