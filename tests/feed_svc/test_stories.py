"""The story tray: own ring first, unseen before seen, newest first, muted left out, paged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest
from google.protobuf import timestamp_pb2

from feed_svc.stories import RINGS_BATCH_MAX, StoryTray, tray_order
from mesh.errors import InvalidArgument
from shutter.post.v1 import post_pb2
from shutter.user.v1 import user_pb2

VIEWER = 1


def ring(user_id: int, seconds: int, *, unseen: bool = True) -> post_pb2.StoryRing:
    return post_pb2.StoryRing(
        user_id=user_id,
        story_count=1,
        latest_created_at=timestamp_pb2.Timestamp(seconds=seconds),
        has_unseen=unseen,
    )


class Fakes:
    """A follow list, the rings post_svc would answer, and user_svc's names."""

    def __init__(self, following: list[int], rings: list[post_pb2.StoryRing]) -> None:
        self.following = following
        self.rings = {r.user_id: r for r in rings}
        self.ring_calls: list[list[int]] = []
        self.muted_excluded: list[bool] = []

    async def following_ids(self, user_id: int, *, exclude_muted: bool) -> list[int]:
        self.muted_excluded.append(exclude_muted)
        return self.following

    async def follower_batches(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> AsyncIterator[list[int]]:
        raise AssertionError("the tray never lists followers")
        yield []

    async def follower_counts(self, user_ids: Sequence[int]) -> dict[int, int]:
        return {}

    async def counted_followers(
        self, user_id: int, *, batch_size: int, exclude_muted: bool
    ) -> object:
        raise AssertionError("the tray never lists followers")

    async def relations(self, viewer_id: int, user_ids: Sequence[int]) -> dict[int, object]:
        return {}

    async def ties(self, viewer_id: int, *, limit: int) -> None:
        return None

    async def story_rings(
        self, viewer_id: int, author_ids: Sequence[int]
    ) -> list[post_pb2.StoryRing]:
        assert len(author_ids) <= RINGS_BATCH_MAX
        self.ring_calls.append(list(author_ids))
        return [self.rings[a] for a in author_ids if a in self.rings]

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]:
        return {u: user_pb2.UserSummary(user_id=u, username=f"u{u}") for u in user_ids}


def test_own_ring_first_then_unseen_then_seen_each_newest_first() -> None:
    rings = [
        ring(2, 100, unseen=False),
        ring(3, 300),
        ring(VIEWER, 50, unseen=False),
        ring(4, 200),
        ring(5, 400, unseen=False),
    ]
    assert [r.user_id for r in tray_order(VIEWER, rings)] == [VIEWER, 3, 4, 5, 2]


async def test_tray_pages_through_every_ring_once() -> None:
    following = list(range(2, 1200))  # more than one post_svc batch
    rings = [ring(u, u, unseen=u % 3 == 0) for u in following if u % 2 == 0]
    fakes = Fakes(following, rings)
    tray = StoryTray(fakes, fakes, fakes)  # type: ignore[arg-type]
    seen: list[int] = []
    token = ""
    while True:
        page, token = await tray.page(viewer=VIEWER, page_size=100, page_token=token)
        assert len(page) <= 100
        seen += [r.user_id for r, user in page if user.user_id == r.user_id]
        if not token:
            break
    assert seen == [r.user_id for r in tray_order(VIEWER, rings)]
    assert fakes.muted_excluded and all(fakes.muted_excluded)  # muted accounts never ask
    assert max(len(c) for c in fakes.ring_calls) == RINGS_BATCH_MAX


async def test_page_limits_and_foreign_tokens() -> None:
    fakes = Fakes([2, 3], [ring(2, 10), ring(3, 20)])
    tray = StoryTray(fakes, fakes, fakes)  # type: ignore[arg-type]
    page, token = await tray.page(viewer=VIEWER, page_size=0, page_token="")
    assert [r.user_id for r, _ in page] == [3, 2] and token == ""
    page, token = await tray.page(viewer=VIEWER, page_size=1, page_token="")
    assert [r.user_id for r, _ in page] == [3] and token
    with pytest.raises(InvalidArgument, match="page_size"):
        await tray.page(viewer=VIEWER, page_size=-1, page_token="")
    with pytest.raises(InvalidArgument, match="page_token"):
        await tray.page(viewer=VIEWER, page_size=1, page_token="bm9wZQ")
