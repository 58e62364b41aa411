"""Direct messages through the HTTP edge, as a client uses them: a request from a stranger,
accepting it, live delivery on the SSE stream with Last-Event-ID resume, retries by
clientMessageId, read markers and the badge, a photo and a shared post seen per reader, unsend,
groups, blocks, and errors with their statuses and reasons."""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections.abc import AsyncGenerator
from typing import Any

import httpx
from PIL import Image

from tests.e2e.conftest import Account, register, upload_photo


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (random.randrange(256), 40, 200)).save(out, format="PNG")
    return out.getvalue()


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def _send(client: httpx.AsyncClient, who: Account, conversation_id: str, **body: Any) -> Any:
    body.setdefault("clientMessageId", f"c{random.getrandbits(48)}")
    return await _ok(
        await client.post(
            f"/api/v1/conversations/{conversation_id}/messages", json=body, headers=who.headers
        )
    )


async def _texts(client: httpx.AsyncClient, who: Account, conversation_id: str) -> list[str]:
    page = await _ok(
        await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=who.headers)
    )
    return [m.get("text", "") for m in page.get("messages", [])]


async def _events(
    response: httpx.Response, kinds: tuple[str, ...] = ("message",)
) -> AsyncGenerator[dict[str, str], None]:
    """Yield the SSE events of these kinds of a stream, as their fields."""
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line:
            name, _, value = line.partition(":")
            current[name] = value.strip()
            continue
        if current.get("event") in kinds:
            yield current
        current = {}


def _error(response: httpx.Response, status: int, reason: str) -> None:
    assert response.status_code == status, response.text
    reasons = [d.get("reason") for d in response.json().get("details", [])]
    assert reason in reasons, response.text


async def test_a_request_accepted_and_talked_in_live(client: httpx.AsyncClient) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    created = await _ok(
        await client.post(
            "/api/v1/conversations", json={"participantIds": [bob.user_id]}, headers=alice.headers
        )
    )
    conversation_id = created["conversationId"]
    assert created.get("isGroup", False) is False
    assert {p["userId"] for p in created["participants"]} == {alice.user_id, bob.user_id}
    again = await client.post(
        "/api/v1/conversations", json={"participantIds": [alice.user_id]}, headers=bob.headers
    )
    assert (await _ok(again))["conversationId"] == conversation_id  # one 1:1 per pair

    async with client.stream(
        "GET", "/api/v1/conversations/stream", headers=bob.headers, timeout=20
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = _events(stream)
        first = await _send(client, alice, conversation_id, text="Hi Bob!", clientMessageId="m-1")
        # Pushed when the send commits, not found at the next heartbeat (15 s apart here); how
        # fast is the dm benchmark's to measure, not the suite's to assert.
        event = await asyncio.wait_for(anext(events), timeout=5)
        assert event["id"] == first["messageId"]
        assert json.loads(event["data"])["text"] == "Hi Bob!"
        await events.aclose()

    # A retry with the same clientMessageId is the same message.
    retry = await _send(client, alice, conversation_id, text="Hi Bob!", clientMessageId="m-1")
    assert retry["messageId"] == first["messageId"]
    assert await _texts(client, bob, conversation_id) == ["Hi Bob!"]

    # Bob does not follow Alice: a request, not in his inbox or badge.
    requests = await _ok(await client.get("/api/v1/conversations/requests", headers=bob.headers))
    assert [c["conversationId"] for c in requests["conversations"]] == [conversation_id]
    inbox = await _ok(await client.get("/api/v1/conversations", headers=bob.headers))
    assert inbox.get("conversations", []) == []
    badge = await _ok(await client.get("/api/v1/conversations/unread-count", headers=bob.headers))
    assert int(badge.get("unreadCount", 0)) == 0
    accepted = await _ok(
        await client.post(
            f"/api/v1/conversations/{conversation_id}/accept", json={}, headers=bob.headers
        )
    )
    assert accepted.get("isRequest", False) is False
    inbox = await _ok(await client.get("/api/v1/conversations", headers=bob.headers))
    [row] = inbox["conversations"]
    assert row["lastMessage"]["text"] == "Hi Bob!" and int(row["unreadCount"]) == 1
    badge = await _ok(await client.get("/api/v1/conversations/unread-count", headers=bob.headers))
    assert int(badge["unreadCount"]) == 1

    # Messages Bob missed arrive when he resumes with Last-Event-ID.
    missed = [await _send(client, alice, conversation_id, text=f"missed {i}") for i in range(2)]
    async with client.stream(
        "GET",
        "/api/v1/conversations/stream",
        headers={**bob.headers, "Last-Event-ID": first["messageId"]},
        timeout=20,
    ) as stream:
        events = _events(stream)
        got = [await asyncio.wait_for(anext(events), timeout=5) for _ in missed]
        await events.aclose()
    assert [e["id"] for e in got] == [m["messageId"] for m in missed]

    # Reading moves the marker, never backwards; the badge clears.
    read = await _ok(
        await client.post(
            f"/api/v1/conversations/{conversation_id}/read",
            json={"messageId": missed[-1]["messageId"]},
            headers=bob.headers,
        )
    )
    assert int(read.get("unreadCount", 0)) == 0
    back = await _ok(
        await client.post(
            f"/api/v1/conversations/{conversation_id}/read",
            json={"messageId": first["messageId"]},
            headers=bob.headers,
        )
    )
    markers = {p["userId"]: p.get("lastReadMessageId") for p in back["participants"]}
    assert markers[bob.user_id] == missed[-1]["messageId"]
    badge = await _ok(await client.get("/api/v1/conversations/unread-count", headers=bob.headers))
    assert int(badge.get("unreadCount", 0)) == 0

    # Unsend: gone for everyone, lastMessage included.
    gone = await client.delete(
        f"/api/v1/conversations/{conversation_id}/messages/{missed[-1]['messageId']}",
        headers=alice.headers,
    )
    assert gone.status_code == 200, gone.text
    assert await _texts(client, bob, conversation_id) == ["missed 0", "Hi Bob!"]
    view = await _ok(
        await client.get(f"/api/v1/conversations/{conversation_id}", headers=bob.headers)
    )
    assert view["lastMessage"]["messageId"] == missed[0]["messageId"]


async def test_photos_and_shared_posts_as_each_reader_may_see_them(
    client: httpx.AsyncClient,
) -> None:
    alice, bob = await register(client, "alice"), await register(client, "bob")
    author = await register(client, "author")
    carol = await register(client, "carol")
    group = await _ok(
        await client.post(
            "/api/v1/conversations",
            json={"participantIds": [bob.user_id, carol.user_id], "title": "Friends"},
            headers=alice.headers,
        )
    )
    g = group["conversationId"]
    assert group["isGroup"] is True and group["title"] == "Friends"

    media_id = await upload_photo(client, alice, _png())
    photo = await _send(client, alice, g, mediaId=media_id)
    assert photo["media"]["mediaId"] == media_id and photo["media"]["variants"]["thumbnail"]
    strangers = await upload_photo(client, bob, _png())
    refused = await client.post(
        f"/api/v1/conversations/{g}/messages",
        json={"clientMessageId": "not-mine", "mediaId": strangers},
        headers=alice.headers,
    )
    _error(refused, 404, "MEDIA_NOT_FOUND")

    post_media = await upload_photo(client, author, _png())
    post = await _ok(
        await client.post(
            "/api/v1/posts",
            json={"mediaIds": [post_media], "caption": "look"},
            headers=author.headers,
        )
    )
    shared = await _send(client, alice, g, sharedPostId=post["postId"])
    assert shared["sharedPost"]["post"]["caption"] == "look"
    # The author blocks Carol: she sees the share as unavailable, Bob still sees the post.
    blocked = await client.post(f"/api/v1/users/{carol.user_id}/block", headers=author.headers)
    assert blocked.status_code == 200, blocked.text
    for reader, unavailable in ((bob, False), (carol, True)):
        page = await _ok(
            await client.get(f"/api/v1/conversations/{g}/messages", headers=reader.headers)
        )
        card = page["messages"][0]["sharedPost"]
        assert card.get("unavailable", False) is unavailable, (reader.username, card)
        assert ("post" in card) is not unavailable
    # Deleted: unavailable for everyone.
    deleted = await client.delete(f"/api/v1/posts/{post['postId']}", headers=author.headers)
    assert deleted.status_code == 200, deleted.text
    page = await _ok(await client.get(f"/api/v1/conversations/{g}/messages", headers=bob.headers))
    assert page["messages"][0]["sharedPost"]["unavailable"] is True

    # Carol leaves: she sees nothing sent after; Dave, added, sees nothing from before.
    left = await _ok(
        await client.post(f"/api/v1/conversations/{g}/leave", json={}, headers=carol.headers)
    )
    assert left["hasLeft"] is True
    await _send(client, alice, g, text="after Carol left")
    assert "after Carol left" not in await _texts(client, carol, g)
    dave = await register(client, "dave")
    added = await _ok(
        await client.post(
            f"/api/v1/conversations/{g}/participants",
            json={"userIds": [dave.user_id]},
            headers=bob.headers,
        )
    )
    assert dave.user_id in {p["userId"] for p in added["participants"]}
    await _send(client, bob, g, text="hi Dave")
    assert await _texts(client, dave, g) == ["hi Dave"]


async def test_who_may_write_to_whom(client: httpx.AsyncClient) -> None:
    alice, bob, eve = [await register(client, n) for n in ("alice", "bob", "eve")]
    created = await _ok(
        await client.post(
            "/api/v1/conversations", json={"participantIds": [bob.user_id]}, headers=alice.headers
        )
    )
    c = created["conversationId"]
    await _send(client, alice, c, text="hello")
    # Not a member: the conversation does not exist for Eve.
    _error(
        await client.get(f"/api/v1/conversations/{c}/messages", headers=eve.headers),
        404,
        "CONVERSATION_NOT_FOUND",
    )
    _error(
        await client.post(
            f"/api/v1/conversations/{c}/messages",
            json={"clientMessageId": "x", "text": "hi"},
            headers=eve.headers,
        ),
        404,
        "CONVERSATION_NOT_FOUND",
    )
    # Bad input is a 400 naming the field.
    too_long = await client.post(
        f"/api/v1/conversations/{c}/messages",
        json={"clientMessageId": "long", "text": "x" * 1001},
        headers=alice.headers,
    )
    assert too_long.status_code == 400 and "1000" in too_long.text
    # Bob blocks Alice: neither continues nor restarts the 1:1. Alice's send above left the
    # pair's block answer cached in message_svc; the block forgets it before it is answered.
    blocked = await client.post(f"/api/v1/users/{alice.user_id}/block", headers=bob.headers)
    assert blocked.status_code == 200, blocked.text
    refused = await client.post(
        f"/api/v1/conversations/{c}/messages",
        json={"clientMessageId": "after-block", "text": "hi?"},
        headers=alice.headers,
    )
    _error(refused, 403, "CANNOT_MESSAGE_USER")
    _error(
        await client.post(
            "/api/v1/conversations", json={"participantIds": [alice.user_id]}, headers=bob.headers
        ),
        403,
        "CANNOT_MESSAGE_USER",
    )
    # Unblocked: the very next send goes through again.
    lifted = await client.delete(f"/api/v1/users/{alice.user_id}/block", headers=bob.headers)
    assert lifted.status_code == 200, lifted.text
    await _send(client, alice, c, text="friends again")
    assert (await _texts(client, bob, c))[0] == "friends again"
    unauthenticated = await client.get("/api/v1/conversations")
    assert unauthenticated.status_code == 401


async def test_an_unsent_message_leaves_the_other_participants_open_stream(
    client: httpx.AsyncClient,
) -> None:
    alice, bob, carol = [await register(client, n) for n in ("alice", "bob", "carol")]
    created = await _ok(
        await client.post(
            "/api/v1/conversations",
            json={"participantIds": [bob.user_id, carol.user_id]},
            headers=alice.headers,
        )
    )
    c = created["conversationId"]
    kept = await _send(client, alice, c, text="kept")
    async with client.stream(
        "GET", "/api/v1/conversations/stream", headers=bob.headers, timeout=20
    ) as stream:
        events = _events(stream, ("message", "unsent"))
        oops = await _send(client, alice, c, text="oops")
        assert (await asyncio.wait_for(anext(events), timeout=5))["id"] == oops["messageId"]
        # Only its sender may unsend it.
        _error(
            await client.delete(
                f"/api/v1/conversations/{c}/messages/{oops['messageId']}", headers=bob.headers
            ),
            403,
            "NOT_MESSAGE_SENDER",
        )
        gone = await client.delete(
            f"/api/v1/conversations/{c}/messages/{oops['messageId']}", headers=alice.headers
        )
        assert gone.status_code == 200, gone.text
        event = await asyncio.wait_for(anext(events), timeout=5)
        await events.aclose()
    assert event["event"] == "unsent"
    assert json.loads(event["data"]) == {"conversationId": c, "messageId": oops["messageId"]}
    assert int(event["id"]) > int(oops["messageId"])
    # Carol, who was not connected, resumes from before both and hears of the unsend too.
    async with client.stream(
        "GET",
        "/api/v1/conversations/stream",
        headers={**carol.headers, "Last-Event-ID": kept["messageId"]},
        timeout=20,
    ) as stream:
        events = _events(stream, ("message", "unsent"))
        resumed = await asyncio.wait_for(anext(events), timeout=5)
        await events.aclose()
    assert resumed["event"] == "unsent" and resumed["id"] == event["id"]
    assert await _texts(client, carol, c) == ["kept"]


async def test_message_requests_to_strangers_are_limited_per_account(
    client: httpx.AsyncClient,
) -> None:
    from mesh.ratelimit import parse_rate
    from message_svc.settings import MessageSettings

    limit = parse_rate(MessageSettings().message_requests_per_account).limit
    spammer = await register(client, "spam")
    friend = await register(client, "friend")
    follows = await client.post(f"/api/v1/users/{spammer.user_id}/follow", headers=friend.headers)
    assert follows.status_code == 200, follows.text
    strangers = [await register(client, "stranger") for _ in range(limit + 1)]

    async def start(who: Account) -> httpx.Response:
        return await client.post(
            "/api/v1/conversations", json={"participantIds": [who.user_id]}, headers=spammer.headers
        )

    for stranger in strangers[:limit]:  # exactly the limit goes through
        assert (await _ok(await start(stranger))).get("isRequest", False) is False
    refused = await start(strangers[limit])
    _error(refused, 429, "MESSAGE_REQUESTS_LIMITED")
    assert int(refused.headers["retry-after"]) >= 1
    # Nothing was half-written: no conversation with the refused stranger.
    inbox = await _ok(
        await client.get("/api/v1/conversations?pageSize=50", headers=spammer.headers)
    )
    talking_to = {p["userId"] for c in inbox["conversations"] for p in c["participants"]}
    assert len(inbox["conversations"]) == limit
    assert strangers[limit].user_id not in talking_to
    # Finding a 1:1 that exists, and starting one with a follower, cost nothing.
    assert (await start(strangers[0])).status_code == 200
    assert (await start(friend)).status_code == 200


async def test_direct_messages_badge_the_notification_stream_without_notifications(
    client: httpx.AsyncClient,
) -> None:
    alice, bob, eve = [await register(client, n) for n in ("alice", "bob", "eve")]
    follows = await client.post(f"/api/v1/users/{alice.user_id}/follow", headers=bob.headers)
    assert follows.status_code == 200, follows.text
    created = await _ok(
        await client.post(
            "/api/v1/conversations", json={"participantIds": [bob.user_id]}, headers=alice.headers
        )
    )
    request = await _ok(  # Eve is a stranger to Bob: her message is a request
        await client.post(
            "/api/v1/conversations", json={"participantIds": [bob.user_id]}, headers=eve.headers
        )
    )
    async with client.stream(
        "GET", "/api/v1/notifications/stream", headers=bob.headers, timeout=20
    ) as stream:
        assert stream.status_code == 200
        events = _events(stream, ("messages-badge", "notification"))
        await _send(client, eve, request["conversationId"], text="hi, stranger here")
        await _send(client, alice, created["conversationId"], text="one")
        # The request does not badge; Alice's message does, with Bob's unread conversations.
        badge = await asyncio.wait_for(anext(events), timeout=10)
        assert badge["event"] == "messages-badge" and "id" not in badge
        assert json.loads(badge["data"]) == {"unreadConversations": 1}
        await _send(client, alice, created["conversationId"], text="two")  # the same one
        again = await asyncio.wait_for(anext(events), timeout=10)
        assert json.loads(again["data"]) == {"unreadConversations": 1}
        await events.aclose()
    counted = await _ok(await client.get("/api/v1/conversations/unread-count", headers=bob.headers))
    assert int(counted["unreadCount"]) == 1
    # Direct messages are not notifications.
    listed = await _ok(await client.get("/api/v1/notifications", headers=bob.headers))
    assert listed.get("notifications", []) == []
