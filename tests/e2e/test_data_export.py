"""Download your data, through the HTTP edge: an account with a post (caption, tags, a place), a
story, a comment, a like, a save, follows both ways and a message asks for its export, waits
until it is ready and downloads the ZIP from its time-limited URL: JSON files of everything it
holds and its media at full size. Only the owner may; a tampered URL gets nothing."""

from __future__ import annotations

import asyncio
import io
import json
import random
import time
import zipfile
from typing import Any

import httpx
from PIL import Image

from tests.e2e.conftest import register, upload_photo


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (random.randrange(256), 30, 90)).save(out, format="PNG")
    return out.getvalue()


async def _ok(response: Any) -> Any:
    answer = await response
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_an_account_downloads_everything_it_holds(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    tag = f"mine{random.randrange(10**9)}"
    photo = await upload_photo(client, alice, _png((400, 300)))
    post = await _ok(
        client.post(
            "/api/v1/posts",
            json={
                "mediaIds": [photo],
                "caption": f"Harbour #{tag} with @{bob.username}",
                "location": {"name": f"Harbour {tag}", "lat": 10.5, "lng": 20.25},
            },
            headers=alice.headers,
        )
    )
    story_media = await upload_photo(client, alice, _png((360, 640)))
    await _ok(client.post("/api/v1/stories", json={"mediaId": story_media}, headers=alice.headers))
    bobs = await _ok(
        client.post(
            "/api/v1/posts",
            json={"mediaIds": [await upload_photo(client, bob, _png((200, 200)))]},
            headers=bob.headers,
        )
    )
    await _ok(client.post(f"/api/v1/posts/{bobs['postId']}/like", headers=alice.headers))
    await _ok(client.post(f"/api/v1/posts/{bobs['postId']}/save", headers=alice.headers))
    await _ok(
        client.post(
            f"/api/v1/posts/{bobs['postId']}/comments",
            json={"text": "what a view"},
            headers=alice.headers,
        )
    )
    await _ok(client.post(f"/api/v1/users/{bob.user_id}/follow", headers=alice.headers))
    await _ok(client.post(f"/api/v1/users/{alice.user_id}/follow", headers=bob.headers))
    conversation = await _ok(
        client.post(
            "/api/v1/conversations", json={"participantIds": [bob.user_id]}, headers=alice.headers
        )
    )
    await _ok(
        client.post(
            f"/api/v1/conversations/{conversation['conversationId']}/messages",
            json={"text": "hello bob", "clientMessageId": f"m{tag}"},
            headers=alice.headers,
        )
    )

    export_url = f"/api/v1/users/{alice.user_id}/export"
    none_yet = await client.get(export_url, headers=alice.headers)
    assert none_yet.status_code == 404
    refused = await client.post(export_url, headers=bob.headers)
    assert refused.status_code == 403
    started = await _ok(client.post(export_url, headers=alice.headers))
    assert started["state"] in ("DATA_EXPORT_STATE_BUILDING", "DATA_EXPORT_STATE_READY")
    assert (await client.get(export_url, headers=bob.headers)).status_code == 403

    deadline = time.monotonic() + 120
    while True:
        export = await _ok(client.get(export_url, headers=alice.headers))
        assert export["exportId"] == started["exportId"]
        assert export["state"] != "DATA_EXPORT_STATE_FAILED", export
        if export["state"] == "DATA_EXPORT_STATE_READY":
            break
        assert time.monotonic() < deadline, export
        await asyncio.sleep(0.2)
    assert export["downloadUrl"] and export["urlExpiresAt"] and export["expiresAt"]

    downloaded = await client.get(export["downloadUrl"])
    assert downloaded.status_code == 200, downloaded.text
    assert int(export["sizeBytes"]) == len(downloaded.content)
    archive = zipfile.ZipFile(io.BytesIO(downloaded.content))
    names = set(archive.namelist())
    expected = {
        "profile.json",
        "posts.json",
        "comments.json",
        "likes.json",
        "saves.json",
        "following.json",
        "followers.json",
        "stories.json",
        "messages.json",
        f"media/{photo}.jpg",
        f"media/{story_media}.jpg",
    }
    assert expected <= names, names

    def read(name: str) -> Any:
        return json.loads(archive.read(name))

    assert read("profile.json")["username"] == alice.username
    [exported] = read("posts.json")
    assert exported["postId"] == post["postId"] and exported["hashtags"] == [tag]
    assert exported["caption"].startswith("Harbour") and exported["mentions"] == [bob.username]
    assert exported["place"] == {"name": f"Harbour {tag}", "lat": 10.5, "lng": 20.25}
    assert exported["mediaIds"] == [photo]
    assert [c["text"] for c in read("comments.json")] == ["what a view"]
    assert read("likes.json") == [{"postId": bobs["postId"]}]
    assert read("saves.json") == [{"postId": bobs["postId"]}]
    assert [(f["userId"], f["username"]) for f in read("following.json")] == [
        (bob.user_id, bob.username)
    ]
    assert [f["userId"] for f in read("followers.json")] == [bob.user_id]
    assert [s["mediaId"] for s in read("stories.json")] == [story_media]
    assert [m["text"] for m in read("messages.json")] == ["hello bob"]
    # The media at full size: the kept original of the 400x300 upload.
    with Image.open(io.BytesIO(archive.read(f"media/{photo}.jpg"))) as image:
        assert image.size == (400, 300)

    # Only the signed URL opens it.
    if export["downloadUrl"].startswith(str(client.base_url)):
        tampered = export["downloadUrl"].replace("signature=", "signature=0")
        assert (await client.get(tampered)).status_code == 404
        unsigned = export["downloadUrl"].split("?")[0]
        assert (await client.get(unsigned)).status_code == 404
