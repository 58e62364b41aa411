"""The user store suite, run against every backend: embedded SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mesh.ids import IdGenerator
from tests.user_svc.conftest import make_store
from user_svc import store
from user_svc.settings import UserSettings

ids = IdGenerator(shard=7)


@pytest.fixture
async def user_store(data_dir: Path, database_url: str | None) -> AsyncIterator[store.SqlUserStore]:
    made, engine = await make_store(UserSettings(data_dir=data_dir), database_url)
    yield made
    await engine.dispose()


def _user(name: str, **changes: object) -> store.UserRecord:
    now = datetime.now(UTC).replace(microsecond=0)
    record = store.UserRecord(
        user_id=ids.next_id(),
        username=name,
        email=f"{name}@example.com",
        password_hash="$argon2id$fake",
        full_name=name.title(),
        bio="",
        website="",
        profile_media_id=None,
        profile_pic_key="",
        is_private=False,
        is_verified=False,
        created_at=now,
        updated_at=now,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


async def test_insert_and_read_back_by_id_username_and_login(
    user_store: store.SqlUserStore,
) -> None:
    alice = _user("Alice", full_name="Alice Liddell ✨")
    async with user_store.transaction() as tx:
        await user_store.insert_user(tx, user=alice)
    async with user_store.transaction() as tx:
        assert await user_store.get_user(tx, user_id=alice.user_id) == alice
        assert await user_store.get_user_by_username(tx, username="ALICE") == alice
        assert await user_store.get_user_by_login(tx, login="alice@EXAMPLE.com") == alice
        assert await user_store.get_user(tx, user_id=1) is None


async def test_unique_username_and_email_ignoring_case(user_store: store.SqlUserStore) -> None:
    async with user_store.transaction() as tx:
        await user_store.insert_user(tx, user=_user("alice"))
    with pytest.raises(store.Conflict) as by_name:
        async with user_store.transaction() as tx:
            await user_store.insert_user(tx, user=_user("ALICE", email="other@example.com"))
    assert by_name.value.column == "username"
    with pytest.raises(store.Conflict) as by_email:
        async with user_store.transaction() as tx:
            await user_store.insert_user(tx, user=_user("bob", email="ALICE@example.com"))
    assert by_email.value.column == "email"


async def test_failed_transaction_leaves_nothing(user_store: store.SqlUserStore) -> None:
    bob = _user("bob")
    with pytest.raises(RuntimeError):
        async with user_store.transaction() as tx:
            await user_store.insert_user(tx, user=bob)
            raise RuntimeError("crash after the insert")
    async with user_store.transaction() as tx:
        assert await user_store.get_user(tx, user_id=bob.user_id) is None


async def test_update_and_batch_get(user_store: store.SqlUserStore) -> None:
    a, b = _user("a"), _user("b")
    async with user_store.transaction() as tx:
        await user_store.insert_user(tx, user=a)
        await user_store.insert_user(tx, user=b)
        after = await user_store.update_user(
            tx, user_id=a.user_id, changes={"full_name": "Zed", "is_private": True}
        )
        assert after is not None and after.full_name == "Zed" and after.is_private
        found = await user_store.get_users(tx, user_ids=[a.user_id, b.user_id, 42])
    assert sorted(u.user_id for u in found) == sorted([a.user_id, b.user_id])


async def test_current_users_reads_committed_accounts_outside_a_transaction(
    user_store: store.SqlUserStore,
) -> None:
    a, b = _user("cur_a"), _user("cur_b", full_name="Bee")
    async with user_store.transaction() as tx:
        await user_store.insert_user(tx, user=a)
        await user_store.insert_user(tx, user=b)
        expected = {
            u.user_id: u for u in await user_store.get_users(tx, user_ids=[a.user_id, b.user_id])
        }
    for primary in (False, True):
        found = await user_store.current_users(
            user_ids=[b.user_id, 42, a.user_id, b.user_id], primary=primary
        )
        # Each known account once, unknown ids left out, every field as a transaction reads it.
        assert sorted(found, key=lambda u: u.user_id) == sorted(
            expected.values(), key=lambda u: u.user_id
        )
    assert await user_store.current_users(user_ids=[]) == []


async def test_search_orders_by_username_and_pages_with_after(
    user_store: store.SqlUserStore,
) -> None:
    async with user_store.transaction() as tx:
        for name, full in [
            ("mary", "Mary"),
            ("marco", "Marco"),
            ("amar", "Amar"),
            ("zz", "Mark Z"),
        ]:
            await user_store.insert_user(tx, user=_user(name, full_name=full))
    async with user_store.transaction() as tx:
        starts = await user_store.search_users(tx, text="mar", contains=False, after="", limit=10)
        assert [u.username for u in starts] == ["marco", "mary", "zz"]
        page2 = await user_store.search_users(
            tx, text="mar", contains=False, after="marco", limit=1
        )
        assert [u.username for u in page2] == ["mary"]
        inside = await user_store.search_users(tx, text="mar", contains=True, after="", limit=10)
        assert [u.username for u in inside] == ["amar"]


async def test_refresh_token_spend_once_and_revoke_family(user_store: store.SqlUserStore) -> None:
    now = datetime.now(UTC)
    family = ids.next_id()
    tokens = [
        store.RefreshTokenRecord(
            token_id=ids.next_id(),
            user_id=1,
            family_id=family,
            token_hash=f"{i:064d}",
            created_at=now,
            expires_at=now + timedelta(days=1),
            spent_at=None,
            revoked_at=None,
        )
        for i in range(2)
    ]
    async with user_store.transaction() as tx:
        for token in tokens:
            await user_store.insert_refresh_token(tx, token=token)

    async def spend() -> bool:
        async with user_store.transaction() as tx:
            return await user_store.spend_refresh_token(tx, token_id=tokens[0].token_id)

    # Racing spends of one token: exactly one wins.
    assert sorted(await asyncio.gather(*(spend() for _ in range(5)))) == [False] * 4 + [True]
    async with user_store.transaction() as tx:
        await user_store.revoke_family(tx, family_id=family)
        second = await user_store.get_refresh_token(tx, token_hash=tokens[1].token_hash)
        assert second is not None and second.revoked_at is not None
        assert not await user_store.spend_refresh_token(tx, token_id=tokens[1].token_id)


async def test_fuzzy_search_scores_pages_and_follows_name_changes(
    user_store: store.SqlUserStore,
) -> None:
    alice, alina, bob = _user("alice"), _user("alina"), _user("bob", full_name="Bob")
    async with user_store.transaction() as tx:
        for user in (alice, alina, bob):
            await user_store.insert_user(tx, user=user)
    grams = store.trigrams("alic")
    async with user_store.transaction() as tx:
        ranked = await user_store.fuzzy_search_users(
            tx, grams=grams, min_score=2, exclude="alicx", after=None, limit=10
        )
        assert [(u.username, s) for u, s in ranked] == [("alice", 4), ("alina", 3)]
        rest = await user_store.fuzzy_search_users(
            tx, grams=grams, min_score=2, exclude="alicx", after=(4, "alice"), limit=10
        )
        assert [u.username for u, _ in rest] == ["alina"]
        await user_store.update_user(tx, user_id=bob.user_id, changes={"full_name": "Alicia"})
        renamed = await user_store.fuzzy_search_users(
            tx, grams=grams, min_score=4, exclude="alicx", after=None, limit=10
        )
    assert {u.username for u, _ in renamed} == {"alice", "bob"}


async def test_bulk_insert_adds_new_accounts_with_trigrams_and_skips_taken_ones(
    user_store: store.SqlUserStore,
) -> None:
    alice = _user("alice")
    async with user_store.transaction() as tx:
        await user_store.insert_user(tx, user=alice)
    batch = [
        _user("alina"),
        _user("ALICE"),  # username taken (case-insensitively)
        _user("carol", email="alice@example.com"),  # email taken
        _user("dora"),
    ]
    async with user_store.transaction() as tx:
        added = await user_store.insert_users(tx, records=batch)
        assert await user_store.insert_users(tx, records=[]) == set()
    assert added == {batch[0].user_id, batch[3].user_id}
    async with user_store.transaction() as tx:
        assert await user_store.get_user(tx, user_id=batch[0].user_id) == batch[0]
        assert await user_store.get_user(tx, user_id=batch[1].user_id) is None
        assert await user_store.get_user(tx, user_id=batch[2].user_id) is None
        # The bulk-made accounts are searchable like any other (their trigrams were written).
        ranked = await user_store.fuzzy_search_users(
            tx, grams=store.trigrams("alin"), min_score=4, exclude="zz", after=None, limit=10
        )
    assert [u.username for u, _ in ranked] == ["alina"]
