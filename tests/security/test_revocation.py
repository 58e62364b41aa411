"""Finding 5 of the security review, kept fixed through the edge: access tokens outlived logout
and refresh-token family revocation (for their whole 900 s)."""

from __future__ import annotations

import httpx

from mesh import auth, context
from mesh.config import MeshSettings
from mesh.errors import Unauthenticated
from mesh.revocation import Revocations
from tests.e2e.conftest import Account, register
from tests.security.conftest import reason


async def _me(client: httpx.AsyncClient, who: Account, token: str) -> httpx.Response:
    return await client.get(
        f"/api/v1/users/{who.user_id}", headers={"Authorization": f"Bearer {token}"}
    )


async def _login(client: httpx.AsyncClient, who: Account) -> dict[str, str]:
    answer = await client.post(
        "/api/v1/users/login", json={"username": who.username, "password": who.password}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_logout_ends_the_sessions_access_tokens_at_once(client: httpx.AsyncClient) -> None:
    alice = await register(client, "logout")
    other = await _login(client, alice)  # a second session (another device)
    first = alice.access_token
    assert (await _me(client, alice, first)).status_code == 200  # verified and cached now
    renewed = await client.post("/api/v1/auth/refresh", json={"refreshToken": alice.refresh_token})
    second = renewed.json()["accessToken"]
    assert (await _me(client, alice, second)).status_code == 200
    out = await client.post(
        "/api/v1/auth/logout",
        json={"refreshToken": renewed.json()["refreshToken"]},
        headers={"Authorization": f"Bearer {second}"},
    )
    assert out.status_code == 200, out.text
    for token in (first, second):  # every access token of the session, refreshed or not
        refused = await _me(client, alice, token)
        assert refused.status_code == 401 and reason(refused) == "SESSION_REVOKED"
        post = await client.post(
            "/api/v1/posts", json={"caption": "x"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert post.status_code == 401
    # The other device's session goes on.
    assert (await _me(client, alice, other["accessToken"])).status_code == 200


async def test_a_reused_refresh_token_ends_the_sessions_access_tokens(
    client: httpx.AsyncClient,
) -> None:
    alice = await register(client, "reuse")
    renewed = await client.post("/api/v1/auth/refresh", json={"refreshToken": alice.refresh_token})
    assert renewed.status_code == 200
    stolen = await client.post("/api/v1/auth/refresh", json={"refreshToken": alice.refresh_token})
    assert stolen.status_code == 401 and reason(stolen) == "REFRESH_TOKEN_REUSED"
    for token in (alice.access_token, renewed.json()["accessToken"]):
        refused = await _me(client, alice, token)
        assert refused.status_code == 401 and reason(refused) == "SESSION_REVOKED"


async def test_the_verified_token_cache_respects_revocation(mesh_settings: MeshSettings) -> None:
    auth.ensure_keys(mesh_settings)
    revocations = Revocations()
    verifier = auth.TokenVerifier(mesh_settings, revocations=revocations)
    token = auth.TokenIssuer(mesh_settings).user_token(7, session_id=99)
    who: context.Principal = verifier.verify(token)
    assert who.session_id == "99" and verifier.verify(token) == who  # cached
    await revocations.revoke(["99"], until=9_999_999_999)
    try:
        verifier.verify(token)
    except Unauthenticated as exc:
        assert exc.reason == "SESSION_REVOKED"
    else:
        raise AssertionError("a revoked session's cached token was accepted")
    expired = Revocations(clock=lambda: 2_000.0)
    await expired.revoke(["5"], until=1_000.0)  # its tokens have all expired: forgotten
    assert not expired.is_revoked("5")
