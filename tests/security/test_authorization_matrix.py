"""The actor x path authorization matrix, through the edge.

Two owners, one public and one private, each with a post (hashtag, place, mentions, comments,
likes, saves), a story someone viewed, a reel, a conversation and someone they follow. Around each
owner: an anonymous client, the owner, an approved follower, a stranger, a pending follow
requester (private owner only) and an account the owner blocked after it had followed, liked,
commented and saved. Every read path and every write path is one test per (owner, path, actor).

Read outcomes: `shown` (200 with the owner's object in it), `hidden` (200 without it), or the
status code of a refusal. Write outcomes: the status code. `-`: the actor does not exist for that
owner (a public account has no pending requests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.security.world import READ_PATHS, WRITE_PATHS, World, build_world, make_actor

ACTORS = ("anonymous", "owner", "follower", "stranger", "pending", "blocked")

# fmt: off
# Read paths: what each actor gets of the owner's object.
#                                 anonymous owner  follower stranger pending blocked
READS = {
    "public": {
        "profile":             "401 shown shown shown - 404",
        "profile_by_username": "401 shown shown shown - 404",
        "relationship":        "401 shown shown shown - 404",
        "grid":                "401 shown shown shown - 404",
        "post":                "401 shown shown shown - 404",
        "comments":            "401 shown shown shown - 404",
        "likes":               "401 shown shown shown - 404",
        "followers":           "401 shown shown shown - 404",
        "following":           "401 shown shown shown - 404",
        "stories":             "401 shown shown shown - 404",
        # The tray holds the stories of accounts one follows (the stranger follows nobody).
        "story_tray":          "401 shown shown hidden - hidden",
        "story_viewers":       "401 shown 403 403 - 404",
        # Saved lists are the caller's own: the follower and the stranger saved the post, the
        # blocked account did before the block.
        "saved":               "401 hidden shown shown - hidden",
        "home_feed":           "401 shown shown hidden - hidden",
        "search_users":        "401 shown shown shown - hidden",
        "search_tags":         "401 shown shown shown - hidden",
        "search_places":       "401 shown shown shown - hidden",
        "search_posts":        "401 shown shown shown - hidden",
        "hashtag_page":        "401 shown shown shown - hidden",
        "place_page":          "401 shown shown shown - hidden",
        # Explore leaves out one's own posts and those of accounts one follows.
        "explore":             "401 hidden hidden shown - hidden",
        "reels_of_user":       "401 shown shown shown - 404",
        # The Reels tab leaves out one's own reels.
        "reels_tab":           "401 hidden shown shown - hidden",
        # The post's thumbnail in the caller's notifications (likes for the owner, the caption's
        # mention for the others).
        "notifications":       "401 shown shown shown - hidden",
        "conversations":       "401 shown shown hidden - hidden",
        "conversation":        "401 shown shown 404 - 404",
        "messages":            "401 shown shown 404 - 404",
        "media":               "401 shown 404 404 - 404",
        "upload":              "401 shown 404 404 - 404",
    },
    "private": {
        "profile":             "401 shown shown shown shown 404",
        "profile_by_username": "401 shown shown shown shown 404",
        "relationship":        "401 shown shown shown shown 404",
        "grid":                "401 shown shown 403 403 404",
        "post":                "401 shown shown 404 404 404",
        "comments":            "401 shown shown 404 404 404",
        "likes":               "401 shown shown 404 404 404",
        "followers":           "401 shown shown 403 403 404",
        "following":           "401 shown shown 403 403 404",
        "stories":             "401 shown shown 404 404 404",
        "story_tray":          "401 shown shown hidden hidden hidden",
        "story_viewers":       "401 shown 403 404 404 404",
        "saved":               "401 hidden shown hidden hidden hidden",
        "home_feed":           "401 shown shown hidden hidden hidden",
        "search_users":        "401 shown shown shown shown hidden",
        "search_tags":         "401 shown shown hidden hidden hidden",
        "search_places":       "401 shown shown hidden hidden hidden",
        "search_posts":        "401 shown shown hidden hidden hidden",
        "hashtag_page":        "401 shown shown hidden hidden hidden",
        "place_page":          "401 shown shown hidden hidden hidden",
        "explore":             "401 hidden hidden hidden hidden hidden",
        "reels_of_user":       "401 shown shown 403 403 404",
        "reels_tab":           "401 hidden shown hidden hidden hidden",
        # A stranger mentioned in a private post is told so, without the post's picture.
        "notifications":       "401 shown shown hidden hidden hidden",
        "conversations":       "401 shown shown hidden hidden hidden",
        "conversation":        "401 shown shown 404 404 404",
        "messages":            "401 shown shown 404 404 404",
        "media":               "401 shown 404 404 404 404",
        "upload":              "401 shown 404 404 404 404",
    },
}

# Write paths: the status each actor gets (a fresh account per case, standing to the owner as
# the column says). 400: the owner following or messaging themself.
#                                 anonymous owner follower stranger pending blocked
WRITES = {
    "public": {
        "like":                       "401 200 200 200 - 404",
        "unlike":                     "401 200 200 200 - 404",
        "comment":                    "401 200 200 200 - 404",
        "save":                       "401 200 200 200 - 404",
        "unsave":                     "401 200 200 200 - 404",
        "follow":                     "401 400 200 200 - 404",
        "story_view":                 "401 200 200 200 - 404",
        "reel_view":                  "401 200 200 200 - 404",
        "message_owner":              "401 400 200 200 - 403",
        "message_their_conversation": "401 200 404 404 - 404",
        "update_profile":             "401 200 403 403 - 403",
        "delete_comment":             "401 200 403 403 - 404",
        "delete_post":                "401 200 403 403 - 404",
        "delete_story":               "401 200 403 403 - 404",
        # A public account's requests are approved at once; approving one again changes nothing.
        "approve_follow_request":     "401 200 404 404 - 404",
    },
    "private": {
        "like":                       "401 200 200 404 404 404",
        "unlike":                     "401 200 200 404 404 404",
        "comment":                    "401 200 200 404 404 404",
        "save":                       "401 200 200 404 404 404",
        "unsave":                     "401 200 200 404 404 404",
        "follow":                     "401 400 200 200 200 404",
        "story_view":                 "401 200 200 404 404 404",
        "reel_view":                  "401 200 200 404 404 404",
        "message_owner":              "401 400 200 200 200 403",
        "message_their_conversation": "401 200 404 404 404 404",
        "update_profile":             "401 200 403 403 403 403",
        "delete_comment":             "401 200 403 404 404 404",
        "delete_post":                "401 200 403 404 404 404",
        "delete_story":               "401 200 403 404 404 404",
        "approve_follow_request":     "401 200 404 404 404 404",
    },
}
# fmt: on


def _cases(table: dict[str, dict[str, str]]) -> list[Any]:
    cases = []
    for owner, rows in table.items():
        for path, row in rows.items():
            expected = row.split()
            assert len(expected) == len(ACTORS), path
            for actor, outcome in zip(ACTORS, expected, strict=True):
                if outcome != "-":
                    cases.append(
                        pytest.param(owner, path, actor, outcome, id=f"{owner}-{path}-{actor}")
                    )
    return cases


READ_CASES = _cases(READS)
WRITE_CASES = _cases(WRITES)


def test_every_read_and_write_path_is_in_the_tables() -> None:
    for table, paths in ((READS, READ_PATHS), (WRITES, WRITE_PATHS)):
        for rows in table.values():
            assert set(rows) == set(paths)


@pytest.fixture(scope="module")
async def worlds(
    running_mesh: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, World]]]:
    tmp = tmp_path_factory.mktemp("authz")
    async with httpx.AsyncClient(base_url=running_mesh.edge_url, timeout=60) as client:
        built = {
            "public": await build_world(client, private=False, tmp=tmp),
            "private": await build_world(client, private=True, tmp=tmp),
        }
        yield client, built


def outcome(status: int, present: bool) -> str:
    """Name what a read answered as the tables do."""
    if status != 200:
        return str(status)
    return "shown" if present else "hidden"


@pytest.mark.parametrize(("owner", "path", "actor", "expected"), READ_CASES)
async def test_read(
    worlds: tuple[httpx.AsyncClient, dict[str, World]],
    owner: str,
    path: str,
    actor: str,
    expected: str,
) -> None:
    client, built = worlds
    world = built[owner]
    assert outcome(*await READ_PATHS[path](client, world.actors[actor], world)) == expected


@pytest.mark.parametrize(("owner", "path", "actor", "expected"), WRITE_CASES)
async def test_write(
    worlds: tuple[httpx.AsyncClient, dict[str, World]],
    owner: str,
    path: str,
    actor: str,
    expected: str,
) -> None:
    client, built = worlds
    world = built[owner]
    who = await make_actor(client, actor, world)
    assert str(await WRITE_PATHS[path](client, who, world)) == expected
