"""Dead letters are a queue: a post whose fan-out failed while graph_svc was down reaches every
follower's feed once an operator replays it (`shutter bus dead-letters replay`), via the edge."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from mesh.bus_cli import group_dead_letters
from mesh.cli import app
from mesh.launcher import RunningMesh
from tests.e2e.conftest import register, restart_service
from tests.e2e.test_feed import EVENTUAL_SECONDS, _feed, _post

pytestmark = pytest.mark.e2e

FOLLOWERS = 3


async def test_a_post_dead_lettered_while_graph_svc_was_down_reaches_every_feed_after_replay(
    own_mesh: tuple[RunningMesh, dict[str, Any]],
) -> None:
    mesh, overrides = own_mesh
    async with httpx.AsyncClient(base_url=str(mesh.edge_url), timeout=30) as client:
        author = await register(client, "dl_author")
        followers = [await register(client, "dl_fan") for _ in range(FOLLOWERS)]
        for fan in followers:
            followed = await client.post(
                f"/api/v1/users/{author.user_id}/follow", headers=fan.headers
            )
            assert followed.status_code == 200, followed.text
            assert await _feed(client, fan) == []  # built now, before the fault

        graph = next(s for s in mesh.services if s.name == "graph_svc")
        await graph.stop(0)
        post_id = await _post(client, author)  # post_svc does not need graph_svc to post

        # On the Redis bus (engines) they are kept in feed_svc's database, as the CLI finds them.
        deadline = time.monotonic() + EVENTUAL_SECONDS
        while not (letters := await group_dead_letters("feed_svc")):
            assert time.monotonic() < deadline, "the fan-out never went to the dead letters"
            await asyncio.sleep(0.1)
        assert [letter.event_type for letter in letters] == ["shutter.events.v1.PostCreated"]

        await restart_service(mesh, overrides, "graph_svc")
        back = time.monotonic()
        for fan in followers:  # the fan-out never happened
            query = {"mode": "FEED_MODE_CHRONOLOGICAL"}
            while (
                page := await client.get("/api/v1/feed", params=query, headers=fan.headers)
            ).status_code == 503:  # feed_svc redials graph_svc within about a second
                assert time.monotonic() - back < 5, page.text
                await asyncio.sleep(0.1)
            assert page.status_code == 200, page.text
            assert post_id not in [p["postId"] for p in page.json().get("posts", [])]
        listed = await asyncio.to_thread(
            CliRunner().invoke, app, ["bus", "dead-letters", "list", "--group", "feed_svc"]
        )
        assert listed.exit_code == 0, listed.output
        assert "PostCreated" in listed.output and letters[0].letter_id in listed.output
        replayed = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["bus", "dead-letters", "replay", "--group", "feed_svc", "--id", letters[0].letter_id],
        )
        assert replayed.exit_code == 0, replayed.output
        assert "feed_svc: 1 dead letters handed to the group again" in replayed.output

        deadline = time.monotonic() + EVENTUAL_SECONDS
        for fan in followers:
            while post_id not in (found := await _feed(client, fan)):
                assert time.monotonic() < deadline, f"{fan.username}'s feed is {found}"
                await asyncio.sleep(0.1)
