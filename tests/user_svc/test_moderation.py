"""The moderation rules on a real store with fake content owners: reports (limits, idempotency,
the rate), the moderator role, the queue, resolutions, suspensions and the audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import select

from mesh import auth
from mesh.auth import TokenVerifier
from mesh.errors import InvalidArgument, Unauthenticated
from mesh.ids import IdGenerator
from mesh.ratelimit import MemoryLimiter, parse_rate
from mesh.revocation import Revocations
from shutter.events.v1 import envelope_pb2, user_events_pb2
from tests.user_svc.conftest import FakePictures, make_store
from user_svc import domain, store
from user_svc.errors import (
    AccountSuspended,
    InvalidCredentials,
    NotAModerator,
    OwnContent,
    RefreshTokenInvalid,
    ReportResolved,
    ReportsThrottled,
    ReportTargetNotFound,
    UserNotFound,
)
from user_svc.moderation import NOTE_MAX, Moderation, set_moderator
from user_svc.settings import UserSettings


@dataclass
class FakeOwners:
    """Things by (type, id) -> owner; records hides and removals."""

    things: dict[tuple[str, int], int] = field(default_factory=dict)
    hidden: list[tuple[str, int, int]] = field(default_factory=list)
    removed: list[tuple[str, int]] = field(default_factory=list)

    async def owner(self, *, target_type: str, target_id: int, viewer_id: int) -> int:
        if target_type == "user":
            return target_id
        found = self.things.get((target_type, target_id))
        if found is None:
            raise ReportTargetNotFound("not there")
        return found

    async def hide_from(self, *, target_type: str, target_id: int, viewer_id: int) -> None:
        self.hidden.append((target_type, target_id, viewer_id))

    async def remove(self, *, target_type: str, target_id: int) -> None:
        self.removed.append((target_type, target_id))
        self.things.pop((target_type, target_id), None)


@dataclass
class Setup:
    accounts: domain.Accounts
    moderation: Moderation
    owners: FakeOwners
    revocations: Revocations


@pytest.fixture
async def setup(user_settings: UserSettings) -> AsyncIterator[Setup]:
    user_store, engine = await make_store(user_settings, None)
    revocations = Revocations()
    ids = IdGenerator()
    accounts = domain.Accounts(
        user_store,
        issuer=auth.TokenIssuer(user_settings),
        ids=ids,
        settings=user_settings,
        pictures=FakePictures(),
        revocations=revocations,
    )
    owners = FakeOwners()
    moderation = Moderation(
        user_store,
        ids=ids,
        owners=owners,
        limiter=MemoryLimiter(),
        report_rate=parse_rate("3/1h"),
        session_ttl_seconds=900,
        revocations=revocations,
    )
    yield Setup(accounts, moderation, owners, revocations)
    await engine.dispose()


async def _user(accounts: domain.Accounts, name: str) -> domain.SignedIn:
    return await accounts.register(
        username=name, email=f"{name}@example.com", password="a good password", full_name=name
    )


async def _id(accounts: domain.Accounts, name: str) -> int:
    signed = await _user(accounts, name)
    assert signed.user is not None
    return signed.user.user_id


async def test_report_input_is_checked_at_its_edges(setup: Setup) -> None:
    m, owners = setup.moderation, setup.owners
    reporter, author = await _id(setup.accounts, "rep"), await _id(setup.accounts, "auth")
    owners.things[("post", 10)] = author
    owners.things[("post", 11)] = author
    cases: list[tuple[dict[str, Any], str]] = [
        ({"target_type": "album"}, "target_type"),
        ({"target_id": 0}, "target_id"),
        ({"reason": "boring"}, "reason"),
        ({"reason": ""}, "reason"),
        ({"note": "x" * (NOTE_MAX + 1)}, "note"),
        ({"note": "bad\u202etext"}, "note"),
    ]
    for change, named in cases:
        values: dict[str, Any] = {
            "target_type": "post",
            "target_id": 10,
            "reason": "spam",
            "note": "",
            **change,
        }
        with pytest.raises(InvalidArgument) as caught:
            await m.report(caller=reporter, **values)
        assert caught.value.violations[0].field == named
    at_limit = await m.report(
        caller=reporter, target_type="post", target_id=11, reason="self_harm", note="x" * NOTE_MAX
    )
    assert at_limit.note == "x" * NOTE_MAX and at_limit.reason == "self_harm"
    with pytest.raises(InvalidArgument):
        await m.report(caller=author, target_type="post", target_id=10, reason="spam", note="")
    with pytest.raises(ReportTargetNotFound):
        await m.report(caller=reporter, target_type="post", target_id=99, reason="spam", note="")
    assert owners.hidden == [("post", 11, reporter)]  # refused reports hide nothing


async def test_a_second_report_changes_nothing_and_the_rate_counts_new_reports_only(
    setup: Setup,
) -> None:
    m, owners = setup.moderation, setup.owners
    reporter, author = await _id(setup.accounts, "rep"), await _id(setup.accounts, "auth")
    for post_id in range(1, 6):
        owners.things[("post", post_id)] = author
    first = await m.report(
        caller=reporter, target_type="post", target_id=1, reason="spam", note="a"
    )
    again = await m.report(
        caller=reporter, target_type="post", target_id=1, reason="hate", note="b"
    )
    assert again == first and len(owners.hidden) == 1
    for post_id in (2, 3):  # the rate is 3 an hour: the first report and these two
        await m.report(
            caller=reporter, target_type="post", target_id=post_id, reason="spam", note=""
        )
    with pytest.raises(ReportsThrottled) as caught:
        await m.report(caller=reporter, target_type="post", target_id=4, reason="spam", note="")
    assert int(caught.value.metadata["retry_after_seconds"]) > 0
    # Repeating a report is free, throttled or not.
    assert (
        await m.report(caller=reporter, target_type="post", target_id=1, reason="spam", note="")
    ) == first


async def test_only_moderators_moderate_and_a_revoked_one_loses_access_at_once(
    setup: Setup,
) -> None:
    m = setup.moderation
    person = await _id(setup.accounts, "mod")
    with pytest.raises(NotAModerator):
        await m.report_groups(caller=person, state="open", page_size=0, page_token="")
    with pytest.raises(NotAModerator):
        await m.audit_log(caller=person, page_size=0, page_token="")
    with pytest.raises(NotAModerator):
        await m.resolve(caller=person, report_id=1, action="dismiss")
    with pytest.raises(NotAModerator):
        await m.unsuspend(caller=person, user_id=person)
    assert await set_moderator(setup.moderation._store, username="MOD", moderator=True) == person
    assert await m.report_groups(caller=person, state="open", page_size=0, page_token="") == (
        [],
        "",
    )
    await set_moderator(setup.moderation._store, username="mod", moderator=False)
    with pytest.raises(NotAModerator):
        await m.report_groups(caller=person, state="open", page_size=0, page_token="")
    with pytest.raises(UserNotFound):
        await set_moderator(setup.moderation._store, username="nobody", moderator=True)


async def test_the_queue_groups_by_thing_oldest_first_in_pages(setup: Setup) -> None:
    m, owners = setup.moderation, setup.owners
    mod = await _id(setup.accounts, "mod")
    await set_moderator(m._store, username="mod", moderator=True)
    author = await _id(setup.accounts, "auth")
    reporters = [await _id(setup.accounts, f"rep{i}") for i in range(3)]
    owners.things[("post", 1)] = author
    owners.things[("comment", 2)] = author
    await m.report(caller=reporters[0], target_type="post", target_id=1, reason="spam", note="n1")
    await m.report(caller=reporters[0], target_type="comment", target_id=2, reason="hate", note="")
    await m.report(caller=reporters[1], target_type="post", target_id=1, reason="hate", note="")
    await m.report(caller=reporters[2], target_type="post", target_id=1, reason="spam", note="n3")
    first, token = await m.report_groups(caller=mod, state="open", page_size=1, page_token="")
    assert [(g.first.target_type, g.report_count) for g in first] == [("post", 3)]
    assert first[0].reasons == ["spam", "hate"] and first[0].notes == ["n1", "n3"]
    second, end = await m.report_groups(caller=mod, state="open", page_size=1, page_token=token)
    assert [(g.first.target_type, g.report_count) for g in second] == [("comment", 1)]
    assert end == ""
    with pytest.raises(InvalidArgument):
        await m.report_groups(caller=mod, state="open", page_size=-1, page_token="")
    with pytest.raises(InvalidArgument):
        await m.audit_log(caller=mod, page_size=0, page_token=token)  # another list's token


async def test_resolving_removes_tells_every_reporter_and_is_logged(setup: Setup) -> None:
    m, owners = setup.moderation, setup.owners
    mod = await _id(setup.accounts, "mod")
    await set_moderator(m._store, username="mod", moderator=True)
    author = await _id(setup.accounts, "auth")
    a, b = await _id(setup.accounts, "a"), await _id(setup.accounts, "b")
    owners.things[("post", 1)] = author
    owners.things[("post", 2)] = mod
    first = await m.report(caller=a, target_type="post", target_id=1, reason="spam", note="")
    await m.report(caller=b, target_type="post", target_id=1, reason="spam", note="")
    own = await m.report(caller=a, target_type="post", target_id=2, reason="spam", note="")
    user = await m.report(caller=a, target_type="user", target_id=author, reason="hate", note="")
    with pytest.raises(OwnContent):
        await m.resolve(caller=mod, report_id=own.report_id, action="remove")
    with pytest.raises(InvalidArgument):
        await m.resolve(caller=mod, report_id=user.report_id, action="remove")
    with pytest.raises(InvalidArgument):
        await m.resolve(caller=mod, report_id=first.report_id, action="delete")
    entry = await m.resolve(caller=mod, report_id=first.report_id, action="remove")
    assert (entry.action, entry.report_count, entry.target_owner_id) == ("remove", 2, author)
    assert owners.removed == [("post", 1)]
    with pytest.raises(ReportResolved):
        await m.resolve(caller=mod, report_id=first.report_id, action="dismiss")
    dismissed = await m.resolve(caller=mod, report_id=user.report_id, action="dismiss")
    log, _ = await m.audit_log(caller=mod, page_size=10, page_token="")
    assert [e.entry_id for e in log] == [dismissed.entry_id, entry.entry_id]
    resolved, _ = await m.report_groups(caller=mod, state="resolved", page_size=10, page_token="")
    assert {(g.first.target_type, g.report_count) for g in resolved} == {("post", 2), ("user", 1)}
    async with m._store.transaction() as tx:
        rows = (
            await tx.execute(
                select(store.outbox).where(
                    store.outbox.c.event_type == "shutter.events.v1.ReportResolved"
                )
            )
        ).all()
    told = []
    for row in rows:
        event = user_events_pb2.ReportResolved()
        assert envelope_pb2.EventEnvelope.FromString(row.envelope).payload.Unpack(event)
        told.append((event.reporter_id, event.outcome))
    assert sorted(told) == sorted([(a, "remove"), (b, "remove"), (a, "dismiss")])


async def test_suspension_ends_sessions_blocks_login_hides_the_account_until_lifted(
    setup: Setup, user_settings: UserSettings
) -> None:
    m, accounts = setup.moderation, setup.accounts
    mod = await _id(accounts, "mod")
    await set_moderator(m._store, username="mod", moderator=True)
    troll = await _user(accounts, "troll")
    assert troll.user is not None
    troll_id = troll.user.user_id
    reporter = await _id(accounts, "rep")
    before, _ = await accounts.search(query="troll", page_size=0, page_token="")
    assert [u.user_id for u in before] == [troll_id]
    report = await m.report(
        caller=reporter, target_type="user", target_id=troll_id, reason="hate", note=""
    )
    await m.resolve(caller=mod, report_id=report.report_id, action="suspend")

    verifier = TokenVerifier(user_settings, revocations=setup.revocations)
    with pytest.raises(Unauthenticated) as ended:
        verifier.verify(troll.access_token)
    assert ended.value.reason == "SESSION_REVOKED"
    with pytest.raises(RefreshTokenInvalid):
        await accounts.refresh(refresh_token=troll.refresh_token)
    with pytest.raises(AccountSuspended):
        await accounts.login(login="troll", password="a good password")
    with pytest.raises(InvalidCredentials):  # a wrong password learns nothing of a suspension
        await accounts.login(login="troll", password="a wrong password")
    with pytest.raises(UserNotFound):
        await accounts.get_user(viewer=reporter, user_id=troll_id)
    assert [u.user_id for u in await accounts.batch_get(user_ids=[troll_id, reporter])] == [
        reporter
    ]
    found, _ = await accounts.search(query="troll", page_size=0, page_token="")
    assert found == []
    with pytest.raises(ReportTargetNotFound):  # a suspended account cannot be reported again
        await m.report(caller=mod, target_type="user", target_id=troll_id, reason="spam", note="")
    with pytest.raises(OwnContent):
        await m.unsuspend(caller=mod, user_id=mod)

    lifted = await m.unsuspend(caller=mod, user_id=troll_id)
    assert (lifted.action, lifted.target_id, lifted.report_id) == ("unsuspend", troll_id, 0)
    assert (await accounts.get_user(viewer=reporter, user_id=troll_id)).user.user_id == troll_id
    assert [u.user_id for u in await accounts.batch_get(user_ids=[troll_id])] == [troll_id]
    again = await accounts.login(login="troll", password="a good password")
    verifier.verify(again.access_token)  # a new session works
    async with m._store.transaction() as tx:
        kinds = [
            row.event_type
            for row in await tx.execute(
                select(store.outbox)
                .where(store.outbox.c.aggregate_id == troll_id)
                .order_by(store.outbox.c.event_id)
            )
        ]
    assert kinds == [
        "shutter.events.v1.UserRegistered",
        "shutter.events.v1.AccountSuspended",
        "shutter.events.v1.UserProfileUpdated",
        "shutter.events.v1.AccountUnsuspended",
        "shutter.events.v1.UserProfileUpdated",
    ]
