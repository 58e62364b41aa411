"""Posts through the HTTP edge, as a client uses them: upload, post a carousel with a filter, tags
and a place, find it on the grid, the hashtag page and nearby, like, comment, save, then delete it
and find it gone from all of them.

Every step is HTTP, the upload's bytes included.
"""

from __future__ import annotations

import io
import random

import httpx
from PIL import Image

from tests.e2e.conftest import Account, register, upload_photo


def _reason(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if detail.get("@type", "").endswith("google.rpc.ErrorInfo"):
            return str(detail["reason"])
    return ""


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (random.randrange(256), 140, 70)).save(out, format="PNG")
    return out.getvalue()


async def _post_ids(client: httpx.AsyncClient, who: Account, url: str) -> list[str]:
    response = await client.get(url, headers=who.headers)
    assert response.status_code == 200, response.text
    return [p["postId"] for p in response.json().get("posts", [])]


async def test_a_post_from_upload_to_deletion(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    media_ids = [await upload_photo(client, alice, _png(), filter_name="gingham") for _ in range(2)]
    tag = f"dusk{random.randrange(10**9)}"
    lat, lng = random.uniform(-50, 50), random.uniform(-170, 170)
    place = f"Pier {tag}"
    body = {
        "mediaIds": media_ids,
        "caption": f"Evening at the pier #{tag} #Café with @{bob.username}",
        "location": {"name": place, "lat": lat, "lng": lng},
        "idempotencyKey": f"post-{tag}",
    }
    created = await client.post("/api/v1/posts", json=body, headers=alice.headers)
    assert created.status_code == 200, created.text
    post = created.json()
    post_id = post["postId"]
    assert isinstance(post_id, str) and post_id.isdigit()
    assert post["user"]["userId"] == alice.user_id and post["user"]["username"] == alice.username
    assert "profilePicUrl" in post["user"]
    assert [m["mediaId"] for m in post["media"]] == media_ids
    assert all(m["variants"]["feed"].startswith("http") for m in post["media"])
    assert (
        post["media"][0]["type"] == "MEDIA_TYPE_PHOTO" and post["media"][0]["filter"] == "gingham"
    )
    assert post["hashtags"] == [tag, "café"] and post["mentions"] == [bob.username]
    assert post["location"] == {"name": place, "lat": lat, "lng": lng}
    assert (post["likeCount"], post["commentCount"], post["hasLiked"], post["hasSaved"]) == (
        "0",
        "0",
        False,
        False,
    )
    assert post["createdAt"].endswith("Z")
    retried = await client.post("/api/v1/posts", json=body, headers=alice.headers)
    assert retried.json()["postId"] == post_id  # the idempotency key made one post

    # It shows on the grid, the hashtag page, nearby and in searches.
    grid = f"/api/v1/users/{alice.user_id}/posts"
    pages = {
        "grid": grid,
        "hashtag": f"/api/v1/hashtags/{tag}/posts",
        "nearby": f"/api/v1/places/nearby?lat={lat}&lng={lng}&radiusKm=1",
        "tag search": f"/api/v1/search/posts?q=%23{tag}&type=hashtag",
        "place search": f"/api/v1/search/posts?q=Pier%20{tag}&type=location",
    }
    for name, url in pages.items():
        assert await _post_ids(client, bob, url) == [post_id], name
    tags = (await client.get(f"/api/v1/search/hashtags?q={tag[:6]}", headers=bob.headers)).json()
    assert {"tag": tag, "postCount": "1"} in tags["hashtags"]
    places = (await client.get(f"/api/v1/search/places?q=pier {tag}", headers=bob.headers)).json()
    assert [(p["name"], p["postCount"]) for p in places["places"]] == [(place, "1")]
    profile = (await client.get(f"/api/v1/users/{alice.user_id}", headers=bob.headers)).json()
    assert profile["postCount"] == "1"

    # Liked, commented, saved.
    liked = await client.post(f"/api/v1/posts/{post_id}/like", headers=bob.headers)
    assert liked.status_code == 200 and liked.json()["likeCount"] == "1", liked.text
    again = await client.post(f"/api/v1/posts/{post_id}/like", headers=bob.headers)
    assert again.json()["likeCount"] == "1"
    likers = (await client.get(f"/api/v1/posts/{post_id}/likes", headers=alice.headers)).json()
    assert [u["userId"] for u in likers["users"]] == [bob.user_id]
    comment = await client.post(
        f"/api/v1/posts/{post_id}/comments",
        json={"text": f"Lovely @{alice.username}"},
        headers=bob.headers,
    )
    assert comment.status_code == 200, comment.text
    comment_id = comment.json()["commentId"]
    assert comment.json()["mentions"] == [alice.username]
    reply = await client.post(
        f"/api/v1/posts/{post_id}/comments",
        json={"text": "thanks!", "parentCommentId": comment_id},
        headers=alice.headers,
    )
    assert reply.status_code == 200 and reply.json()["parentCommentId"] == comment_id
    listed = (await client.get(f"/api/v1/posts/{post_id}/comments", headers=alice.headers)).json()
    assert [(c["commentId"], c["replyCount"]) for c in listed["comments"]] == [(comment_id, "1")]
    saved = await client.post(f"/api/v1/posts/{post_id}/save", headers=bob.headers)
    assert saved.status_code == 200 and saved.json()["hasSaved"] is True
    assert await _post_ids(client, bob, "/api/v1/saved") == [post_id]
    assert await _post_ids(client, alice, "/api/v1/saved") == []
    seen = (await client.get(f"/api/v1/posts/{post_id}", headers=bob.headers)).json()
    assert (seen["likeCount"], seen["commentCount"], seen["hasLiked"], seen["hasSaved"]) == (
        "1",
        "2",
        True,
        True,
    )

    # Someone else may not delete it; its author deletes it, and it is gone everywhere.
    refused = await client.delete(f"/api/v1/posts/{post_id}", headers=bob.headers)
    assert refused.status_code == 403 and _reason(refused) == "NOT_POST_AUTHOR"
    deleted = await client.delete(f"/api/v1/posts/{post_id}", headers=alice.headers)
    assert deleted.status_code == 200, deleted.text
    gone = await client.get(f"/api/v1/posts/{post_id}", headers=bob.headers)
    assert gone.status_code == 404 and _reason(gone) == "POST_NOT_FOUND"
    for name, url in {**pages, "saved": "/api/v1/saved"}.items():
        assert await _post_ids(client, bob, url) == [], name
    tags = (await client.get(f"/api/v1/search/hashtags?q={tag}", headers=bob.headers)).json()
    assert tags.get("hashtags", []) == []
    profile = (await client.get(f"/api/v1/users/{alice.user_id}", headers=bob.headers)).json()
    assert profile["postCount"] == "0"
    like = await client.post(f"/api/v1/posts/{post_id}/like", headers=bob.headers)
    assert like.status_code == 404


async def test_bad_posts_and_hidden_posts(client: httpx.AsyncClient) -> None:
    carol, dan = await register(client, "carol"), await register(client, "dan")
    media_id = await upload_photo(client, carol, _png())
    for body, status, field in [
        ({"mediaIds": []}, 400, "media_ids"),
        ({"mediaIds": [media_id] * 2}, 400, "media_ids"),
        ({"mediaIds": [str(i) for i in range(1, 12)]}, 400, "media_ids"),
        ({"mediaIds": [media_id], "caption": "x" * 2201}, 400, "caption"),
        (
            {"mediaIds": [media_id], "location": {"name": "x", "lat": 12, "lng": 181}},
            400,
            "location.lng",
        ),
    ]:
        response = await client.post("/api/v1/posts", json=body, headers=carol.headers)
        assert response.status_code == status, response.text
        violations = [d for d in response.json()["details"] if "fieldViolations" in d]
        assert violations[0]["fieldViolations"][0]["field"] == field
    theirs = await client.post("/api/v1/posts", json={"mediaIds": [media_id]}, headers=dan.headers)
    assert theirs.status_code == 400 and _reason(theirs) == "MEDIA_NOT_FOUND"
    anonymous = await client.get("/api/v1/saved")
    assert anonymous.status_code == 401

    private = await client.put(
        f"/api/v1/users/{carol.user_id}", json={"isPrivate": True}, headers=carol.headers
    )
    assert private.status_code == 200
    made = await client.post("/api/v1/posts", json={"mediaIds": [media_id]}, headers=carol.headers)
    assert made.status_code == 200, made.text
    post_id = made.json()["postId"]
    for method, url in [
        ("GET", f"/api/v1/posts/{post_id}"),
        ("POST", f"/api/v1/posts/{post_id}/like"),
        ("GET", f"/api/v1/posts/{post_id}/likes"),
        ("GET", f"/api/v1/posts/{post_id}/comments"),
        ("POST", f"/api/v1/posts/{post_id}/save"),
        ("DELETE", f"/api/v1/posts/{post_id}"),
    ]:
        response = await client.request(method, url, headers=dan.headers)
        assert response.status_code == 404 and _reason(response) == "POST_NOT_FOUND", (method, url)
    grid = await client.get(f"/api/v1/users/{carol.user_id}/posts", headers=dan.headers)
    assert grid.status_code == 403 and _reason(grid) == "PRIVATE_ACCOUNT"
    own = await client.get(f"/api/v1/users/{carol.user_id}/posts?limit=1", headers=carol.headers)
    assert [p["postId"] for p in own.json()["posts"]] == [post_id]
