"""Hashtag pages from the read model: the tag's index and authors filled once from post_svc,
kept by PostCreated/PostDeleted, the privacy rule and the visible count from cached facts, and
pages (post_svc's tokens) that stay stable while posts arrive."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feed_svc import readmodel
from mesh import pagination
from mesh.errors import InvalidArgument
from tests.feed_svc.conftest import World, feed_settings, make_world


async def read_tag(world: World, viewer: int, tag: str, *, size: int = 20) -> tuple[int, list[int]]:
    """Return the visible count of a tag's first page and every post id of its pages."""
    found: list[int] = []
    token = ""
    count = -1
    for _ in range(100):
        name, visible, posts, token = await world.feeds.hashtag_posts(
            viewer=viewer, tag=tag, page_size=size, page_token=token
        )
        assert name == tag.removeprefix("#").lower()
        count = visible if count < 0 else count
        found.extend(p.post_id for p in posts)
        if not token:
            return count, found
    raise AssertionError("the hashtag page did not end within 100 pages")


async def test_a_cold_tag_is_filled_once_then_read_without_asking_post_svc(world: World) -> None:
    author, viewer = world.user(), world.user()
    made = [await world.post(author, tags=["art", "sun"]) for _ in range(3)]
    await world.post(author, tags=["other"])
    count, found = await read_tag(world, viewer, "#ART")
    assert (count, found) == (3, made[::-1])
    assert [c for c in world.posts.tag_calls if c[0] == "art"] == [("art", None, 201, True)]
    calls = (len(world.posts.tag_calls), len(world.posts.calls), len(world.graph.calls))
    _, _, posts, _ = await world.feeds.hashtag_posts(
        viewer=viewer, tag="art", page_size=20, page_token=""
    )
    assert [p.post_id for p in posts] == made[::-1]
    assert posts[0].user.username == f"user{author}" and posts[0].hashtags == ["art", "sun"]
    # Warm: no call to post_svc (index, posts) nor graph_svc (relationships).
    assert (len(world.posts.tag_calls), len(world.posts.calls), len(world.graph.calls)) == calls


async def test_new_and_deleted_posts_show_on_the_next_read(world: World) -> None:
    author, other, viewer = world.user(), world.user(), world.user()
    first = await world.post(author, tags=["art"])
    assert await read_tag(world, viewer, "art") == (1, [first])
    second = await world.post(other, tags=["art"])
    assert await read_tag(world, viewer, "art") == (2, [second, first])
    await world.delete(first)
    assert await read_tag(world, viewer, "art") == (1, [second])
    # The index was kept by the events; only the authors' counts were read again.
    assert [c[2] for c in world.posts.tag_calls] == [201, 0, 0]


async def test_a_deletion_event_without_tags_still_takes_the_post_out(world: World) -> None:
    author, viewer = world.user(), world.user()
    kept, gone = await world.post(author, tags=["art"]), await world.post(author, tags=["art"])
    assert await read_tag(world, viewer, "art") == (2, [gone, kept])
    world.posts.deleted.add(gone)
    # An event sent before PostDeleted carried hashtags: the kept post's own tags are used.
    await world.feeds.post_deleted(post_id=gone, author_id=author, created_at=datetime.now(UTC))
    assert await read_tag(world, viewer, "art") == (1, [kept])


async def test_a_block_holds_on_the_next_read_both_ways(world: World) -> None:
    author, viewer, bystander = world.user(), world.user(), world.user()
    mine = await world.post(author, tags=["art"])
    yours = await world.post(viewer, tags=["art"])
    theirs = await world.post(bystander, tags=["art"])
    everything = (3, [theirs, yours, mine])
    assert await read_tag(world, viewer, "art") == everything
    assert await read_tag(world, author, "art") == everything
    world.graph.blocks.add((author, viewer))
    # graph_svc's ApplyEvents before it answers the block: the relationship cache is dropped.
    await world.feeds.relation_changed(author, viewer)
    await world.feeds.blocked(blocker_id=author, blocked_id=viewer)
    assert await read_tag(world, viewer, "art") == (2, [theirs, yours])
    assert await read_tag(world, author, "art") == (2, [theirs, mine])
    world.graph.blocks.discard((author, viewer))
    await world.feeds.relation_changed(author, viewer)
    await world.feeds.unblocked(blocker_id=author, blocked_id=viewer)
    assert await read_tag(world, viewer, "art") == everything


async def test_a_private_authors_posts_and_count_show_to_followers_only(world: World) -> None:
    author, follower, stranger = world.user(), world.user(), world.user()
    world.posts.private.add(author)
    hidden = [await world.post(author, private=True, tags=["art"]) for _ in range(2)]
    public = await world.post(stranger, tags=["art"])
    await world.follow(follower, author)
    await world.feeds.relation_changed(follower, author)
    assert await read_tag(world, follower, "art") == (3, [public, *hidden[::-1]])
    assert await read_tag(world, stranger, "art") == (1, [public])
    assert await read_tag(world, author, "art") == (3, [public, *hidden[::-1]])  # their own
    assert await read_tag(world, 0, "art") == (1, [public])  # nobody signed in
    await world.unfollow(follower, author)
    await world.feeds.relation_changed(follower, author)
    assert await read_tag(world, follower, "art") == (1, [public])


async def test_reads_after_flushdb_are_the_same(world: World) -> None:
    author, private, viewer = world.user(), world.user(), world.user()
    world.posts.private.add(private)
    made = [await world.post(author, tags=["art"]) for _ in range(5)]
    await world.post(private, private=True, tags=["art"])
    before = await read_tag(world, viewer, "art", size=2)
    assert before == (5, made[::-1])
    await world.redis.flushall()
    assert await read_tag(world, viewer, "art", size=2) == before
    await world.delete(made[0])  # kept by the event on an index filled again
    assert await read_tag(world, viewer, "art", size=2) == (4, made[:0:-1])


async def test_pages_are_stable_while_posts_arrive_between_them(world: World) -> None:
    author, viewer = world.user(), world.user()
    old = [await world.post(author, tags=["art"]) for _ in range(5)]
    _, _, first, token = await world.feeds.hashtag_posts(
        viewer=viewer, tag="art", page_size=2, page_token=""
    )
    assert [p.post_id for p in first] == old[:2:-1] and token
    # post_svc's own token for this list: the same shape.
    assert pagination.decode_token(token) == {"k": "tag", "s": "art", "c": old[3]}
    newer = await world.post(author, tags=["art"])
    seen = [p.post_id for p in first]
    while token:
        _, _, posts, token = await world.feeds.hashtag_posts(
            viewer=viewer, tag="art", page_size=2, page_token=token
        )
        seen += [p.post_id for p in posts]
    assert seen == old[::-1]  # neither repeated nor pushed out; the new one is on page one
    assert (await read_tag(world, viewer, "art", size=2))[1] == [newer, *old[::-1]]


async def test_hidden_posts_leave_short_pages_with_post_svcs_tokens(world: World) -> None:
    public, private, viewer = world.user(), world.user(), world.user()
    world.posts.private.add(private)
    shown = [await world.post(public, tags=["art"])]
    for _ in range(3):
        await world.post(private, private=True, tags=["art"])
    shown.append(await world.post(public, tags=["art"]))
    _, _, posts, token = await world.feeds.hashtag_posts(
        viewer=viewer, tag="art", page_size=1, page_token=""
    )
    assert [p.post_id for p in posts] == [shown[1]]
    _, _, posts, token = await world.feeds.hashtag_posts(
        viewer=viewer, tag="art", page_size=1, page_token=token
    )
    assert [p.post_id for p in posts] == [shown[0]] and token == ""


async def test_pages_past_what_the_index_keeps_come_from_post_svc(data_dir: Path) -> None:
    world, engine = await make_world(feed_settings(data_dir, read_model_tag_posts=20))
    try:
        author, viewer = world.user(), world.user()
        made = [await world.post(author, tags=["art"]) for _ in range(26)]
        assert await read_tag(world, viewer, "art", size=8) == (26, made[::-1])
        deep = [c for c in world.posts.tag_calls if c[1] is not None]
        assert deep and all(c[3] is False for c in deep)  # beyond the 20 kept ids
        members = await world.redis.zcard(readmodel.tag_key("art"))
        assert members == 21  # the 20 newest and the built marker (no floor: there are more)
    finally:
        await world.redis.aclose()
        await engine.dispose()  # type: ignore[attr-defined]


async def test_a_fill_taken_before_a_new_post_is_not_kept(world: World) -> None:
    author, viewer = world.user(), world.user()
    old = await world.post(author, tags=["art"])
    await world.redis.flushall()
    gate = asyncio.Event()
    original = world.posts.tag_posts
    asked: list[bool] = []

    async def slow(
        tag: str, *, before: int | None, limit: int, with_authors: bool
    ) -> tuple[list[int], dict[int, int]]:
        answer = await original(tag, before=before, limit=limit, with_authors=with_authors)
        asked.append(with_authors)
        if len(asked) == 1:
            await gate.wait()
        return answer

    world.posts.tag_posts = slow  # type: ignore[method-assign]
    reading = asyncio.ensure_future(read_tag(world, viewer, "art"))
    while not asked:
        await asyncio.sleep(0.01)
    newer = await world.post(author, tags=["art"])  # made while the fill read the old index
    gate.set()
    assert (await reading)[1] in ([old], [newer, old])  # this one read may be either
    assert await read_tag(world, viewer, "art") == (2, [newer, old])


async def test_a_cold_tag_is_filled_once_across_concurrent_readers(world: World) -> None:
    author = world.user()
    made = [await world.post(author, tags=["art"]) for _ in range(3)]
    readers = [world.user() for _ in range(6)]
    answers = await asyncio.gather(*(read_tag(world, r, "art") for r in readers))
    assert answers == [(3, made[::-1])] * 6
    assert len([c for c in world.posts.tag_calls if c[3]]) == 1
    assert await world.redis.get(readmodel.tag_lock_key("art")) is None  # released


@pytest.mark.parametrize(
    ("tag", "token", "message"),
    [
        ("#", "", "is required"),
        ("a" * 101, "", "at most 100"),
        ("no-dash", "", "letters, marks, digits"),
        ("art", pagination.encode_token({"k": "tag", "s": "sun", "c": 5}), "this list"),
        ("art", pagination.encode_token({"k": "tag", "s": "art", "c": "5"}), "this list"),
        ("art", pagination.encode_token({"k": "user", "s": "art", "c": 5}), "this list"),
    ],
)
async def test_bad_tags_and_tokens_are_refused(
    world: World, tag: str, token: str, message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await world.feeds.hashtag_posts(viewer=1, tag=tag, page_size=5, page_token=token)
