"""The post rules with fakes of graph_svc, user_svc and media_svc: parsing, limits at their edges,
who may do what, events, idempotency, lists, and the cost of hydrating a batch."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from datetime import UTC

import pytest
from sqlalchemy import event, func, select

from mesh import pagination
from mesh.errors import DomainError, InvalidArgument
from post_svc import domain, geo, store, text
from post_svc.errors import (
    AuthorNotFound,
    CommentNotFound,
    IdempotencyKeyReused,
    MediaAlreadyPosted,
    MediaNotFound,
    MediaNotReady,
    NotCommentAuthor,
    NotPostAuthor,
    NotViewer,
    PostNotFound,
    PrivateAccount,
    ReplyToReply,
)
from shutter.events.v1 import envelope_pb2, post_events_pb2
from shutter.media.v1 import media_pb2
from tests.post_svc.conftest import World, outbox_events

PARIS = domain.LocationInput("Café de Flore", 48.8541, 2.3326)


# -- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caption", "tags", "mentions"),
    [
        ("#café au lait", ["café"], []),
        ("cafe\u0301 #cafe\u0301", ["café"], []),  # decomposed é is normalised to one character
        ("#Café #CAFÉ #café", ["café"], []),
        ("#東京 #नमस्ते #Straße", ["東京", "नमस्ते", "straße"], []),
        ("#summer_2024! and #1 #2024", ["summer_2024"], []),
        ("a#b &#39; ##double", ["double"], []),
        ("line one #a\n#b", ["a", "b"], []),
        ("write to email@host.com", [], []),
        ("hi @Bob_1! and @alice.", [], ["bob_1", "alice"]),
        ("@bob@host @bobé @a..b @.dot", [], []),
        ("(@carol) @carol @CAROL", [], ["carol"]),
        ("@" + "x" * 30 + " @" + "y" * 31, [], ["x" * 30]),
        ("#tag@bob #x", ["tag", "x"], []),
    ],
)
def test_caption_parsing(caption: str, tags: list[str], mentions: list[str]) -> None:
    parsed = text.parse("caption", caption, required=False)
    assert list(parsed.hashtags) == tags
    assert list(parsed.mentions) == mentions


def _violated(exc: DomainError) -> list[str]:
    return [v.field for v in exc.violations]


def test_text_limits_at_their_edges() -> None:
    assert len(text.parse("caption", "é" * 2200, required=False).text) == 2200
    assert text.parse("caption", "  \n hi \n ", required=False).text == "hi"
    assert text.parse("caption", "", required=False).text == ""
    tags = " ".join(f"#t{i}x" for i in range(30))
    assert len(text.parse("caption", tags + " #t0x", required=False).hashtags) == 30
    names = " ".join(f"@u{i}" for i in range(20))
    assert len(text.parse("caption", names, required=False).mentions) == 20
    assert text.parse("caption", "#" + "a" * 100, required=False).hashtags == ("a" * 100,)
    for bad, why in [
        ("é" * 2201, "at most 2200"),
        (tags + " #one_more", "30 distinct hashtags"),
        (names + " @u20", "20 distinct accounts"),
        ("#" + "a" * 101, "at most 100 characters"),
        ("tab\there", "control characters"),
    ]:
        with pytest.raises(InvalidArgument) as caught:
            text.parse("caption", bad, required=False)
        assert _violated(caught.value) == ["caption"] and why in caught.value.message
    with pytest.raises(InvalidArgument) as caught:
        text.parse("text", " \n ", required=True)
    assert _violated(caught.value) == ["text"]


def test_idempotency_keys() -> None:
    assert text.check_idempotency_key("") is None
    assert text.check_idempotency_key("k" * 128) == "k" * 128
    for bad in ("k" * 129, "with space", "ключ"):
        with pytest.raises(InvalidArgument) as caught:
            text.check_idempotency_key(bad)
        assert _violated(caught.value) == ["idempotency_key"]


# -- geometry -----------------------------------------------------------------------------


def test_distances_and_search_areas() -> None:
    paris, london = geo.Point(48.8566, 2.3522), geo.Point(51.5074, -0.1278)
    assert geo.distance_km(paris, london) == pytest.approx(343.5, abs=0.5)
    assert geo.distance_km(paris, paris) == 0
    for centre in (paris, geo.Point(-16.8, 180.0), geo.Point(89.99, 10.0), geo.Point(0, 0)):
        for radius in (0.5, 5.0, 5.01, 100.0):
            zone = geo.area(centre, radius)
            grid = geo.FINE if zone.fine else geo.COARSE
            # Few ranges, whatever the radius: one or two per latitude band, at most 22 bands.
            bands = 2 * radius / (geo.KM_PER_DEGREE / grid) + 2
            assert len(zone.cell_ranges) <= 2 * bands <= 44
            # Every point on the circle lies in a read cell and in the bounding box.
            for step in range(36):
                bearing = math.radians(step * 10)
                point = _destination(centre, bearing, radius * 0.999999)
                c = geo.cell(point, grid)
                assert any(lo <= c <= hi for lo, hi in zone.cell_ranges), (centre, radius, step)
                assert zone.lat_range[0] <= point.lat <= zone.lat_range[1]
                assert any(lo <= point.lng <= hi for lo, hi in zone.lng_ranges)
    with pytest.raises(InvalidArgument) as caught:
        geo.check_point(90.0001, 0)
    assert _violated(caught.value) == ["lat"]
    with pytest.raises(InvalidArgument) as caught:
        geo.check_point(0, math.nan, prefix="location.")
    assert _violated(caught.value) == ["location.lng"]
    assert geo.check_point(-90, 180) == geo.Point(-90, 180)


def _destination(start: geo.Point, bearing: float, km: float) -> geo.Point:
    """Return the point km away from start along a bearing (radians), on the sphere."""
    angle = km / geo.EARTH_RADIUS_KM
    phi1, lmb1 = math.radians(start.lat), math.radians(start.lng)
    phi2 = math.asin(
        math.sin(phi1) * math.cos(angle) + math.cos(phi1) * math.sin(angle) * math.cos(bearing)
    )
    lmb2 = lmb1 + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(phi1),
        math.cos(angle) - math.sin(phi1) * math.sin(phi2),
    )
    lng = (math.degrees(lmb2) + 540) % 360 - 180
    return geo.Point(math.degrees(phi2), lng)


# -- creating posts -----------------------------------------------------------------------


async def _count(world: World, table: object) -> int:
    async with world.store.transaction() as tx:
        return int(await tx.scalar(select(func.count()).select_from(table)))  # type: ignore[arg-type]


async def test_create_a_carousel_with_tags_mentions_and_place(world: World) -> None:
    author = world.user("author")
    bob = world.user("Bob")
    view = await world.post(
        author, "Morning #Café with @bob and @ghost @author #paris", media=3, location=PARIS
    )
    record = view.record
    assert record.hashtags == ("café", "paris")
    # Unknown accounts are ignored; mentioning oneself is kept but tells nobody.
    assert record.mentions == (store.Mention(bob, "Bob"), store.Mention(author, "author"))
    assert len(view.media) == 3 and [m.media_id for m in view.media] == list(record.media_ids)
    assert view.author.user_id == author and view.counts == store.Counts(0, 0)
    assert record.location == store.Location(PARIS.name, geo.Point(PARIS.lat, PARIS.lng))
    assert record.place_id
    events = await outbox_events(world.store)
    assert [type(e).__name__ for _, e in events] == ["PostCreated", "UserMentioned"]
    created, mentioned = events[0][1], events[1][1]
    assert created.post_id == record.post_id and created.author_id == author
    assert list(created.hashtags) == ["café", "paris"] and created.place_id == record.place_id
    assert list(created.mentioned_user_ids) == [bob, author] and not created.author_is_private
    assert created.created_at.ToDatetime().year >= 2025
    assert (mentioned.mentioned_user_id, mentioned.author_id, mentioned.comment_id) == (
        bob,
        author,
        0,
    )
    assert (await world.posts.get_post(viewer=author, post_id=record.post_id)).record == record


async def test_mentions_of_blocked_accounts_are_ignored(world: World) -> None:
    author, blocker, blocked = world.user("a"), world.user("blocker"), world.user("blocked")
    world.block(blocker, author)
    world.block(author, blocked)
    view = await world.post(author, "@blocker @blocked")
    assert view.record.mentions == ()
    assert [type(e).__name__ for _, e in await outbox_events(world.store)] == ["PostCreated"]


async def test_a_private_author_is_marked_in_the_event(world: World) -> None:
    author = world.user(private=True)
    await world.post(author)
    [(_, created)] = await outbox_events(world.store)
    assert created.author_is_private


async def test_the_event_carries_the_post_as_every_viewer_sees_it(world: World) -> None:
    author = world.user("ann")
    world.directory.users[author].full_name = "Ann"
    view = await world.post(
        author, "Sunset #beach @ann", location=domain.LocationInput("Pier", 1, 2)
    )
    [(_, created), *_] = await outbox_events(world.store)
    shared = created.post
    # What feed_svc keeps without reading the post back: the author as an id only, no counts,
    # no viewer flags; the rest as the author's own answer showed it.
    assert shared.post_id == view.record.post_id
    assert shared.user.user_id == author
    assert shared.user.username == "" and shared.user.full_name == ""
    assert [m.media_id for m in shared.media] == list(view.record.media_ids)
    assert shared.media[0].variants.feed == view.media[0].variants.feed
    assert (shared.caption, list(shared.hashtags)) == ("Sunset #beach @ann", ["beach"])
    assert list(shared.mentions) == ["ann"]
    assert (shared.location.name, shared.location.lat, shared.location.lng) == ("Pier", 1, 2)
    assert shared.place_id == view.record.place_id != 0
    assert shared.created_at.ToDatetime(tzinfo=UTC) == view.record.created_at
    assert (shared.like_count, shared.comment_count, shared.has_liked, shared.has_saved) == (
        0,
        0,
        False,
        False,
    )
    # ApplyEvents got the same envelope (feed_svc keeps it before the author is answered).
    assert world.feed.kinds() == ["PostCreated"]
    assert world.feed.applied[0].payload.value == created.SerializeToString()


async def test_the_event_carries_no_copy_while_a_video_ladder_is_being_made(
    world: World,
) -> None:
    author = world.user()
    photo = world.media.add(author)
    video = world.media.add(author)
    world.media.items[video].type = media_pb2.MEDIA_TYPE_VIDEO
    world.media.items[video].hls_status = media_pb2.HLS_STATUS_PROCESSING
    await world.posts.create_post(
        caller=author, media_ids=[photo, video], caption="", location=None, idempotency_key=""
    )
    [(_, created)] = await outbox_events(world.store)
    # The ladder's rungs come later: a copy would keep the unfinished ladder, so feed_svc reads
    # the post back instead (and MediaLadderFinished reads it again).
    assert not created.HasField("post")
    assert list(created.media_ids) == [photo, video]


async def _fails(call: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_bad_posts_are_refused_and_nothing_is_written(world: World) -> None:
    author, other = world.user(), world.user()
    mine = [world.media.add(author) for _ in range(11)]
    theirs = world.media.add(other)
    pending = world.media.add(author, ready=False)

    def create(media_ids: list[int], **extra: object) -> object:
        fields: dict[str, object] = {"caption": "", "location": None, "idempotency_key": ""}
        fields.update(extra)
        return world.posts.create_post(caller=author, media_ids=media_ids, **fields)  # type: ignore[arg-type]

    cases: list[tuple[object, type[DomainError], list[str]]] = [
        (create([]), InvalidArgument, ["media_ids"]),
        (create(mine), InvalidArgument, ["media_ids"]),
        (create([mine[0], mine[0]]), InvalidArgument, ["media_ids"]),
        (create([mine[0], -1]), InvalidArgument, ["media_ids[1]"]),
        (create([mine[0], theirs]), MediaNotFound, ["media_ids[1]"]),
        (create([mine[0], 12345]), MediaNotFound, ["media_ids[1]"]),
        (create([pending]), MediaNotReady, []),
        (create([mine[0]], caption="x" * 2201), InvalidArgument, ["caption"]),
        (
            create([mine[0]], location=domain.LocationInput("x", 90.5, 0)),
            InvalidArgument,
            ["location.lat"],
        ),
        (
            create([mine[0]], location=domain.LocationInput("x", 0, -180.01)),
            InvalidArgument,
            ["location.lng"],
        ),
        (
            create([mine[0]], location=domain.LocationInput(" ", 1, 1)),
            InvalidArgument,
            ["location.name"],
        ),
        (
            create([mine[0]], location=domain.LocationInput("n" * 101, 1, 1)),
            InvalidArgument,
            ["location.name"],
        ),
        (create([mine[0]], idempotency_key="k" * 129), InvalidArgument, ["idempotency_key"]),
    ]
    for call, kind, fields in cases:
        error = await _fails(call)
        assert type(error) is kind, (error, kind)
        assert _violated(error) == fields, error
    assert await _count(world, store.posts) == 0
    assert await _count(world, store.outbox) == 0
    # The edges that pass: ten media, a 100-character place name at the poles' corner.
    view = await world.posts.create_post(
        caller=author,
        media_ids=mine[:10],
        caption="x" * 2200,
        location=domain.LocationInput("n" * 100, -90, 180),
        idempotency_key="",
    )
    assert len(view.media) == 10
    error = await _fails(create([mine[9], mine[10]]))
    assert type(error) is MediaAlreadyPosted and "media_ids[0]" in error.message
    assert await _count(world, store.posts) == 1


async def test_an_idempotency_key_makes_one_post(world: World) -> None:
    author = world.user()
    media_ids = [world.media.add(author)]

    async def create(caption: str = "hello #once") -> domain.PostView:
        return await world.posts.create_post(
            caller=author, media_ids=media_ids, caption=caption, location=None, idempotency_key="k1"
        )

    first = await create()
    again = await create()
    assert again.record.post_id == first.record.post_id
    error = await _fails(create("something else"))
    assert type(error) is IdempotencyKeyReused
    # Racing retries of a new key: one post, every caller gets it.
    other_media = [world.media.add(author)]
    racing = await asyncio.gather(
        *(
            world.posts.create_post(
                caller=author,
                media_ids=other_media,
                caption="",
                location=None,
                idempotency_key="k2",
            )
            for _ in range(5)
        )
    )
    assert len({v.record.post_id for v in racing}) == 1
    assert await _count(world, store.posts) == 2
    async with world.store.transaction() as tx:
        assert await world.store.post_counts(tx, user_ids=[author]) == {author: 2}
        assert await world.store.get_hashtag(tx, tag="once") == store.HashtagRecord("once", 1)
    await world.posts.delete_post(caller=author, post_id=first.record.post_id)
    error = await _fails(create())
    assert type(error) is PostNotFound


# -- reading, privacy ---------------------------------------------------------------------


async def test_who_sees_a_post(world: World) -> None:
    owner, follower, stranger, blocked = (
        world.user(private=True),
        world.user(),
        world.user(),
        world.user(),
    )
    world.follow(follower, owner)
    world.block(owner, blocked)
    post = (await world.post(owner)).record.post_id
    for member in (owner, follower):
        assert (await world.posts.get_post(viewer=member, post_id=post)).record.post_id == post
    for outsider in (stranger, blocked, None):
        error = await _fails(world.posts.get_post(viewer=outsider, post_id=post))
        assert type(error) is PostNotFound
        error = await _fails(world.posts.like(caller=outsider or stranger, post_id=post))
        assert type(error) is PostNotFound
    error = await _fails(world.posts.get_post(viewer=owner, post_id=post + 1))
    assert type(error) is PostNotFound
    assert await world.posts.batch_get(viewer=follower, post_ids=[post, post + 1]) != []
    assert await world.posts.batch_get(viewer=stranger, post_ids=[post]) == []
    error = await _fails(
        world.posts.list_user_posts(viewer=stranger, user_id=owner, page_size=0, page_token="")
    )
    assert type(error) is PrivateAccount
    error = await _fails(
        world.posts.list_user_posts(viewer=blocked, user_id=owner, page_size=0, page_token="")
    )
    assert type(error) is AuthorNotFound
    error = await _fails(
        world.posts.list_user_posts(viewer=owner, user_id=12345, page_size=0, page_token="")
    )
    assert type(error) is AuthorNotFound


def test_internal_calls_act_for_the_caller_only() -> None:
    from mesh.context import Principal

    user = Principal(subject="5", user_id=5, is_service=False, token="t")
    service = Principal(subject="svc:feed_svc", user_id=None, is_service=True, token="t")
    assert domain.resolve_viewer(user, 0) == 5 and domain.resolve_viewer(user, 5) == 5
    assert domain.resolve_viewer(service, 7) == 7 and domain.resolve_viewer(service, 0) is None
    with pytest.raises(NotViewer):
        domain.resolve_viewer(user, 7)
    with pytest.raises(InvalidArgument):
        domain.resolve_viewer(service, -1)


async def test_the_grid_pages_newest_first_and_tokens_stay_with_their_list(world: World) -> None:
    author = world.user()
    made = [(await world.post(author)).record.post_id for _ in range(5)]
    first, token = await world.posts.list_user_posts(
        viewer=author, user_id=author, page_size=2, page_token=""
    )
    seen = [v.record.post_id for v in first]
    while token:
        page, token = await world.posts.list_user_posts(
            viewer=author, user_id=author, page_size=2, page_token=token
        )
        seen += [v.record.post_id for v in page]
    assert seen == made[::-1]
    _, token = await world.posts.list_user_posts(
        viewer=author, user_id=author, page_size=2, page_token=""
    )
    other = world.user()
    for call in (
        world.posts.list_user_posts(viewer=author, user_id=other, page_size=2, page_token=token),
        world.posts.list_saved(caller=author, page_size=2, page_token=token),
        world.posts.list_user_posts(viewer=author, user_id=author, page_size=-1, page_token=""),
        world.posts.list_user_posts(
            viewer=author,
            user_id=author,
            page_size=0,
            page_token=pagination.encode_token({"k": "user", "s": author, "c": "x"}),
        ),
    ):
        error = await _fails(call)
        assert type(error) is InvalidArgument


async def test_filtered_lists_read_past_hidden_posts(world: World) -> None:
    viewer, public, private = world.user(), world.user(), world.user(private=True)
    expected = []
    for i in range(12):
        author = public if i % 4 == 0 else private
        view = await world.post(author, "#mixed")
        if author == public:
            expected.append(view.record.post_id)
    _, found, token = await world.posts.posts_by_hashtag(
        viewer=viewer, tag="#MIXED", page_size=2, page_token=""
    )
    seen = [v.record.post_id for v in found]
    rounds = 1
    while token:
        _, found, token = await world.posts.posts_by_hashtag(
            viewer=viewer, tag="mixed", page_size=2, page_token=token
        )
        seen += [v.record.post_id for v in found]
        rounds += 1
    assert seen == expected[::-1] and rounds == 2
    hashtag, _, _ = await world.posts.posts_by_hashtag(
        viewer=viewer, tag="mixed", page_size=1, page_token=""
    )
    # Only the 3 posts the viewer may see count (the private account's 9 did, before issue 15).
    assert hashtag == store.HashtagRecord("mixed", 3)
    for bad in ("", "#", "two words", "x" * 101):
        error = await _fails(
            world.posts.posts_by_hashtag(viewer=viewer, tag=bad, page_size=0, page_token="")
        )
        assert type(error) is InvalidArgument and _violated(error) == ["tag"]


async def test_hydrating_a_batch_costs_the_same_for_1_and_20_posts(world: World) -> None:
    viewer = world.user()
    authors = [world.user() for _ in range(5)]
    made = [(await world.post(authors[i % 5], media=2)).record.post_id for i in range(20)]
    await world.posts.like(caller=viewer, post_id=made[3])
    await world.posts.save(caller=viewer, post_id=made[4])
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    async def measure(post_ids: list[int]) -> tuple[int, int, int, int, list[domain.PostView]]:
        statements.clear()
        world.graph.calls.clear()
        world.directory.calls.clear()
        world.media.calls.clear()
        views = await world.posts.batch_get(viewer=viewer, post_ids=post_ids)
        return (
            len(statements),
            len(world.graph.calls),
            len(world.directory.calls),
            len(world.media.calls),
            views,
        )

    event.listen(world.engine.sync_engine, "before_cursor_execute", count)
    try:
        *one, _ = await measure(made[:1])
        *twenty, views = await measure(made)
    finally:
        event.remove(world.engine.sync_engine, "before_cursor_execute", count)
    assert one == twenty, (one, twenty)
    queries, graph_calls, user_calls, media_calls = twenty
    assert graph_calls == user_calls == media_calls == 1 and queries <= 8
    assert [v.record.post_id for v in views] == made
    assert [v.has_liked for v in views].count(True) == 1 and views[3].has_liked
    assert views[4].has_saved and views[3].counts.like_count == 1
    assert all(len(v.media) == 2 for v in views)
    error = await _fails(world.posts.batch_get(viewer=viewer, post_ids=list(range(1, 102))))
    assert type(error) is InvalidArgument
    assert len(await world.posts.batch_get(viewer=viewer, post_ids=[*made, *range(1, 81)])) == 20


# -- engagement ---------------------------------------------------------------------------


async def test_likes_are_idempotent_and_evented_once(world: World) -> None:
    author, fan = world.user(), world.user()
    post = (await world.post(author)).record.post_id
    assert await world.posts.like(caller=fan, post_id=post) == 1
    assert await world.posts.like(caller=fan, post_id=post) == 1
    assert await world.posts.like(caller=author, post_id=post) == 2
    assert await world.posts.unlike(caller=fan, post_id=post) == 1
    assert await world.posts.unlike(caller=fan, post_id=post) == 1
    likers, token = await world.posts.list_likers(
        viewer=fan, post_id=post, page_size=0, page_token=""
    )
    assert [u.user_id for u in likers] == [author] and token == ""
    kinds = [type(e).__name__ for _, e in await outbox_events(world.store)]
    assert kinds == ["PostCreated", "PostLiked", "PostLiked", "PostUnliked"]
    liked = (await outbox_events(world.store))[1][1]
    assert (liked.post_id, liked.post_author_id, liked.liker_id) == (post, author, fan)
    # A like taken back after the author blocked the liker still goes, but the answer is the
    # 404 of a hidden post, without its count (issue 15); a new like cannot come.
    await world.posts.like(caller=fan, post_id=post)
    world.block(author, fan)
    assert type(await _fails(world.posts.unlike(caller=fan, post_id=post))) is PostNotFound
    likers, _ = await world.posts.list_likers(
        viewer=author, post_id=post, page_size=0, page_token=""
    )
    assert [u.user_id for u in likers] == [author]
    assert type(await _fails(world.posts.unlike(caller=fan, post_id=post))) is PostNotFound
    assert type(await _fails(world.posts.like(caller=fan, post_id=post))) is PostNotFound


async def test_engagement_reaches_feed_svc_before_the_relay(world: World) -> None:
    # feed_svc marks an engagement event or a new post applied when ApplyEvents applies it;
    # the bus's later delivery then skips what is done. So the relay may only get it after
    # feed_svc has: else the bus can bring it first, and feed_svc does the work twice.
    order: list[tuple[str, str]] = []
    world.store.outbox._on_commit = lambda events: order.extend(
        ("relay", e.payload.TypeName().rsplit(".", 1)[-1]) for e in events
    )
    told = world.feed.apply

    async def telling(events: Sequence[envelope_pb2.EventEnvelope]) -> None:
        order.extend(("feed", e.payload.TypeName().rsplit(".", 1)[-1]) for e in events)
        await told(events)

    world.feed.apply = telling  # type: ignore[method-assign]
    author, fan = world.user(), world.user()
    post = (await world.post(author)).record.post_id
    order.clear()
    await world.posts.like(caller=fan, post_id=post)
    await world.posts.unlike(caller=fan, post_id=post)
    made = await world.posts.create_comment(
        caller=fan, post_id=post, body="nice", parent_comment_id=0
    )
    await world.posts.delete_comment(caller=fan, comment_id=made.record.comment_id)
    await world.post(fan)
    kinds = ["PostLiked", "PostUnliked", "CommentCreated", "CommentDeleted", "PostCreated"]
    assert order == [step for kind in kinds for step in (("feed", kind), ("relay", kind))]


async def test_likers_and_comments_leave_out_blocked_accounts(world: World) -> None:
    author, viewer, blocked, friend = world.user(), world.user(), world.user(), world.user()
    post = (await world.post(author)).record.post_id
    for liker in (blocked, friend):
        await world.posts.like(caller=liker, post_id=post)
        await world.posts.create_comment(caller=liker, post_id=post, body="hi", parent_comment_id=0)
    world.block(viewer, blocked)
    likers, _ = await world.posts.list_likers(
        viewer=viewer, post_id=post, page_size=0, page_token=""
    )
    assert [u.user_id for u in likers] == [friend]
    comments, _ = await world.posts.list_comments(
        viewer=viewer, post_id=post, parent_comment_id=0, page_size=0, page_token=""
    )
    assert [c.author.user_id for c in comments] == [friend]
    everyone, _ = await world.posts.list_comments(
        viewer=author, post_id=post, parent_comment_id=0, page_size=0, page_token=""
    )
    assert [c.author.user_id for c in everyone] == [blocked, friend]
    # Nor can one reply to a blocked account's comment, or see its replies.
    blocked_comment = everyone[0].record.comment_id
    for call in (
        world.posts.create_comment(
            caller=viewer, post_id=post, body="x", parent_comment_id=blocked_comment
        ),
        world.posts.list_comments(
            viewer=viewer,
            post_id=post,
            parent_comment_id=blocked_comment,
            page_size=0,
            page_token="",
        ),
    ):
        assert type(await _fails(call)) is CommentNotFound


async def test_comments_replies_and_who_deletes_them(world: World) -> None:
    author, commenter, other, mentioned = (
        world.user(),
        world.user(),
        world.user(),
        world.user("mia"),
    )
    post = (await world.post(author)).record.post_id
    top = await world.posts.create_comment(
        caller=commenter, post_id=post, body=" Nice @mia ", parent_comment_id=0
    )
    assert top.record.text == "Nice @mia" and top.record.mentions == (
        store.Mention(mentioned, "mia"),
    )
    reply = await world.posts.create_comment(
        caller=author, post_id=post, body="thanks", parent_comment_id=top.record.comment_id
    )
    second = await world.posts.create_comment(
        caller=other, post_id=post, body="é" * 2200, parent_comment_id=0
    )
    for call, kind, fields in [
        (
            world.posts.create_comment(caller=other, post_id=post, body="", parent_comment_id=0),
            InvalidArgument,
            ["text"],
        ),
        (
            world.posts.create_comment(
                caller=other, post_id=post, body="x" * 2201, parent_comment_id=0
            ),
            InvalidArgument,
            ["text"],
        ),
        (
            world.posts.create_comment(
                caller=other, post_id=post, body="x", parent_comment_id=reply.record.comment_id
            ),
            ReplyToReply,
            [],
        ),
        (
            world.posts.create_comment(
                caller=other, post_id=post, body="x", parent_comment_id=12345
            ),
            CommentNotFound,
            [],
        ),
        (
            world.posts.create_comment(
                caller=other, post_id=post + 1, body="x", parent_comment_id=0
            ),
            PostNotFound,
            [],
        ),
        (
            world.posts.delete_comment(caller=other, comment_id=top.record.comment_id),
            NotCommentAuthor,
            [],
        ),
        (world.posts.delete_comment(caller=other, comment_id=12345), CommentNotFound, []),
    ]:
        error = await _fails(call)
        assert type(error) is kind and _violated(error) == fields, error
    listed, _ = await world.posts.list_comments(
        viewer=other, post_id=post, parent_comment_id=0, page_size=0, page_token=""
    )
    assert [(c.record.comment_id, c.reply_count) for c in listed] == [
        (top.record.comment_id, 1),
        (second.record.comment_id, 0),
    ]
    thread, _ = await world.posts.list_comments(
        viewer=other,
        post_id=post,
        parent_comment_id=top.record.comment_id,
        page_size=0,
        page_token="",
    )
    assert [c.record.comment_id for c in thread] == [reply.record.comment_id]
    assert (await world.posts.get_post(viewer=other, post_id=post)).counts.comment_count == 3
    created = [
        e
        for _, e in await outbox_events(world.store)
        if isinstance(e, post_events_pb2.CommentCreated)
    ]
    assert (created[1].parent_comment_id, created[1].parent_comment_author_id) == (
        top.record.comment_id,
        commenter,
    )
    assert list(created[0].mentioned_user_ids) == [mentioned]
    # The post's author deletes a comment with its reply; a commenter deletes their own.
    await world.posts.delete_comment(caller=author, comment_id=top.record.comment_id)
    await world.posts.delete_comment(caller=other, comment_id=second.record.comment_id)
    assert (await world.posts.get_post(viewer=other, post_id=post)).counts.comment_count == 0
    deleted = [
        e
        for _, e in await outbox_events(world.store)
        if isinstance(e, post_events_pb2.CommentDeleted)
    ]
    assert [(d.comment_id, list(d.reply_ids), d.deleted_by_id) for d in deleted] == [
        (top.record.comment_id, [reply.record.comment_id], author),
        (second.record.comment_id, [], other),
    ]
    mentions = [
        e
        for _, e in await outbox_events(world.store)
        if isinstance(e, post_events_pb2.UserMentioned)
    ]
    assert [(m.mentioned_user_id, m.comment_id) for m in mentions] == [
        (mentioned, top.record.comment_id)
    ]


async def test_saves_are_private_idempotent_and_follow_privacy(world: World) -> None:
    author, saver = world.user(private=True), world.user()
    world.follow(saver, author)
    posts = [(await world.post(author)).record.post_id for _ in range(3)]
    for post in posts:
        await world.posts.save(caller=saver, post_id=post)
    await world.posts.save(caller=saver, post_id=posts[0])
    saved, _ = await world.posts.list_saved(caller=saver, page_size=0, page_token="")
    assert [v.record.post_id for v in saved] == posts[::-1] and all(v.has_saved for v in saved)
    assert (await world.posts.list_saved(caller=author, page_size=0, page_token=""))[0] == []
    await world.posts.unsave(caller=saver, post_id=posts[1])
    await world.posts.unsave(caller=saver, post_id=posts[1])
    world.graph.follows.clear()  # the author removed the follower: saves stay, hidden
    assert (await world.posts.list_saved(caller=saver, page_size=0, page_token=""))[0] == []
    await world.posts.unsave(caller=saver, post_id=posts[0])  # one's own save still goes
    assert type(await _fails(world.posts.unsave(caller=saver, post_id=posts[0]))) is PostNotFound
    assert type(await _fails(world.posts.save(caller=saver, post_id=posts[2]))) is PostNotFound


async def test_changes_a_reader_must_see_at_once_are_applied_in_feed_svc_before_answering(
    world: World,
) -> None:
    author, fan = world.user(), world.user()
    post = (await world.post(author)).record.post_id
    await world.posts.like(caller=fan, post_id=post)
    await world.posts.like(caller=fan, post_id=post)  # again: nothing new to tell
    await world.posts.save(caller=fan, post_id=post)
    await world.posts.save(caller=fan, post_id=post)
    comment = await world.posts.create_comment(
        caller=fan, post_id=post, body="hi", parent_comment_id=0
    )
    await world.posts.delete_comment(caller=fan, comment_id=comment.record.comment_id)
    await world.posts.unsave(caller=fan, post_id=post)
    await world.posts.unlike(caller=fan, post_id=post)
    await world.posts.delete_post(caller=author, post_id=post)
    assert world.feed.kinds() == [
        "PostCreated",
        "PostLiked",
        "PostSaved",
        "CommentCreated",
        "CommentDeleted",
        "PostUnsaved",
        "PostUnliked",
        "PostDeleted",
    ]
    # Exactly the events the outbox holds (the bus delivers them again; feed_svc dedupes).
    written = {e.event_id for e in world.feed.applied}
    async with world.store.transaction() as tx:
        rows = (await tx.execute(select(store.outbox.c.event_id))).all()
    assert written <= {r.event_id for r in rows}
    saved = [
        e for _, e in await outbox_events(world.store) if isinstance(e, post_events_pb2.PostSaved)
    ]
    assert [(e.post_id, e.user_id) for e in saved] == [(post, fan)]


async def test_deleting_a_post_removes_it_everywhere(world: World) -> None:
    author, fan = world.user(), world.user()
    view = await world.post(author, "#gone", media=2, location=PARIS)
    post = view.record.post_id
    await world.posts.like(caller=fan, post_id=post)
    await world.posts.save(caller=fan, post_id=post)
    await world.posts.create_comment(caller=fan, post_id=post, body="hi", parent_comment_id=0)
    assert type(await _fails(world.posts.delete_post(caller=fan, post_id=post))) is NotPostAuthor
    await world.posts.delete_post(caller=author, post_id=post)
    assert type(await _fails(world.posts.delete_post(caller=author, post_id=post))) is PostNotFound
    assert type(await _fails(world.posts.get_post(viewer=author, post_id=post))) is PostNotFound
    assert (
        await world.posts.list_user_posts(viewer=fan, user_id=author, page_size=0, page_token="")
    )[0] == []
    assert (await world.posts.posts_by_hashtag(viewer=fan, tag="gone", page_size=0, page_token=""))[
        1
    ] == []
    assert (await world.posts.list_saved(caller=fan, page_size=0, page_token=""))[0] == []
    assert (
        await world.posts.posts_near(
            viewer=fan,
            lat=PARIS.lat,
            lng=PARIS.lng,
            radius_km=1,
            order="newest",
            page_size=0,
            page_token="",
        )
    )[0] == []
    assert (await world.posts.search_places(viewer=fan, query="café", page_size=0, page_token=""))[
        0
    ] == []
    assert await world.posts.post_counts(user_ids=[author]) == [(author, 0)]
    [deleted] = [
        e for _, e in await outbox_events(world.store) if isinstance(e, post_events_pb2.PostDeleted)
    ]
    assert list(deleted.media_ids) == list(view.record.media_ids) and deleted.author_id == author
    await world.posts.clean_up_deleted(post_id=post, media_ids=list(deleted.media_ids))
    await world.posts.clean_up_deleted(post_id=post, media_ids=list(deleted.media_ids))  # again
    assert world.media.deleted == [*view.record.media_ids] * 2
    assert await _count(world, store.likes) == 0 and await _count(world, store.comments) == 0


async def test_a_stranger_cannot_learn_a_private_post_exists_by_deleting_it(world: World) -> None:
    author, stranger = world.user(private=True), world.user()
    post = (await world.post(author)).record.post_id
    assert (
        type(await _fails(world.posts.delete_post(caller=stranger, post_id=post))) is PostNotFound
    )


# -- hashtags and places ------------------------------------------------------------------


async def test_hashtag_search_ranks_by_use(world: World) -> None:
    author = world.user()
    for caption in ("#sun #sunset", "#sunset", "#sunset #sunday", "#moon"):
        await world.post(author, caption)
    found, token = await world.posts.search_hashtags(
        viewer=None, query="#SUN", page_size=2, page_token=""
    )
    assert [(h.tag, h.post_count) for h in found] == [("sunset", 3), ("sun", 1)]
    rest, token = await world.posts.search_hashtags(
        viewer=None, query="sun", page_size=2, page_token=token
    )
    assert [h.tag for h in rest] == ["sunday"] and token == ""
    for bad in ("", "#", "x" * 101):
        assert (
            type(
                await _fails(
                    world.posts.search_hashtags(viewer=None, query=bad, page_size=0, page_token="")
                )
            )
            is InvalidArgument
        )


async def test_posts_near_a_point_nearest_or_newest(world: World) -> None:
    viewer, author, hidden = world.user(), world.user(), world.user(private=True)
    centre = geo.Point(40.0, -3.7)
    made: dict[float, int] = {}
    for km in (0.0, 2.0, 4.0, 6.0, 9.999, 10.001):
        spot = _destination(centre, math.radians(45), km)
        view = await world.post(
            author, location=domain.LocationInput(f"spot {km}", spot.lat, spot.lng)
        )
        made[km] = view.record.post_id
    await world.post(hidden, location=domain.LocationInput("secret", centre.lat, centre.lng))

    async def walk(order: str, size: int) -> list[tuple[int, float]]:
        found, token = await world.posts.posts_near(
            viewer=viewer,
            lat=centre.lat,
            lng=centre.lng,
            radius_km=0,
            order=order,
            page_size=size,
            page_token="",
        )
        seen = [(v.record.post_id, d) for v, d in found]
        while token:
            found, token = await world.posts.posts_near(
                viewer=viewer,
                lat=centre.lat,
                lng=centre.lng,
                radius_km=0,
                order=order,
                page_size=size,
                page_token=token,
            )
            seen += [(v.record.post_id, d) for v, d in found]
        return seen

    nearest = await walk("nearest", 2)
    assert [p for p, _ in nearest] == [made[k] for k in (0.0, 2.0, 4.0, 6.0, 9.999)]
    assert [round(d, 2) for _, d in nearest] == [0.0, 2.0, 4.0, 6.0, 10.0]
    newest = await walk("newest", 3)
    assert [p for p, _ in newest] == [made[k] for k in (9.999, 6.0, 4.0, 2.0, 0.0)]
    small, _ = await world.posts.posts_near(
        viewer=viewer,
        lat=centre.lat,
        lng=centre.lng,
        radius_km=3,
        order="nearest",
        page_size=0,
        page_token="",
    )
    assert [v.record.post_id for v, _ in small] == [made[0.0], made[2.0]]
    _, token = await world.posts.posts_near(
        viewer=viewer,
        lat=centre.lat,
        lng=centre.lng,
        radius_km=0,
        order="nearest",
        page_size=1,
        page_token="",
    )
    for call, field in [
        (
            world.posts.posts_near(
                viewer=viewer,
                lat=None,
                lng=1,
                radius_km=1,
                order="nearest",
                page_size=0,
                page_token="",
            ),
            "lat",
        ),
        (
            world.posts.posts_near(
                viewer=viewer,
                lat=1,
                lng=None,
                radius_km=1,
                order="nearest",
                page_size=0,
                page_token="",
            ),
            "lng",
        ),
        (
            world.posts.posts_near(
                viewer=viewer,
                lat=91,
                lng=0,
                radius_km=1,
                order="nearest",
                page_size=0,
                page_token="",
            ),
            "lat",
        ),
        (
            world.posts.posts_near(
                viewer=viewer,
                lat=0,
                lng=0,
                radius_km=100.01,
                order="nearest",
                page_size=0,
                page_token="",
            ),
            "radius_km",
        ),
        (
            world.posts.posts_near(
                viewer=viewer,
                lat=0,
                lng=0,
                radius_km=-1,
                order="nearest",
                page_size=0,
                page_token="",
            ),
            "radius_km",
        ),
        (
            world.posts.posts_near(
                viewer=viewer, lat=0, lng=0, radius_km=1, order="random", page_size=0, page_token=""
            ),
            "order",
        ),
        (
            world.posts.posts_near(
                viewer=viewer,
                lat=centre.lat,
                lng=centre.lng,
                radius_km=5,
                order="nearest",
                page_size=1,
                page_token=token,
            ),
            "page_token",
        ),
    ]:
        error = await _fails(call)
        assert type(error) is InvalidArgument and _violated(error) == [field], error
    assert (
        await world.posts.posts_near(
            viewer=viewer, lat=0, lng=0, radius_km=100, order="newest", page_size=0, page_token=""
        )
    )[0] == []


async def test_places_and_location_search(world: World) -> None:
    viewer, author, hidden = world.user(), world.user(), world.user(private=True)
    first = await world.post(author, location=domain.LocationInput("Tate Modern", 51.5076, -0.0994))
    second = await world.post(
        author, location=domain.LocationInput("tate modern", 51.50761, -0.09941)
    )
    await world.post(hidden, location=domain.LocationInput("Tate Britain", 51.4911, -0.1278))
    assert first.record.place_id == second.record.place_id
    places, _ = await world.posts.search_places(
        viewer=viewer, query="TATE", page_size=0, page_token=""
    )
    # The private account's place is not found by a stranger (it was, before issue 15).
    assert [(p.name, p.post_count) for p in places] == [("Tate Modern", 2)]
    places, _ = await world.posts.search_places(
        viewer=hidden, query="TATE", page_size=0, page_token=""
    )
    assert [(p.name, p.post_count) for p in places] == [("Tate Modern", 2), ("Tate Britain", 1)]
    found, _ = await world.posts.search_posts(
        viewer=viewer, query="tate", kind="location", page_size=0, page_token=""
    )
    assert [v.record.post_id for v in found] == [second.record.post_id, first.record.post_id]
    by_tag, _ = await world.posts.search_posts(
        viewer=viewer, query="#none", kind="", page_size=0, page_token=""
    )
    assert by_tag == []
    error = await _fails(
        world.posts.search_posts(
            viewer=viewer, query="x", kind="people", page_size=0, page_token=""
        )
    )
    assert type(error) is InvalidArgument and _violated(error) == ["type"]


async def test_post_counts(world: World) -> None:
    author, idle = world.user(), world.user()
    await world.post(author)
    await world.post(author)
    assert await world.posts.post_counts(user_ids=[idle, author, idle]) == [(idle, 0), (author, 2)]
    assert (
        type(await _fails(world.posts.post_counts(user_ids=list(range(1, 102))))) is InvalidArgument
    )
    assert type(await _fails(world.posts.post_counts(user_ids=[0]))) is InvalidArgument


async def test_a_post_keeps_videos_to_a_minute_and_longer_ones_make_reels(world: World) -> None:
    """media_svc takes videos of up to 90 s for reels; a feed post still holds 60 s at most."""
    author = world.user()
    minute, longer = world.media.add(author), world.media.add(author)
    for media_id, duration_ms in ((minute, 60_050), (longer, 60_051)):
        world.media.items[media_id].type = media_pb2.MEDIA_TYPE_VIDEO
        world.media.items[media_id].duration_ms = duration_ms
    made = await world.posts.create_post(
        caller=author, media_ids=[minute], caption="", location=None, idempotency_key=""
    )
    assert made.record.kind == "post"
    with pytest.raises(InvalidArgument) as refused:
        await world.posts.create_post(
            caller=author, media_ids=[longer], caption="", location=None, idempotency_key=""
        )
    assert refused.value.reason == "VIDEO_TOO_LONG"
    reel = await world.posts.create_post(
        caller=author,
        media_ids=[longer],
        caption="",
        location=None,
        idempotency_key="",
        kind="reel",
    )
    assert reel.record.kind == "reel"


def test_alt_texts_are_one_line_each_at_most_1000_characters_and_padded_to_the_media() -> None:
    from post_svc import text

    assert text.check_alt_texts([], media_count=2, field="alt_texts") == ()
    assert text.check_alt_texts(["", " "], media_count=2, field="alt_texts") == ()
    assert text.check_alt_texts(["a" * 1000], media_count=2, field="alt_texts") == ("a" * 1000, "")
    for values, field in [
        (["a" * 1001], "alt_texts[0]"),
        (["ok", "tab\there"], "alt_texts[1]"),
        (["a", "b", "c"], "alt_texts"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            text.check_alt_texts(values, media_count=2, field="alt_texts")
        assert refused.value.violations[0].field == field
    with pytest.raises(InvalidArgument) as reel:
        text.check_alt_texts(["x" * 1001], media_count=1, field="alt_text")
    assert reel.value.violations[0].field == "alt_text"


async def test_the_hashtag_index_lists_every_authors_posts_for_feed_svc(world: World) -> None:
    public, private = world.user(), world.user(private=True)
    made = [
        (await world.post(author, "#Index and #more")).record.post_id
        for author in (public, private, public)
    ]
    gone = (await world.post(private, "#index")).record.post_id
    await world.posts.delete_post(caller=private, post_id=gone)
    tag, entries, authors = await world.posts.hashtag_index(
        tag="#INDEX", before_post_id=0, page_size=2, with_author_counts=True
    )
    # Whoever the authors are (feed_svc applies the privacy rule); the deleted post left out.
    assert tag == "index" and entries == [(made[2], public), (made[1], private)]
    assert authors == {public: 2, private: 1}
    _, older, none = await world.posts.hashtag_index(
        tag="index", before_post_id=made[1], page_size=5, with_author_counts=False
    )
    assert older == [(made[0], public)] and none == {}
    # The deletion's event names the tags, so feed_svc takes the post out of their indexes.
    deleted = [e for _, e in await outbox_events(world.store) if type(e).__name__ == "PostDeleted"]
    assert [list(e.hashtags) for e in deleted] == [["index"]]
    for bad in ({"tag": "#"}, {"tag": "index", "before_post_id": -1}):
        call = {"tag": "index", "before_post_id": 0, **bad}
        error = await _fails(
            world.posts.hashtag_index(page_size=1, with_author_counts=False, **call)  # type: ignore[arg-type]
        )
        assert type(error) is InvalidArgument


async def test_a_viewers_flags_are_read_without_the_posts(world: World) -> None:
    viewer, other = world.user(), world.user()
    author = world.user()
    made = [(await world.post(author)).record.post_id for _ in range(4)]
    await world.posts.like(caller=viewer, post_id=made[0])
    await world.posts.save(caller=viewer, post_id=made[1])
    await world.posts.like(caller=other, post_id=made[2])
    await world.posts.hide(viewer_id=viewer, target_type="post", target_id=made[3], owner_id=author)
    world.graph.calls.clear()
    world.directory.calls.clear()
    flags = await world.posts.viewer_flags(viewer=viewer, post_ids=made)
    assert flags == domain.ViewerFlags({made[0]}, {made[1]}, {made[3]}, listed_since=0)
    # Another viewer's flags are theirs; no peer is asked (no hydration, no privacy rule).
    assert await world.posts.viewer_flags(viewer=other, post_ids=made) == domain.ViewerFlags(
        {made[2]}, set(), set()
    )
    assert world.graph.calls == [] and world.directory.calls == []
    assert await world.posts.viewer_flags(viewer=viewer, post_ids=[]) == domain.ViewerFlags(
        set(), set(), set()
    )
    error = await _fails(world.posts.viewer_flags(viewer=0, post_ids=made))
    assert type(error) is InvalidArgument and _violated(error) == ["viewer_id"]


async def test_several_viewers_flags_are_read_at_once_each_on_its_own_posts(world: World) -> None:
    viewer, other = world.user(), world.user()
    author = world.user()
    made = [(await world.post(author)).record.post_id for _ in range(4)]
    await world.posts.like(caller=viewer, post_id=made[0])
    await world.posts.save(caller=viewer, post_id=made[1])
    await world.posts.like(caller=other, post_id=made[2])
    await world.posts.hide(viewer_id=viewer, target_type="post", target_id=made[3], owner_id=author)
    world.graph.calls.clear()
    world.directory.calls.clear()
    # Each entry answers only for its own posts; a viewer may come twice; order is kept.
    found = await world.posts.viewers_flags(
        wanted=[(other, made, 0), (viewer, made[:2], 0), (viewer, made[2:], 0), (other, [], 0)]
    )
    assert found == [
        domain.ViewerFlags({made[2]}, set(), set()),
        domain.ViewerFlags({made[0]}, {made[1]}, set()),
        domain.ViewerFlags(set(), set(), {made[3]}),
        domain.ViewerFlags(set(), set(), set()),
    ]
    # The same as one viewer's call; no peer is asked.
    assert found[1:3] == [
        await world.posts.viewer_flags(viewer=viewer, post_ids=made[:2]),
        await world.posts.viewer_flags(viewer=viewer, post_ids=made[2:]),
    ]
    assert world.graph.calls == [] and world.directory.calls == []
    assert await world.posts.viewers_flags(wanted=[]) == []
    # The limits at their edges: 50 viewers of 100 posts each; one more of either is refused.
    most = [(viewer, [made[0], *range(1, domain.BATCH_MAX)], 0)] * domain.VIEWERS_MAX
    assert len(await world.posts.viewers_flags(wanted=most)) == domain.VIEWERS_MAX
    error = await _fails(world.posts.viewers_flags(wanted=[*most, (viewer, [], 0)]))
    assert type(error) is InvalidArgument and _violated(error) == ["viewers"]
    error = await _fails(
        world.posts.viewers_flags(wanted=[(viewer, [], 0), (other, list(range(1, 102)), 0)])
    )
    assert type(error) is InvalidArgument and _violated(error) == ["viewers[1].post_ids"]
    error = await _fails(world.posts.viewers_flags(wanted=[(viewer, made, 0), (0, made, 0)]))
    assert type(error) is InvalidArgument and _violated(error) == ["viewers[1].viewer_id"]
    error = await _fails(world.posts.viewers_flags(wanted=[(viewer, [made[0], -1], 0)]))
    assert type(error) is InvalidArgument and _violated(error) == ["viewers[0].post_ids"]


async def test_a_viewers_flags_list_every_post_from_since_up(backend_world: World) -> None:
    world = backend_world
    viewer, other, author = world.user(), world.user(), world.user()
    p = [(await world.post(author)).record.post_id for _ in range(6)]
    for liked in (p[0], p[3], p[5]):
        await world.posts.like(caller=viewer, post_id=liked)
    for saved in (p[1], p[4]):
        await world.posts.save(caller=viewer, post_id=saved)
    await world.posts.hide(viewer_id=viewer, target_type="post", target_id=p[2], owner_id=author)
    await world.posts.hide(viewer_id=viewer, target_type="post", target_id=p[0], owner_id=author)
    await world.posts.like(caller=other, post_id=p[4])
    found = await world.posts.viewers_flags(
        wanted=[(viewer, [p[0]], p[2]), (other, [], p[4]), (viewer, [p[1]], 0), (viewer, [], -5)]
    )
    assert found == [
        # The post asked, and every one from since up (p[1] and the report of p[0] are below).
        domain.ViewerFlags({p[0], p[3], p[5]}, {p[4]}, {p[0], p[2]}, listed_since=p[2]),
        # From a post the viewer likes up: that post too.
        domain.ViewerFlags({p[4]}, set(), set(), listed_since=p[4]),
        # No since (0 or negative): only the posts asked, nothing listed.
        domain.ViewerFlags(set(), {p[1]}, set(), listed_since=0),
        domain.ViewerFlags(set(), set(), set(), listed_since=0),
    ]
    assert (
        await world.posts.viewer_flags(viewer=viewer, post_ids=[p[0]], since_post_id=p[2])
        == found[0]
    )
    # The listing reads the primary: a like or save just made, and one just taken back.
    await world.posts.like(caller=viewer, post_id=p[4])
    await world.posts.unlike(caller=viewer, post_id=p[5])
    await world.posts.unsave(caller=viewer, post_id=p[4])
    (now,) = await world.posts.viewers_flags(wanted=[(viewer, [], p[1])])
    assert now == domain.ViewerFlags({p[3], p[4]}, {p[1]}, {p[2]}, listed_since=p[1])


async def test_a_kind_with_more_than_the_most_listed_starts_the_listing_higher(
    backend_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = backend_world
    monkeypatch.setattr(domain, "RECENT_FLAGS_MAX", 2)
    viewer, few, author = world.user(), world.user(), world.user()
    p = [(await world.post(author)).record.post_id for _ in range(6)]
    for liked in p[1:]:
        await world.posts.like(caller=viewer, post_id=liked)
    for saved in (p[0], p[5]):
        await world.posts.save(caller=viewer, post_id=saved)
    for liked in (p[2], p[3]):
        await world.posts.like(caller=few, post_id=liked)
    found = await world.posts.viewers_flags(wanted=[(viewer, [p[1]], p[0]), (few, [], p[0])])
    assert found == [
        # Five likes: the two highest are listed, from the lowest of them up; the likes and the
        # save below that are not claimed (the post asked is answered all the same).
        domain.ViewerFlags({p[1], p[4], p[5]}, {p[5]}, set(), listed_since=p[4]),
        # Exactly the most: all of them, from since up.
        domain.ViewerFlags({p[2], p[3]}, set(), set(), listed_since=p[0]),
    ]
    # A report past the most starts the listing higher too.
    for hidden in p[3:]:
        await world.posts.hide(viewer_id=few, target_type="post", target_id=hidden, owner_id=author)
    assert await world.posts.viewer_flags(viewer=few, post_ids=[], since_post_id=p[0]) == (
        domain.ViewerFlags(set(), set(), {p[4], p[5]}, listed_since=p[4])
    )


async def test_likes_kept_elsewhere_list_nothing_beyond_the_posts_asked(
    backend_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = backend_world
    viewer, author = world.user(), world.user()
    p = [(await world.post(author)).record.post_id for _ in range(3)]
    for post_id in p:
        await world.posts.like(caller=viewer, post_id=post_id)
        await world.posts.save(caller=viewer, post_id=post_id)
    # As with the Cassandra engagement store, which has no likes by account.
    monkeypatch.setattr(world.engagement, "in_post_database", False)
    found = await world.posts.viewers_flags(wanted=[(viewer, [p[1]], p[0])])
    assert found == [domain.ViewerFlags({p[1]}, {p[1]}, set(), listed_since=0)]
    assert (
        await world.posts.viewer_flags(viewer=viewer, post_ids=[p[1]], since_post_id=p[0])
        == found[0]
    )


async def test_shared_posts_are_every_viewers_part_whoever_may_see_them(world: World) -> None:
    author = world.user(private=True)
    kept = await world.post(author, "hello #cold", media=2)
    await world.posts.like(caller=author, post_id=kept.record.post_id)
    gone = await world.post(author)
    await world.posts.delete_post(caller=author, post_id=gone.record.post_id)
    world.graph.calls.clear()
    world.directory.calls.clear()
    asked = [gone.record.post_id, kept.record.post_id, 999, kept.record.post_id]
    found = await world.posts.shared_posts(post_ids=asked)
    # The live one, once, whoever may see it (no privacy rule: a private author's post too),
    # its media as now, its author as an id only; neither graph_svc nor user_svc is asked.
    assert [v.record.post_id for v in found] == [kept.record.post_id]
    view = found[0]
    assert view.record.caption == "hello #cold"
    assert [m.media_id for m in view.media] == list(kept.record.media_ids)
    assert view.author.user_id == author and not view.author.username
    # No counts, no flags (each reader's own): the read model keeps them apart.
    assert (view.counts.like_count, view.has_liked, view.has_saved) == (0, False, False)
    assert world.graph.calls == [] and world.directory.calls == []
    error = await _fails(world.posts.shared_posts(post_ids=[0]))
    assert type(error) is InvalidArgument
