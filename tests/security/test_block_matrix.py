"""The block matrix, through the edge: A and B follow each other, like, comment on and save each
other's posts, view each other's stories, mention each other and talk in a conversation; then A
blocks B. Every read path is tried both ways (the blocked account on the blocker's things, the
blocker on the blocked account's things), each one's own things are checked for what the other
had left there (likes, comments, follows, story views, notifications, counts), and every write
the one could make on the other's things is tried. After the block, new mentions reach neither.

Outcomes as in the authorization matrix: `shown`, `hidden`, or a refusal's status code; for the
counts, `shown` means the other's like, comment or follow is still counted.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Account, register
from tests.security.world import READ_PATHS, WRITE_PATHS, Outcome, World, build_world


async def _counted(
    client: httpx.AsyncClient, viewer: Account | None, url: str, field: str, base: int
) -> Outcome:
    answer = await client.get(url, headers=viewer.headers if viewer else {})
    if answer.status_code != 200:
        return answer.status_code, False
    return 200, int(answer.json().get(field, "0")) > base


async def _like_count(client: httpx.AsyncClient, viewer: Account | None, w: World) -> Outcome:
    return await _counted(client, viewer, f"/api/v1/posts/{w.post_id}", "likeCount", 0)


async def _comment_count(client: httpx.AsyncClient, viewer: Account | None, w: World) -> Outcome:
    # The owner's own comment stays.
    return await _counted(client, viewer, f"/api/v1/posts/{w.post_id}", "commentCount", 1)


async def _follower_count(client: httpx.AsyncClient, viewer: Account | None, w: World) -> Outcome:
    return await _counted(client, viewer, f"/api/v1/users/{w.owner.user_id}", "followerCount", 0)


async def _following_count(client: httpx.AsyncClient, viewer: Account | None, w: World) -> Outcome:
    # The owner also follows `followed`.
    return await _counted(client, viewer, f"/api/v1/users/{w.owner.user_id}", "followingCount", 1)


PATHS = {
    **READ_PATHS,
    "like_count": _like_count,
    "comment_count": _comment_count,
    "follower_count": _follower_count,
    "following_count": _following_count,
}

# Who reads whose things. "blocked→blocker": B on A's things; "blocker→blocked": A on B's;
# "blocker→own" and "blocked→own": each on their own things, where the needle is the other's
# like, comment, follow, story view or notification.
VIEWS = ("blocked→blocker", "blocker→blocked", "blocker→own", "blocked→own")

# fmt: off
#                       blocked→blocker blocker→blocked blocker→own blocked→own
READS = {
    # The blocker still finds the profile (to unblock), with zero counts and nothing else.
    "profile":             "404    shown  shown  shown",
    "profile_by_username": "404    shown  shown  shown",
    "relationship":        "404    shown  shown  shown",
    "grid":                "404    404    shown  shown",
    "post":                "404    404    shown  shown",
    "comments":            "404    404    hidden hidden",
    "likes":               "404    404    hidden hidden",
    "followers":           "404    404    hidden hidden",
    "following":           "404    404    shown  shown",
    "stories":             "404    404    shown  shown",
    "story_tray":          "hidden hidden shown  shown",
    "story_viewers":       "404    404    hidden hidden",
    "saved":               "hidden hidden hidden hidden",
    "home_feed":           "hidden hidden shown  shown",
    "search_users":        "hidden hidden shown  shown",
    "search_tags":         "hidden hidden shown  shown",
    "search_places":       "hidden hidden shown  shown",
    "search_posts":        "hidden hidden shown  shown",
    "hashtag_page":        "hidden hidden shown  shown",
    "place_page":          "hidden hidden shown  shown",
    "explore":             "hidden hidden hidden hidden",
    "reels_of_user":       "404    404    shown  shown",
    "reels_tab":           "hidden hidden hidden hidden",
    "notifications":       "hidden hidden hidden hidden",
    # A conversation they had stays in both lists as history; nothing new can be sent.
    "conversations":       "shown  shown  shown  shown",
    "conversation":        "shown  shown  shown  shown",
    "messages":            "shown  shown  shown  shown",
    "media":               "404    404    shown  shown",
    "upload":              "404    404    shown  shown",
    "like_count":          "404    404    hidden hidden",
    "comment_count":       "404    404    hidden hidden",
    "follower_count":      "404    hidden hidden hidden",
    "following_count":     "404    hidden hidden hidden",
}

# Writes of one on the other's things, both ways.
#                              blocked→blocker blocker→blocked
WRITES = {
    "like":                       "404 404",
    "unlike":                     "404 404",
    "comment":                    "404 404",
    "save":                       "404 404",
    # Taking back one's own save stays possible (it tells nothing new).
    "unsave":                     "200 200",
    "follow":                     "404 404",
    "story_view":                 "404 404",
    "reel_view":                  "404 404",
    "message_owner":              "403 403",
    "message_their_conversation": "403 403",
}
# fmt: on

READ_CASES = [
    pytest.param(path, view, expected, id=f"{view}-{path}")
    for path, row in READS.items()
    for view, expected in zip(VIEWS, row.split(), strict=True)
]
WRITE_CASES = [
    pytest.param(path, view, expected, id=f"{view}-{path}")
    for path, row in WRITES.items()
    for view, expected in zip(VIEWS[:2], row.split(), strict=True)
]


def test_every_read_path_is_in_the_table() -> None:
    assert set(READS) == set(PATHS)
    assert set(WRITES) <= set(WRITE_PATHS)


class Pair:
    """A (the blocker) and B (the blocked), and each one's world."""

    def __init__(self, a: Account, b: Account, world_a: World, world_b: World) -> None:
        self.a, self.b, self.world_a, self.world_b = a, b, world_a, world_b

    def view(self, name: str) -> tuple[Account, World]:
        return {
            "blocked→blocker": (self.b, self.world_a),
            "blocker→blocked": (self.a, self.world_b),
            "blocker→own": (self.a, self.world_a),
            "blocked→own": (self.b, self.world_b),
        }[name]


@pytest.fixture(scope="module")
async def pair(
    running_mesh: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, Pair]]:
    tmp = tmp_path_factory.mktemp("blocks")
    async with httpx.AsyncClient(base_url=running_mesh.edge_url, timeout=60) as client:
        a, b = await register(client, "blocker"), await register(client, "blockee")
        world_a = await build_world(client, private=False, tmp=tmp, owner=a, fan=b)
        world_b = await build_world(client, private=False, tmp=tmp, owner=b, fan=a)
        blocked = await client.post(f"/api/v1/users/{b.user_id}/block", headers=a.headers)
        assert blocked.status_code == 200, blocked.text
        yield client, Pair(a, b, world_a, world_b)


def outcome(status: int, present: bool) -> str:
    if status != 200:
        return str(status)
    return "shown" if present else "hidden"


async def _eventually(
    client: httpx.AsyncClient, path: str, view: str, expected: str, p: Pair
) -> str:
    """What the path answers once the block's events have been applied (a few seconds at
    most: the read model and the notification store follow the bus)."""
    viewer, world = p.view(view)
    deadline = time.monotonic() + 15
    while True:
        got = outcome(*await PATHS[path](client, viewer, world))
        if got == expected or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(("path", "view", "expected"), READ_CASES)
async def test_read(
    pair: tuple[httpx.AsyncClient, Pair], path: str, view: str, expected: str
) -> None:
    client, p = pair
    assert await _eventually(client, path, view, expected, p) == expected


@pytest.mark.parametrize(("path", "view", "expected"), WRITE_CASES)
async def test_write(
    pair: tuple[httpx.AsyncClient, Pair], path: str, view: str, expected: str
) -> None:
    client, p = pair
    viewer, world = p.view(view)
    assert str(await WRITE_PATHS[path](client, viewer, world)) == expected


@pytest.mark.parametrize("view", VIEWS[:2])
async def test_a_mention_after_the_block_reaches_no_one(
    pair: tuple[httpx.AsyncClient, Pair], view: str
) -> None:
    """The one mentions the other (and a third account, to know the mention went through) in a
    comment on their own post: the third account is told, the other is not."""
    client, p = pair
    other, world = p.view(view)  # the one mentioning is the owner of that world's counterpart
    author, own_world = (p.a, p.world_a) if other is p.b else (p.b, p.world_b)
    witness = await register(client, "witness")
    text = f"look @{other.username} @{witness.username} {uuid.uuid4().hex[:6]}"
    made = await client.post(
        f"/api/v1/posts/{own_world.post_id}/comments", json={"text": text}, headers=author.headers
    )
    assert made.status_code == 200, made.text
    comment_id = made.json()["commentId"]
    deadline = time.monotonic() + 150
    while (
        comment_id not in (await client.get("/api/v1/notifications", headers=witness.headers)).text
    ):
        assert time.monotonic() < deadline, "the witness was never told"
        await asyncio.sleep(0.2)
    told = await client.get("/api/v1/notifications", headers=other.headers)
    assert told.status_code == 200 and comment_id not in told.text
