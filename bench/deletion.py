"""The `deletion` benchmark: how long an account deletion takes to reach every service, through
the edge, against the same run's ordinary post deletion.

A keeper account posts one photo. Each leaving account follows the keeper and is followed back,
likes and comments on the keeper's post, and posts twice. Baseline: one of its posts is deleted
and timed from the DELETE's answer until the keeper's feed no longer has it (PostDeleted through
the bus to feed_svc). Then the account is deleted and timed from the DELETE's answer until
everything a reader can see is right again: its other post gone from the keeper's feed, the
keeper's follower and following counts and the post's like and comment counts exact again.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from typing import Any

import httpx
from PIL import Image

from bench.histogram import Histogram

PASSWORD = "a good bench password"
TIMEOUT_SECONDS = 120.0


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 200)).save(out, format="PNG")
    return out.getvalue()


async def _ok(answer: Any) -> Any:
    response = await answer
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json()


class _Bench:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def register(self, prefix: str) -> dict[str, str]:
        name = f"{prefix}{uuid.uuid4().hex[:10]}"
        data = await _ok(
            self.client.post(
                "/api/v1/users/register",
                json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
            )
        )
        return {"id": data["user"]["userId"], "token": data["accessToken"]}

    @staticmethod
    def auth(who: dict[str, str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {who['token']}"}

    async def post(self, who: dict[str, str]) -> str:
        data = _png()
        upload = await _ok(
            self.client.post(
                "/api/v1/uploads",
                json={"contentType": "image/png", "sizeBytes": len(data)},
                headers=self.auth(who),
            )
        )
        headers = dict(upload.get("uploadHeaders", {}))
        if upload["uploadUrl"].startswith(str(self.client.base_url).rstrip("/")):
            headers.update(self.auth(who))
        sent = await self.client.put(upload["uploadUrl"], content=data, headers=headers)
        if sent.status_code != 200:
            raise RuntimeError(f"upload: {sent.text}")
        path = f"/api/v1/uploads/{upload['uploadId']}"
        await _ok(self.client.post(f"{path}/complete", json={}, headers=self.auth(who)))
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while (state := await _ok(self.client.get(path, headers=self.auth(who))))[
            "status"
        ] != "UPLOAD_STATUS_READY":
            if time.monotonic() > deadline or state["status"] == "UPLOAD_STATUS_FAILED":
                raise RuntimeError(f"upload never got ready: {state}")
            await asyncio.sleep(0.05)
        made = await _ok(
            self.client.post(
                "/api/v1/posts", json={"mediaIds": [state["mediaId"]]}, headers=self.auth(who)
            )
        )
        return str(made["postId"])

    async def feed(self, who: dict[str, str]) -> list[str]:
        page = await _ok(
            self.client.get(
                "/api/v1/feed",
                params={"mode": "FEED_MODE_CHRONOLOGICAL", "pageSize": "50"},
                headers=self.auth(who),
            )
        )
        return [p["postId"] for p in page.get("posts", [])]

    async def state(self, keeper: dict[str, str], post_id: str) -> tuple[int, int, int, int]:
        profile = await _ok(
            self.client.get(f"/api/v1/users/{keeper['id']}", headers=self.auth(keeper))
        )
        post = await _ok(self.client.get(f"/api/v1/posts/{post_id}", headers=self.auth(keeper)))
        return (
            int(profile.get("followerCount", 0)),
            int(profile.get("followingCount", 0)),
            int(post.get("likeCount", 0)),
            int(post.get("commentCount", 0)),
        )


async def _until(check: Any) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > TIMEOUT_SECONDS:
            raise RuntimeError("not done within the timeout")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def run(edge: str, *, accounts: int, comments: int) -> dict[str, Any]:
    """Run the benchmark; return the histograms of both timings and the settings."""
    deleted, baseline = Histogram(), Histogram()
    async with httpx.AsyncClient(base_url=edge, timeout=30) as client:
        bench = _Bench(client)
        keeper = await bench.register("keeper")
        kept_post = await bench.post(keeper)
        for _ in range(accounts):
            leaving = await bench.register("leaving")
            headers = bench.auth(leaving)
            await _ok(client.post(f"/api/v1/users/{keeper['id']}/follow", headers=headers))
            await _ok(
                client.post(f"/api/v1/users/{leaving['id']}/follow", headers=bench.auth(keeper))
            )
            await _ok(client.post(f"/api/v1/posts/{kept_post}/like", headers=headers))
            for i in range(comments):
                await _ok(
                    client.post(
                        f"/api/v1/posts/{kept_post}/comments",
                        json={"text": f"comment {i}"},
                        headers=headers,
                    )
                )
            first, second = await bench.post(leaving), await bench.post(leaving)
            await _until(lambda ids={first, second}: _has(bench, keeper, ids))
            before = await bench.state(keeper, kept_post)

            await _ok(client.delete(f"/api/v1/posts/{first}", headers=headers))
            baseline.record(await _until(lambda gone=first: _lacks(bench, keeper, gone)))

            await _ok(
                client.request(
                    "DELETE",
                    f"/api/v1/users/{leaving['id']}",
                    json={"password": PASSWORD},
                    headers=headers,
                )
            )
            after = (before[0] - 1, before[1] - 1, before[2] - 1, before[3] - comments)

            async def purged(second: str = second, after: tuple[int, ...] = after) -> bool:
                return await _lacks(bench, keeper, second) and (
                    await bench.state(keeper, kept_post) == after
                )

            deleted.record(await _until(purged))
    return {
        "accounts": accounts,
        "comments_per_account": comments,
        "account_deletion": _summary(deleted),
        "post_deletion_baseline": _summary(baseline),
    }


def _summary(histogram: Histogram) -> dict[str, Any]:
    return {
        "count": histogram.total,
        "p50_s": round(histogram.percentile(50) / 1000, 3),
        "p95_s": round(histogram.percentile(95) / 1000, 3),
        "max_s": round(histogram.max_micros / 1e6, 3),
        "histogram": histogram.to_json(),
    }


async def _has(bench: _Bench, keeper: dict[str, str], post_ids: set[str]) -> bool:
    return post_ids <= set(await bench.feed(keeper))


async def _lacks(bench: _Bench, keeper: dict[str, str], post_id: str) -> bool:
    return post_id not in await bench.feed(keeper)
