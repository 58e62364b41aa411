"""The reel rules: what media makes a reel, how the Reels tab ranks and pages, and views."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from mesh.errors import InvalidArgument
from mesh.ids import IdGenerator
from post_svc import reels
from post_svc.errors import (
    MediaNotFound,
    MediaNotReady,
    PageTokenExpired,
    ReelMediaInvalid,
    ReelNotFound,
)
from post_svc.reel_store import ReelStats, SqlReelStore
from shutter.media.v1 import media_pb2
from tests.post_svc.conftest import World

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _video(**fields: object) -> media_pb2.Media:
    values: dict[str, object] = {
        "media_id": 5,
        "owner_user_id": 1,
        "type": media_pb2.MEDIA_TYPE_VIDEO,
        "status": media_pb2.MEDIA_STATUS_READY,
        "width": 1080,
        "height": 1920,
        "duration_ms": 15_000,
    }
    values.update(fields)
    return media_pb2.Media(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("duration_ms", [3_000, 2_950, 90_000, 90_050])
def test_a_reel_lasts_3_to_90_seconds_with_container_rounding(duration_ms: int) -> None:
    assert reels.check_reel_media(_video(duration_ms=duration_ms), caller=1).media_id == 5


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        (_video(duration_ms=2_949), "REEL_DURATION_INVALID"),
        (_video(duration_ms=90_051), "REEL_DURATION_INVALID"),
        (_video(width=1080, height=1080), "REEL_NOT_VERTICAL"),
        (_video(width=1920, height=1080), "REEL_NOT_VERTICAL"),
        (_video(type=media_pb2.MEDIA_TYPE_PHOTO), "REEL_NOT_VIDEO"),
    ],
)
def test_what_is_not_a_reel(media: media_pb2.Media, reason: str) -> None:
    with pytest.raises(ReelMediaInvalid) as refused:
        reels.check_reel_media(media, caller=1)
    assert refused.value.reason == reason


def test_only_ones_own_ready_media_makes_a_reel() -> None:
    with pytest.raises(MediaNotFound):
        reels.check_reel_media(_video(owner_user_id=2), caller=1)
    with pytest.raises(MediaNotFound):
        reels.check_reel_media(None, caller=1)
    with pytest.raises(MediaNotReady):
        reels.check_reel_media(_video(status=media_pb2.MEDIA_STATUS_PROCESSING), caller=1)


def _candidate(**fields: object) -> reels.Candidate:
    values: dict[str, object] = {
        "post_id": 1,
        "author_id": 2,
        "created_at": NOW,
        "likes": 0,
        "comments": 0,
        "following": False,
        "stats": ReelStats(),
    }
    values.update(fields)
    return reels.Candidate(**values)  # type: ignore[arg-type]


def test_each_signal_raises_the_rank() -> None:
    base = reels.score(_candidate(), now=NOW)
    assert reels.score(_candidate(created_at=NOW - timedelta(days=1)), now=NOW) < base
    assert reels.score(_candidate(likes=50, comments=5), now=NOW) > base
    assert reels.score(_candidate(following=True), now=NOW) > base
    watched = ReelStats(view_count=10, completed_count=9)
    skipped = ReelStats(view_count=10, completed_count=0)
    assert reels.score(_candidate(stats=watched), now=NOW) > base
    assert reels.score(_candidate(stats=skipped), now=NOW) < base


def test_engagement_saturates_and_a_day_halves_recency() -> None:
    huge = reels.score(_candidate(likes=10**9), now=NOW)
    assert huge == pytest.approx(reels.score(_candidate(likes=10**6), now=NOW))
    fresh = reels.score(_candidate(), now=NOW) - reels.W_COMPLETION * 0.5
    day_old = reels.score(_candidate(created_at=NOW - timedelta(hours=24)), now=NOW)
    assert day_old - reels.W_COMPLETION * 0.5 == pytest.approx(fresh / 2)


class FakeRelations:
    """graph_svc's follows (those of the world's fake graph) and mutes, in memory."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.mutes: set[tuple[int, int]] = set()

    async def relations(self, viewer: int, user_ids: Sequence[int]) -> dict[int, reels.Relation]:
        return {
            u: reels.Relation(
                following=(viewer, u) in self.world.graph.follows,
                muting=(viewer, u) in self.mutes,
            )
            for u in user_ids
        }


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _reels(world: World, clock: Clock) -> tuple[reels.Reels, FakeRelations]:
    relations = FakeRelations(world)
    rules = reels.Reels(
        world.posts,
        world.store,
        SqlReelStore(world.engine),
        world.engagement,
        privacy=world.graph,
        relations=relations,
        media=world.media,
        ids=IdGenerator(shard=6),
        clock=clock,
    )
    return rules, relations


async def _reel(world: World, rules: reels.Reels, author: int) -> int:
    media_id = world.media.add(author)
    item = world.media.items[media_id]
    item.type, item.width, item.height, item.duration_ms = media_pb2.MEDIA_TYPE_VIDEO, 9, 16, 10_000
    made = await rules.create_reel(
        caller=author, media_id=media_id, caption="", location=None, idempotency_key=""
    )
    assert made.post.record.kind == "reel" and made.view_count == 0
    return made.post.record.post_id


async def test_pages_walk_one_ranking_until_it_expires(world: World) -> None:
    clock = Clock()
    rules, relations = _reels(world, clock)
    viewer, friend, muted = world.user(), world.user(), world.user()
    strangers = [world.user() for _ in range(4)]
    world.follow(viewer, friend)
    relations.mutes.add((viewer, muted))
    public = [await _reel(world, rules, s) for s in strangers]
    followed = await _reel(world, rules, friend)
    await _reel(world, rules, muted)
    await world.post(strangers[0])  # a feed post is not a reel

    first, token = await rules.feed(viewer=viewer, page_size=2, page_token="")
    assert first[0].post.record.post_id == followed  # affinity puts the followed first
    late = await _reel(world, rules, strangers[1])
    seen = [r.post.record.post_id for r in first]
    while token:
        page, token = await rules.feed(viewer=viewer, page_size=2, page_token=token)
        seen += [r.post.record.post_id for r in page]
    assert sorted(seen) == sorted([*public, followed]) and late not in seen

    _, token = await rules.feed(viewer=viewer, page_size=1, page_token="")
    with pytest.raises(InvalidArgument):  # another viewer's token
        await rules.feed(viewer=friend, page_size=1, page_token=token)
    clock.now += reels.SNAPSHOT_TTL + timedelta(seconds=1)
    with pytest.raises(PageTokenExpired):
        await rules.feed(viewer=viewer, page_size=1, page_token=token)


async def test_views_count_once_a_day_and_a_finished_reel_leaves_the_tab(world: World) -> None:
    clock = Clock()
    rules, _ = _reels(world, clock)
    author, viewer = world.user(), world.user()
    reel = await _reel(world, rules, author)
    first = await rules.record_view(caller=viewer, post_id=reel, watched_ms=2_000)
    assert (first.counted, first.view_count, first.completed) == (True, 1, False)
    again = await rules.record_view(caller=viewer, post_id=reel, watched_ms=9_499)
    assert (again.counted, again.view_count, again.completed) == (False, 1, False)
    assert reel in [
        r.post.record.post_id
        for r in (await rules.feed(viewer=viewer, page_size=5, page_token=""))[0]
    ]
    clock.now += timedelta(days=1)
    finished = await rules.record_view(caller=viewer, post_id=reel, watched_ms=9_500)  # 95 %
    assert (finished.counted, finished.view_count, finished.completed) == (True, 2, True)
    assert (await rules.feed(viewer=viewer, page_size=5, page_token=""))[0] == []
    grid, _ = await rules.list_user_reels(viewer=viewer, user_id=author, page_size=0, page_token="")
    assert [(r.post.record.post_id, r.view_count) for r in grid] == [(reel, 2)]
    post = await world.post(author)
    with pytest.raises(ReelNotFound):  # a feed post has no views
        await rules.record_view(caller=viewer, post_id=post.record.post_id, watched_ms=1)
