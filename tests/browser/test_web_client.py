"""The web client in a real browser: people sign up, follow, post with a filter, like, comment,
get notified live, share and watch stories, and keep a private account private.

Each person is a browser context of their own (their own sessionStorage), driving the client the
edge serves at `/` against the whole mesh. Any console error fails the test (see conftest.py).
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    Tab,
    axe_violations,
    describe,
    screenshot,
)
from tests.e2e.conftest import unique_name

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(600)]

PASSWORD = "a good password"


def expect(target: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(target)


def photo(path: Path, size: tuple[int, int] = (1200, 900)) -> Path:
    """Write a JPEG of a little landscape (sky, sun, hills, lake), so filters show."""
    width, height = size
    image = Image.new("RGB", size)
    horizon = height * 3 // 5
    image.putdata(
        [
            (70 + 120 * y // horizon, 140 + 80 * y // horizon, 235)
            if y < horizon
            else (20, 90 + 60 * (y - horizon) // (height - horizon), 150)
            for y in range(height)
            for x in range(width)
        ]
    )
    draw = ImageDraw.Draw(image)
    sun = min(width, height) // 8
    draw.ellipse((width * 2 // 3, height // 8, width * 2 // 3 + sun, height // 8 + sun), "#ffd23f")
    draw.polygon([(0, horizon), (width // 3, horizon // 2), (width * 2 // 3, horizon)], "#2e7d32")
    draw.polygon(
        [(width // 3, horizon), (width * 3 // 4, horizon // 3), (width, horizon)], "#1b5e20"
    )
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    path.write_bytes(buffer.getvalue())
    return path


async def sign_up(tab: Tab, username: str) -> None:
    page = tab.page
    await page.goto("/#/signup")
    await page.get_by_label("Username", exact=True).fill(username)
    await page.get_by_label("Full name (optional)").fill(username.title())
    await page.get_by_label("Email").fill(f"{username}@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.get_by_role("heading", name="Home", exact=True)).to_be_visible()


async def go(tab: Tab, link: str) -> None:
    """Follow a link of the main navigation."""
    await tab.page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()


async def share_photo(
    tab: Tab, file: Path, *, caption: str = "", filter_label: str = "", place: Any = None
) -> str:
    """Post a photo through the upload screen; return the new post's id."""
    page = tab.page
    await go(tab, "New post")
    await expect(page.get_by_role("heading", name="New post")).to_be_visible()
    await page.get_by_label("Photo or video").set_input_files(str(file))
    if filter_label:
        await page.get_by_role("radio", name=filter_label).check()
        await expect(page.locator(".preview")).to_have_class(
            re.compile(rf"f-{filter_label.lower()}")
        )
    if caption:
        await page.get_by_label("Caption").fill(caption)
    if place:
        name, lat, lng = place
        await page.get_by_label("Place name").fill(name)
        await page.get_by_label("Latitude").fill(str(lat))
        await page.get_by_label("Longitude").fill(str(lng))
    await page.get_by_role("button", name="Share", exact=True).click()
    await page.wait_for_url(re.compile(r"#/p/\d+$"), timeout=90_000)
    return str(page.url).rsplit("/", 1)[1]


async def share_story(tab: Tab, file: Path, caption: str) -> None:
    page = tab.page
    await go(tab, "Home")
    await page.get_by_role("link", name="Your story").click()
    await expect(page.get_by_role("heading", name="New story")).to_be_visible()
    await page.get_by_label("Photo or video").set_input_files(str(file))
    await page.get_by_label("Caption").fill(caption)
    await page.get_by_role("button", name="Share to your story").click()
    await expect(page.get_by_text("Your story is up for 24 hours.")).to_be_visible(timeout=90_000)


async def both_widths(tab: Tab, name: str) -> None:
    """Screenshot the screen at phone and desktop widths, then restore the tab's width."""
    page = tab.page
    before = page.viewport_size
    for viewport in (PHONE, DESKTOP):
        await page.set_viewport_size(viewport)
        await screenshot(tab, name)
    await page.set_viewport_size(before)


async def assert_accessible(tab: Tab, screen: str) -> None:
    serious = await axe_violations(tab)
    assert not serious, f"{screen}: serious accessibility violations:\n{describe(serious)}"


async def test_two_people_post_like_comment_and_watch_a_story(open_tab, tmp_path):
    alice_name, bob_name = unique_name("alice"), unique_name("bob")
    # Tags and places are shared by the whole session's mesh: these are this test's own.
    tag, place = f"wonderland{uuid.uuid4().hex[:6]}", f"Oxford {uuid.uuid4().hex[:6]}"
    alice = await open_tab(PHONE)
    bob = await open_tab(DESKTOP)

    await assert_accessible(alice, "sign in")
    await both_widths(alice, "sign-in")
    await sign_up(alice, alice_name)
    await sign_up(bob, bob_name)
    await assert_accessible(alice, "empty feed")

    # Bob finds Alice through search and follows her.
    await go(bob, "Search")
    await bob.page.get_by_label("Search Shutter").fill(alice_name[:8])
    await bob.page.get_by_role("link", name=alice_name, exact=True).click()
    await expect(
        bob.page.get_by_role("heading", name=alice_name, exact=True, level=1)
    ).to_be_visible()
    await bob.page.get_by_role("button", name="Follow", exact=True).click()
    await expect(bob.page.get_by_role("button", name=re.compile("^Following"))).to_be_visible()
    await expect(bob.page.get_by_text("1 follower", exact=True)).to_be_visible()

    # The follow reaches Alice live: the badge counts it without a reload.
    badge = alice.page.locator("#nav-notifications .badge .n")
    await expect(badge).to_have_text("1", timeout=20_000)
    await expect(alice.page.get_by_text(f"{bob_name} started following you.")).to_be_visible()

    # Alice posts a photo with a filter, tags, a mention and a place.
    post_id = await share_photo(
        alice,
        photo(tmp_path / "tea.jpg"),
        caption=f"Tea party #{tag} with @{bob_name}",
        filter_label="Clarendon",
        place=(place, 51.752, -1.2577),
    )
    card = alice.page.locator(f'article[data-post-id="{post_id}"]')
    await expect(card.get_by_role("link", name=f"#{tag}")).to_be_visible()
    await expect(card.get_by_role("link", name=f"@{bob_name}")).to_be_visible()
    await expect(card.get_by_role("link", name=place)).to_be_visible()
    image = card.locator("picture img")
    await expect(image).to_have_attribute("alt", re.compile(f"Photo by @{alice_name}: Tea party"))
    await expect(image).to_have_attribute("srcset", re.compile(r" 640w"))
    assert await card.locator('picture source[type="image/webp"]').count() == 1
    loaded = await image.evaluate(
        "img => img.complete ? img.naturalWidth"
        " : new Promise(r => img.onload = () => r(img.naturalWidth))"
    )
    assert loaded > 0
    # Chromium takes WebP, so the picture shows a WebP variant.
    assert ".webp" in await image.evaluate("img => img.currentSrc")
    await assert_accessible(alice, "post page")
    await both_widths(alice, "post")

    # Bob sees it in his feed (latest first), likes it and comments inline.
    await go(bob, "Home")
    await bob.page.get_by_role("button", name="Latest").click()
    await expect(bob.page.get_by_role("button", name="Latest")).to_have_attribute(
        "aria-pressed", "true"
    )
    in_feed = bob.page.locator(f'article[data-post-id="{post_id}"]')
    await expect(in_feed).to_be_visible(timeout=30_000)
    # By keyboard: focus the button, press Enter.
    await in_feed.get_by_role("button", name="Like", exact=True).focus()
    await bob.page.keyboard.press("Enter")
    await expect(in_feed.get_by_role("button", name="Unlike")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(in_feed.get_by_text("1 like", exact=True)).to_be_visible()
    comment_box = in_feed.get_by_label(f"Comment on {alice_name}'s post")
    await comment_box.fill("Lovely! #tea")
    await comment_box.press("Enter")
    await expect(in_feed.get_by_role("listitem").filter(has_text="Lovely!")).to_be_visible()
    await assert_accessible(bob, "home feed")
    await both_widths(bob, "feed")

    # Alice, still on her post's page, hears about both live.
    await expect(alice.page.get_by_text(f"{bob_name} liked your post.")).to_be_visible(
        timeout=20_000
    )
    await expect(
        alice.page.get_by_text(f"{bob_name} commented on your post: “Lovely! #tea”")
    ).to_be_visible(timeout=20_000)
    await expect(badge).to_have_text("3", timeout=20_000)
    await go(alice, "Notifications")
    listed = alice.page.get_by_role("list", name="Notifications")
    await expect(listed.get_by_role("listitem")).to_have_count(3)
    await expect(listed.get_by_text(f"{bob_name} liked your post.")).to_be_visible()
    await expect(badge).to_be_hidden()  # opening the list read them
    await assert_accessible(alice, "notifications")
    await both_widths(alice, "notifications")

    # The comment shows on the post's page, for Alice too.
    await alice.page.goto(f"/#/p/{post_id}")
    await expect(alice.page.get_by_text("Lovely!")).to_be_visible()

    # Alice's profile: the grid and the counts.
    await go(alice, "Profile")
    await expect(
        alice.page.get_by_role("heading", name=alice_name, exact=True, level=1)
    ).to_be_visible()
    await expect(alice.page.locator(".tile")).to_have_count(1)
    await expect(alice.page.get_by_text("1 post", exact=True)).to_be_visible()
    await assert_accessible(alice, "profile")
    await both_widths(alice, "profile")

    # The upload screen with the filter picker.
    await go(alice, "New post")
    await alice.page.get_by_label("Photo or video").set_input_files(str(tmp_path / "tea.jpg"))
    await alice.page.get_by_role("radio", name="Moon").check()
    await alice.page.get_by_label("Caption").fill(f"#monochrome by @{bob_name[:5]}")
    await expect(alice.page.get_by_text("Tags: #monochrome")).to_be_visible()
    await assert_accessible(alice, "upload")
    await both_widths(alice, "upload")

    # Alice shares a story; Bob watches it full screen, and it counts as seen.
    await share_story(alice, photo(tmp_path / "story.jpg", (720, 1280)), "Off to the garden")
    await go(bob, "Home")
    ring = bob.page.get_by_role("link", name=re.compile(f"Story by {alice_name}.*unseen"))
    await expect(ring).to_be_visible()
    await assert_accessible(bob, "feed with stories")
    await ring.click()
    viewer = bob.page.get_by_role("dialog", name="Stories")
    await expect(viewer).to_be_visible()
    await expect(viewer.get_by_text("Off to the garden")).to_be_visible()
    await expect(viewer.locator(".bar.current")).to_have_count(1)
    # Paused, the story stays on screen while it is checked and photographed.
    await viewer.get_by_role("button", name="Pause").click()
    await assert_accessible(bob, "story viewer")
    await both_widths(bob, "story")
    # Playing again, after its five seconds the viewer closes by itself: the ring is now seen.
    await viewer.get_by_role("button", name="Play").click()
    await expect(viewer).to_be_hidden(timeout=20_000)
    seen_ring = bob.page.get_by_role("link", name=re.compile(f"Story by {alice_name}"))
    await expect(seen_ring).to_be_visible()
    await expect(seen_ring).not_to_have_accessible_name(re.compile("unseen"))
    # Alice sees who watched it; Escape closes the viewer.
    await go(alice, "Home")
    await alice.page.get_by_role("link", name=re.compile(r"^Your story\W+1 story")).click()
    own_viewer = alice.page.get_by_role("dialog", name="Stories")
    await expect(own_viewer.get_by_text("Off to the garden · Seen by 1")).to_be_visible()
    await alice.page.keyboard.press("Escape")
    await expect(own_viewer).to_be_hidden()

    # Search by tag and place, and explore.
    await go(bob, "Search")
    await bob.page.get_by_label("Search Shutter").fill(tag[:-2])
    await bob.page.get_by_text("Tags", exact=True).click()
    await bob.page.get_by_role("link", name=f"#{tag}").click()
    await expect(bob.page.get_by_role("heading", name=f"#{tag}")).to_be_visible()
    await expect(bob.page.locator(".tile")).to_have_count(1)
    await go(bob, "Search")
    await bob.page.get_by_label("Search Shutter").fill(place[:-2])
    await bob.page.get_by_text("Places", exact=True).click()
    await bob.page.get_by_role("link", name=place).click()
    await expect(bob.page.locator(f'a[href="#/p/{post_id}"]')).to_be_visible()
    await assert_accessible(bob, "place")
    await go(bob, "Search")
    await assert_accessible(bob, "search")
    await both_widths(bob, "search")
    await go(alice, "Explore")
    await expect(alice.page.get_by_role("heading", name="Explore")).to_be_visible()
    await assert_accessible(alice, "explore")


async def test_a_private_account_stays_private_until_it_approves(open_tab, tmp_path):
    carol_name, dave_name = unique_name("carol"), unique_name("dave")
    tag = f"garden{uuid.uuid4().hex[:6]}"
    carol = await open_tab(DESKTOP)
    dave = await open_tab(PHONE)
    await sign_up(carol, carol_name)
    await sign_up(dave, dave_name)

    # Carol makes her account private, then posts.
    await go(carol, "Profile")
    await carol.page.get_by_role("link", name="Edit profile").click()
    await carol.page.get_by_label(re.compile("^Private account")).check()
    await carol.page.get_by_label("Profile photo").set_input_files(
        str(photo(tmp_path / "me.jpg", (400, 400)))
    )
    await carol.page.get_by_role("button", name="Save").click()
    await expect(carol.page.get_by_title("Private account")).to_be_visible(timeout=60_000)
    # The new profile photo (its thumbnail) shows on the profile.
    await expect(carol.page.locator(".profile-pic img.avatar")).to_have_attribute(
        "src", re.compile(r"/media/")
    )
    post_id = await share_photo(carol, photo(tmp_path / "secret.jpg"), caption=f"Secret #{tag}")

    # A stranger sees the profile's counts, not its posts, nor the post under its tag.
    await dave.page.goto(f"/#/u/{carol_name}")
    await expect(dave.page.get_by_role("heading", name="This account is private")).to_be_visible()
    await expect(dave.page.locator(".tile")).to_have_count(0)
    await expect(dave.page.locator(f'a[href="#/p/{post_id}"]')).to_have_count(0)
    await assert_accessible(dave, "private profile")
    await dave.page.goto(f"/#/tags/{tag}")
    await expect(dave.page.get_by_text(f"No posts with #{tag} yet.")).to_be_visible()

    # Dave asks to follow; until Carol approves he still sees nothing.
    await dave.page.goto(f"/#/u/{carol_name}")
    await dave.page.get_by_role("button", name="Follow", exact=True).click()
    await expect(dave.page.get_by_role("button", name=re.compile("^Requested"))).to_be_visible()
    await expect(
        dave.page.get_by_text("Your request is waiting for their approval.")
    ).to_be_visible()
    await expect(carol.page.get_by_text(f"{dave_name} asked to follow you.")).to_be_visible(
        timeout=20_000
    )
    await go(carol, "Profile")
    await carol.page.get_by_role("link", name="Follow requests").click()
    await carol.page.get_by_role("button", name="Approve").click()
    await expect(carol.page.get_by_text(f"{dave_name} now follows you.")).to_be_visible()

    await dave.page.reload()
    await expect(dave.page.locator(f'a[href="#/p/{post_id}"]')).to_be_visible()

    # Carol blocks Dave: he no longer sees her posts, and she sees an Unblock button. Whatever
    # of hers Dave's open page is still loading at that moment (her profile, a thumbnail) is
    # 404 to him from then on, by design: those 404s are expected, any other failure is not.
    before_block = len(dave.failed_responses)
    dave.allowed_errors.append("status of 404")
    await carol.page.goto(f"/#/u/{dave_name}")
    carol.page.once("dialog", lambda dialog: dialog.accept())
    await carol.page.get_by_role("button", name="Block").click()
    await expect(carol.page.get_by_role("button", name="Unblock")).to_be_visible()
    await dave.page.goto("/#/")
    await dave.page.get_by_role("button", name="Latest").click()
    await expect(dave.page.get_by_text("Your feed is empty.", exact=False)).to_be_visible()
    assert all(line.endswith("-> 404") for line in dave.failed_responses[before_block:])


async def test_sign_out_sign_in_and_a_refreshed_session(open_tab):
    name = unique_name("erin")
    tab = await open_tab(PHONE)
    await sign_up(tab, name)
    await tab.page.get_by_role("button", name="Sign out").click()
    await expect(tab.page.get_by_role("heading", name="Sign in to Shutter")).to_be_visible()
    assert await tab.page.evaluate("sessionStorage.length") == 0

    await tab.page.get_by_label("Username or email").fill(f"{name}@example.com")
    await tab.page.get_by_label("Password").fill(PASSWORD)
    await tab.page.get_by_label("Password").press("Enter")
    await expect(tab.page.get_by_role("heading", name="Home", exact=True)).to_be_visible()

    # An access token the API no longer takes is renewed with the refresh token, once.
    before = await tab.page.evaluate("JSON.parse(sessionStorage.getItem('shutter.session'))")
    await tab.page.evaluate(
        """() => {
            const s = JSON.parse(sessionStorage.getItem('shutter.session'));
            s.accessToken = 'expired';
            sessionStorage.setItem('shutter.session', JSON.stringify(s));
        }"""
    )
    tab.allowed_errors.append("status of 401")
    await tab.page.reload()
    await expect(tab.page.get_by_role("heading", name="Home", exact=True)).to_be_visible()
    await go(tab, "Profile")
    await expect(tab.page.get_by_role("heading", name=name, exact=True, level=1)).to_be_visible()
    after = await tab.page.evaluate("JSON.parse(sessionStorage.getItem('shutter.session'))")
    assert after["accessToken"] not in ("expired", before["accessToken"])
    assert after["refreshToken"] != before["refreshToken"]

    # A wrong password is answered with a sentence.
    await tab.page.get_by_role("button", name="Sign out").click()
    await tab.page.get_by_label("Username or email").fill(name)
    await tab.page.get_by_label("Password").fill("not the password")
    await tab.page.get_by_role("button", name="Sign in").click()
    await expect(tab.page.get_by_role("alert")).to_have_text(
        "The username or password is incorrect."
    )


async def test_the_feed_scrolls_on_and_switches_order(open_tab, running_mesh):
    """A feed longer than a page loads its next page when the reader scrolls to its end."""
    import httpx

    from tests.e2e.conftest import register, upload_photo

    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), "teal").save(buffer, "PNG")
    async with httpx.AsyncClient(base_url=running_mesh.edge_url, timeout=30) as http:
        author = await register(http, "frank")
        for n in range(12):
            media_id = await upload_photo(http, author, buffer.getvalue())
            created = await http.post(
                "/api/v1/posts",
                json={"mediaIds": [media_id], "caption": f"Number {n}"},
                headers=author.headers,
            )
            assert created.status_code == 200, created.text

    reader = await open_tab(PHONE)
    await sign_up(reader, unique_name("gina"))
    await reader.page.goto(f"/#/u/{author.username}")
    await reader.page.get_by_role("button", name="Follow", exact=True).click()
    await expect(reader.page.locator(".tile")).to_have_count(12)
    # A follow reaches the home feed before it is answered, or through the bus when that step
    # timed out on a loaded machine: wait for it there, as paging is what this test is about.
    session = await reader.page.evaluate("JSON.parse(sessionStorage.getItem('shutter.session'))")
    async with httpx.AsyncClient(base_url=running_mesh.edge_url, timeout=30) as http:
        for _ in range(150):
            feed = await http.get(
                "/api/v1/feed",
                params={"pageSize": 1, "mode": "FEED_MODE_CHRONOLOGICAL"},
                headers={"Authorization": f"Bearer {session['accessToken']}"},
            )
            assert feed.status_code == 200, feed.text
            if feed.json().get("posts"):
                break
            await asyncio.sleep(0.1)
    await go(reader, "Home")
    await reader.page.get_by_role("button", name="Latest").click()
    posts = reader.page.locator("article.post")
    # The first page holds ten, newest first; scrolling to the end brings the other two.
    await expect(posts.first.get_by_text("Number 11")).to_be_visible()
    await expect(posts).to_have_count(10)
    await posts.nth(9).scroll_into_view_if_needed()
    await expect(posts).to_have_count(12)
    await expect(posts.last.get_by_text("Number 0")).to_be_visible()
    await expect(reader.page.get_by_role("button", name="Load more")).to_be_hidden()
    # The ranked order holds the same twelve posts.
    await reader.page.get_by_role("button", name="For you").click()
    await expect(reader.page.get_by_role("button", name="For you")).to_have_attribute(
        "aria-pressed", "true"
    )
    await posts.nth(9).scroll_into_view_if_needed()
    await expect(posts).to_have_count(12)
