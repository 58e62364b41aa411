"""Finding 4 of the security review, kept fixed through the edge: no rate limit anywhere (400
wrong passwords at 17-30/s, no slowdown; registration and refresh the same).

Each test puts an edge with small limits of its own in front of the session's mesh (the mesh's
own edge has them raised, for the suite's fast loops).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Account, register, unique_name
from tests.security.conftest import edge_client, make_post, reason

EdgeFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def edge(running_mesh: Any) -> AsyncIterator[EdgeFactory]:
    """Return a factory of clients of edges with these settings, in front of the session mesh."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(**settings: Any) -> httpx.AsyncClient:
            return await stack.enter_async_context(edge_client(running_mesh, **settings))

        yield make


def _assert_limited(answer: httpx.Response, policy: str, quota: int) -> None:
    assert answer.status_code == 429, answer.text
    assert reason(answer) == "RATE_LIMITED"
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.headers["ratelimit-policy"].startswith(f'"{policy}";q={quota};w=')
    assert answer.headers["ratelimit"].startswith(f'"{policy}";r=0;t=')


async def test_sign_ins_per_ip_are_limited(client: httpx.AsyncClient, edge: EdgeFactory) -> None:
    alice = await register(client, "limited")
    limited = await edge(rate_limit_login_ip="3/min")
    body = {"username": alice.username, "password": alice.password}
    for i in range(3):
        answer = await limited.post("/api/v1/users/login", json=body)
        assert answer.status_code == 200, answer.text
        assert (
            answer.headers["ratelimit"]
            == f'"login-ip";r={2 - i};t=' + answer.headers["ratelimit"].rsplit("t=", 1)[1]
        )
        assert answer.headers["ratelimit-policy"] == '"login-ip";q=3;w=60'
    _assert_limited(await limited.post("/api/v1/users/login", json=body), "login-ip", 3)


async def test_sign_ups_and_refreshes_per_ip_are_limited(
    client: httpx.AsyncClient, edge: EdgeFactory
) -> None:
    limited = await edge(rate_limit_register_ip="2/h", rate_limit_refresh_ip="2/min")
    for _ in range(2):
        await register(limited, "signup")
    name = unique_name("signup")
    refused = await limited.post(
        "/api/v1/users/register",
        json={"username": name, "email": f"{name}@example.com", "password": "a good password"},
    )
    _assert_limited(refused, "register-ip", 2)
    alice = await register(client, "refresher")
    token = alice.refresh_token
    for _ in range(2):
        renewed = await limited.post("/api/v1/auth/refresh", json={"refreshToken": token})
        assert renewed.status_code == 200, renewed.text
        token = renewed.json()["refreshToken"]
    refused = await limited.post("/api/v1/auth/refresh", json={"refreshToken": token})
    _assert_limited(refused, "refresh-ip", 2)


async def test_reads_writes_and_uploads_are_limited_per_account(
    client: httpx.AsyncClient, edge: EdgeFactory
) -> None:
    limited = await edge(
        rate_limit_reads_account="3/min",
        rate_limit_writes_account="2/min",
        rate_limit_uploads_account="1/min",
    )
    alice, bob = await register(client, "reader"), await register(client, "other")

    async def read(who: Account) -> httpx.Response:
        return await limited.get(f"/api/v1/users/{who.user_id}", headers=who.headers)

    for _ in range(3):
        assert (await read(alice)).status_code == 200
    _assert_limited(await read(alice), "reads-account", 3)
    assert (await read(bob)).status_code == 200  # same address, another account
    # A forged token names no account: it is limited per address only, and refused anyway.
    forged = Account(alice.user_id, "x", "x", alice.access_token[:-4] + "AAAA", "")
    assert (await read(forged)).status_code == 401
    for _ in range(2):
        followed = await limited.post(f"/api/v1/users/{bob.user_id}/follow", headers=alice.headers)
        assert followed.status_code == 200, followed.text
    _assert_limited(
        await limited.post(f"/api/v1/users/{bob.user_id}/follow", headers=alice.headers),
        "writes-account",
        2,
    )
    upload = {"contentType": "image/png", "sizeBytes": 100}
    assert (await limited.post("/api/v1/uploads", json=upload, headers=alice.headers)).is_success
    _assert_limited(
        await limited.post("/api/v1/uploads", json=upload, headers=alice.headers),
        "uploads-account",
        1,
    )


async def test_media_files_are_limited_per_ip(client: httpx.AsyncClient, edge: EdgeFactory) -> None:
    limited = await edge(rate_limit_media_ip="3/min", edge_trusted_proxy_hops=1)
    alice = await register(client, "photos")
    thumbnail = (await make_post(client, alice))["media"][0]["variants"]["thumbnail"]
    path = httpx.URL(thumbnail).path
    assert path.startswith("/media/")
    first = {"x-forwarded-for": "203.0.113.7"}
    for _ in range(3):
        served = await limited.get(path, headers=first)
        assert served.status_code == 200 and served.content
        assert served.headers["ratelimit-policy"].startswith('"media-ip";q=3;w=')
    _assert_limited(await limited.get(path, headers=first), "media-ip", 3)
    assert (await limited.get(path, headers={"x-forwarded-for": "203.0.113.8"})).status_code == 200


async def test_limits_scale_up_for_load_tests_and_can_be_switched_off(
    client: httpx.AsyncClient, edge: EdgeFactory
) -> None:
    alice = await register(client, "bench")
    scaled = await edge(rate_limit_reads_account="2/h", rate_limit_scale=10)
    off = await edge(rate_limit_reads_account="1/min", rate_limits_enabled=False)
    url = f"/api/v1/users/{alice.user_id}"
    assert all([(await scaled.get(url, headers=alice.headers)).is_success for _ in range(20)])
    assert (await scaled.get(url, headers=alice.headers)).status_code == 429
    assert all([(await off.get(url, headers=alice.headers)).is_success for _ in range(5)])
    assert "ratelimit" not in (await off.get(url, headers=alice.headers)).headers


async def test_wrong_passwords_slow_down_without_locking_the_owner_out(
    client: httpx.AsyncClient, edge: EdgeFactory
) -> None:
    victim = await register(client, "victim")
    # Two client addresses, told apart by the proxy in front of the edge.
    proxied = await edge(edge_trusted_proxy_hops=1, rate_limit_login_ip="1000/min")

    async def login(password: str, address: str) -> httpx.Response:
        return await proxied.post(
            "/api/v1/users/login",
            json={"username": victim.username, "password": password},
            headers={"X-Forwarded-For": address},
        )

    attacker, owner = "203.0.113.7", "198.51.100.20"
    for _ in range(5):
        wrong = await login("not the password", attacker)
        assert wrong.status_code == 401 and reason(wrong) == "INVALID_CREDENTIALS"
    # The attacker's sixth try is not even checked, right password or not.
    for password in ("still wrong", victim.password):
        slowed = await login(password, attacker)
        assert slowed.status_code == 429, slowed.text
        assert reason(slowed) == "LOGIN_THROTTLED"
        assert 1 <= int(slowed.headers["retry-after"]) <= 60
    # The owner, elsewhere, signs in at once.
    assert (await login(victim.password, owner)).status_code == 200
