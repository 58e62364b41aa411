"""Accounts through the HTTP edge as a client uses them: sign up, in, edit, refresh, search."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.e2e.conftest import register, unique_name, upload_photo


def _reason(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return str(detail["reason"])
    return ""


async def test_sign_up_then_fetch_and_edit_the_profile(client: httpx.AsyncClient) -> None:
    username = unique_name("alice")
    response = await client.post(
        "/api/v1/users/register",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "password": "a good password",
            "fullName": "Alice Liddell",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"user", "accessToken", "refreshToken", "expiresIn"}
    user = body["user"]
    assert isinstance(user["userId"], str) and user["userId"].isdigit()  # int64 as a string
    assert user["username"] == username and user["fullName"] == "Alice Liddell"
    assert user["isPrivate"] is False and user["followerCount"] in ("0", 0)
    headers = {"Authorization": f"Bearer {body['accessToken']}"}

    by_id = await client.get(f"/api/v1/users/{user['userId']}", headers=headers)
    assert by_id.status_code == 200 and by_id.json()["username"] == username
    by_name = await client.get(f"/api/v1/users/by-username/{username.upper()}", headers=headers)
    assert by_name.status_code == 200 and by_name.json()["userId"] == user["userId"]

    edited = await client.put(
        f"/api/v1/users/{user['userId']}",
        json={"bio": "Down the rabbit hole", "website": "https://example.com", "is_private": True},
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["bio"] == "Down the rabbit hole" and edited.json()["isPrivate"] is True
    again = await client.get(f"/api/v1/users/{user['userId']}", headers=headers)
    assert again.json()["website"] == "https://example.com"
    assert again.json()["fullName"] == "Alice Liddell"  # fields not sent stay as they were


async def test_login_by_username_or_email_and_bad_password(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    for login in (alice.username, f"{alice.username}@example.com"):
        response = await client.post(
            "/api/v1/users/login", json={"username": login, "password": alice.password}
        )
        assert response.status_code == 200 and response.json()["user"]["userId"] == alice.user_id
    wrong = await client.post(
        "/api/v1/users/login", json={"username": alice.username, "password": "not the password"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == 16 and _reason(wrong) == "INVALID_CREDENTIALS"
    unknown = await client.post(
        "/api/v1/users/login", json={"username": "nobody_here", "password": "not the password"}
    )
    assert unknown.status_code == 401 and unknown.json()["message"] == wrong.json()["message"]


async def test_duplicate_username_is_409(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    response = await client.post(
        "/api/v1/users/register",
        json={
            "username": alice.username.upper(),
            "email": "x" + alice.username + "@example.com",
            "password": "a good password",
        },
    )
    assert response.status_code == 409 and _reason(response) == "USERNAME_TAKEN"


async def test_field_limits_answer_400_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/users/register",
        json={"username": "a" * 31, "email": "a@example.com", "password": "a good password"},
    )
    assert response.status_code == 400
    violations = [v for d in response.json()["details"] for v in d.get("fieldViolations", [])]
    assert violations and violations[0]["field"] == "username"
    alice = await register(client, "alice")
    too_long = await client.put(
        f"/api/v1/users/{alice.user_id}", json={"bio": "b" * 151}, headers=alice.headers
    )
    assert too_long.status_code == 400 and "bio" in too_long.json()["message"]
    just_fits = await client.put(
        f"/api/v1/users/{alice.user_id}", json={"bio": "b" * 150}, headers=alice.headers
    )
    assert just_fits.status_code == 200


async def test_editing_someone_elses_profile_is_403(client: httpx.AsyncClient) -> None:
    alice, mallory = await register(client, "alice"), await register(client, "mallory")
    response = await client.put(
        f"/api/v1/users/{alice.user_id}", json={"bio": "pwned"}, headers=mallory.headers
    )
    assert response.status_code == 403 and _reason(response) == "NOT_PROFILE_OWNER"


async def test_refresh_rotates_and_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    renewed = await client.post("/api/v1/auth/refresh", json={"refreshToken": alice.refresh_token})
    assert renewed.status_code == 200, renewed.text
    tokens = renewed.json()
    assert tokens["refreshToken"] != alice.refresh_token and tokens["accessToken"]
    replay = await client.post("/api/v1/auth/refresh", json={"refresh_token": alice.refresh_token})
    assert replay.status_code == 401 and _reason(replay) == "REFRESH_TOKEN_REUSED"

    session = await client.post(
        "/api/v1/users/login", json={"username": alice.username, "password": alice.password}
    )
    refresh_token = session.json()["refreshToken"]
    headers = {"Authorization": f"Bearer {session.json()['accessToken']}"}
    out = await client.post(
        "/api/v1/auth/logout", json={"refreshToken": refresh_token}, headers=headers
    )
    assert out.status_code == 200
    after = await client.post("/api/v1/auth/refresh", json={"refreshToken": refresh_token})
    assert after.status_code == 401


async def test_search_pages_with_limit_and_cursor(client: httpx.AsyncClient) -> None:
    stem = unique_name("srch")
    made = [await register(client, stem) for _ in range(3)]
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        params: dict[str, Any] = {"q": stem, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await client.get("/api/v1/search/users", params=params, headers=made[0].headers)
        assert page.status_code == 200, page.text
        seen += [u["username"] for u in page.json()["users"]]
        cursor = page.json().get("nextPageToken", "")
        if not cursor:
            break
    assert sorted(seen) == sorted(a.username for a in made)
    empty = await client.get("/api/v1/search/users", params={"q": ""}, headers=made[0].headers)
    assert empty.status_code == 400


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def test_missing_expired_and_forged_tokens_are_401(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    url = f"/api/v1/users/{alice.user_id}"
    assert (await client.get(url)).status_code == 401
    now = int(time.time())
    claims = {
        "iss": "shutter",
        "aud": "shutter",
        "sub": alice.user_id,
        "typ": "access",
        "iat": now - 7200,
        "exp": now - 3600,
    }
    forged_alg_none = (
        _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        + "."
        + _b64(json.dumps({**claims, "exp": now + 600}).encode())
        + "."
    )
    wrong_key = jwt.encode(
        {**claims, "exp": now + 600}, Ed25519PrivateKey.generate(), algorithm="EdDSA"
    )
    payload = alice.access_token.split(".")[1]
    tampered = alice.access_token.replace(
        payload, _b64(json.dumps({**claims, "exp": now + 600, "sub": "1"}).encode())
    )
    for token in (forged_alg_none, wrong_key, tampered, "garbage"):
        response = await client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.json()["code"] == 16


async def test_edge_errors_oversize_malformed_unknown_and_wrong_method(
    client: httpx.AsyncClient,
) -> None:
    huge = {"username": "x", "email": "x@example.com", "password": "p" * (2 * 1024 * 1024)}
    assert (await client.post("/api/v1/users/register", json=huge)).status_code == 413
    malformed = await client.post(
        "/api/v1/users/register",
        content=b'{"username": "x",',
        headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 400 and malformed.json()["code"] == 3
    assert (await client.get("/api/v1/nothing-here")).status_code == 404
    wrong_method = await client.patch("/api/v1/users/register")
    assert wrong_method.status_code == 405


async def test_health_readiness_and_openapi(client: httpx.AsyncClient) -> None:
    from openapi_spec_validator import validate

    from edge_proxy.openapi import openapi_path
    from edge_proxy.routes import build_route_table
    from mesh.services import MESH

    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["services"]) == {spec.name for spec in MESH}
    document = (await client.get("/openapi.json")).json()
    validate(document)
    # Every annotated route of every service is documented, and the hand-written byte routes too.
    for route in build_route_table(MESH).routes:
        assert route.http_method.lower() in document["paths"][openapi_path(route)]
    for path in ("/api/v1/uploads/{upload_id}", "/media/{key}", "/api/v1/notifications/stream"):
        assert path in document["paths"]


async def test_a_block_hides_both_people_from_each_others_search(
    client: httpx.AsyncClient,
) -> None:
    stem = unique_name("hide")
    blocker = await register(client, stem)
    blocked = await register(client, stem)
    onlooker = await register(client, stem)

    async def found_by(who: Any) -> set[str]:
        page = await client.get("/api/v1/search/users", params={"q": stem}, headers=who.headers)
        assert page.status_code == 200, page.text
        return {u["username"] for u in page.json()["users"]}

    assert blocked.username in await found_by(blocker)
    response = await client.post(f"/api/v1/users/{blocked.user_id}/block", headers=blocker.headers)
    assert response.status_code == 200, response.text
    assert blocked.username not in await found_by(blocker)
    assert blocker.username not in await found_by(blocked)
    assert {blocker.username, blocked.username} <= await found_by(onlooker)


def _png(color: str) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (600, 400), color).save(out, format="PNG")
    return out.getvalue()


async def test_profile_picture_from_an_uploaded_photo(client: httpx.AsyncClient) -> None:
    alice, mallory = await register(client, "alice"), await register(client, "mallory")
    media_id = await upload_photo(client, alice, _png("teal"))
    theirs = await upload_photo(client, mallory, _png("red"))
    profile = f"/api/v1/users/{alice.user_id}"
    stolen = await client.put(profile, json={"profileMediaId": theirs}, headers=alice.headers)
    assert stolen.status_code == 400 and _reason(stolen) == "MEDIA_NOT_USABLE"
    updated = await client.put(profile, json={"profileMediaId": media_id}, headers=alice.headers)
    assert updated.status_code == 200, updated.text
    url = updated.json()["profilePicUrl"]
    assert url.startswith(str(client.base_url)) and url.endswith(".jpg")
    # Everyone sees it, in profiles and in search results, served by the edge's media origin.
    seen = (await client.get(profile, headers=mallory.headers)).json()
    assert seen["profilePicUrl"] == url
    picture = await client.get(url)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    found = await client.get(
        "/api/v1/search/users", params={"q": alice.username}, headers=mallory.headers
    )
    pictures = {u["username"]: u["profilePicUrl"] for u in found.json()["users"]}
    assert pictures[alice.username] == url
    removed = await client.put(profile, json={"profileMediaId": "0"}, headers=alice.headers)
    assert removed.json()["profilePicUrl"] == ""
