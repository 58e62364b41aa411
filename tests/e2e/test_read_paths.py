"""The profile grid, single posts and explore served from feed_svc's read model, through the HTTP
edge as a client sees them: every change a reader must see holds on their very next read of every
path (deletions, blocks, private switches, unfollows, likes, profile changes), deleted media
within the event delay, and the same answers after the read model is lost."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc
import httpx

from mesh.launcher import RunningMesh
from shutter.media.v1 import media_service_pb2, media_service_pb2_grpc
from tests.e2e.conftest import Account, register
from tests.e2e.test_feed import EVENTUAL_SECONDS, _lose_the_cache
from tests.e2e.test_posts import _reason
from tests.e2e.test_read_model import _create, _following
from tests.e2e.test_read_model import _posts as _home
from tests.identity import service_md


async def _grid(
    client: httpx.AsyncClient, who: Account, owner: Account, **params: str
) -> httpx.Response:
    return await client.get(
        f"/api/v1/users/{owner.user_id}/posts", params=params, headers=who.headers
    )


async def _grid_ids(client: httpx.AsyncClient, who: Account, owner: Account) -> list[str]:
    response = await _grid(client, who, owner, pageSize="50")
    assert response.status_code == 200, response.text
    return [p["postId"] for p in response.json().get("posts", [])]


async def _post(client: httpx.AsyncClient, who: Account, post_id: str) -> httpx.Response:
    return await client.get(f"/api/v1/posts/{post_id}", headers=who.headers)


async def _explore(client: httpx.AsyncClient, who: Account) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/explore", params={"pageSize": "50"}, headers=who.headers)
    assert response.status_code == 200, response.text
    return list(response.json().get("posts", []))


async def _in_explore(client: httpx.AsyncClient, who: Account, post_id: str) -> dict[str, Any]:
    """Wait until a post reaches the viewer's explore page (recorded by the bus), return it."""
    deadline = time.monotonic() + EVENTUAL_SECONDS
    while True:
        found = [p for p in await _explore(client, who) if p["postId"] == post_id]
        if found:
            return found[0]
        assert time.monotonic() < deadline, "the post never reached explore"
        await asyncio.sleep(0.1)


async def _every_path(
    client: httpx.AsyncClient, reader: Account, author: Account, post_id: str
) -> dict[str, Any]:
    """Return the post as each path serves it to the reader (None where it is not served), and
    the grid's and the post's status codes."""
    grid = await _grid(client, reader, author, pageSize="50")
    single = await _post(client, reader, post_id)
    in_grid = list(grid.json().get("posts", [])) if grid.status_code == 200 else []
    return {
        "grid_status": grid.status_code,
        "grid": next((p for p in in_grid if p["postId"] == post_id), None),
        "post_status": single.status_code,
        "post": single.json() if single.status_code == 200 else None,
        "explore": next(
            (p for p in await _explore(client, reader) if p["postId"] == post_id), None
        ),
        "home": next((p for p in await _home(client, reader) if p["postId"] == post_id), None),
    }


async def test_a_block_takes_effect_on_the_next_read_of_every_path(
    client: httpx.AsyncClient,
) -> None:
    author, reader, follower = (
        await register(client, "ba"),
        await register(client, "br"),
        await register(client, "bf"),
    )
    await _following(client, author, follower)
    post = await _create(client, author, "before the block")
    await _in_explore(client, reader, post)
    # Warm every cache: the reader's relationship to the author, the grid, the post.
    assert post in await _grid_ids(client, reader, author)
    assert (await _post(client, reader, post)).status_code == 200
    blocked = await client.post(f"/api/v1/users/{reader.user_id}/block", headers=author.headers)
    assert blocked.status_code == 200, blocked.text
    seen = await _every_path(client, reader, author, post)
    assert seen["grid_status"] == 404 and seen["post_status"] == 404
    assert seen["explore"] is None and seen["home"] is None
    # The other way round: the follower blocks the author, whose posts they read before.
    while post not in [p["postId"] for p in await _home(client, follower)]:
        await asyncio.sleep(0.1)
    assert post in await _grid_ids(client, follower, author)
    own_block = await client.post(f"/api/v1/users/{author.user_id}/block", headers=follower.headers)
    assert own_block.status_code == 200, own_block.text
    seen = await _every_path(client, follower, author, post)
    assert seen["grid_status"] == 404 and seen["post_status"] == 404
    assert seen["explore"] is None and seen["home"] is None
    # Lifting it shows the posts again on the next read.
    lifted = await client.delete(f"/api/v1/users/{reader.user_id}/block", headers=author.headers)
    assert lifted.status_code == 200, lifted.text
    assert post in await _grid_ids(client, reader, author)
    assert (await _post(client, reader, post)).status_code == 200


async def test_privacy_is_never_a_stale_allow(client: httpx.AsyncClient) -> None:
    owner, stranger, friend = (
        await register(client, "po"),
        await register(client, "ps"),
        await register(client, "pf"),
    )
    post = await _create(client, owner, "public for now")
    assert post in await _grid_ids(client, stranger, owner)  # warm, allowed
    assert (await _post(client, stranger, post)).status_code == 200
    switched = await client.put(
        f"/api/v1/users/{owner.user_id}", json={"isPrivate": True}, headers=owner.headers
    )
    assert switched.status_code == 200, switched.text
    refused = await _grid(client, stranger, owner)
    assert refused.status_code == 403 and _reason(refused) == "PRIVATE_ACCOUNT"
    assert (await _post(client, stranger, post)).status_code == 404
    assert post not in [p["postId"] for p in await _explore(client, stranger)]
    # A request is not an approval; the approval is, on the next read.
    asked = await client.post(f"/api/v1/users/{owner.user_id}/follow", headers=friend.headers)
    assert asked.status_code == 200, asked.text
    assert (await _grid(client, friend, owner)).status_code == 403
    approved = await client.post(
        f"/api/v1/follow-requests/{friend.user_id}/approve", headers=owner.headers
    )
    assert approved.status_code == 200, approved.text
    assert await _grid_ids(client, friend, owner) == [post]
    assert (await _post(client, friend, post)).status_code == 200
    # Unfollowing a private account: denied on the next read.
    left = await client.delete(f"/api/v1/users/{owner.user_id}/follow", headers=friend.headers)
    assert left.status_code == 200, left.text
    assert (await _grid(client, friend, owner)).status_code == 403
    assert (await _post(client, friend, post)).status_code == 404
    # The owner always sees their own.
    assert await _grid_ids(client, owner, owner) == [post]


async def test_a_deleted_post_is_gone_from_every_path_on_the_next_read(
    client: httpx.AsyncClient,
) -> None:
    author, reader, stranger = (
        await register(client, "da"),
        await register(client, "dr"),
        await register(client, "ds"),
    )
    await _following(client, author, reader)
    kept = await _create(client, author, "kept")
    doomed = await _create(client, author, "doomed")
    await _in_explore(client, stranger, doomed)  # explore shows accounts one does not follow
    while doomed not in [p["postId"] for p in await _home(client, reader)]:
        await asyncio.sleep(0.1)
    assert await _grid_ids(client, reader, author) == [doomed, kept]
    assert await _grid_ids(client, author, author) == [doomed, kept]
    deleted = await client.delete(f"/api/v1/posts/{doomed}", headers=author.headers)
    assert deleted.status_code == 200, deleted.text
    for who in (reader, stranger, author):
        seen = await _every_path(client, who, author, doomed)
        assert seen["grid"] is None and seen["post_status"] == 404
        assert seen["explore"] is None and seen["home"] is None
        assert await _grid_ids(client, who, author) == [kept]


async def test_likes_and_profile_changes_show_on_the_next_read(client: httpx.AsyncClient) -> None:
    author, reader = await register(client, "la"), await register(client, "lr")
    post = await _create(client, author, "like me")
    await _in_explore(client, reader, post)
    liked = await client.post(f"/api/v1/posts/{post}/like", headers=reader.headers)
    assert liked.status_code == 200, liked.text
    grid = (await _grid(client, reader, author)).json()["posts"][0]
    single = (await _post(client, reader, post)).json()
    explored = await _in_explore(client, reader, post)
    for served in (grid, single, explored):
        assert served["likeCount"] == "1" and served.get("hasLiked") is True
    # Another reader sees the count, not the flag.
    other = await register(client, "lo")
    assert (await _post(client, other, post)).json().get("hasLiked") is not True
    unliked = await client.delete(f"/api/v1/posts/{post}/like", headers=reader.headers)
    assert unliked.status_code == 200, unliked.text
    single = (await _post(client, reader, post)).json()
    assert single.get("likeCount", "0") == "0" and single.get("hasLiked") is not True
    # A new name: user_svc applies it in feed_svc before answering, so the next read shows it.
    renamed = await client.put(
        f"/api/v1/users/{author.user_id}", json={"fullName": "New Name"}, headers=author.headers
    )
    assert renamed.status_code == 200, renamed.text
    assert (await _grid(client, reader, author)).json()["posts"][0]["user"][
        "fullName"
    ] == "New Name"
    assert (await _post(client, reader, post)).json()["user"]["fullName"] == "New Name"
    assert (await _in_explore(client, reader, post))["user"]["fullName"] == "New Name"


async def test_grid_pages_hold_when_posts_arrive_between_pages(client: httpx.AsyncClient) -> None:
    author, reader = await register(client, "ga"), await register(client, "gr")
    made = [await _create(client, author, f"post {i}") for i in range(5)]
    first = await _grid(client, reader, author, pageSize="2")
    assert first.status_code == 200, first.text
    page = first.json()
    assert [p["postId"] for p in page["posts"]] == [made[4], made[3]]
    newer = await _create(client, author, "arrived between pages")
    seen: list[str] = [p["postId"] for p in page["posts"]]
    token = page["nextPageToken"]
    while token:
        response = await _grid(client, reader, author, pageSize="2", pageToken=token)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [p["postId"] for p in page["posts"]]
        token = page.get("nextPageToken", "")
    assert seen == made[::-1]  # no repeats, no gaps, the newer post not pushed in
    assert (await _grid_ids(client, reader, author))[0] == newer
    refused = await _grid(client, reader, reader, pageToken=first.json()["nextPageToken"])
    assert refused.status_code == 400


async def test_deleted_media_disappears_from_served_posts(
    client: httpx.AsyncClient, running_mesh: RunningMesh
) -> None:
    author, reader = await register(client, "ma"), await register(client, "mr")
    post = await _create(client, author, "with a photo")
    single = (await _post(client, reader, post)).json()
    media_id = single["media"][0]["mediaId"]
    assert (await _grid(client, reader, author)).json()["posts"][0]["media"]
    async with grpc.aio.insecure_channel(running_mesh.addresses["media_svc"]) as channel:
        await media_service_pb2_grpc.MediaServiceStub(channel).DeleteMedia(
            media_service_pb2.DeleteMediaRequest(media_id=int(media_id)),
            metadata=(*service_md(), ("authorization", f"Bearer {author.access_token}")),
        )
    deadline = time.monotonic() + EVENTUAL_SECONDS  # MediaDeleted: within the bus delay
    while (await _post(client, reader, post)).json().get("media"):
        assert time.monotonic() < deadline, "the deleted media is still served"
        await asyncio.sleep(0.1)
    assert not (await _grid(client, reader, author)).json()["posts"][0].get("media")


async def test_every_path_reads_the_same_after_the_read_model_is_lost(
    client: httpx.AsyncClient,
) -> None:
    author, reader, owner = (
        await register(client, "ca"),
        await register(client, "cr"),
        await register(client, "co"),
    )
    posts = [await _create(client, author, f"cached {i}") for i in range(3)]
    hidden = await _create(client, owner, "private soon")
    switched = await client.put(
        f"/api/v1/users/{owner.user_id}", json={"isPrivate": True}, headers=owner.headers
    )
    assert switched.status_code == 200, switched.text
    liked = await client.post(f"/api/v1/posts/{posts[0]}/like", headers=reader.headers)
    assert liked.status_code == 200, liked.text
    await _in_explore(client, reader, posts[2])
    blocker = await register(client, "cb")
    blocked_post = await _create(client, blocker, "blocked")
    blocking = await client.post(f"/api/v1/users/{reader.user_id}/block", headers=blocker.headers)
    assert blocking.status_code == 200, blocking.text

    async def everything() -> list[Any]:
        return [
            (await _grid(client, reader, author, pageSize="2")).json(),
            (await _post(client, reader, posts[0])).json(),
            (await _grid(client, reader, owner)).status_code,
            (await _post(client, reader, hidden)).status_code,
            (await _grid(client, reader, blocker)).status_code,
            (await _post(client, reader, blocked_post)).status_code,
            sorted(p["postId"] for p in await _explore(client, reader) if p["postId"] in posts),
        ]

    before = await everything()
    assert before[1]["likeCount"] == "1" and before[1]["hasLiked"] is True
    assert before[2:6] == [403, 404, 404, 404]
    await _lose_the_cache()
    assert await everything() == before
    assert await everything() == before  # and again, warm
