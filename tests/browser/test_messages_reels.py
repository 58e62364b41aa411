"""Messages, reels and alt text in a real browser: two people exchange messages live (a request
accepted, text, a photo, a shared post, unsend, read markers, the unread badge, a group), a reel
uploaded by one plays in the other's Reels tab and its view counts, and the alt text an author
types is the image's alt. Each screen is checked with axe-core and shot at both widths; the new
message screen is driven by keyboard alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest

from tests.browser.conftest import DESKTOP, Tab
from tests.browser.test_web_client import (
    assert_accessible,
    both_widths,
    expect,
    go,
    photo,
    sign_up,
)
from tests.e2e.conftest import register, unique_name
from tests.media_svc import corpus

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]


async def start_conversation(tab: Tab, *usernames: str, title: str = "") -> None:
    """Pick people on the new message screen and start the conversation."""
    page = tab.page
    for name in usernames:
        await page.get_by_label("To").fill(name)
        await page.get_by_role("button", name=f"Add {name}").click()
    if title:
        await page.get_by_label("Group name (optional)").fill(title)
    await page.get_by_role("button", name=re.compile(r"^(Chat|Send)$")).click()
    await page.wait_for_url(re.compile(r"#/messages/\d+$"))


def log_of(tab: Tab) -> Any:
    return tab.page.get_by_role("log")


async def test_two_people_exchange_messages_live(open_tab, running_mesh, tmp_path):
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    alice, bob = await open_tab(), await open_tab(DESKTOP)
    await sign_up(alice, alice_name)
    await sign_up(bob, bob_name)
    a, b = alice.page, bob.page

    # alice starts a chat with bob, whom she never followed, by keyboard alone.
    await go(alice, "Messages")
    await expect(a.get_by_role("heading", name="Messages")).to_be_visible()
    await a.get_by_role("link", name="New message").click()
    await expect(a.get_by_role("heading", name="New message")).to_be_visible()
    await a.get_by_label("To").focus()
    await a.keyboard.type(bob_name)
    await expect(a.get_by_role("button", name=f"Add {bob_name}")).to_be_visible()
    await a.keyboard.press("Tab")
    await expect(a.get_by_role("button", name=f"Add {bob_name}")).to_be_focused()
    await a.keyboard.press("Enter")
    await expect(a.get_by_label("To")).to_be_focused()
    await expect(a.get_by_role("list", name="Chosen people")).to_contain_text(bob_name)
    await a.keyboard.press("Tab")
    await expect(a.get_by_role("button", name=f"Remove {bob_name}")).to_be_focused()
    await a.keyboard.press("Tab")
    await expect(a.get_by_role("button", name="Chat")).to_be_focused()
    await assert_accessible(alice, "new message")
    await both_widths(alice, "message-new")
    await a.keyboard.press("Enter")
    await a.wait_for_url(re.compile(r"#/messages/\d+$"))
    await expect(a.get_by_role("heading", name=bob_name)).to_be_visible()
    await a.get_by_label("Message", exact=True).fill("Hi Bob, it's Alice")
    await a.keyboard.press("Enter")
    await expect(log_of(alice)).to_contain_text("Hi Bob, it's Alice")

    # bob finds it among his requests (he does not follow alice) and accepts it.
    await go(bob, "Messages")
    await b.get_by_role("link", name="Requests").click()
    await expect(b.get_by_role("heading", name="Message requests")).to_be_visible()
    await expect(b.get_by_role("link", name=alice_name)).to_be_visible()
    await assert_accessible(bob, "message requests")
    await both_widths(bob, "message-requests")
    await b.get_by_role("button", name=f"Accept the request from {alice_name}").click()
    await b.wait_for_url(re.compile(r"#/messages/\d+$"))
    await expect(log_of(bob)).to_contain_text("Hi Bob, it's Alice")

    # A reply reaches alice's open conversation live, and shows alice read it ("Seen").
    await b.get_by_label("Message", exact=True).fill("Hello Alice!")
    await b.get_by_role("button", name="Send", exact=True).click()
    await expect(log_of(alice)).to_contain_text("Hello Alice!", timeout=15_000)
    await expect(b.get_by_text("Seen", exact=True)).to_be_visible(timeout=30_000)

    # Away from the conversation, alice sees the unread badge rise live, then clear on reading.
    await go(alice, "Home")
    await b.get_by_label("Message", exact=True).fill("Are you there?")
    await b.keyboard.press("Enter")
    messages_link = a.get_by_role("navigation", name="Main").get_by_role("link", name="Messages")
    await expect(messages_link).to_have_accessible_name(
        re.compile(r"Messages\s*1 unread"), timeout=15_000
    )
    await messages_link.click()
    await expect(a.get_by_role("list", name="Inbox")).to_contain_text("Are you there?")
    await expect(a.get_by_text("1 new")).to_be_visible()
    await assert_accessible(alice, "inbox")
    await both_widths(alice, "messages-inbox")
    await a.get_by_role("link", name=bob_name).click()
    await expect(log_of(alice)).to_contain_text("Are you there?")
    await expect(messages_link).to_have_accessible_name(re.compile(r"^Messages$"))

    # A photo goes across live; alice unsends her first message, gone for both.
    await a.get_by_label("Send a photo or video").set_input_files(
        str(photo(tmp_path / "beach.jpg", (800, 600)))
    )
    sent_photo = log_of(bob).get_by_role("img", name=f"Photo from {alice_name}")
    await expect(sent_photo).to_be_visible(timeout=60_000)
    first = log_of(alice).get_by_role("listitem").filter(has_text="Hi Bob, it's Alice")
    await first.get_by_role("button", name="Unsend").click()
    await expect(log_of(alice)).not_to_contain_text("Hi Bob, it's Alice")
    # bob's open conversation drops it too (the stream's `unsent` event; a 10 s re-read backs
    # it up).
    await expect(log_of(bob)).not_to_contain_text("Hi Bob, it's Alice", timeout=30_000)
    await go(bob, "Messages")
    await b.get_by_role("link", name=alice_name).click()
    await expect(log_of(bob)).to_contain_text("Are you there?")
    await expect(log_of(bob)).not_to_contain_text("Hi Bob, it's Alice")
    await assert_accessible(bob, "conversation")
    await both_widths(bob, "messages-conversation")

    # A group of three with a title, carol registered through the API.
    async with httpx.AsyncClient(base_url=running_mesh.edge_url, timeout=30) as http:
        carol = await register(http, "carol")
    await go(alice, "Messages")
    await a.get_by_role("link", name="New message").click()
    await start_conversation(alice, bob_name, carol.username, title="Weekend trip")
    await expect(a.get_by_role("heading", name="Weekend trip")).to_be_visible()
    await expect(a.get_by_text(re.compile(r"3 members: you, "))).to_be_visible()
    await a.get_by_label("Message", exact=True).fill("Who's in for Saturday?")
    await a.keyboard.press("Enter")
    # bob follows nobody here, so the group waits among his requests too.
    await go(bob, "Messages")
    await b.get_by_role("link", name="Requests").click()
    await expect(b.get_by_role("link", name="Weekend trip")).to_be_visible()

    # A stranger's request, deleted: gone from alice's requests (and not back on reload).
    async with httpx.AsyncClient(base_url=running_mesh.edge_url, timeout=30) as http:
        alice_id = (
            await http.get(f"/api/v1/users/by-username/{alice_name}", headers=carol.headers)
        ).json()["userId"]
        made = await http.post(
            "/api/v1/conversations", json={"participantIds": [alice_id]}, headers=carol.headers
        )
        assert made.status_code == 200, made.text
        sent = await http.post(
            f"/api/v1/conversations/{made.json()['conversationId']}/messages",
            json={"clientMessageId": "hello-1", "text": "Buy my photos"},
            headers=carol.headers,
        )
        assert sent.status_code == 200, sent.text
    await go(alice, "Messages")
    await a.get_by_role("link", name="Requests").click()
    requests = a.get_by_role("list", name="Message requests")
    await expect(requests).to_contain_text("Buy my photos")
    await a.get_by_role("button", name=f"Delete the request from {carol.username}").click()
    await expect(requests).not_to_contain_text("Buy my photos")
    await a.reload()
    await expect(a.get_by_role("heading", name="Message requests")).to_be_visible()
    await expect(a.get_by_text("No message requests.")).to_be_visible()


async def test_a_shared_post_keeps_its_alt_text(open_tab, tmp_path):
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    alice, bob = await open_tab(), await open_tab()
    await sign_up(alice, alice_name)
    await sign_up(bob, bob_name)
    a, b = alice.page, bob.page
    described = "A red kite over the dunes at dusk"

    # The alt text typed on the upload screen is the image's alt on the post.
    await go(alice, "New post")
    await a.get_by_label("Photo or video").set_input_files(str(photo(tmp_path / "kite.jpg")))
    await a.get_by_label("Alt text (optional)").fill(described)
    await a.get_by_label("Caption").fill("Windy evening")
    await a.get_by_role("button", name="Share", exact=True).click()
    await a.wait_for_url(re.compile(r"#/p/\d+$"), timeout=90_000)
    await expect(a.locator("article.post img").first).to_have_attribute("alt", described)

    # Without alt text, the alt says whose photo it is.
    await go(alice, "New post")
    await a.get_by_label("Photo or video").set_input_files(
        str(photo(tmp_path / "plain.jpg", (900, 900)))
    )
    await a.get_by_role("button", name="Share", exact=True).click()
    await a.wait_for_url(re.compile(r"#/p/\d+$"), timeout=90_000)
    await expect(a.locator("article.post img").first).to_have_attribute(
        "alt", f"Photo by @{alice_name}"
    )

    # Shared in a message, the post keeps its alt text for the reader.
    await go(alice, "Profile")
    await a.get_by_role("link", name=re.compile(r"Windy evening")).click()
    await a.get_by_role("link", name="Send in a message").click()
    await expect(a.get_by_role("heading", name="Send a post")).to_be_visible()
    await start_conversation(alice, bob_name)
    await expect(log_of(alice)).to_contain_text(f"Post by @{alice_name}")
    await go(bob, "Messages")
    await b.get_by_role("link", name="Requests").click()
    await b.get_by_role("link", name=alice_name).click()
    await expect(log_of(bob).get_by_role("img", name=described)).to_be_visible()
    await expect(b.get_by_role("button", name="Accept")).to_be_visible()
    await assert_accessible(bob, "a request opened")


async def test_a_reel_plays_in_another_persons_reels_tab_and_its_view_counts(
    open_tab, running_mesh, tmp_path: Path
):
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    alice, bob = await open_tab(), await open_tab()
    await sign_up(alice, alice_name)
    await sign_up(bob, bob_name)
    a, b = alice.page, bob.page
    ffmpeg = str(imageio_ffmpeg.get_ffmpeg_exe())
    clip = tmp_path / "reel.mp4"
    corpus.video(ffmpeg, clip, seconds=3.2, size="180x320", rate=10)

    await go(alice, "New post")
    await a.get_by_role("radio", name="Reel (vertical video)").check()
    await expect(a.get_by_role("heading", name="New reel")).to_be_visible()
    await a.get_by_label("Video (vertical, 3 to 90 seconds)").set_input_files(str(clip))
    await a.get_by_label("Alt text (optional)").fill("A spinning test pattern")
    await a.get_by_label("Caption").fill("First reel #test")
    await a.get_by_role("button", name="Share reel").click()
    await a.wait_for_url(re.compile(r"#/p/\d+$"), timeout=120_000)
    reel_id = str(a.url).rsplit("/", 1)[1]
    await expect(a.get_by_label("A spinning test pattern")).to_be_visible()

    # bob (a stranger: alice is public) finds it in his Reels tab; it plays, and his view counts.
    # It plays from the HLS playlist where the browser says it plays HLS (this Chromium does).
    await go(bob, "Reels")
    reel, state = await playing_reel(bob, reel_id)
    media = await reel_media(running_mesh, bob, reel_id)
    plays_hls = await b.evaluate(
        "() => document.createElement('video').canPlayType('application/vnd.apple.mpegurl') !== ''"
    )
    assert state["src"] == (media["hlsUrl"] if plays_hls else media["videoUrl"]), state
    await expect(reel.get_by_text("1 view", exact=True)).to_be_visible(timeout=15_000)
    assert (await reel_media(running_mesh, bob, reel_id, whole=True))["viewCount"] == "1"

    # carol's browser plays no HLS (as Firefox): the MP4 rendition plays, and her view counts too.
    carol = await open_tab()
    await carol.context.add_init_script(
        script="""{
            const original = HTMLMediaElement.prototype.canPlayType;
            HTMLMediaElement.prototype.canPlayType = function (type) {
                return /mpegurl/i.test(type) ? "" : original.call(this, type);
            };
        }"""
    )
    await carol.page.reload()  # init scripts run in new documents only
    await sign_up(carol, unique_name("carol"))
    await go(carol, "Reels")
    carol_reel, carol_state = await playing_reel(carol, reel_id)
    assert carol_state["src"] == media["videoUrl"], carol_state
    await expect(carol_reel.get_by_text("2 views", exact=True)).to_be_visible(timeout=15_000)

    # Keyboard: the play button pauses the reel.
    pause = reel.get_by_role("button", name="Pause")
    await pause.focus()
    await b.keyboard.press("Enter")
    await expect(reel.get_by_role("button", name="Play")).to_be_visible()
    assert await reel.locator("video").evaluate("(v) => v.paused")
    await assert_accessible(bob, "reels")
    await both_widths(bob, "reels")

    # alice's profile lists it under Reels with its views.
    await go(bob, "Search")
    await b.goto(f"/#/u/{alice_name}")
    await b.get_by_role("button", name="Reels").click()
    await expect(
        b.get_by_role("link", name=re.compile(rf"Reel by {alice_name}, 2 views"))
    ).to_be_visible()
    await assert_accessible(bob, "profile reels")
    await both_widths(bob, "profile-reels")


async def playing_reel(tab: Tab, reel_id: str) -> tuple[Any, dict[str, Any]]:
    """Wait until the reel plays in the tab's Reels tab; return it and what its video plays."""
    reel = tab.page.locator(f'article.reel[data-post-id="{reel_id}"]')
    await expect(reel).to_be_attached(timeout=30_000)
    # Other tests' reels may rank above it: bring it on screen, which makes it the one playing.
    await reel.scroll_into_view_if_needed()
    video = reel.locator("video")
    await expect(video).to_have_attribute("aria-label", "A spinning test pattern")
    # Played half a second, or what it was doing when a minute ran out.
    state = await video.evaluate(
        """(v) => new Promise((done) => {
            const deadline = Date.now() + 60000;
            const check = () => {
                const state = {src: v.currentSrc, time: v.currentTime, ready: v.readyState,
                               paused: v.paused, error: v.error && v.error.code};
                const played = v.readyState >= 2 && v.currentTime > 0.5;
                if (played || Date.now() > deadline) done(state);
                else setTimeout(check, 100);
            };
            check();
        })"""
    )
    assert state["error"] is None and state["time"] > 0.5, state
    return reel, state


async def reel_media(running_mesh: Any, tab: Tab, reel_id: str, *, whole: bool = False) -> Any:
    """Return the reel (whole) or its video as the API gives it to the tab's user."""
    token = await tab.page.evaluate(
        "() => JSON.parse(sessionStorage.getItem('shutter.session')).accessToken"
    )
    async with httpx.AsyncClient(base_url=running_mesh.edge_url, timeout=30) as http:
        found = await http.get(
            f"/api/v1/posts/{reel_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert found.status_code == 200, found.text
        post = found.json()
        author = post["user"]["userId"]
        reels = await http.get(
            f"/api/v1/users/{author}/reels", headers={"Authorization": f"Bearer {token}"}
        )
        assert reels.status_code == 200, reels.text
        listed = next(r for r in reels.json()["reels"] if r["postId"] == reel_id)
    return listed if whole else listed["media"][0]
