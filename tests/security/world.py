"""A small world of accounts and content for the authorization and block matrices.

An owner (public or private) has a post (hashtag, place, caption mentions, a comment, a like),
a story someone viewed, a reel, a conversation with a follower, someone they follow, and around
them the actors of the matrix: a follower, a stranger, a pending follow requester (private owner
only) and an account the owner blocked after it had followed, liked, commented and saved.

Every read path is a function `(client, viewer, world) -> (status, present)`: the HTTP status the
viewer gets, and whether the world's object the path is about appears in a 200 answer (ids are
unique, so looking for them in the body is exact).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg

from tests.e2e.conftest import Account, register, send_upload_bytes, upload_photo
from tests.media_svc import corpus
from tests.security.conftest import png

ANONYMOUS = None


@dataclass
class World:
    """What one owner has, and the accounts around it."""

    owner: Account
    private: bool
    mark: str  # unique in the session: hashtag, place name and caption word
    lat: float
    lng: float
    actors: dict[str, Account | None] = field(default_factory=dict)
    post_id: str = ""
    media_id: str = ""
    thumbnail: str = ""  # the post's thumbnail URL
    upload_id: str = ""
    comment_id: str = ""  # the follower's comment on the post
    owner_comment_id: str = ""
    story_id: str = ""
    reel_id: str = ""
    conversation_id: str = ""  # the owner and the follower
    followed: Account | None = None  # someone the owner follows

    @property
    def follower(self) -> Account:
        who = self.actors["follower"]
        assert who is not None
        return who


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.request.url, response.text)
    return dict(response.json())


async def _wait(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def upload_video(client: httpx.AsyncClient, who: Account, clip: bytes) -> str:
    """Upload a video and wait until it is processed; return its media id."""
    created = _ok(
        await client.post(
            "/api/v1/uploads",
            json={"contentType": "video/mp4", "sizeBytes": len(clip)},
            headers=who.headers,
        )
    )
    assert (await send_upload_bytes(client, who, created, clip)).status_code == 200
    upload_id = created["uploadId"]
    _ok(await client.post(f"/api/v1/uploads/{upload_id}/complete", json={}, headers=who.headers))
    state: dict[str, Any] = {}

    async def ready() -> bool:
        state.update(_ok(await client.get(f"/api/v1/uploads/{upload_id}", headers=who.headers)))
        assert state["status"] != "UPLOAD_STATUS_FAILED", state
        return bool(state["status"] == "UPLOAD_STATUS_READY")

    await _wait(ready, "the video was not processed", 90)
    return str(state["mediaId"])


async def make_post(
    client: httpx.AsyncClient, who: Account, caption: str, *, location: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Upload a photo and post it."""
    media_id = await upload_photo(client, who, png())
    body: dict[str, Any] = {"mediaIds": [media_id], "caption": caption}
    if location:
        body["location"] = location
    return _ok(await client.post("/api/v1/posts", json=body, headers=who.headers))


async def follow(client: httpx.AsyncClient, who: Account, whom: Account, *, approve: bool) -> None:
    """`who` follows `whom` (approved by `whom` when it is private and `approve` is set)."""
    _ok(await client.post(f"/api/v1/users/{whom.user_id}/follow", headers=who.headers))
    if approve:
        _ok(
            await client.post(
                f"/api/v1/follow-requests/{who.user_id}/approve", headers=whom.headers
            )
        )


async def build_world(
    client: httpx.AsyncClient,
    *,
    private: bool,
    tmp: Path,
    owner: Account | None = None,
    fan: Account | None = None,
) -> World:
    """Make an owner, its actors and content; the block comes last, after the blocked account
    followed, liked, commented and saved.

    With `fan`, the world has only the owner and that one follower (the block matrix blocks
    them later, either way round)."""
    mark = "w" + uuid.uuid4().hex[:10]
    owner = owner or await register(client, "owner")
    lat = float(uuid.uuid4().int % 120 - 60) + 0.25
    world = World(owner=owner, private=private, mark=mark, lat=lat, lng=20.5)
    world.actors = {"anonymous": ANONYMOUS, "owner": owner}
    if fan is not None:
        world.actors["follower"] = fan
    else:
        for kind in ("follower", "stranger", "blocked") + (("pending",) if private else ()):
            world.actors[kind] = await register(client, kind)
    if private:
        _ok(
            await client.put(
                f"/api/v1/users/{owner.user_id}", json={"isPrivate": True}, headers=owner.headers
            )
        )
    world.followed = await register(client, "followed")
    await follow(client, owner, world.followed, approve=False)
    follower, blocked = world.follower, world.actors.get("blocked")
    fans = [a for a in (follower, blocked) if a is not None]
    for someone in fans:
        await follow(client, someone, owner, approve=private)
    pending = world.actors.get("pending")
    if pending is not None:
        _ok(await client.post(f"/api/v1/users/{owner.user_id}/follow", headers=pending.headers))

    mentions = " ".join(f"@{a.username}" for a in world.actors.values() if a and a is not owner)
    post = await make_post(
        client,
        owner,
        f"{mark} #{mark} {mentions}",
        location={"name": f"{mark} Place", "lat": world.lat, "lng": world.lng},
    )
    world.post_id = post["postId"]
    world.media_id = post["media"][0]["mediaId"]
    world.thumbnail = post["media"][0]["variants"]["thumbnail"]
    world.owner_comment_id = _ok(
        await client.post(
            f"/api/v1/posts/{world.post_id}/comments", json={"text": "mine"}, headers=owner.headers
        )
    )["commentId"]
    for someone in fans:
        _ok(await client.post(f"/api/v1/posts/{world.post_id}/like", headers=someone.headers))
        _ok(await client.post(f"/api/v1/posts/{world.post_id}/save", headers=someone.headers))
        comment = _ok(
            await client.post(
                f"/api/v1/posts/{world.post_id}/comments",
                json={"text": f"nice from {someone.username}"},
                headers=someone.headers,
            )
        )
        if someone is follower:
            world.comment_id = comment["commentId"]
    stranger = world.actors.get("stranger")
    if stranger is not None and not private:
        _ok(await client.post(f"/api/v1/posts/{world.post_id}/save", headers=stranger.headers))

    upload = _ok(
        await client.post(
            "/api/v1/uploads",
            json={"contentType": "image/png", "sizeBytes": 10},
            headers=owner.headers,
        )
    )
    world.upload_id = upload["uploadId"]  # an upload of the owner's, never completed

    story_media = await upload_photo(client, owner, png((90, 160)))
    world.story_id = _ok(
        await client.post("/api/v1/stories", json={"mediaId": story_media}, headers=owner.headers)
    )["storyId"]
    for someone in fans:
        _ok(await client.post(f"/api/v1/stories/{world.story_id}/seen", headers=someone.headers))

    clip = corpus.video(
        str(imageio_ffmpeg.get_ffmpeg_exe()),
        tmp / f"{mark}.mp4",
        seconds=3.2,
        size="90x160",
        rate=10,
    )
    reel_media = await upload_video(client, owner, clip)
    world.reel_id = _ok(
        await client.post(
            "/api/v1/reels",
            json={"mediaId": reel_media, "caption": f"reel {mark}"},
            headers=owner.headers,
        )
    )["postId"]

    world.conversation_id = _ok(
        await client.post(
            "/api/v1/conversations",
            json={"participantIds": [follower.user_id]},
            headers=owner.headers,
        )
    )["conversationId"]
    _ok(
        await client.post(
            f"/api/v1/conversations/{world.conversation_id}/messages",
            json={"clientMessageId": f"m-{mark}", "text": f"hi {mark}"},
            headers=owner.headers,
        )
    )

    # The follower's home feed has the post (fan-out goes through the bus).
    async def in_feed() -> bool:
        answer = await client.get("/api/v1/feed", headers=follower.headers)
        return answer.status_code == 200 and world.post_id in answer.text

    await _wait(in_feed, "the post never reached the follower's feed")
    if blocked is not None:
        _ok(await client.post(f"/api/v1/users/{blocked.user_id}/block", headers=owner.headers))
    return world


# ---- read paths -------------------------------------------------------------------------------

Outcome = tuple[int, bool]
ReadPath = Callable[[httpx.AsyncClient, Account | None, World], Awaitable[Outcome]]


def _headers(viewer: Account | None) -> dict[str, str]:
    return viewer.headers if viewer is not None else {}


async def _get(
    client: httpx.AsyncClient, viewer: Account | None, url: str, needle: str, **params: Any
) -> Outcome:
    answer = await client.get(url, params=params or None, headers=_headers(viewer))
    return answer.status_code, answer.status_code == 200 and needle in answer.text


def _path(url: str, needle: str, **params: str) -> ReadPath:
    """A read path: GET `url` (formatted with the world), looking for `needle` (an attribute of
    the world, or of the world's owner/follower as `owner.user_id`)."""

    def value(world: World, name: str) -> str:
        obj: Any = world
        for part in name.split("."):
            obj = getattr(obj, part)
        return str(obj)

    async def read(client: httpx.AsyncClient, viewer: Account | None, world: World) -> Outcome:
        filled = url.format(w=world)
        query = {k: v.format(w=world) for k, v in params.items()}
        return await _get(client, viewer, filled, value(world, needle), **query)

    return read


READ_PATHS: dict[str, ReadPath] = {
    "profile": _path("/api/v1/users/{w.owner.user_id}", "owner.user_id"),
    "profile_by_username": _path("/api/v1/users/by-username/{w.owner.username}", "owner.user_id"),
    "relationship": _path("/api/v1/users/{w.owner.user_id}/relationship", "owner.user_id"),
    "grid": _path("/api/v1/users/{w.owner.user_id}/posts", "post_id"),
    "post": _path("/api/v1/posts/{w.post_id}", "post_id"),
    "comments": _path("/api/v1/posts/{w.post_id}/comments", "comment_id"),
    "likes": _path("/api/v1/posts/{w.post_id}/likes", "follower.user_id"),
    "followers": _path("/api/v1/users/{w.owner.user_id}/followers", "follower.user_id"),
    "following": _path("/api/v1/users/{w.owner.user_id}/following", "followed.user_id"),
    "stories": _path("/api/v1/users/{w.owner.user_id}/stories", "story_id"),
    "story_tray": _path("/api/v1/feed/stories", "story_id"),
    "story_viewers": _path("/api/v1/stories/{w.story_id}/viewers", "follower.user_id"),
    "saved": _path("/api/v1/saved", "post_id"),
    "home_feed": _path("/api/v1/feed", "post_id"),
    "search_users": _path("/api/v1/search/users", "owner.user_id", q="{w.owner.username}"),
    "search_tags": _path("/api/v1/search/hashtags", "mark", q="{w.mark}"),
    "search_places": _path("/api/v1/search/places", "mark", q="{w.mark}"),
    "search_posts": _path("/api/v1/search/posts", "post_id", q="{w.mark}"),
    "hashtag_page": _path("/api/v1/hashtags/{w.mark}/posts", "post_id"),
    "place_page": _path("/api/v1/places/nearby", "post_id", lat="{w.lat}", lng="{w.lng}"),
    "explore": _path("/api/v1/explore", "post_id"),
    "reels_of_user": _path("/api/v1/users/{w.owner.user_id}/reels", "reel_id"),
    "reels_tab": _path("/api/v1/reels/feed", "reel_id"),
    "notifications": _path("/api/v1/notifications", "thumbnail"),
    "conversations": _path("/api/v1/conversations", "conversation_id"),
    "conversation": _path("/api/v1/conversations/{w.conversation_id}", "conversation_id"),
    "messages": _path("/api/v1/conversations/{w.conversation_id}/messages", "mark"),
    "media": _path("/api/v1/media/{w.media_id}", "media_id"),
    "upload": _path("/api/v1/uploads/{w.upload_id}", "upload_id"),
}


# ---- write paths ------------------------------------------------------------------------------


async def make_actor(client: httpx.AsyncClient, kind: str, world: World) -> Account | None:
    """Return a fresh account standing to the world's owner as `kind` (so a write case changes
    nothing another case reads)."""
    if kind == "anonymous":
        return None
    if kind == "owner":
        return world.owner
    who = await register(client, kind)
    if kind in ("follower", "blocked"):
        await follow(client, who, world.owner, approve=world.private)
    if kind == "pending":
        _ok(await client.post(f"/api/v1/users/{world.owner.user_id}/follow", headers=who.headers))
    if kind == "blocked":
        _ok(await client.post(f"/api/v1/users/{who.user_id}/block", headers=world.owner.headers))
    return who


WritePath = Callable[[httpx.AsyncClient, Account | None, World], Awaitable[int]]


async def _status(response: Awaitable[httpx.Response]) -> int:
    return (await response).status_code


async def _message_owner(client: httpx.AsyncClient, who: Account | None, w: World) -> int:
    created = await client.post(
        "/api/v1/conversations", json={"participantIds": [w.owner.user_id]}, headers=_headers(who)
    )
    if created.status_code != 200:
        return created.status_code
    conversation = created.json()["conversationId"]
    return await _status(
        client.post(
            f"/api/v1/conversations/{conversation}/messages",
            json={"clientMessageId": uuid.uuid4().hex, "text": "hello"},
            headers=_headers(who),
        )
    )


async def _delete_new_comment(client: httpx.AsyncClient, who: Account | None, w: World) -> int:
    comment = _ok(
        await client.post(
            f"/api/v1/posts/{w.post_id}/comments",
            json={"text": "to go"},
            headers=w.follower.headers,
        )
    )["commentId"]
    return await _status(client.delete(f"/api/v1/comments/{comment}", headers=_headers(who)))


async def _delete_new_post(client: httpx.AsyncClient, who: Account | None, w: World) -> int:
    post = (await make_post(client, w.owner, "to go"))["postId"]
    return await _status(client.delete(f"/api/v1/posts/{post}", headers=_headers(who)))


async def _delete_new_story(client: httpx.AsyncClient, who: Account | None, w: World) -> int:
    media = await upload_photo(client, w.owner, png((90, 160)))
    story = _ok(
        await client.post("/api/v1/stories", json={"mediaId": media}, headers=w.owner.headers)
    )["storyId"]
    return await _status(client.delete(f"/api/v1/stories/{story}", headers=_headers(who)))


async def _approve_new_request(client: httpx.AsyncClient, who: Account | None, w: World) -> int:
    asker = await make_actor(client, "pending", w)
    assert asker is not None
    return await _status(
        client.post(f"/api/v1/follow-requests/{asker.user_id}/approve", headers=_headers(who))
    )


def _write(method: str, url: str, body: dict[str, Any] | None = None) -> WritePath:
    async def write(client: httpx.AsyncClient, who: Account | None, w: World) -> int:
        answer = await client.request(method, url.format(w=w), json=body, headers=_headers(who))
        return answer.status_code

    return write


WRITE_PATHS: dict[str, WritePath] = {
    "like": _write("POST", "/api/v1/posts/{w.post_id}/like"),
    "unlike": _write("DELETE", "/api/v1/posts/{w.post_id}/like"),
    "comment": _write("POST", "/api/v1/posts/{w.post_id}/comments", {"text": "hello"}),
    "save": _write("POST", "/api/v1/posts/{w.post_id}/save"),
    "unsave": _write("DELETE", "/api/v1/posts/{w.post_id}/save"),
    "follow": _write("POST", "/api/v1/users/{w.owner.user_id}/follow"),
    "story_view": _write("POST", "/api/v1/stories/{w.story_id}/seen"),
    "reel_view": _write("POST", "/api/v1/reels/{w.reel_id}/view"),
    "message_owner": _message_owner,
    "message_their_conversation": _write(
        "POST",
        "/api/v1/conversations/{w.conversation_id}/messages",
        {"clientMessageId": "x1", "text": "let me in"},
    ),
    "update_profile": _write("PUT", "/api/v1/users/{w.owner.user_id}", {"bio": "mine now"}),
    "delete_comment": _delete_new_comment,
    "delete_post": _delete_new_post,
    "delete_story": _delete_new_story,
    "approve_follow_request": _approve_new_request,
}
