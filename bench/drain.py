"""How fast the edge's queue drains after load shedding (issue 16).

Against a running mesh (`shutter up`, with rate limits raised: SHUTTER_RATE_LIMIT_SCALE=1000):
readers page their home feeds at a light load (the baseline), then at a load above capacity (the
edge sheds with 503 OVERLOADED), then at the light load again. The drain time is from the moment
the overload stops starting new requests until the light load is served as at the baseline: a
whole second with no 503 and a median latency at most twice the baseline's.

    python -m bench.drain --edge http://127.0.0.1:8080 [--light 4 --heavy 64 --seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field

import httpx
from PIL import Image


@dataclass
class Sample:
    """One request: when it ended (monotonic), its status and how long it took."""

    ended: float
    status: int
    seconds: float


@dataclass
class Phase:
    """The requests of one phase."""

    samples: list[Sample] = field(default_factory=list)

    def statuses(self) -> dict[int, int]:
        found: dict[int, int] = {}
        for s in self.samples:
            found[s.status] = found.get(s.status, 0) + 1
        return found

    def median_ms(self) -> float:
        ok = [s.seconds for s in self.samples if s.status == 200]
        return statistics.median(ok) * 1000 if ok else float("nan")


async def _account(client: httpx.AsyncClient, prefix: str) -> dict[str, str]:
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    answer = await client.post(
        "/api/v1/users/register",
        json={"username": name, "email": f"{name}@example.com", "password": "a good password"},
    )
    answer.raise_for_status()
    data = answer.json()
    return {"id": data["user"]["userId"], "token": data["accessToken"]}


async def _post(client: httpx.AsyncClient, author: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {author['token']}"}
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 90, 160)).save(out, format="PNG")
    data = out.getvalue()
    upload = await client.post(
        "/api/v1/uploads",
        json={"contentType": "image/png", "sizeBytes": len(data)},
        headers=headers,
    )
    upload.raise_for_status()
    made = upload.json()
    put_headers = dict(made.get("uploadHeaders", {}))
    if made["uploadUrl"].startswith(str(client.base_url).rstrip("/")):
        put_headers.update(headers)
    (await client.put(made["uploadUrl"], content=data, headers=put_headers)).raise_for_status()
    upload_id = made["uploadId"]
    (
        await client.post(f"/api/v1/uploads/{upload_id}/complete", json={}, headers=headers)
    ).raise_for_status()
    while True:
        state = (await client.get(f"/api/v1/uploads/{upload_id}", headers=headers)).json()
        if state["status"] == "UPLOAD_STATUS_READY":
            break
        await asyncio.sleep(0.2)
    created = await client.post(
        "/api/v1/posts", json={"mediaIds": [state["mediaId"]], "caption": "drain"}, headers=headers
    )
    created.raise_for_status()


async def _load(
    client: httpx.AsyncClient,
    readers: list[dict[str, str]],
    workers: int,
    until: float,
    phase: Phase,
) -> None:
    async def work(n: int) -> None:
        reader = readers[n % len(readers)]
        headers = {"Authorization": f"Bearer {reader['token']}"}
        while time.monotonic() < until:
            start = time.monotonic()
            try:
                answer = await client.get("/api/v1/feed", headers=headers)
                status = answer.status_code
            except httpx.HTTPError:
                status = 0
            end = time.monotonic()
            phase.samples.append(Sample(end, status, end - start))
            if status == 503:
                await asyncio.sleep(0.05)  # a client backs off a little before trying again

    await asyncio.gather(*(work(n) for n in range(workers)))


def drain_seconds(recovery: Phase, start: float, baseline_ms: float) -> float | None:
    """Seconds from `start` to the first one-second window of the recovery phase with no 503
    and a median latency at most twice the baseline's (None: never drained)."""
    samples = sorted(recovery.samples, key=lambda s: s.ended)
    t = start
    end = samples[-1].ended if samples else start
    while t + 1.0 <= end:
        window = [s for s in samples if t <= s.ended < t + 1.0]
        ok = [s.seconds for s in window if s.status == 200]
        if window and all(s.status == 200 for s in window) and ok:
            if statistics.median(ok) * 1000 <= 2 * baseline_ms:
                return t - start
        t += 0.1
    return None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edge", default="http://127.0.0.1:8080")
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--light", type=int, default=4, help="concurrent readers, light load")
    parser.add_argument("--heavy", type=int, default=64, help="concurrent readers, overload")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    args = parser.parse_args()
    limits = httpx.Limits(max_connections=args.heavy + 8)
    async with httpx.AsyncClient(base_url=args.edge, timeout=60, limits=limits) as client:
        author = await _account(client, "drain_author")
        readers = [await _account(client, "drain_reader") for _ in range(args.readers)]
        for reader in readers:
            headers = {"Authorization": f"Bearer {reader['token']}"}
            (
                await client.post(f"/api/v1/users/{author['id']}/follow", headers=headers)
            ).raise_for_status()
        for _ in range(3):
            await _post(client, author)
        await asyncio.sleep(2)  # fan-out
        baseline, overload, recovery = Phase(), Phase(), Phase()
        await _load(client, readers, args.light, time.monotonic() + args.seconds, baseline)
        heavy_until = time.monotonic() + args.seconds
        heavy = asyncio.ensure_future(_load(client, readers, args.heavy, heavy_until, overload))
        await asyncio.sleep(max(0.0, heavy_until - time.monotonic()))
        switch = time.monotonic()  # the overload starts nothing new from here
        await asyncio.gather(
            heavy, _load(client, readers, args.light, switch + args.seconds, recovery)
        )
    base_ms = baseline.median_ms()
    result = {
        "baseline": {"statuses": baseline.statuses(), "p50_ms": round(base_ms, 1)},
        "overload": {"statuses": overload.statuses(), "p50_ms": round(overload.median_ms(), 1)},
        "recovery": {"statuses": recovery.statuses(), "p50_ms": round(recovery.median_ms(), 1)},
        "drain_seconds": drain_seconds(recovery, switch, base_ms),
        "light": args.light,
        "heavy": args.heavy,
        "phase_seconds": args.seconds,
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
