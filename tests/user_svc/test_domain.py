"""Account rules: field limits, sign-up, sign-in, token rotation, profiles and search."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from mesh.auth import TokenVerifier
from mesh.errors import InvalidArgument
from shutter.events.v1 import envelope_pb2, user_events_pb2
from tests.user_svc.conftest import FakePictures
from user_svc import domain, errors, store
from user_svc.errors import MediaNotUsable
from user_svc.settings import UserSettings


@pytest.mark.parametrize(
    "username",
    ["a", "a" * 30, "alice.smith", "alice_smith", "Alice99", "_x_", "x.y.z"],
)
def test_valid_usernames(username: str) -> None:
    assert domain.check_username(username) == username


@pytest.mark.parametrize(
    "username",
    ["", "a" * 31, ".alice", "alice.", "al..ice", "ali ce", "alice!", "élodie", "al-ice"],
)
def test_invalid_usernames_name_the_field(username: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        domain.check_username(username)
    assert caught.value.violations[0].field == "username"


def test_email_is_validated_and_limited() -> None:
    assert domain.check_email("Someone@Example.com") == "Someone@example.com"
    for bad in ["", "no-at-sign", "a@", "@b.com", "a" * 250 + "@b.co"]:
        with pytest.raises(InvalidArgument) as caught:
            domain.check_email(bad)
        assert caught.value.violations[0].field == "email"


def test_password_length_edges() -> None:
    domain.check_password("x" * 8)
    domain.check_password("x" * 128)
    for bad in ["x" * 7, "x" * 129, ""]:
        with pytest.raises(InvalidArgument):
            domain.check_password(bad)


def test_profile_text_limits_at_their_edges() -> None:
    assert domain.check_full_name("n" * 64) == "n" * 64
    assert domain.check_bio("b" * 150) == "b" * 150
    assert domain.check_bio("line one\nline two") == "line one\nline two"
    with pytest.raises(InvalidArgument, match="full_name"):
        domain.check_full_name("n" * 65)
    with pytest.raises(InvalidArgument, match="full_name"):
        domain.check_full_name("tab\there")
    with pytest.raises(InvalidArgument, match="bio"):
        domain.check_bio("b" * 151)


def test_website_must_be_http_url_within_limit() -> None:
    assert domain.check_website("https://example.com/me") == "https://example.com/me"
    assert domain.check_website("") == ""
    url = "https://example.com/" + "p" * (200 - len("https://example.com/"))
    assert domain.check_website(url) == url
    for bad in ["javascript:alert(1)", "ftp://x.org", "example.com", "https://", url + "p"]:
        with pytest.raises(InvalidArgument, match="website"):
            domain.check_website(bad)


async def _register(accounts: domain.Accounts, name: str, **extra: str) -> domain.SignedIn:
    return await accounts.register(
        username=name,
        email=extra.get("email", f"{name}@example.com"),
        password=extra.get("password", "correct horse"),
        full_name=extra.get("full_name", ""),
    )


async def test_register_signs_in_and_writes_an_outbox_event(
    accounts: domain.Accounts, user_settings: UserSettings
) -> None:
    signed = await _register(accounts, "alice", full_name="Alice Liddell")
    assert signed.user is not None
    assert TokenVerifier(user_settings).verify(signed.access_token).user_id == signed.user.user_id
    assert signed.user.password_hash.startswith("$argon2id$")
    async with accounts._store.transaction() as tx:
        rows = (await tx.execute(select(store.outbox))).all()
    assert [r.event_type for r in rows] == ["shutter.events.v1.UserRegistered"]
    envelope = envelope_pb2.EventEnvelope.FromString(rows[0].envelope)
    event = user_events_pb2.UserRegistered()
    assert envelope.payload.Unpack(event) and event.username == "alice"


async def test_username_and_email_are_unique_ignoring_case(accounts: domain.Accounts) -> None:
    await _register(accounts, "alice")
    with pytest.raises(errors.UsernameTaken):
        await _register(accounts, "ALICE", email="other@example.com")
    with pytest.raises(errors.EmailTaken):
        await _register(accounts, "bob", email="Alice@Example.com")


async def test_concurrent_registrations_of_one_name_make_one_account(
    accounts: domain.Accounts,
) -> None:
    results = await asyncio.gather(
        *(_register(accounts, "race", email=f"r{i}@example.com") for i in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, domain.SignedIn) for r in results) == 1
    assert all(
        isinstance(r, errors.UsernameTaken) for r in results if not isinstance(r, domain.SignedIn)
    )


async def test_login_by_username_or_email_and_one_error_for_both_failures(
    accounts: domain.Accounts,
) -> None:
    await _register(accounts, "alice")
    assert (await accounts.login(login="ALICE", password="correct horse")).user is not None
    assert (await accounts.login(login="alice@example.com", password="correct horse")).user
    with pytest.raises(errors.InvalidCredentials) as wrong_password:
        await accounts.login(login="alice", password="wrong horse")
    with pytest.raises(errors.InvalidCredentials) as no_such_user:
        await accounts.login(login="nobody", password="correct horse")
    assert wrong_password.value.message == no_such_user.value.message


async def test_refresh_rotates_and_reuse_revokes_the_family(accounts: domain.Accounts) -> None:
    first = await _register(accounts, "alice")
    second = await accounts.refresh(refresh_token=first.refresh_token)
    assert second.refresh_token != first.refresh_token
    with pytest.raises(errors.RefreshTokenReused):
        await accounts.refresh(refresh_token=first.refresh_token)
    # The thief replayed the old token: the legitimate newer token is dead too.
    with pytest.raises(errors.RefreshTokenInvalid):
        await accounts.refresh(refresh_token=second.refresh_token)


async def test_concurrent_refreshes_of_one_token_give_one_new_token(
    accounts: domain.Accounts,
) -> None:
    first = await _register(accounts, "alice")
    results = await asyncio.gather(
        *(accounts.refresh(refresh_token=first.refresh_token) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, domain.SignedIn) for r in results) <= 1
    assert any(isinstance(r, errors.RefreshTokenReused) for r in results)


async def test_logout_revokes_only_that_session_and_only_for_its_owner(
    accounts: domain.Accounts,
) -> None:
    phone = await _register(accounts, "alice")
    assert phone.user is not None
    laptop = await accounts.login(login="alice", password="correct horse")
    mallory = await _register(accounts, "mallory")
    assert mallory.user is not None
    with pytest.raises(errors.RefreshTokenInvalid):
        await accounts.logout(caller=mallory.user.user_id, refresh_token=phone.refresh_token)
    await accounts.logout(caller=phone.user.user_id, refresh_token=phone.refresh_token)
    await accounts.logout(
        caller=phone.user.user_id, refresh_token=phone.refresh_token
    )  # idempotent
    with pytest.raises(errors.RefreshTokenInvalid):
        await accounts.refresh(refresh_token=phone.refresh_token)
    assert (await accounts.refresh(refresh_token=laptop.refresh_token)).refresh_token


async def test_garbage_refresh_tokens_are_refused(accounts: domain.Accounts) -> None:
    for token in ["", "nope", "x" * 513]:
        with pytest.raises(errors.RefreshTokenInvalid):
            await accounts.refresh(refresh_token=token)


async def test_profile_update_by_owner_only_and_partial(accounts: domain.Accounts) -> None:
    alice = (await _register(accounts, "alice", full_name="Alice")).user
    bob = (await _register(accounts, "bob")).user
    assert alice is not None and bob is not None
    with pytest.raises(errors.NotProfileOwner):
        await accounts.update_profile(
            caller=bob.user_id, user_id=alice.user_id, changes=domain.ProfileChanges(bio="hacked")
        )
    changed = await accounts.update_profile(
        caller=alice.user_id, user_id=alice.user_id, changes=domain.ProfileChanges(bio="hi")
    )
    assert changed.user.bio == "hi" and changed.user.full_name == "Alice"


async def test_invalid_update_changes_nothing(accounts: domain.Accounts) -> None:
    alice = (await _register(accounts, "alice", full_name="Alice")).user
    assert alice is not None
    with pytest.raises(InvalidArgument):
        await accounts.update_profile(
            caller=alice.user_id,
            user_id=alice.user_id,
            changes=domain.ProfileChanges(full_name="New", website="not a url"),
        )
    profile = await accounts.get_user(viewer=alice.user_id, user_id=alice.user_id)
    assert profile.user.full_name == "Alice"


async def test_going_private_and_back_publishes_privacy_events(accounts: domain.Accounts) -> None:
    alice = (await _register(accounts, "alice")).user
    assert alice is not None
    for private in (True, True, False):
        await accounts.update_profile(
            caller=alice.user_id,
            user_id=alice.user_id,
            changes=domain.ProfileChanges(is_private=private),
        )
    async with accounts._store.transaction() as tx:
        rows = (
            await tx.execute(
                select(store.outbox)
                .where(store.outbox.c.event_type == "shutter.events.v1.UserProfileUpdated")
                .order_by(store.outbox.c.event_id)
            )
        ).all()
    events = []
    for row in rows:
        event = user_events_pb2.UserProfileUpdated()
        envelope_pb2.EventEnvelope.FromString(row.envelope).payload.Unpack(event)
        events.append((event.is_private, event.became_public))
    assert events == [(True, False), (False, True)]  # the repeated "private" changed nothing


async def test_profile_changes_are_announced_and_unchanged_fields_are_not(
    accounts: domain.Accounts,
) -> None:
    alice = (await _register(accounts, "alice", full_name="Alice")).user
    assert alice is not None
    for changes in (
        # Not on a summary, but on the profile feed_svc serves: announced too.
        domain.ProfileChanges(bio="Down the rabbit hole"),
        domain.ProfileChanges(bio="Down the rabbit hole"),  # unchanged: not announced
        domain.ProfileChanges(full_name="Alice Liddell"),
        domain.ProfileChanges(full_name="Alice Liddell"),  # unchanged: not announced
        domain.ProfileChanges(is_private=True),
    ):
        await accounts.update_profile(caller=alice.user_id, user_id=alice.user_id, changes=changes)
    async with accounts._store.transaction() as tx:
        rows = (
            await tx.execute(
                select(store.outbox).where(
                    store.outbox.c.event_type == "shutter.events.v1.UserProfileUpdated"
                )
            )
        ).all()
    assert len(rows) == 3


async def test_get_user_shows_email_to_the_owner_only(accounts: domain.Accounts) -> None:
    alice = (await _register(accounts, "alice")).user
    assert alice is not None
    assert (await accounts.get_user(viewer=alice.user_id, username="Alice")).show_email
    assert not (await accounts.get_user(viewer=1, user_id=alice.user_id)).show_email
    with pytest.raises(errors.UserNotFound):
        await accounts.get_user(viewer=1, user_id=12345)
    with pytest.raises(InvalidArgument):
        await accounts.get_user(viewer=1)


async def test_batch_get_keeps_order_drops_unknown_and_limits_size(
    accounts: domain.Accounts,
) -> None:
    a = (await _register(accounts, "a1")).user
    b = (await _register(accounts, "b1")).user
    assert a is not None and b is not None
    found = await accounts.batch_get(user_ids=[b.user_id, 999, a.user_id, b.user_id])
    assert [u.user_id for u in found] == [b.user_id, a.user_id]
    assert await accounts.batch_get(user_ids=[1] * 100) == []
    with pytest.raises(InvalidArgument, match="user_ids"):
        await accounts.batch_get(user_ids=list(range(101)))


async def test_search_prefix_first_then_contains_across_pages(accounts: domain.Accounts) -> None:
    for name, full in [
        ("annie", ""),
        ("ann_b", ""),
        ("joanna", ""),
        ("zed", "Anna Z"),
        ("bob", "Bob"),
        ("hannah", ""),
    ]:
        await _register(accounts, name, full_name=full)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page, token = await accounts.search(query="@Ann", page_size=2, page_token=token)
        seen.extend(u.username for u in page)
        pages += 1
        if not token:
            break
    # Prefix matches (username or full name) first, in username order; then "contains" matches.
    assert seen == ["ann_b", "annie", "zed", "hannah", "joanna"]
    assert pages == 3
    with pytest.raises(InvalidArgument, match="q"):
        await accounts.search(query="  ", page_size=0, page_token="")
    with pytest.raises(InvalidArgument, match="q"):
        await accounts.search(query="x" * 65, page_size=0, page_token="")
    with pytest.raises(InvalidArgument, match="page_size"):
        await accounts.search(query="ann", page_size=-1, page_token="")


async def test_search_treats_like_wildcards_literally(accounts: domain.Accounts) -> None:
    await _register(accounts, "a_b")
    await _register(accounts, "axb")
    page, _ = await accounts.search(query="a_", page_size=10, page_token="")
    assert [u.username for u in page] == ["a_b"]
    page, _ = await accounts.search(query="%", page_size=10, page_token="")
    assert page == []


async def test_search_falls_back_to_fuzzy_matches_for_typos(accounts: domain.Accounts) -> None:
    for name, full in [("alice", "Alice Liddell"), ("alan", ""), ("bob", ""), ("malice", "")]:
        await _register(accounts, name, full_name=full)
    page, token = await accounts.search(query="alise", page_size=10, page_token="")
    names = [u.username for u in page]
    # No name starts with or contains "alise": the closest spelling comes first, strangers never.
    assert names[0] == "alice" and "bob" not in names and token == ""
    page, _ = await accounts.search(query="lidel", page_size=10, page_token="")
    assert [u.username for u in page] == ["alice"]


async def test_fuzzy_results_page_without_repeats(accounts: domain.Accounts) -> None:
    for i in range(7):
        await _register(accounts, f"jonathan{i}")
    seen: list[str] = []
    token = ""
    while True:
        page, token = await accounts.search(query="jonatan", page_size=3, page_token=token)
        seen += [u.username for u in page]
        if not token:
            break
    assert sorted(seen) == [f"jonathan{i}" for i in range(7)]
    with pytest.raises(InvalidArgument, match="page_token"):
        first_page_token = (await accounts.search(query="jonatan", page_size=3, page_token=""))[1]
        await accounts.search(query="other", page_size=3, page_token=first_page_token)


async def test_profile_picture_is_a_ready_photo_of_ones_own(
    accounts: domain.Accounts, pictures: FakePictures
) -> None:
    alice = (await _register(accounts, "alice")).user
    bob = (await _register(accounts, "bob")).user
    assert alice is not None and bob is not None
    pictures.photos[11] = (alice.user_id, "m/11/tok/thumbnail.jpg")
    pictures.photos[12] = (bob.user_id, "m/12/tok/thumbnail.jpg")
    set_picture = await accounts.update_profile(
        caller=alice.user_id,
        user_id=alice.user_id,
        changes=domain.ProfileChanges(profile_media_id=11),
    )
    assert set_picture.user.profile_pic_key == "m/11/tok/thumbnail.jpg"
    assert set_picture.user.profile_media_id == 11
    with pytest.raises(MediaNotUsable) as caught:
        await accounts.update_profile(
            caller=alice.user_id,
            user_id=alice.user_id,
            changes=domain.ProfileChanges(profile_media_id=12, bio="also this"),
        )
    assert caught.value.violations[0].field == "profile_media_id"
    unchanged = await accounts.get_user(viewer=alice.user_id, user_id=alice.user_id)
    assert unchanged.user.profile_pic_key == "m/11/tok/thumbnail.jpg"
    assert unchanged.user.bio == ""  # nothing of the refused change was written
    removed = await accounts.update_profile(
        caller=alice.user_id,
        user_id=alice.user_id,
        changes=domain.ProfileChanges(profile_media_id=0),
    )
    assert removed.user.profile_pic_key == "" and removed.user.profile_media_id is None
