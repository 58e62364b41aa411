"""End to end through the edge: reports hide things from their reporter at once; moderators
list, dismiss, remove and suspend; removed content and suspended accounts are gone from every
read path (and come back after unsuspend); reporters are told; every action is in the audit log;
everyone else gets 403."""

from __future__ import annotations

import asyncio
import functools
import io
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from grpc import aio
from PIL import Image

from shutter.user.v1 import user_service_pb2 as upb
from shutter.user.v1 import user_service_pb2_grpc
from tests.e2e.conftest import Account, register, upload_photo
from tests.identity import service_md

EVENTUAL_SECONDS = 45.0


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (random.randrange(256), 90, 30)).save(out, format="PNG")
    return out.getvalue()


def _reason(response: httpx.Response) -> str:
    for detail in response.json().get("details", []):
        if "reason" in detail:
            return str(detail["reason"])
    return ""


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def _set_moderator(mesh: Any, username: str, moderator: bool) -> None:
    """What `shutter admin grant-moderator|revoke-moderator` does, as user_svc's internal RPC."""
    async with aio.insecure_channel(mesh.addresses["user_svc"]) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        await stub.SetModerator(
            upb.SetModeratorRequest(username=username, moderator=moderator),
            metadata=service_md("user_svc"),
            timeout=10,
        )


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + EVENTUAL_SECONDS
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def _report(
    client: httpx.AsyncClient, who: Account, target_type: str, target_id: str, **extra: Any
) -> httpx.Response:
    body = {"targetType": target_type, "targetId": target_id, "reason": "REPORT_REASON_SPAM"}
    body.update(extra)
    return await client.post("/api/v1/reports", json=body, headers=who.headers)


class World:
    """An author with a post (hashtag, place), a comment on it and a story; followers who see
    them; a conversation that shares the post."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.tag = f"mod{random.randrange(10**9)}"
        self.lat, self.lng = random.uniform(-50, 50), random.uniform(-170, 170)

    async def build(self, author: Account, viewers: list[Account]) -> dict[str, str]:
        client = self.client
        for viewer in viewers:
            await _ok(
                await client.post(f"/api/v1/users/{author.user_id}/follow", headers=viewer.headers)
            )
        media_id = await upload_photo(client, author, _png())
        post = await _ok(
            await client.post(
                "/api/v1/posts",
                json={
                    "mediaIds": [media_id],
                    "caption": f"#{self.tag}",
                    "location": {"name": f"Spot {self.tag}", "lat": self.lat, "lng": self.lng},
                },
                headers=author.headers,
            )
        )
        comment = await _ok(
            await client.post(
                f"/api/v1/posts/{post['postId']}/comments",
                json={"text": "first"},
                headers=author.headers,
            )
        )
        story_media = await upload_photo(client, author, _png())
        story = await _ok(
            await client.post(
                "/api/v1/stories", json={"mediaId": story_media}, headers=author.headers
            )
        )
        return {
            "post": post["postId"],
            "media_url": post["media"][0]["variants"]["feed"],
            "comment": comment["commentId"],
            "story": story["storyId"],
        }

    async def sees(self, viewer: Account, author: Account, ids: dict[str, str]) -> dict[str, bool]:
        """Where the viewer sees the author's post, comment and story, path by path."""
        client, post = self.client, ids["post"]

        async def posts_of(url: str, **params: Any) -> bool:
            response = await client.get(url, params=params, headers=viewer.headers)
            if response.status_code == 404:
                return False
            assert response.status_code == 200, (url, response.text)
            return post in [p["postId"] for p in response.json().get("posts", [])]

        page = await client.get(f"/api/v1/posts/{post}", headers=viewer.headers)
        assert page.status_code in (200, 404), page.text
        comments = await client.get(f"/api/v1/posts/{post}/comments", headers=viewer.headers)
        stories = await client.get(
            f"/api/v1/users/{author.user_id}/stories", headers=viewer.headers
        )
        tray = await _ok(await client.get("/api/v1/feed/stories", headers=viewer.headers))
        return {
            "post page": page.status_code == 200,
            "feed": await posts_of("/api/v1/feed", pageSize=50, mode="FEED_MODE_CHRONOLOGICAL"),
            "ranked feed": await posts_of("/api/v1/feed", pageSize=50, mode="FEED_MODE_RANKED"),
            "grid": await posts_of(f"/api/v1/users/{author.user_id}/posts"),
            "hashtag": await posts_of(f"/api/v1/hashtags/{self.tag}/posts"),
            "nearby": await posts_of(
                "/api/v1/places/nearby", lat=self.lat, lng=self.lng, radiusKm=1
            ),
            "comments": comments.status_code == 200
            and ids["comment"] in [c["commentId"] for c in comments.json().get("comments", [])],
            "stories": stories.status_code == 200
            and ids["story"] in [s["storyId"] for s in stories.json().get("stories", [])],
            "story tray": author.user_id in [r["user"]["userId"] for r in tray.get("items", [])],
        }


async def test_a_report_hides_the_thing_from_its_reporter_only_and_once(
    client: httpx.AsyncClient,
) -> None:
    author, reporter, bystander = (
        await register(client, "auth"),
        await register(client, "rep"),
        await register(client, "by"),
    )
    world = World(client)
    ids = await world.build(author, [reporter, bystander])
    everywhere = dict.fromkeys(
        (
            "post page",
            "feed",
            "ranked feed",
            "grid",
            "hashtag",
            "nearby",
            "comments",
            "stories",
            "story tray",
        ),
        True,
    )

    async def all_seen() -> bool:
        return await world.sees(reporter, author, ids) == everywhere

    await _eventually(all_seen, "the reporter never saw the author's things to begin with")

    # Bad input: 400 with the field named; the note's limit is 500 characters.
    bad_reason = await _report(client, reporter, "REPORT_TARGET_TYPE_POST", ids["post"], reason="")
    assert bad_reason.status_code == 400 and "reason" in bad_reason.text
    long_note = await _report(
        client, reporter, "REPORT_TARGET_TYPE_POST", ids["post"], note="x" * 501
    )
    assert long_note.status_code == 400 and "note" in long_note.text
    own = await _report(client, author, "REPORT_TARGET_TYPE_POST", ids["post"])
    assert own.status_code == 400, own.text
    missing = await _report(client, reporter, "REPORT_TARGET_TYPE_POST", "12345")
    assert missing.status_code == 404 and _reason(missing) == "REPORT_TARGET_NOT_FOUND"

    first = await _ok(
        await _report(client, reporter, "REPORT_TARGET_TYPE_POST", ids["post"], note="n" * 500)
    )
    report = first["report"]
    assert report["targetType"] == "REPORT_TARGET_TYPE_POST" and report["targetId"] == ids["post"]
    assert report["reason"] == "REPORT_REASON_SPAM" and report["state"] == "REPORT_STATE_OPEN"
    again = await _ok(
        await _report(
            client, reporter, "REPORT_TARGET_TYPE_POST", ids["post"], reason="REPORT_REASON_HATE"
        )
    )
    assert again["report"] == report  # the second report changed nothing
    await _ok(await _report(client, reporter, "REPORT_TARGET_TYPE_COMMENT", ids["comment"]))
    await _ok(await _report(client, reporter, "REPORT_TARGET_TYPE_STORY", ids["story"]))

    # Gone for the reporter at once, on every path; the bystander still sees everything.
    seen = await world.sees(reporter, author, ids)
    assert not any(seen.values()), seen
    assert await world.sees(bystander, author, ids) == everywhere

    # A message: the reporter no longer sees it; its sender still does.
    chat = await _ok(
        await client.post(
            "/api/v1/conversations",
            json={"participantIds": [reporter.user_id]},
            headers=author.headers,
        )
    )
    sent = await _ok(
        await client.post(
            f"/api/v1/conversations/{chat['conversationId']}/messages",
            json={"clientMessageId": "rude-1", "text": "rude words"},
            headers=author.headers,
        )
    )
    outsider = await register(client, "out")
    unseen = await _report(client, outsider, "REPORT_TARGET_TYPE_MESSAGE", sent["messageId"])
    assert unseen.status_code == 404, unseen.text
    await _ok(await _report(client, reporter, "REPORT_TARGET_TYPE_MESSAGE", sent["messageId"]))
    for who, shown in ((reporter, False), (author, True)):
        page = await _ok(
            await client.get(
                f"/api/v1/conversations/{chat['conversationId']}/messages", headers=who.headers
            )
        )
        ids_shown = [m["messageId"] for m in page.get("messages", [])]
        assert (sent["messageId"] in ids_shown) is shown, who.username
        inbox = await client.get(
            f"/api/v1/conversations/{chat['conversationId']}", headers=who.headers
        )
        preview = (await _ok(inbox)).get("lastMessage", {}).get("messageId")
        assert (preview == sent["messageId"]) is shown, (who.username, preview)

    # Reporting an account blocks it for the reporter: its profile shows only that.
    troll = await register(client, "troll")
    await _ok(await _report(client, reporter, "REPORT_TARGET_TYPE_USER", troll.user_id))
    profile = await _ok(
        await client.get(f"/api/v1/users/{troll.user_id}", headers=reporter.headers)
    )
    assert profile["relationship"]["blocking"] is True
    # Something the reporter cannot see is not found: the troll cannot report the reporter.
    hidden = await _report(client, troll, "REPORT_TARGET_TYPE_USER", reporter.user_id)
    assert hidden.status_code == 404, hidden.text


async def test_moderators_remove_and_suspend_and_everyone_else_is_refused(
    client: httpx.AsyncClient, running_mesh: Any
) -> None:
    author, reporter, second, bystander, moderator = (
        await register(client, "auth"),
        await register(client, "rep"),
        await register(client, "rep2"),
        await register(client, "by"),
        await register(client, "mod"),
    )
    world = World(client)
    ids = await world.build(author, [reporter, second, bystander])
    await _eventually(
        lambda: _in_feed(client, bystander, ids["post"]), "the post never reached the feed"
    )
    chat = await _ok(
        await client.post(
            "/api/v1/conversations",
            json={"participantIds": [second.user_id]},
            headers=bystander.headers,
        )
    )
    await _ok(
        await client.post(
            f"/api/v1/conversations/{chat['conversationId']}/messages",
            json={"clientMessageId": "share-1", "sharedPostId": ids["post"]},
            headers=bystander.headers,
        )
    )
    report = (await _ok(await _report(client, reporter, "REPORT_TARGET_TYPE_POST", ids["post"])))[
        "report"
    ]
    await _ok(
        await _report(
            client, second, "REPORT_TARGET_TYPE_POST", ids["post"], reason="REPORT_REASON_HATE"
        )
    )

    # Nobody but a moderator gets in.
    routes = [
        ("GET", "/api/v1/moderation/reports", None),
        ("GET", "/api/v1/moderation/audit", None),
        (
            "POST",
            f"/api/v1/moderation/reports/{report['reportId']}/resolve",
            {"action": "MODERATION_ACTION_DISMISS"},
        ),
        ("POST", f"/api/v1/moderation/users/{author.user_id}/unsuspend", {}),
    ]
    for method, url, body in routes:
        refused = await client.request(method, url, json=body, headers=moderator.headers)
        assert refused.status_code == 403 and _reason(refused) == "NOT_A_MODERATOR", url
    await _set_moderator(running_mesh, moderator.username, True)

    # The queue: oldest first, one group per thing, with its count and reasons.
    queue = await _ok(
        await client.get(
            "/api/v1/moderation/reports",
            params={"state": "REPORT_STATE_OPEN", "pageSize": 100},
            headers=moderator.headers,
        )
    )
    groups = {g["targetId"]: g for g in queue["groups"]}
    group = groups[ids["post"]]
    assert group["reportCount"] == 2 and group["reportId"] == report["reportId"]
    assert group["targetOwnerId"] == author.user_id
    assert group["reasons"] == ["REPORT_REASON_SPAM", "REPORT_REASON_HATE"]
    firsts = [int(g["reportId"]) for g in queue["groups"]]
    assert firsts == sorted(firsts)

    # A moderator cannot act on their own content.
    own_media = await upload_photo(client, moderator, _png())
    own_post = await _ok(
        await client.post(
            "/api/v1/posts", json={"mediaIds": [own_media]}, headers=moderator.headers
        )
    )
    own_report = (
        await _ok(await _report(client, reporter, "REPORT_TARGET_TYPE_POST", own_post["postId"]))
    )["report"]
    own = await client.post(
        f"/api/v1/moderation/reports/{own_report['reportId']}/resolve",
        json={"action": "MODERATION_ACTION_REMOVE"},
        headers=moderator.headers,
    )
    assert own.status_code == 403 and _reason(own) == "OWN_CONTENT"
    own_suspend = await client.post(
        f"/api/v1/moderation/users/{moderator.user_id}/unsuspend",
        json={},
        headers=moderator.headers,
    )
    assert own_suspend.status_code == 403 and _reason(own_suspend) == "OWN_CONTENT"

    # Remove: gone from every read path for everyone, media included; reporters are told.
    removed = await _ok(
        await client.post(
            f"/api/v1/moderation/reports/{report['reportId']}/resolve",
            json={"action": "MODERATION_ACTION_REMOVE"},
            headers=moderator.headers,
        )
    )
    assert removed["entry"]["action"] == "MODERATION_ACTION_REMOVE"
    assert removed["entry"]["reportCount"] == 2
    twice = await client.post(
        f"/api/v1/moderation/reports/{report['reportId']}/resolve",
        json={"action": "MODERATION_ACTION_DISMISS"},
        headers=moderator.headers,
    )
    assert twice.status_code == 400 and _reason(twice) == "REPORT_RESOLVED"
    seen = await world.sees(bystander, author, ids)
    assert not any(
        seen[k]
        for k in ("post page", "feed", "ranked feed", "grid", "hashtag", "nearby", "comments")
    ), seen
    assert seen["stories"]  # only the post was reported and removed

    async def share_unavailable() -> bool:
        page = await _ok(
            await client.get(
                f"/api/v1/conversations/{chat['conversationId']}/messages", headers=second.headers
            )
        )
        return bool(page["messages"][0]["sharedPost"].get("unavailable"))

    await _eventually(share_unavailable, "the shared post still shows")

    async def media_gone() -> bool:
        return (await client.get(ids["media_url"])).status_code == 404

    await _eventually(media_gone, "the removed post's media is still served")

    async def explore_clean() -> bool:
        page = await _ok(
            await client.get("/api/v1/explore", params={"pageSize": 50}, headers=moderator.headers)
        )
        return ids["post"] not in [p["postId"] for p in page.get("posts", [])]

    assert await explore_clean()

    async def told(who: Account) -> bool:
        page = await _ok(await client.get("/api/v1/notifications", headers=who.headers))
        return any(
            n["kind"] == "NOTIFICATION_KIND_REPORT_RESOLVED" and "removed" in n.get("text", "")
            for n in page.get("notifications", [])
        )

    for who in (reporter, second):
        await _eventually(functools.partial(told, who), f"{who.username} was not told")

    # A removed message is unsent for everyone in the conversation.
    dm = await _ok(
        await client.post(
            "/api/v1/conversations",
            json={"participantIds": [second.user_id]},
            headers=author.headers,
        )
    )
    rude = await _ok(
        await client.post(
            f"/api/v1/conversations/{dm['conversationId']}/messages",
            json={"clientMessageId": "rude-2", "text": "rude words"},
            headers=author.headers,
        )
    )
    message_report = (
        await _ok(await _report(client, second, "REPORT_TARGET_TYPE_MESSAGE", rude["messageId"]))
    )["report"]
    await _ok(
        await client.post(
            f"/api/v1/moderation/reports/{message_report['reportId']}/resolve",
            json={"action": "MODERATION_ACTION_REMOVE"},
            headers=moderator.headers,
        )
    )
    page = await _ok(
        await client.get(
            f"/api/v1/conversations/{dm['conversationId']}/messages", headers=author.headers
        )
    )
    assert "rude words" not in [m.get("text", "") for m in page.get("messages", [])]

    # Suspend: signed out, cannot sign in, hidden everywhere; unsuspend brings it all back.
    troll = await register(client, "troll")
    troll_world = World(client)
    troll_ids = await troll_world.build(troll, [bystander])
    await _eventually(
        lambda: _in_feed(client, bystander, troll_ids["post"]),
        "the troll's post never reached the feed",
    )
    await _ok(await client.post(f"/api/v1/users/{bystander.user_id}/follow", headers=troll.headers))

    async def bystander_knows_troll() -> tuple[bool, bool]:
        followers = await _ok(
            await client.get(
                f"/api/v1/users/{bystander.user_id}/followers", headers=bystander.headers
            )
        )
        notes = await _ok(await client.get("/api/v1/notifications", headers=bystander.headers))
        return (
            troll.user_id in [f["user"]["userId"] for f in followers.get("followers", [])],
            troll.user_id
            in [a["userId"] for n in notes.get("notifications", []) for a in n.get("actors", [])],
        )

    async def troll_known() -> bool:
        return await bystander_knows_troll() == (True, True)

    await _eventually(troll_known, "the troll's follow never showed")
    troll_report = (
        await _ok(
            await _report(client, reporter, "REPORT_TARGET_TYPE_COMMENT", troll_ids["comment"])
        )
    )["report"]
    suspended = await _ok(
        await client.post(
            f"/api/v1/moderation/reports/{troll_report['reportId']}/resolve",
            json={"action": "MODERATION_ACTION_SUSPEND"},
            headers=moderator.headers,
        )
    )
    assert suspended["entry"]["targetOwnerId"] == troll.user_id
    signed_out = await client.get(f"/api/v1/users/{troll.user_id}", headers=troll.headers)
    assert signed_out.status_code == 401, signed_out.text
    login = await client.post(
        "/api/v1/users/login", json={"username": troll.username, "password": troll.password}
    )
    assert login.status_code == 403 and _reason(login) == "ACCOUNT_SUSPENDED"

    async def troll_hidden() -> bool:
        seen = await troll_world.sees(bystander, troll, troll_ids)
        profile = await client.get(f"/api/v1/users/{troll.user_id}", headers=bystander.headers)
        found = await _ok(
            await client.get(
                "/api/v1/search/users", params={"q": troll.username}, headers=bystander.headers
            )
        )
        listed = troll.user_id in [u["userId"] for u in found.get("users", [])]
        return (
            not any(seen.values())
            and profile.status_code == 404
            and not listed
            and await bystander_knows_troll() == (False, False)
        )

    await _eventually(troll_hidden, "the suspended account still shows somewhere")

    unsuspended = await _ok(
        await client.post(
            f"/api/v1/moderation/users/{troll.user_id}/unsuspend",
            json={},
            headers=moderator.headers,
        )
    )
    assert unsuspended["entry"]["action"] == "MODERATION_ACTION_UNSUSPEND"
    everywhere = {
        "post page": True,
        "feed": True,
        "ranked feed": True,
        "grid": True,
        "hashtag": True,
        "nearby": True,
        "comments": True,
        "stories": True,
        "story tray": True,
    }

    async def troll_back() -> bool:
        seen = await troll_world.sees(bystander, troll, troll_ids)
        profile = await client.get(f"/api/v1/users/{troll.user_id}", headers=bystander.headers)
        return (
            seen == everywhere
            and profile.status_code == 200
            and await bystander_knows_troll() == (True, True)
        )

    await _eventually(troll_back, "unsuspend did not bring the account back everywhere")
    login = await client.post(
        "/api/v1/users/login", json={"username": troll.username, "password": troll.password}
    )
    assert login.status_code == 200, login.text

    # The audit log, newest first: every action, by whom, on what.
    audit = await _ok(
        await client.get(
            "/api/v1/moderation/audit", params={"pageSize": 100}, headers=moderator.headers
        )
    )
    mine = [
        (e["action"], e["targetOwnerId"], e.get("reportCount", 0))
        for e in audit["entries"]
        if e["moderatorId"] == moderator.user_id
    ]
    assert mine == [
        ("MODERATION_ACTION_UNSUSPEND", troll.user_id, 0),
        ("MODERATION_ACTION_SUSPEND", troll.user_id, 1),
        ("MODERATION_ACTION_REMOVE", author.user_id, 1),
        ("MODERATION_ACTION_REMOVE", author.user_id, 2),
    ]

    # A revoked moderator loses access on the next request.
    await _set_moderator(running_mesh, moderator.username, False)
    gone = await client.get("/api/v1/moderation/reports", headers=moderator.headers)
    assert gone.status_code == 403 and _reason(gone) == "NOT_A_MODERATOR"


async def _in_feed(client: httpx.AsyncClient, who: Account, post_id: str) -> bool:
    page = await _ok(await client.get("/api/v1/feed", params={"pageSize": 50}, headers=who.headers))
    return post_id in [p["postId"] for p in page.get("posts", [])]
