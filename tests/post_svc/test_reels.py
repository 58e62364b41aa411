"""The reel rules that need no mesh: what media makes a reel, and how the Reels tab ranks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from post_svc import reels
from post_svc.errors import MediaNotFound, MediaNotReady, ReelMediaInvalid
from post_svc.reel_store import ReelStats
from shutter.media.v1 import media_pb2

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
