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
