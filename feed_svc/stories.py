"""The story tray: whose live stories the viewer sees, unseen first, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from feed_svc.domain import Graph
from mesh import pagination
from mesh.errors import InvalidArgument
from shutter.post.v1 import post_pb2
from shutter.user.v1 import user_pb2

TRAY_PAGE_DEFAULT = 50
TRAY_PAGE_MAX = 100
# post_svc summarises at most this many authors per BatchGetStoryRings call.
RINGS_BATCH_MAX = 500


class StoryRings(Protocol):
    """post_svc's summaries of live stories."""

    async def story_rings(
        self, viewer_id: int, author_ids: Sequence[int]
    ) -> list[post_pb2.StoryRing]: ...


class Directory(Protocol):
    """user_svc's account summaries."""

    async def summaries(self, user_ids: Sequence[int]) -> dict[int, user_pb2.UserSummary]: ...


def tray_order(viewer: int, rings: Sequence[post_pb2.StoryRing]) -> list[post_pb2.StoryRing]:
    """Return rings in tray order: the viewer's own, then unseen, then seen; newest first."""

    def key(ring: post_pb2.StoryRing) -> tuple[int, int, int, int]:
        latest = ring.latest_created_at
        return (
            ring.user_id != viewer,
            not ring.has_unseen,
            -(latest.seconds * 1_000_000_000 + latest.nanos),
            ring.user_id,
        )

    return sorted(rings, key=key)


class StoryTray:
    """Assemble a viewer's story tray from the graph, post_svc's rings and user_svc's names."""

    def __init__(self, graph: Graph, rings: StoryRings, directory: Directory) -> None:
        self._graph = graph
        self._rings = rings
        self._directory = directory

    async def page(
        self, *, viewer: int, page_size: int, page_token: str
    ) -> tuple[list[tuple[post_pb2.StoryRing, user_pb2.UserSummary]], str]:
        """Return one page of the tray and the next page's token ("" at the end)."""
        size = pagination.page_size(page_size, default=TRAY_PAGE_DEFAULT, maximum=TRAY_PAGE_MAX)
        cursor = pagination.decode_token(page_token) or {"offset": 0}
        offset = cursor.get("offset")
        if not isinstance(offset, int) or offset < 0:
            raise InvalidArgument.field("page_token", "is not a token this service issued")
        followed = await self._graph.following_ids(viewer, exclude_muted=True)
        authors = list(dict.fromkeys([viewer, *followed]))
        rings: list[post_pb2.StoryRing] = []
        for start in range(0, len(authors), RINGS_BATCH_MAX):
            rings += await self._rings.story_rings(viewer, authors[start : start + RINGS_BATCH_MAX])
        ordered = tray_order(viewer, rings)
        window = ordered[offset : offset + size]
        names = await self._directory.summaries([r.user_id for r in window])
        page = [(ring, names[ring.user_id]) for ring in window if ring.user_id in names]
        more = offset + size < len(ordered)
        return page, pagination.encode_token({"offset": offset + size}) if more else ""
