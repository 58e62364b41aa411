"""Closing an account: the password confirms it, sessions end, the profile and sign-in go, the
username is held for its grace period, and AccountDeleted is in the outbox; nothing personal is
kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mesh import auth
from mesh.errors import Unauthenticated
from mesh.ids import IdGenerator
from mesh.revocation import Revocations
from shutter.events.v1 import envelope_pb2, user_events_pb2
from tests.user_svc.conftest import FakePictures, make_store
from user_svc import domain, errors, store
from user_svc.settings import UserSettings


async def _accounts(
    data_dir: Path, *, grace_seconds: int
) -> tuple[domain.Accounts, store.SqlUserStore, Revocations, AsyncEngine, UserSettings]:
    settings = UserSettings(
        data_dir=data_dir, user_svc_addr="127.0.0.1:0", username_grace_seconds=grace_seconds
    )
    auth.ensure_keys(settings)
    user_store, engine = await make_store(settings, None)
    revocations = Revocations()
    accounts = domain.Accounts(
        user_store,
        issuer=auth.TokenIssuer(settings),
        ids=IdGenerator(),
        settings=settings,
        pictures=FakePictures(),
        revocations=revocations,
    )
    return accounts, user_store, revocations, engine, settings


async def test_deleting_an_account_closes_it_at_once(data_dir: Path) -> None:
    accounts, user_store, revocations, engine, settings = await _accounts(
        data_dir, grace_seconds=3600
    )
    try:
        phone = await accounts.register(
            username="Leaving", email="leaving@example.com", password="correct horse", full_name=""
        )
        laptop = await accounts.login(login="leaving", password="correct horse")
        other = await accounts.register(
            username="staying", email="staying@example.com", password="correct horse", full_name=""
        )
        assert phone.user is not None and other.user is not None
        me = phone.user.user_id

        # Only the owner, only with the right password; a wrong one changes nothing.
        with pytest.raises(errors.NotProfileOwner):
            await accounts.delete_account(
                caller=other.user.user_id, user_id=me, password="correct horse"
            )
        with pytest.raises(errors.InvalidCredentials):
            await accounts.delete_account(caller=me, user_id=me, password="wrong horse!")
        assert (await accounts.get_user(viewer=None, user_id=me)).user.username == "Leaving"

        deletion = await accounts.delete_account(caller=me, user_id=me, password="correct horse")
        assert deletion.user_id == me
        assert 3599 <= (deletion.username_released_at - deletion.deleted_at).total_seconds() <= 3601
        # Both sessions ended; sign-in, refresh, profile and search are gone.
        verifier = auth.TokenVerifier(settings, revocations=revocations)
        for signed_in in (phone, laptop):
            with pytest.raises(Unauthenticated, match="session has ended"):
                verifier.verify(signed_in.access_token)
        with pytest.raises(errors.InvalidCredentials):
            await accounts.login(login="leaving", password="correct horse")
        with pytest.raises(errors.RefreshTokenInvalid):
            await accounts.refresh(refresh_token=laptop.refresh_token)
        with pytest.raises(errors.UserNotFound):
            await accounts.get_user(viewer=None, user_id=me)
        found, _ = await accounts.search(query="leav", page_size=10, page_token="")
        assert found == []
        # The username is held, ignoring case; the address is free again.
        with pytest.raises(errors.UsernameTaken):
            await accounts.register(
                username="LEAVING", email="new@example.com", password="correct horse", full_name=""
            )
        await accounts.register(
            username="someone", email="leaving@example.com", password="correct horse", full_name=""
        )

        async with user_store.transaction() as tx:
            rows = (await tx.execute(select(store.outbox))).all()
            ledger = (await tx.execute(select(store.deletion_ledger))).all()
            held = (await tx.execute(select(store.released_usernames))).all()
        deleted = []
        for row in rows:
            envelope = envelope_pb2.EventEnvelope.FromString(row.envelope)
            event = user_events_pb2.AccountDeleted()
            if envelope.payload.Unpack(event):
                deleted.append(event.user_id)
        assert deleted == [me]
        assert [(r.user_id, r.step) for r in ledger] == [(me, "account_closed")]
        # Nothing personal kept: a hash of the name, not the name.
        assert len(held) == 1 and "leaving" not in held[0].username_hash.lower()
    finally:
        await engine.dispose()


async def test_a_username_is_free_again_after_the_grace_period(data_dir: Path) -> None:
    accounts, _, _, engine, _ = await _accounts(data_dir, grace_seconds=0)
    try:
        first = await accounts.register(
            username="phoenix", email="a@example.com", password="correct horse", full_name=""
        )
        assert first.user is not None
        await accounts.delete_account(
            caller=first.user.user_id, user_id=first.user.user_id, password="correct horse"
        )
        again = await accounts.register(
            username="phoenix", email="b@example.com", password="correct horse", full_name=""
        )
        assert again.user is not None and again.user.user_id != first.user.user_id
    finally:
        await engine.dispose()
