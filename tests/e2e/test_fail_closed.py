"""Privacy fails closed: with graph_svc down, nothing that a block or a private account would
hide is served (503, retryable); only counts degrade, and the profile says so (issue 16, part 4)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from mesh.launcher import RunningMesh
from tests.e2e.conftest import register, restart_service, unique_name
from tests.e2e.test_feed import _post

pytestmark = pytest.mark.e2e

RECOVERY_SECONDS = 5.0


def _reason(response: httpx.Response) -> str:
    return str(response.json()["details"][0]["reason"])


async def test_blocks_and_private_accounts_hold_while_graph_svc_is_down(
    own_mesh: tuple[RunningMesh, dict[str, Any]],
) -> None:
    mesh, overrides = own_mesh
    async with httpx.AsyncClient(base_url=str(mesh.edge_url), timeout=30) as client:
        stem = unique_name("fc")
        blocker, blocked = await register(client, stem), await register(client, stem)
        private = await register(client, stem)
        await _post(client, private)
        made_private = await client.put(
            f"/api/v1/users/{private.user_id}", json={"isPrivate": True}, headers=private.headers
        )
        assert made_private.status_code == 200, made_private.text
        blocking = await client.post(
            f"/api/v1/users/{blocked.user_id}/block", headers=blocker.headers
        )
        assert blocking.status_code == 200, blocking.text

        graph = next(s for s in mesh.services if s.name == "graph_svc")
        await graph.stop(0)

        profile = await client.get(f"/api/v1/users/{blocker.user_id}", headers=blocked.headers)
        assert profile.status_code == 503, profile.text
        assert _reason(profile) == "RELATIONSHIP_UNAVAILABLE"
        search = await client.get(
            "/api/v1/search/users", params={"q": stem}, headers=blocked.headers
        )
        assert search.status_code == 503, search.text
        assert _reason(search) == "RELATIONSHIP_UNAVAILABLE"
        posts = await client.get(f"/api/v1/users/{private.user_id}/posts", headers=blocked.headers)
        assert posts.status_code == 503, posts.text
        # One's own profile needs no block check: served, its counts marked unavailable.
        own = await client.get(f"/api/v1/users/{blocker.user_id}", headers=blocker.headers)
        assert own.status_code == 200, own.text
        assert own.json()["countsUnavailable"] is True
        assert own.json()["username"] == blocker.username

        await restart_service(mesh, overrides, "graph_svc")
        # As a client does on 503: retry after a moment; user_svc redials within about a second.
        back = time.monotonic()
        while (
            profile := await client.get(f"/api/v1/users/{blocker.user_id}", headers=blocked.headers)
        ).status_code == 503:
            assert time.monotonic() - back < RECOVERY_SECONDS, profile.text
            await asyncio.sleep(0.1)
        assert profile.status_code == 404, profile.text
        search = await client.get(
            "/api/v1/search/users", params={"q": stem}, headers=blocked.headers
        )
        assert search.status_code == 200, search.text
        assert {u["username"] for u in search.json()["users"]} == {
            blocked.username,
            private.username,
        }
        posts = await client.get(f"/api/v1/users/{private.user_id}/posts", headers=blocked.headers)
        assert posts.status_code == 403, posts.text
        own = await client.get(f"/api/v1/users/{blocker.user_id}", headers=blocker.headers)
        assert own.status_code == 200 and own.json()["countsUnavailable"] is False, own.text
