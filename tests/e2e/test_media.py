"""Uploads and media through the HTTP edge, as a mobile or web client uses them.

The REST routes come from media_svc's annotations, except the two byte-streaming ones the edge
writes by hand on top of media_svc's RPCs: `PUT /api/v1/uploads/{uploadId}` (into Upload) and
the `/media/{key}` origin (from ReadBlob).
"""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image

from tests.e2e.conftest import register, send_upload_bytes
from tests.media_svc import corpus

READY_TIMEOUT_SECONDS = 60


def _reason(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return str(detail["reason"])
    return ""


async def _create(client: httpx.AsyncClient, headers: dict[str, str], data: bytes) -> Any:
    response = await client.post(
        "/api/v1/uploads",
        json={"contentType": "image/jpeg", "sizeBytes": str(len(data))},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_photo_from_upload_to_served_variants(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    data = corpus.jpeg((2000, 1500), gps=True, orientation=6)
    upload = await _create(client, alice.headers, data)
    assert set(upload) >= {"uploadId", "mediaId", "uploadUrl", "expiresAt", "status"}
    assert upload["status"] == "UPLOAD_STATUS_PENDING"
    # Through the edge on embedded defaults; a presigned URL when an object store is configured.
    via_edge = upload["uploadUrl"].endswith(f"/api/v1/uploads/{upload['uploadId']}")
    assert via_edge or "X-Amz-Signature=" in upload["uploadUrl"]

    put = await send_upload_bytes(client, alice, upload, data)
    assert put.status_code == 200, put.text
    completed = await client.post(
        f"/api/v1/uploads/{upload['uploadId']}/complete",
        json={"filter": "clarendon"},
        headers=alice.headers,
    )
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] in ("UPLOAD_STATUS_PROCESSING", "UPLOAD_STATUS_READY")

    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    while True:
        polled = await client.get(f"/api/v1/uploads/{upload['uploadId']}", headers=alice.headers)
        assert polled.status_code == 200, polled.text
        state = polled.json()
        if state["status"] != "UPLOAD_STATUS_PROCESSING":
            break
        assert asyncio.get_running_loop().time() < deadline, "processing never finished"
        await asyncio.sleep(0.1)
    assert state["status"] == "UPLOAD_STATUS_READY", state.get("failureReason")
    media = state["media"]
    assert media["mediaId"] == upload["mediaId"] and media["type"] == "MEDIA_TYPE_PHOTO"
    assert (media["width"], media["height"]) == (1080, 1350)  # rotated upright, clamped to 4:5

    got = await client.get(f"/api/v1/media/{upload['mediaId']}", headers=alice.headers)
    assert got.status_code == 200 and got.json()["variants"] == media["variants"]
    bob = await register(client, "bob")
    hidden = await client.get(f"/api/v1/media/{upload['mediaId']}", headers=bob.headers)
    assert hidden.status_code == 404

    thumbnail = await client.get(urlsplit(media["variants"]["thumbnail"]).path)
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(thumbnail.content))
    assert image.size == (150, 150)
    corpus.assert_clean(thumbnail.content, name="thumbnail")


async def test_upload_errors_through_the_edge(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    too_big = await client.post(
        "/api/v1/uploads",
        json={"contentType": "image/png", "sizeBytes": str(15 * 1024 * 1024 + 1)},
        headers=alice.headers,
    )
    assert too_big.status_code == 413 and _reason(too_big) == "MEDIA_TOO_LARGE"
    wrong_type = await client.post(
        "/api/v1/uploads",
        json={"contentType": "application/pdf", "sizeBytes": "100"},
        headers=alice.headers,
    )
    assert wrong_type.status_code == 400 and _reason(wrong_type) == "UNSUPPORTED_MEDIA_TYPE"
    anonymous = await client.post(
        "/api/v1/uploads", json={"contentType": "image/png", "sizeBytes": "100"}
    )
    assert anonymous.status_code == 401

    upload = await _create(client, alice.headers, corpus.jpeg())
    others = await client.get(f"/api/v1/uploads/{upload['uploadId']}", headers=bob.headers)
    assert others.status_code == 404
    bad_filter = await client.post(
        f"/api/v1/uploads/{upload['uploadId']}/complete",
        json={"filter": "no-such-filter"},
        headers=alice.headers,
    )
    assert bad_filter.status_code == 400 and _reason(bad_filter) == "UNKNOWN_FILTER"
    no_bytes = await client.post(
        f"/api/v1/uploads/{upload['uploadId']}/complete", json={}, headers=alice.headers
    )
    assert no_bytes.status_code == 400 and _reason(no_bytes) == "UPLOAD_INCOMPLETE"
    # Bytes sent through the edge's PUT route are checked as they stream into media_svc.
    edge_put = f"/api/v1/uploads/{upload['uploadId']}"
    pdf = await client.put(edge_put, content=corpus.pdf(), headers=alice.headers)
    assert pdf.status_code == 400 and _reason(pdf) == "UNSUPPORTED_MEDIA_TYPE"
    too_long = await client.put(edge_put, content=corpus.jpeg() + b"\0", headers=alice.headers)
    assert too_long.status_code == 413


async def _ready_video(client: httpx.AsyncClient, who: Any, clip: bytes) -> Any:
    created = await client.post(
        "/api/v1/uploads",
        json={"contentType": "video/mp4", "sizeBytes": str(len(clip))},
        headers=who.headers,
    )
    assert created.status_code == 200, created.text
    upload = created.json()
    assert (await send_upload_bytes(client, who, upload, clip)).status_code == 200
    completed = await client.post(
        f"/api/v1/uploads/{upload['uploadId']}/complete", json={}, headers=who.headers
    )
    assert completed.status_code == 200, completed.text
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    while True:
        state = (
            await client.get(f"/api/v1/uploads/{upload['uploadId']}", headers=who.headers)
        ).json()
        if state["status"] not in ("UPLOAD_STATUS_PROCESSING", "UPLOAD_STATUS_PENDING"):
            break
        assert asyncio.get_running_loop().time() < deadline, "processing never finished"
        await asyncio.sleep(0.1)
    assert state["status"] == "UPLOAD_STATUS_READY", state.get("failureReason")
    return state["media"]


def _entries(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


async def test_a_video_plays_through_hls_from_the_media_origin(
    client: httpx.AsyncClient, tmp_path: Any
) -> None:
    import av
    import imageio_ffmpeg

    alice = await register(client, "alice")
    clip = corpus.video(
        imageio_ffmpeg.get_ffmpeg_exe(), tmp_path / "clip.mp4", seconds=2.5, size="720x1280"
    )
    media = await _ready_video(client, alice, clip)
    # Ready with the first rung: publishable before the ladder is done.
    assert media["hlsStatus"] in ("HLS_STATUS_PROCESSING", "HLS_STATUS_READY")
    assert media["hlsUrl"].endswith("/master.m3u8") and media["videoUrl"]
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    while media["hlsStatus"] == "HLS_STATUS_PROCESSING":
        assert asyncio.get_running_loop().time() < deadline, "the ladder never finished"
        await asyncio.sleep(0.2)
        media = (
            await client.get(f"/api/v1/media/{media['mediaId']}", headers=alice.headers)
        ).json()
    assert media["hlsStatus"] == "HLS_STATUS_READY"

    master_path = urlsplit(media["hlsUrl"]).path
    master = await client.get(master_path)  # the origin needs no token, like a CDN
    assert master.status_code == 200, master.text
    assert master.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert master.headers["cache-control"] == "public, max-age=10"  # playlists: short-lived
    assert "RESOLUTION=720x1280" in master.text and "RESOLUTION=480x854" in master.text
    folder = master_path.rsplit("/", 1)[0]
    rungs = _entries(master.text)
    assert rungs == ["hls_720p.m3u8", "hls_480p.m3u8"]  # 720p first; never upscaled to 1080p

    playlist = await client.get(f"{folder}/{rungs[1]}")
    assert playlist.status_code == 200
    assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert "#EXT-X-ENDLIST" in playlist.text and "#EXT-X-TARGETDURATION:2" in playlist.text
    segments = _entries(playlist.text)
    assert len(segments) == 2
    frames = 0
    for name in segments:
        segment = await client.get(f"{folder}/{name}")
        assert segment.status_code == 200
        assert segment.headers["content-type"] == "video/mp2t"
        assert segment.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert b"secret-title" not in segment.content and b"x264 - core" not in segment.content
        with av.open(io.BytesIO(segment.content), mode="r", format="mpegts") as container:
            assert container.streams.audio, "the source's audio is in every segment"
            for frame in container.decode(video=0):
                assert (frame.width, frame.height) == (480, 854)
                frames += 1
    assert frames == 25  # 2.5 s at 10 frames a second, every one of them


async def test_a_feed_video_plays_through_hls_from_a_followers_home_feed(
    client: httpx.AsyncClient, tmp_path: Any
) -> None:
    import av
    import imageio_ffmpeg

    alice, bob = await register(client, "alice"), await register(client, "bob")
    follow = await client.post(f"/api/v1/users/{alice.user_id}/follow", headers=bob.headers)
    assert follow.status_code == 200, follow.text
    clip = corpus.video(
        imageio_ffmpeg.get_ffmpeg_exe(), tmp_path / "clip.mp4", seconds=2.5, size="720x1280"
    )
    media = await _ready_video(client, alice, clip)
    # Publishable as soon as the poster and the first rung are ready, ladder or not.
    posted = await client.post(
        "/api/v1/posts", json={"mediaIds": [media["mediaId"]]}, headers=alice.headers
    )
    assert posted.status_code == 200, posted.text
    post_id = posted.json()["postId"]
    assert posted.json()["kind"] == "POST_KIND_POST"

    # The follower's home feed serves the video with its whole ladder once it is made.
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_SECONDS
    while True:
        feed = await client.get(
            "/api/v1/feed", params={"mode": "FEED_MODE_CHRONOLOGICAL"}, headers=bob.headers
        )
        assert feed.status_code == 200, feed.text
        found = [p for p in feed.json().get("posts", []) if p["postId"] == post_id]
        if found and found[0]["media"][0]["hlsStatus"] == "HLS_STATUS_READY":
            served = found[0]["media"][0]
            break
        assert asyncio.get_running_loop().time() < deadline, f"not ready in the feed: {found}"
        await asyncio.sleep(0.2)
    assert served["type"] == "MEDIA_TYPE_VIDEO" and served["videoUrl"]

    master_path = urlsplit(served["hlsUrl"]).path
    master = await client.get(master_path)
    assert master.status_code == 200 and "RESOLUTION=720x1280" in master.text
    folder = master_path.rsplit("/", 1)[0]
    rungs = _entries(master.text)
    assert rungs == ["hls_720p.m3u8", "hls_480p.m3u8"]
    for rung, size in zip(rungs, [(720, 1280), (480, 854)], strict=True):
        playlist = await client.get(f"{folder}/{rung}")
        assert playlist.status_code == 200 and "#EXT-X-ENDLIST" in playlist.text
        segment = await client.get(f"{folder}/{_entries(playlist.text)[0]}")
        assert segment.status_code == 200
        assert segment.headers["content-type"] == "video/mp2t"
        assert b"secret-title" not in segment.content
        with av.open(io.BytesIO(segment.content), mode="r", format="mpegts") as container:
            assert container.streams.audio, f"{rung} has the audio"
            frames = list(container.decode(video=0))
        assert frames and {(f.width, f.height) for f in frames} == {size}
