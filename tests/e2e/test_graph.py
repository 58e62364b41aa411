"""The social graph through the HTTP edge, as a client uses it: follow, requests, blocks, mutes."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import Account, register


def _reason(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return str(detail["reason"])
    return ""


def _on(body: dict[str, object], flag: str) -> bool:
    # Whether or not the edge prints fields at their default, a missing flag is false.
    return bool(body.get(flag, False))


async def _profile(client: httpx.AsyncClient, viewer: Account, owner: Account) -> httpx.Response:
    return await client.get(f"/api/v1/users/{owner.user_id}", headers=viewer.headers)


async def _ids(client: httpx.AsyncClient, viewer: Account, url: str, key: str) -> list[str]:
    response = await client.get(url, headers=viewer.headers)
    assert response.status_code == 200, response.text
    return [entry["user"]["userId"] for entry in response.json().get(key, [])]


async def test_following_a_public_account(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    followed = await client.post(f"/api/v1/users/{bob.user_id}/follow", headers=alice.headers)
    assert followed.status_code == 200, followed.text
    assert followed.json()["userId"] == bob.user_id and _on(followed.json(), "following")
    again = await client.post(f"/api/v1/users/{bob.user_id}/follow", headers=alice.headers)
    assert again.json() == followed.json()  # following twice is one follow

    profile = (await _profile(client, alice, bob)).json()
    assert profile["followerCount"] == "1" and _on(profile["relationship"], "following")
    own = (await _profile(client, alice, alice)).json()
    assert own["followingCount"] == "1" and "relationship" not in own

    followers = await client.get(f"/api/v1/users/{bob.user_id}/followers", headers=bob.headers)
    assert followers.status_code == 200, followers.text
    [entry] = followers.json()["followers"]
    assert entry["user"]["userId"] == alice.user_id and entry["user"]["username"] == alice.username
    assert _on(entry["relationship"], "followedBy") and "followedAt" in entry
    assert await _ids(
        client, bob, f"/api/v1/users/{alice.user_id}/following?limit=1", "following"
    ) == [bob.user_id]

    unfollowed = await client.delete(f"/api/v1/users/{bob.user_id}/follow", headers=alice.headers)
    assert unfollowed.status_code == 200 and not _on(unfollowed.json(), "following")
    assert (await _profile(client, alice, bob)).json().get("followerCount", "0") == "0"


async def test_private_account_request_then_approve_opens_the_lists(
    client: httpx.AsyncClient,
) -> None:
    carol, alice, dave = (
        await register(client, "carol"),
        await register(client, "alice"),
        await register(client, "dave"),
    )
    private = await client.put(
        f"/api/v1/users/{carol.user_id}", json={"isPrivate": True}, headers=carol.headers
    )
    assert private.status_code == 200, private.text
    requested = await client.post(f"/api/v1/users/{carol.user_id}/follow", headers=alice.headers)
    assert _on(requested.json(), "requested") and not _on(requested.json(), "following")
    hidden = await client.get(f"/api/v1/users/{carol.user_id}/followers", headers=alice.headers)
    assert hidden.status_code == 403 and _reason(hidden) == "PRIVATE_ACCOUNT"

    assert await _ids(client, carol, "/api/v1/follow-requests", "followRequests") == [alice.user_id]
    approved = await client.post(
        f"/api/v1/follow-requests/{alice.user_id}/approve", headers=carol.headers
    )
    assert approved.status_code == 200 and _on(approved.json(), "followedBy")
    assert await _ids(client, carol, "/api/v1/follow-requests", "followRequests") == []

    assert await _ids(client, alice, f"/api/v1/users/{carol.user_id}/followers", "followers") == [
        alice.user_id
    ]
    # A stranger sees the counts, not the lists.
    assert (await _profile(client, dave, carol)).json()["followerCount"] == "1"
    for which in ("followers", "following"):
        denied = await client.get(f"/api/v1/users/{carol.user_id}/{which}", headers=dave.headers)
        assert denied.status_code == 403 and _reason(denied) == "PRIVATE_ACCOUNT"

    # Dave asks too and is denied; denying again changes nothing.
    await client.post(f"/api/v1/users/{carol.user_id}/follow", headers=dave.headers)
    for _ in range(2):
        denied = await client.post(
            f"/api/v1/follow-requests/{dave.user_id}/deny", headers=carol.headers
        )
        assert denied.status_code == 200, denied.text
    relationship = await client.get(
        f"/api/v1/users/{carol.user_id}/relationship", headers=dave.headers
    )
    assert not _on(relationship.json(), "requested")


async def test_block_removes_both_follows_and_hides_each_from_the_other(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    await client.post(f"/api/v1/users/{bob.user_id}/follow", headers=alice.headers)
    await client.post(f"/api/v1/users/{alice.user_id}/follow", headers=bob.headers)
    blocked = await client.post(f"/api/v1/users/{bob.user_id}/block", headers=alice.headers)
    assert blocked.status_code == 200 and _on(blocked.json(), "blocking")
    assert not _on(blocked.json(), "following") and not _on(blocked.json(), "followedBy")

    own = (await _profile(client, alice, alice)).json()
    assert own.get("followerCount", "0") == own.get("followingCount", "0") == "0"
    for url in (
        f"/api/v1/users/{alice.user_id}",
        f"/api/v1/users/{alice.user_id}/relationship",
        f"/api/v1/users/{alice.user_id}/followers",
        f"/api/v1/users/{alice.user_id}/following",
    ):
        response = await client.get(url, headers=bob.headers)
        assert response.status_code == 404 and _reason(response) == "USER_NOT_FOUND", url
    refused = await client.post(f"/api/v1/users/{alice.user_id}/follow", headers=bob.headers)
    refused_too = await client.post(f"/api/v1/users/{bob.user_id}/follow", headers=alice.headers)
    assert refused.status_code == refused_too.status_code == 404
    assert refused.json()["message"] == refused_too.json()["message"]  # who blocked is not told
    lists = await client.get(f"/api/v1/users/{bob.user_id}/followers", headers=alice.headers)
    assert lists.status_code == 404

    unblocked = await client.delete(f"/api/v1/users/{bob.user_id}/block", headers=alice.headers)
    assert unblocked.status_code == 200 and unblocked.json()["userId"] == bob.user_id
    assert not any(_on(unblocked.json(), flag) for flag in ("blocking", "following", "followedBy"))
    # Unblocking does not bring the follows back.
    assert await _ids(client, bob, f"/api/v1/users/{alice.user_id}/followers", "followers") == []
    again = await client.post(f"/api/v1/users/{alice.user_id}/follow", headers=bob.headers)
    assert again.status_code == 200 and _on(again.json(), "following")


async def test_mute_and_remove_follower(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    await client.post(f"/api/v1/users/{bob.user_id}/follow", headers=alice.headers)
    muted = await client.post(f"/api/v1/users/{bob.user_id}/mute", headers=alice.headers)
    assert _on(muted.json(), "muting") and _on(muted.json(), "following")
    unmuted = await client.delete(f"/api/v1/users/{bob.user_id}/mute", headers=alice.headers)
    assert not _on(unmuted.json(), "muting") and _on(unmuted.json(), "following")
    removed = await client.delete(f"/api/v1/users/{alice.user_id}/follower", headers=bob.headers)
    assert removed.status_code == 200 and not _on(removed.json(), "followedBy")
    assert (await _profile(client, bob, bob)).json().get("followerCount", "0") == "0"


async def test_bad_requests_are_answered_with_the_right_status(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    self_follow = await client.post(f"/api/v1/users/{alice.user_id}/follow", headers=alice.headers)
    assert self_follow.status_code == 400 and _reason(self_follow) == "CANNOT_TARGET_SELF"
    unknown = await client.post("/api/v1/users/123456789/follow", headers=alice.headers)
    assert unknown.status_code == 404 and _reason(unknown) == "USER_NOT_FOUND"
    anonymous = await client.post(f"/api/v1/users/{alice.user_id}/follow")
    assert anonymous.status_code == 401
    bad_page = await client.get(
        f"/api/v1/users/{alice.user_id}/followers?pageSize=-1", headers=alice.headers
    )
    assert bad_page.status_code == 400
    bad_token = await client.get(
        f"/api/v1/users/{alice.user_id}/followers?pageToken=nonsense", headers=alice.headers
    )
    assert bad_token.status_code == 400
    never_asked = await client.post(
        "/api/v1/follow-requests/123456789/approve", headers=alice.headers
    )
    assert never_asked.status_code == 404
