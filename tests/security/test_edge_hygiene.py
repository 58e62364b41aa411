"""Findings 10, 11 and 12 of the security review, kept fixed through the edge.

10. gRPC transport text reached clients (a 100 KB header answered 429 with grpc's own message).
11. Right-to-left overrides and zero-width characters were accepted in names, bios, captions and
    comments (display spoofing).
12. No CORS handling (preflight 405), no `nosniff` (also on /media), `server: uvicorn` sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from edge_proxy.settings import EdgeSettings
from tests.e2e.conftest import register
from tests.security.conftest import edge_client, make_post, reason

ORIGIN = "https://app.example.com"


async def test_huge_or_broken_headers_get_our_words_not_grpcs(client: httpx.AsyncClient) -> None:
    alice = await register(client, "hdr")
    for token in ("x" * 100_000, "x" * 10_000, "é" * 10):
        answer = await client.get(
            f"/api/v1/users/{alice.user_id}", headers={b"Authorization": f"Bearer {token}".encode()}
        )
        assert answer.status_code == 401, answer.text
        assert reason(answer) == "TOKEN_INVALID"
        text = answer.json()["message"].lower()
        assert not any(w in text for w in ("grpc", "metadata", "http2", "hpack", "frame")), text


@pytest.mark.parametrize(
    "sneaky",
    [
        "\u202e",  # RIGHT-TO-LEFT OVERRIDE
        "\u202a",  # LEFT-TO-RIGHT EMBEDDING
        "\u2066",  # LEFT-TO-RIGHT ISOLATE
        "\u2069",  # POP DIRECTIONAL ISOLATE
        "\u200b",  # ZERO WIDTH SPACE
        "\u2060",  # WORD JOINER
        "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
        "\u2063",  # INVISIBLE SEPARATOR
        "\u3164",  # HANGUL FILLER
        "\u2028",  # LINE SEPARATOR
        "\U000e0041",  # TAG LATIN CAPITAL LETTER A, outside a flag
    ],
)
async def test_bidi_and_invisible_characters_are_refused_in_every_free_text_field(
    client: httpx.AsyncClient, sneaky: str
) -> None:
    text = f"invoice{sneaky}gpj.exe"
    refused = await client.post(
        "/api/v1/users/register",
        json={
            "username": f"rlo{abs(hash(sneaky)) % 10**8}",
            "email": f"rlo{abs(hash(sneaky)) % 10**8}@example.com",
            "password": "a good password",
            "fullName": text,
        },
    )
    assert refused.status_code == 400, refused.text
    assert f"U+{ord(sneaky):04X}" in refused.json()["message"]
    alice = await register(client, "bidi")
    for field in ("fullName", "bio"):
        answer = await client.put(
            f"/api/v1/users/{alice.user_id}", json={field: text}, headers=alice.headers
        )
        assert answer.status_code == 400, (field, answer.text)
    post = await make_post(client, alice, caption="fine")
    for path, body in (
        ("/api/v1/posts", {"mediaIds": [post["media"][0]["mediaId"]], "caption": text}),
        (f"/api/v1/posts/{post['postId']}/comments", {"text": text}),
    ):
        answer = await client.post(path, json=body, headers=alice.headers)
        assert answer.status_code == 400, (path, answer.text)


async def test_text_that_needs_joiners_marks_and_flags_is_kept(client: httpx.AsyncClient) -> None:
    alice = await register(client, "emoji")
    bio = (
        "\U0001f469\u200d\U0001f4bb coder, "  # woman technologist (ZWJ sequence)
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f, "  # Scotland
        "\u0645\u0631\u062d\u0628\u0627\u200f (1), "  # Arabic with a right-to-left mark
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645, "  # Persian with a ZWNJ
        "\u2764\ufe0f"  # heart with emoji presentation
    )
    answer = await client.put(
        f"/api/v1/users/{alice.user_id}", json={"bio": bio}, headers=alice.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["bio"] == bio


async def test_every_answer_has_security_headers_and_no_server_banner(
    client: httpx.AsyncClient,
) -> None:
    alice = await register(client, "headers")
    post = await make_post(client, alice)
    media_url = post["media"][0]["variants"]["thumbnail"]
    answers = [
        await client.get("/healthz"),
        await client.get("/openapi.json"),
        await client.get(f"/api/v1/users/{alice.user_id}", headers=alice.headers),
        await client.get("/api/v1/users/1", headers=alice.headers),  # 404
        await client.get("/api/v1/nothing-here"),
        await client.post("/api/v1/users/login", content=b"{", headers={"Content-Type": "x"}),
        await client.get(media_url),
        await client.head(media_url),
        await client.get(media_url.rsplit("/", 1)[0] + "/missing.jpg"),
    ]
    for answer in answers:
        where = f"{answer.request.method} {answer.request.url} {answer.status_code}"
        assert answer.headers.get("x-content-type-options") == "nosniff", where
        assert answer.headers.get("referrer-policy") == "no-referrer", where
        assert "server" not in answer.headers, where


@pytest.fixture
async def cors_edge(running_mesh: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Return a client of an edge (in front of the session's mesh) that allows one origin."""
    async with edge_client(running_mesh, edge_cors_origins=[ORIGIN]) as http:
        yield http


async def test_cors_preflight_answers_allowed_origins_only(cors_edge: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    allowed = await cors_edge.options(
        "/api/v1/users/login", headers={"Origin": ORIGIN, **preflight}
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert allowed.headers["x-content-type-options"] == "nosniff"
    refused = await cors_edge.options(
        "/api/v1/users/login", headers={"Origin": "https://evil.example", **preflight}
    )
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    # A simple cross-origin call from the allowed origin may read the answer; others may not.
    health = await cors_edge.get("/healthz", headers={"Origin": ORIGIN})
    assert health.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in health.headers["access-control-expose-headers"].lower()
    other = await cors_edge.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_without_an_allow_list_no_origin_is_allowed(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/v1/users/login",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_origins_must_be_origins() -> None:
    for bad in ("app.example.com", "https://app.example.com/path", "ftp://x", "*"):
        with pytest.raises(ValueError, match="not an origin"):
            EdgeSettings(edge_cors_origins=[bad])
