"""Account rules: who registers as what, how sessions start, rotate and end, who edits a profile."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import hashlib
import math
import re
import secrets
import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import argon2
from email_validator import EmailNotValidError, validate_email

from mesh import pagination
from mesh.auth import TokenIssuer
from mesh.errors import InvalidArgument
from mesh.export import json_file
from mesh.ids import IdGenerator
from mesh.revocation import Revocations
from mesh.text import check_free_text
from shutter.events.v1 import envelope_pb2
from user_svc import events
from user_svc.errors import (
    AccountSuspended,
    EmailTaken,
    InvalidCredentials,
    NotProfileOwner,
    RefreshTokenInvalid,
    RefreshTokenReused,
    UsernameTaken,
    UserNotFound,
)
from user_svc.settings import UserSettings
from user_svc.store import Conflict, RefreshTokenRecord, UserRecord, UserStore, trigrams
from user_svc.throttle import LoginThrottle

USERNAME_MAX = 30
# Kept revoked a little past the tokens' lifetime: verifiers' clocks may run a little behind.
SESSION_REVOCATION_SLACK_SECONDS = 60
EMAIL_MAX = 254
PASSWORD_MIN = 8
PASSWORD_MAX = 128  # argon2 cost does not grow with length, but nobody needs more
FULL_NAME_MAX = 64
BIO_MAX = 150
WEBSITE_MAX = 200
REFRESH_TOKEN_MAX = 512
SEARCH_QUERY_MAX = 64
SEARCH_PAGE_DEFAULT = 20
SEARCH_PAGE_MAX = 50
BATCH_MAX = 100
# A fuzzy match shares at least this part of the query's trigrams (and never fewer than 2).
FUZZY_MIN_SHARE = 0.34

_USERNAME = re.compile(r"[A-Za-z0-9._]{1,30}")


def check_username(username: str) -> str:
    """Return a valid username or raise InvalidArgument naming the field."""
    if not username:
        raise InvalidArgument.field("username", "is required")
    if len(username) > USERNAME_MAX:
        raise InvalidArgument.field("username", f"must be at most {USERNAME_MAX} characters")
    if not _USERNAME.fullmatch(username):
        raise InvalidArgument.field(
            "username", "may contain only letters, digits, periods and underscores"
        )
    if username.startswith(".") or username.endswith("."):
        raise InvalidArgument.field("username", "must not start or end with a period")
    if ".." in username:
        raise InvalidArgument.field("username", "must not contain two periods in a row")
    return username


def check_email(email: str) -> str:
    """Return the normalised email address or raise InvalidArgument."""
    if not email:
        raise InvalidArgument.field("email", "is required")
    if len(email) > EMAIL_MAX:
        raise InvalidArgument.field("email", f"must be at most {EMAIL_MAX} characters")
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidArgument.field("email", f"is not a valid address ({exc})") from None


def check_password(password: str) -> str:
    """Return the password if its length is within limits, else raise InvalidArgument."""
    if len(password) < PASSWORD_MIN:
        raise InvalidArgument.field("password", f"must be at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise InvalidArgument.field("password", f"must be at most {PASSWORD_MAX} characters")
    return password


def _clean_text(field: str, value: str, limit: int, *, multiline: bool) -> str:
    # The mesh's one rule for free text: no controls, no bidi overrides, nothing invisible.
    return check_free_text(field, value, limit=limit, multiline=multiline, required=False)


def check_full_name(full_name: str) -> str:
    """Return the cleaned display name or raise InvalidArgument."""
    return _clean_text("full_name", full_name, FULL_NAME_MAX, multiline=False)


def check_bio(bio: str) -> str:
    """Return the cleaned profile text or raise InvalidArgument."""
    return _clean_text("bio", bio, BIO_MAX, multiline=True)


def check_website(website: str) -> str:
    """Return a valid http(s) URL, or "" to clear it; raise InvalidArgument otherwise."""
    website = website.strip()
    if not website:
        return ""
    if len(website) > WEBSITE_MAX:
        raise InvalidArgument.field("website", f"must be at most {WEBSITE_MAX} characters")
    parts = urlsplit(website)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in website)
    ):
        raise InvalidArgument.field("website", "must be an http or https URL")
    return website


def hash_refresh_token(token: str) -> str:
    """Return the stored form of a refresh token (SHA-256 is enough for 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


# glibc's malloc serves blocks above this size with their own mmap, returned to the OS on free.
MMAP_THRESHOLD_BYTES = 1024 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def return_big_blocks_to_the_os() -> None:
    """Pin glibc's mmap threshold, so every argon2 hash's memory (19 MiB by default) goes back
    to the OS when the hash is done. Left alone, glibc raises the threshold after the first such
    block is freed and keeps all later ones in its per-thread heaps: user_svc grew past 260 MB
    after a burst of sign-ins. Does nothing where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


# The fields whose change UserProfileUpdated announces: the account's privacy, what its summary
# (UserSummary) shows, and the rest of the profile (feed_svc's read model serves whole profiles).
_ANNOUNCED_FIELDS = (
    "is_private",
    "username",
    "full_name",
    "profile_pic_key",
    "is_verified",
    "bio",
    "website",
)


@dataclass(frozen=True)
class Profile:
    """A profile as one viewer sees it."""

    user: UserRecord
    show_email: bool


@dataclass(frozen=True)
class SignedIn:
    """A started or renewed session."""

    user: UserRecord | None
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class Deletion:
    """A deleted account: closed now, its data being removed by every service."""

    user_id: int
    deleted_at: datetime
    username_released_at: datetime


def username_hash(username: str) -> str:
    """Return the stored form of a held username (nothing personal is kept of a deleted account)."""
    return hashlib.sha256(username.lower().encode()).hexdigest()


@dataclass(frozen=True)
class ProfileChanges:
    """The profile fields a caller asked to change; None leaves a field as it is."""

    full_name: str | None = None
    bio: str | None = None
    website: str | None = None
    is_private: bool | None = None
    # A ready photo of the caller's to show as the profile picture; 0 removes the picture.
    profile_media_id: int | None = None


class PictureSource(Protocol):
    """Where profile pictures come from (media_svc)."""

    async def photo_thumbnail(self, *, owner_id: int, media_id: int) -> str:
        """Return the thumbnail key of a ready photo the owner uploaded, or raise MediaNotUsable."""
        ...


class FeedSync(Protocol):
    """feed_svc's read model, told of committed profile changes at once."""

    async def apply(self, envelopes: Sequence[envelope_pb2.EventEnvelope]) -> None:
        """Apply these committed events in feed_svc now."""
        ...


class Accounts:
    """The rules of accounts, sessions and profiles."""

    def __init__(
        self,
        store: UserStore,
        *,
        issuer: TokenIssuer,
        ids: IdGenerator,
        settings: UserSettings,
        pictures: PictureSource,
        throttle: LoginThrottle | None = None,
        revocations: Revocations | None = None,
        feed: FeedSync | None = None,
    ) -> None:
        self._feed = feed
        self._store = store
        self._revocations = revocations
        self._pictures = pictures
        self._throttle = throttle
        self._issuer = issuer
        self._ids = ids
        self._refresh_ttl = timedelta(seconds=settings.refresh_token_ttl_seconds)
        self._username_grace = timedelta(seconds=settings.username_grace_seconds)
        self._hasher = argon2.PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=argon2.Type.ID,
        )
        self._hashing = ThreadPoolExecutor(
            settings.password_hash_workers, thread_name_prefix="argon2"
        )
        return_big_blocks_to_the_os()
        # Verified against when the account does not exist, so both failures take as long.
        self._decoy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    async def _in_hashing(self, work: Any, *args: Any) -> Any:
        """Run argon2 work on the hashing threads (it releases the GIL; the loop goes on)."""
        return await asyncio.get_running_loop().run_in_executor(self._hashing, work, *args)

    async def register(
        self, *, username: str, email: str, password: str, full_name: str
    ) -> SignedIn:
        """Create an account and start its first session."""
        username = check_username(username)
        email = check_email(email)
        check_password(password)
        full_name = check_full_name(full_name)
        password_hash = await self._in_hashing(self._hasher.hash, password)
        now = datetime.now(UTC)
        user = UserRecord(
            user_id=self._ids.next_id(),
            username=username,
            email=email,
            password_hash=password_hash,
            full_name=full_name,
            bio="",
            website="",
            profile_media_id=None,
            profile_pic_key="",
            is_private=False,
            is_verified=False,
            created_at=now,
            updated_at=now,
        )
        async with self._store.transaction() as tx:
            held = await self._store.username_held_until(tx, username_hash=username_hash(username))
            if held is not None and held > now:
                raise UsernameTaken("username: that username is taken")
            try:
                await self._store.insert_user(tx, user=user)
            except Conflict as exc:
                if exc.column == "email":
                    raise EmailTaken("email: that address is already registered") from None
                raise UsernameTaken("username: that username is taken") from None
            await self._store.outbox.add(
                tx,
                aggregate_id=user.user_id,
                event=events.user_registered(user_id=user.user_id, username=user.username),
            )
            refresh, session = await self._new_refresh_token(
                tx, user_id=user.user_id, family_id=None
            )
        return SignedIn(
            user,
            self._issuer.user_token(user.user_id, session_id=session),
            refresh,
            self._issuer.ttl_seconds,
        )

    async def login(self, *, login: str, password: str, client_ip: str = "") -> SignedIn:
        """Start a session for a username or email and password; wrong passwords slow further
        tries down (see throttle.py) when a throttle is set."""
        if not login or len(login) > EMAIL_MAX or not password or len(password) > PASSWORD_MAX:
            raise InvalidCredentials("the username or password is incorrect")
        if self._throttle is not None:
            await self._throttle.check(account=login, ip=client_ip)
        async with self._store.transaction() as tx:
            user = await self._store.get_user_by_login(tx, login=login)
        stored = user.password_hash if user else self._decoy_hash
        try:
            await self._in_hashing(self._hasher.verify, stored, password)
        except (argon2.exceptions.VerifyMismatchError, argon2.exceptions.InvalidHashError):
            if self._throttle is not None:
                await self._throttle.failed(account=login, ip=client_ip)
            raise InvalidCredentials("the username or password is incorrect") from None
        if user is None:
            raise InvalidCredentials("the username or password is incorrect")
        if self._throttle is not None:
            await self._throttle.succeeded(account=login, ip=client_ip)
        if user.suspended_at is not None:
            # Told only to whoever knows the password: nobody else learns of a suspension.
            raise AccountSuspended("this account is suspended")
        async with self._store.transaction() as tx:
            if self._hasher.check_needs_rehash(user.password_hash):
                rehashed = await self._in_hashing(self._hasher.hash, password)
                await self._store.update_user(
                    tx, user_id=user.user_id, changes={"password_hash": rehashed}
                )
            refresh, session = await self._new_refresh_token(
                tx, user_id=user.user_id, family_id=None
            )
        return SignedIn(
            user,
            self._issuer.user_token(user.user_id, session_id=session),
            refresh,
            self._issuer.ttl_seconds,
        )

    async def refresh(self, *, refresh_token: str) -> SignedIn:
        """Rotate a refresh token: spend it, return a new pair; reuse revokes the whole family."""
        record = await self._find_refresh_token(refresh_token)
        now = datetime.now(UTC)
        if record.revoked_at is not None or record.expires_at <= now:
            raise RefreshTokenInvalid("the refresh token has expired or was revoked")
        async with self._store.transaction() as tx:
            spent_now = record.spent_at is None and await self._store.spend_refresh_token(
                tx, token_id=record.token_id
            )
            if spent_now:
                new_token, session = await self._new_refresh_token(
                    tx, user_id=record.user_id, family_id=record.family_id
                )
            else:
                # Someone holds a copy of a spent token: end every session of that login.
                await self._store.revoke_family(tx, family_id=record.family_id)
        if not spent_now:
            await self._end_session(record.family_id)
            raise RefreshTokenReused("the refresh token was already used; please sign in again")
        return SignedIn(
            None,
            self._issuer.user_token(record.user_id, session_id=session),
            new_token,
            self._issuer.ttl_seconds,
        )

    async def logout(self, *, caller: int, refresh_token: str) -> None:
        """End the session a refresh token belongs to (idempotent for the caller's own tokens)."""
        record = await self._find_refresh_token(refresh_token)
        if record.user_id != caller:
            raise RefreshTokenInvalid("the refresh token is not valid")
        async with self._store.transaction() as tx:
            await self._store.revoke_family(tx, family_id=record.family_id)
        await self._end_session(record.family_id)

    async def delete_account(self, *, caller: int, user_id: int, password: str) -> Deletion:
        """Close the caller's own account, the password confirming it: its sessions end, it
        cannot sign in, its profile is gone; AccountDeleted tells every service to remove the
        rest. A wrong password changes nothing."""
        if user_id != caller:
            raise NotProfileOwner("you can only delete your own account")
        if not password or len(password) > PASSWORD_MAX:
            raise InvalidCredentials("the password is incorrect")
        async with self._store.transaction() as tx:
            user = await self._store.get_user(tx, user_id=user_id)
        if user is None:
            raise UserNotFound("no user has that id")
        try:
            await self._in_hashing(self._hasher.verify, user.password_hash, password)
        except (argon2.exceptions.VerifyMismatchError, argon2.exceptions.InvalidHashError):
            raise InvalidCredentials("the password is incorrect") from None
        now = datetime.now(UTC)
        released = now + self._username_grace
        async with self._store.transaction() as tx:
            sessions = await self._store.delete_user(tx, user_id=user_id)
            await self._store.hold_username(
                tx, username_hash=username_hash(user.username), until=released
            )
            deleted = await self._store.outbox.add(
                tx, aggregate_id=user_id, event=events.account_deleted(user_id=user_id, at=now)
            )
        # After the commit: a deletion that failed must not have ended the sessions either.
        for family_id in sessions:
            await self._end_session(family_id)
        if self._feed is not None:
            # Before answering: the profile feed_svc serves is gone on the next read.
            await self._feed.apply([deleted])
        return Deletion(user_id=user_id, deleted_at=now, username_released_at=released)

    async def export(self, *, user_id: int) -> dict[str, bytes]:
        """Return the account's part of its data export: profile.json."""
        async with self._store.transaction() as tx:
            user = await self._store.get_user(tx, user_id=user_id)
        if user is None:
            raise UserNotFound("no user has that id")
        profile = {
            "userId": str(user.user_id),
            "username": user.username,
            "email": user.email,
            "fullName": user.full_name,
            "bio": user.bio,
            "website": user.website,
            "isPrivate": user.is_private,
            "profilePictureMediaId": str(user.profile_media_id or ""),
            "createdAt": user.created_at,
        }
        return {"profile.json": json_file(profile)}

    async def _end_session(self, family_id: int) -> None:
        """Refuse the session's access tokens everywhere until the last of them has expired."""
        if self._revocations is not None:
            until = time.time() + self._issuer.ttl_seconds + SESSION_REVOCATION_SLACK_SECONDS
            await self._revocations.revoke([str(family_id)], until=until)

    async def _find_refresh_token(self, refresh_token: str) -> RefreshTokenRecord:
        if not refresh_token or len(refresh_token) > REFRESH_TOKEN_MAX:
            raise RefreshTokenInvalid("the refresh token is not valid")
        async with self._store.transaction() as tx:
            record = await self._store.get_refresh_token(
                tx, token_hash=hash_refresh_token(refresh_token)
            )
        if record is None:
            raise RefreshTokenInvalid("the refresh token is not valid")
        return record

    async def _new_refresh_token(
        self, tx: Any, *, user_id: int, family_id: int | None
    ) -> tuple[str, int]:
        """Store a new refresh token; return it and its family, the session it belongs to."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        token_id = self._ids.next_id()
        await self._store.insert_refresh_token(
            tx,
            token=RefreshTokenRecord(
                token_id=token_id,
                user_id=user_id,
                family_id=family_id or token_id,
                token_hash=hash_refresh_token(token),
                created_at=now,
                expires_at=now + self._refresh_ttl,
                spent_at=None,
                revoked_at=None,
            ),
        )
        return token, family_id or token_id

    async def get_user(
        self, *, viewer: int | None, user_id: int = 0, username: str = ""
    ) -> Profile:
        """Return a profile by id or username: someone else's from the replica, the viewer's
        own (and an account the replica does not know yet) from the primary."""
        if bool(user_id) == bool(username):
            raise InvalidArgument.field("user_id", "give exactly one of user_id and username")
        if user_id < 0:
            raise InvalidArgument.field("user_id", "must be positive")
        if len(username) > USERNAME_MAX:
            raise UserNotFound("no user has that username")
        user, fresh = None, bool(user_id) and user_id == viewer
        if not fresh:
            async with self._store.read_transaction() as tx:
                user = await self._find_user(tx, user_id=user_id, username=username)
            fresh = self._store.has_replica and (user is None or user.user_id == viewer)
        if fresh:
            async with self._store.transaction() as tx:
                user = await self._find_user(tx, user_id=user_id, username=username)
        if user is None or user.suspended_at is not None:
            # A suspended account is hidden from everyone, as a deleted one would be.
            raise UserNotFound("no user has that id" if user_id else "no user has that username")
        return Profile(user, show_email=viewer == user.user_id)

    async def _find_user(self, tx: Any, *, user_id: int, username: str) -> UserRecord | None:
        if user_id:
            return await self._store.get_user(tx, user_id=user_id)
        return await self._store.get_user_by_username(tx, username=username)

    async def batch_get(self, *, user_ids: list[int]) -> list[UserRecord]:
        """Return the accounts with these ids in request order, from the replica (the ones it
        does not know yet from the primary); unknown ids are left out."""
        if len(user_ids) > BATCH_MAX:
            raise InvalidArgument.field("user_ids", f"at most {BATCH_MAX} ids per call")
        wanted = list(dict.fromkeys(user_ids))
        found = {u.user_id: u for u in await self._store.current_users(user_ids=wanted)}
        missing = [i for i in wanted if i not in found]
        if missing and self._store.has_replica:
            found.update(
                (u.user_id, u)
                for u in await self._store.current_users(user_ids=missing, primary=True)
            )
        # Suspended accounts are left out like unknown ones: every service that hydrates authors
        # or asks who exists (graph_svc's privacy rule) then hides them and what they posted.
        return [found[i] for i in wanted if i in found and found[i].suspended_at is None]

    async def update_profile(
        self, *, caller: int, user_id: int, changes: ProfileChanges
    ) -> Profile:
        """Change the caller's own profile; only the fields given change."""
        if user_id != caller:
            raise NotProfileOwner("you can only change your own profile")
        values: dict[str, Any] = {}
        if changes.full_name is not None:
            values["full_name"] = check_full_name(changes.full_name)
        if changes.bio is not None:
            values["bio"] = check_bio(changes.bio)
        if changes.website is not None:
            values["website"] = check_website(changes.website)
        if changes.is_private is not None:
            values["is_private"] = changes.is_private
        if changes.profile_media_id is not None:
            if changes.profile_media_id < 0:
                raise InvalidArgument.field("profile_media_id", "must be a media id, or 0")
            values["profile_media_id"] = changes.profile_media_id or None
            values["profile_pic_key"] = (
                await self._pictures.photo_thumbnail(
                    owner_id=caller, media_id=changes.profile_media_id
                )
                if changes.profile_media_id
                else ""
            )
        async with self._store.transaction() as tx:
            before = await self._store.get_user(tx, user_id=user_id)
            if before is None:
                raise UserNotFound("no user has that id")
            if not values:
                return Profile(before, show_email=True)
            values["updated_at"] = datetime.now(UTC)
            after = await self._store.update_user(tx, user_id=user_id, changes=values)
            assert after is not None
            # Privacy decides who sees what (graph_svc); the summary fields are what posts
            # show of their author, the whole profile what profiles show (feed_svc's read
            # model): a change of any is announced.
            announced = None
            if any(getattr(before, f) != getattr(after, f) for f in _ANNOUNCED_FIELDS):
                announced = await self._store.outbox.add(
                    tx,
                    aggregate_id=user_id,
                    event=events.profile_updated(
                        user_id=user_id, is_private=after.is_private, was_private=before.is_private
                    ),
                )
        if announced is not None and self._feed is not None:
            # Before answering: a private switch holds for the very next read of any post list
            # feed_svc serves, and a new name shows on the owner's next read.
            await self._feed.apply([announced])
        return Profile(replace(after), show_email=True)

    async def search(
        self, *, query: str, page_size: int, page_token: str
    ) -> tuple[list[UserRecord], str]:
        """Return one page of people: names that start with the text, then names that contain
        it, then names that look like it (shared trigrams, for typos), best match first."""
        text = unicodedata.normalize("NFC", query).strip().removeprefix("@").lower()
        if not text:
            raise InvalidArgument.field("q", "is required")
        if len(text) > SEARCH_QUERY_MAX:
            raise InvalidArgument.field("q", f"must be at most {SEARCH_QUERY_MAX} characters")
        limit = pagination.page_size(
            page_size, default=SEARCH_PAGE_DEFAULT, maximum=SEARCH_PAGE_MAX
        )
        cursor = pagination.decode_token(page_token) or {"tier": 0, "after": "", "q": text}
        tier, after, score = cursor.get("tier"), cursor.get("after"), cursor.get("score", 0)
        if (
            tier not in (0, 1, 2)
            or not isinstance(after, str)
            or not isinstance(score, int)
            or cursor.get("q") != text
        ):
            raise InvalidArgument.field("page_token", "does not belong to this search")
        grams = trigrams(text)
        min_score = max(2, math.ceil(len(grams) * FUZZY_MIN_SHARE))
        found: list[tuple[UserRecord, int, int]] = []  # (user, tier, score)
        async with self._store.read_transaction() as tx:
            while tier <= 2 and len(found) <= limit:
                want = limit + 1 - len(found)
                if tier < 2:
                    batch = [
                        (user, tier, 0)
                        for user in await self._store.search_users(
                            tx, text=text, contains=tier == 1, after=after, limit=want
                        )
                    ]
                else:
                    batch = [
                        (user, 2, shared)
                        for user, shared in await self._store.fuzzy_search_users(
                            tx,
                            grams=grams,
                            min_score=min_score,
                            exclude=text,
                            after=(score, after) if after else None,
                            limit=want,
                        )
                    ]
                found.extend(batch)
                if len(found) <= limit:  # this tier is used up: go on with the next one
                    tier, after, score = tier + 1, "", 0
        if len(found) <= limit:
            return [user for user, _, _ in found], ""
        last_user, last_tier, last_score = found[limit - 1]
        token = pagination.encode_token(
            {"tier": last_tier, "after": last_user.username.lower(), "score": last_score, "q": text}
        )
        return [user for user, _, _ in found[:limit]], token
