"""Findings 2, 3, 8 and 13 of the security review, with a hostile-media corpus made here, kept
fixed through the edge: upload as a client, then fetch every file /media serves.

2. Uploaded ICC profiles were copied verbatim into every rendition (a profile carrying
   `<html><script>` and a GPS string came back in all of them; a 5 MB profile made a 5.2 MB
   thumbnail).
3. The video copy kept H.264 SEI user data (a GPS string in SEI was served).
13. A 16-bit 6320x6320 PNG of a few hundred KB took 704 MB to decode.
And the classics: pixel bombs, polyglots, files that lie about their type.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Account, register, send_upload_bytes
from tests.security import hostile_media as hostile


async def _upload(
    client: httpx.AsyncClient, who: Account, data: bytes, content_type: str
) -> dict[str, Any]:
    """Upload bytes as declared, wait until processing ends; return the upload's final state
    (or the refusal of CreateUpload / the PUT)."""
    created = await client.post(
        "/api/v1/uploads",
        json={"contentType": content_type, "sizeBytes": len(data)},
        headers=who.headers,
    )
    if created.status_code != 200:
        return {"refused": created.status_code, "body": created.json()}
    upload = created.json()
    sent = await send_upload_bytes(client, who, upload, data)
    if sent.status_code != 200:
        return {"refused": sent.status_code, "body": sent.json()}
    upload_id = upload["uploadId"]
    done = await client.post(f"/api/v1/uploads/{upload_id}/complete", json={}, headers=who.headers)
    if done.status_code != 200:
        return {"refused": done.status_code, "body": done.json()}
    deadline = time.monotonic() + 90
    while True:
        state = dict((await client.get(f"/api/v1/uploads/{upload_id}", headers=who.headers)).json())
        if state["status"] in ("UPLOAD_STATUS_READY", "UPLOAD_STATUS_FAILED"):
            return state
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)


def _served_urls(media: dict[str, Any]) -> list[str]:
    # Variants hold URLs, plus the story variant's size (numbers).
    urls = [v for k, v in media["variants"].items() if isinstance(v, str) and v]
    urls = [v for v in urls if v.startswith(("http://", "https://"))]
    urls += [r["url"] for r in media.get("videoRenditions", [])]
    return urls


async def _served(client: httpx.AsyncClient, media: dict[str, Any]) -> dict[str, bytes]:
    files = {}
    for url in _served_urls(media):
        answer = await client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["content-type"].split("/")[0] in ("image", "video"), url
        files[url.rsplit("/", 1)[1]] = answer.content
    assert files
    return files


@pytest.fixture
async def uploader(client: httpx.AsyncClient) -> Account:
    return await register(client, "hostile")


@pytest.mark.parametrize(
    ("name", "make", "content_type"),
    [
        (
            "jpeg, payload in a well-formed ICC",
            lambda: hostile.jpeg_with_icc(hostile.icc_with_payload()),
            "image/jpeg",
        ),
        (
            "jpeg, 5 MB ICC",
            lambda: hostile.jpeg_with_icc(hostile.icc_with_payload(5 * 2**20)),
            "image/jpeg",
        ),
        (
            "png, payload in a well-formed ICC",
            lambda: hostile.png_with_icc(hostile.icc_with_payload()),
            "image/png",
        ),
        ("jpeg, malformed ICC", lambda: hostile.jpeg_with_icc(hostile.garbage_icc()), "image/jpeg"),
        ("polyglot jpeg + html", hostile.polyglot, "image/jpeg"),
        (
            "jpeg declared as png",
            lambda: hostile.jpeg_with_icc(hostile.icc_with_payload()),
            "image/png",
        ),
    ],
)
async def test_nothing_of_a_hostile_photo_survives_but_its_pixels(
    client: httpx.AsyncClient, uploader: Account, name: str, make: Any, content_type: str
) -> None:
    state = await _upload(client, uploader, make(), content_type)
    assert state.get("status") == "UPLOAD_STATUS_READY", (name, state)
    files = await _served(client, state["media"])
    for file, data in files.items():
        assert hostile.MARKER not in data and b"<script>" not in data, (name, file)
        assert len(data) < 200_000, (name, file, len(data))  # the 5 MB profile is gone
        if file.startswith("thumbnail"):
            assert len(data) < 20_000, (name, file, len(data))


async def test_served_photos_carry_only_the_standard_srgb_profile(
    client: httpx.AsyncClient, uploader: Account
) -> None:
    import io

    from PIL import Image

    from media_svc.imaging import srgb_profile

    state = await _upload(
        client, uploader, hostile.jpeg_with_icc(hostile.icc_with_payload()), "image/jpeg"
    )
    for file, data in (await _served(client, state["media"])).items():
        assert Image.open(io.BytesIO(data)).info.get("icc_profile") == srgb_profile(), file


async def test_no_sei_user_data_in_any_served_video(
    client: httpx.AsyncClient, uploader: Account, tmp_path: Path
) -> None:
    clip = hostile.video_with_sei(tmp_path / "sei.mp4")
    state = await _upload(client, uploader, clip, "video/mp4")
    assert state.get("status") == "UPLOAD_STATUS_READY", state
    media = state["media"]
    assert media["videoRenditions"], media
    files = await _served(client, media)
    for file, data in files.items():
        assert hostile.SEI_MARKER not in data, file
        # No SEI at all: not even the encoder's own settings string.
        assert b"x264 - core" not in data, file


@pytest.mark.parametrize(
    ("name", "make", "content_type", "why"),
    [
        ("1-bit 16000x16000 pixel bomb", hostile.pixel_bomb, "image/png", "IMAGE_TOO_LARGE"),
        ("16-bit 6320x6320 memory bomb", hostile.deep_bomb, "image/png", "MiB are allowed"),
        ("html declared as jpeg", hostile.html_as_image, "image/jpeg", "UNSUPPORTED_MEDIA_TYPE"),
        ("svg declared as png", hostile.svg, "image/png", "UNSUPPORTED_MEDIA_TYPE"),
        ("jpeg declared as video", hostile.polyglot, "video/mp4", "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
async def test_bombs_and_liars_fail_cleanly(
    client: httpx.AsyncClient,
    uploader: Account,
    name: str,
    make: Any,
    content_type: str,
    why: str,
) -> None:
    state = await _upload(client, uploader, make(), content_type)
    if "refused" in state:  # the first bytes already gave it away: the PUT is refused
        assert state["refused"] == 400, (name, state)
        assert why == "UNSUPPORTED_MEDIA_TYPE", (name, state)
        return
    assert state.get("status") == "UPLOAD_STATUS_FAILED", (name, state)
    assert why in str(state), (name, state)
    assert not state.get("media", {}).get("variants"), (name, state)


async def test_svg_and_html_cannot_even_be_declared(
    client: httpx.AsyncClient, uploader: Account
) -> None:
    for content_type in ("image/svg+xml", "text/html", "application/pdf"):
        state = await _upload(client, uploader, hostile.svg(), content_type)
        assert state.get("refused") == 400, (content_type, state)
