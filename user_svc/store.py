"""user_svc persistence: accounts and refresh tokens, SQLite or PostgreSQL via SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    and_,
    any_,
    bindparam,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mesh import db
from mesh.deletion import ledger_table
from mesh.outbox import Outbox, outbox_table

metadata = MetaData()

# A report group shows at most this many of its reporters' notes.
GROUP_NOTES_MAX = 10

users = Table(
    "users",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("username", String(30), nullable=False),
    # Lower-cased copies carry the case-insensitive uniqueness and the search indexes.
    Column("username_key", String(30), nullable=False, unique=True),
    Column("email", String(254), nullable=False),
    Column("email_key", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("full_name", String(64), nullable=False, default=""),
    Column("full_name_key", String(64), nullable=False, default=""),
    Column("bio", String(150), nullable=False, default=""),
    Column("website", String(200), nullable=False, default=""),
    # The profile picture: the photo's id and its thumbnail's key (URLs are made from the key
    # and the configured media base URL, never stored).
    Column("profile_media_id", BigInteger, nullable=True),
    Column("profile_pic_key", String(300), nullable=False, default=""),
    Column("is_private", Boolean, nullable=False, default=False),
    Column("is_verified", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Trust and safety: the moderator role (checked on every moderation call, never cached in
    # tokens, so a revoked moderator loses access on the next request) and a suspension, which
    # hides the account from everyone until a moderator lifts it.
    Column("is_moderator", Boolean, nullable=False, default=False),
    Column("suspended_at", DateTime(timezone=True), nullable=True),
    Index(
        "ix_users_username_key_prefix",
        "username_key",
        postgresql_ops={"username_key": "varchar_pattern_ops"},
    ),
    Index(
        "ix_users_full_name_key_prefix",
        "full_name_key",
        postgresql_ops={"full_name_key": "varchar_pattern_ops"},
    ),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, nullable=False, index=True),
    # Every token made by rotating one login's tokens shares the login's family id.
    Column("family_id", BigInteger, nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("spent_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# Trigrams of usernames and full names: the index behind typo-tolerant ("fuzzy") search that
# works the same on SQLite and PostgreSQL without extensions.
name_trigrams = Table(
    "name_trigrams",
    metadata,
    Column("trigram", String(3), primary_key=True),
    Column("user_id", BigInteger, primary_key=True, autoincrement=False, index=True),
)

# One row per (reporter, reported thing): a second report of the same thing changes nothing.
reports = Table(
    "reports",
    metadata,
    Column("report_id", BigInteger, primary_key=True, autoincrement=False),
    Column("reporter_id", BigInteger, nullable=False),
    Column("target_type", String(16), nullable=False),
    Column("target_id", BigInteger, nullable=False),
    Column("target_owner_id", BigInteger, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("note", String(500), nullable=False),
    Column("state", String(16), nullable=False),
    Column("resolution", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("reporter_id", "target_type", "target_id", name="uq_reports_once"),
    Index("ix_reports_state_target", "state", "target_type", "target_id"),
)

# The moderation audit log: rows are only ever inserted (this store has no update or delete
# of it).
moderation_log = Table(
    "moderation_log",
    metadata,
    Column("entry_id", BigInteger, primary_key=True, autoincrement=False),
    Column("moderator_id", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),
    Column("target_type", String(16), nullable=False),
    Column("target_id", BigInteger, nullable=False),
    Column("target_owner_id", BigInteger, nullable=False),
    Column("report_id", BigInteger, nullable=False),
    Column("report_count", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox = outbox_table(metadata)
deletion_ledger = ledger_table(metadata)

# Usernames of deleted accounts, held until their grace period ends (a newcomer cannot pose as
# the departed account at once). Only a SHA-256 of the lower-cased name is kept, nothing personal.
released_usernames = Table(
    "released_usernames",
    metadata,
    Column("username_hash", String(64), primary_key=True),
    Column("available_at", DateTime(timezone=True), nullable=False),
)


def trigrams(*texts: str) -> set[str]:
    """Return the trigrams of every word of the texts, lower-cased and padded at word edges."""
    grams: set[str] = set()
    for text in texts:
        for word in text.lower().replace(".", " ").replace("_", " ").split():
            padded = f"  {word} "
            grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


@dataclass(frozen=True)
class UserRecord:
    """One account as stored."""

    user_id: int
    username: str
    email: str
    password_hash: str
    full_name: str
    bio: str
    website: str
    profile_media_id: int | None
    profile_pic_key: str
    is_private: bool
    is_verified: bool
    created_at: datetime
    updated_at: datetime
    is_moderator: bool = False
    suspended_at: datetime | None = None


@dataclass(frozen=True)
class ReportRecord:
    """One report as stored; target_type, reason, state and resolution are lower-case names."""

    report_id: int
    reporter_id: int
    target_type: str
    target_id: int
    target_owner_id: int
    reason: str
    note: str
    state: str
    resolution: str
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class ReportGroupRecord:
    """The reports of one reported thing in one state."""

    first: ReportRecord
    report_count: int
    reasons: list[str]
    notes: list[str]


@dataclass(frozen=True)
class LogEntryRecord:
    """One entry of the moderation audit log."""

    entry_id: int
    moderator_id: int
    action: str
    target_type: str
    target_id: int
    target_owner_id: int
    report_id: int
    report_count: int
    created_at: datetime


@dataclass(frozen=True)
class RefreshTokenRecord:
    """One refresh token as stored (only its hash: a database leak gives nobody a session)."""

    token_id: int
    user_id: int
    family_id: int
    token_hash: str
    created_at: datetime
    expires_at: datetime
    spent_at: datetime | None
    revoked_at: datetime | None


class Conflict(Exception):
    """A unique column already holds the value: `column` names which."""

    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


class UserStore(Protocol):
    """What the account rules need from storage."""

    outbox: Outbox
    # True when read_transaction() reads a replica, which may lag behind transaction().
    has_replica: bool

    def transaction(self) -> Any: ...
    def read_transaction(self) -> Any: ...
    async def insert_user(self, session: AsyncSession, *, user: UserRecord) -> None: ...
    async def get_user(self, session: AsyncSession, *, user_id: int) -> UserRecord | None: ...
    async def get_user_by_username(
        self, session: AsyncSession, *, username: str
    ) -> UserRecord | None: ...
    async def get_user_by_login(
        self, session: AsyncSession, *, login: str
    ) -> UserRecord | None: ...
    async def get_users(
        self, session: AsyncSession, *, user_ids: Sequence[int]
    ) -> list[UserRecord]: ...
    async def current_users(
        self, *, user_ids: Sequence[int], primary: bool = False
    ) -> list[UserRecord]: ...
    async def update_user(
        self, session: AsyncSession, *, user_id: int, changes: dict[str, Any]
    ) -> UserRecord | None: ...
    async def search_users(
        self, session: AsyncSession, *, text: str, contains: bool, after: str, limit: int
    ) -> list[UserRecord]: ...
    async def fuzzy_search_users(
        self,
        session: AsyncSession,
        *,
        grams: set[str],
        min_score: int,
        exclude: str,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[tuple[UserRecord, int]]: ...
    async def insert_refresh_token(
        self, session: AsyncSession, *, token: RefreshTokenRecord
    ) -> None: ...
    async def get_refresh_token(
        self, session: AsyncSession, *, token_hash: str
    ) -> RefreshTokenRecord | None: ...
    async def spend_refresh_token(self, session: AsyncSession, *, token_id: int) -> bool: ...
    async def revoke_family(self, session: AsyncSession, *, family_id: int) -> None: ...
    async def delete_user(self, session: AsyncSession, *, user_id: int) -> list[int]: ...
    async def hold_username(
        self, session: AsyncSession, *, username_hash: str, until: datetime
    ) -> None: ...
    async def username_held_until(
        self, session: AsyncSession, *, username_hash: str
    ) -> datetime | None: ...

    async def revoke_user_sessions(self, session: AsyncSession, *, user_id: int) -> list[int]: ...
    async def insert_report(self, session: AsyncSession, *, report: ReportRecord) -> bool: ...
    async def get_report(self, session: AsyncSession, *, report_id: int) -> ReportRecord | None: ...
    async def find_report(
        self, session: AsyncSession, *, reporter_id: int, target_type: str, target_id: int
    ) -> ReportRecord | None: ...
    async def list_report_groups(
        self, session: AsyncSession, *, state: str, after: int, limit: int
    ) -> list[ReportGroupRecord]: ...
    async def resolve_reports(
        self,
        session: AsyncSession,
        *,
        target_type: str,
        target_id: int,
        resolution: str,
        at: datetime,
    ) -> list[ReportRecord]: ...
    async def add_log_entry(self, session: AsyncSession, *, entry: LogEntryRecord) -> None: ...
    async def list_log(
        self, session: AsyncSession, *, before: int, limit: int
    ) -> list[LogEntryRecord]: ...


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _user(row: Any) -> UserRecord:
    return UserRecord(
        user_id=row.user_id,
        username=row.username,
        email=row.email,
        password_hash=row.password_hash,
        full_name=row.full_name,
        bio=row.bio,
        website=row.website,
        profile_media_id=row.profile_media_id,
        profile_pic_key=row.profile_pic_key,
        is_private=row.is_private,
        is_verified=row.is_verified,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        is_moderator=row.is_moderator,
        suspended_at=_aware(row.suspended_at) if row.suspended_at else None,
    )


def _report(row: Any) -> ReportRecord:
    return ReportRecord(
        report_id=row.report_id,
        reporter_id=row.reporter_id,
        target_type=row.target_type,
        target_id=row.target_id,
        target_owner_id=row.target_owner_id,
        reason=row.reason,
        note=row.note,
        state=row.state,
        resolution=row.resolution,
        created_at=_aware(row.created_at),
        resolved_at=_aware(row.resolved_at) if row.resolved_at else None,
    )


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_USER_COLUMNS = [c for c in users.c if c.name not in ("username_key", "email_key", "full_name_key")]
# The accounts of a batch (what every hydration and graph_svc's privacy rule ask) in one
# statement with an array parameter (PostgreSQL): the same SQL text whatever the number of ids,
# so psycopg prepares it once per connection, and no statement is built per call.
_CURRENT_USERS = select(*_USER_COLUMNS).where(
    users.c.user_id == any_(bindparam("ids", type_=postgresql.ARRAY(BigInteger)))
)


class SqlUserStore:
    """The relational implementation of UserStore (SQLite embedded, PostgreSQL in production)."""

    def __init__(
        self, engine: AsyncEngine, *, outbox: Outbox, replica: AsyncEngine | None = None
    ) -> None:
        self._sessions = db.session_factory(engine)
        self._read_sessions = db.read_session_factory(engine, replica)
        self.has_replica = replica is not None
        self.outbox = outbox
        self._postgres = engine.dialect.name == "postgresql"
        # A read of one statement needs no transaction: on PostgreSQL it runs on an autocommit
        # connection (no BEGIN and COMMIT round trips), of the replica or of the primary.
        self._autocommit = db.autocommit(engine)
        self._read_autocommit = db.autocommit(replica) if replica is not None else self._autocommit

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a transaction: committed when the block ends, rolled back on any error."""
        async with db.transaction(self._sessions) as session:
            yield session

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a read-only transaction on the replica (else the primary); a write fails."""
        async with db.transaction(self._read_sessions) as session:
            yield session

    async def insert_user(self, session: AsyncSession, *, user: UserRecord) -> None:
        """Add an account; raise Conflict("username" | "email") when either is taken."""
        values = {
            **user.__dict__,
            "username_key": user.username.lower(),
            "email_key": user.email.lower(),
            "full_name_key": user.full_name.lower(),
        }
        try:
            async with session.begin_nested():
                await session.execute(users.insert().values(**values))
        except IntegrityError as exc:
            column = "email" if "email" in str(exc.orig).lower() else "username"
            raise Conflict(column) from None
        await self._index_names(
            session, user_id=user.user_id, texts=(user.username, user.full_name)
        )

    async def insert_users(
        self, session: AsyncSession, *, records: Sequence[UserRecord]
    ) -> set[int]:
        """Add many accounts in one statement (bulk loads) with their name trigrams; return the
        ids of those added. An account whose id, username or email is taken is left out."""
        if not records:
            return set()
        rows = [
            {
                **user.__dict__,
                "username_key": user.username.lower(),
                "email_key": user.email.lower(),
                "full_name_key": user.full_name.lower(),
            }
            for user in records
        ]
        postgres = session.get_bind().dialect.name == "postgresql"
        insert = postgresql.insert if postgres else sqlite.insert
        statement = insert(users).values(rows).on_conflict_do_nothing().returning(users.c.user_id)
        added = set((await session.execute(statement)).scalars())
        grams = [
            {"trigram": g, "user_id": user.user_id}
            for user in records
            if user.user_id in added
            for g in sorted(trigrams(user.username, user.full_name))
        ]
        if grams:
            await session.execute(name_trigrams.insert(), grams)
        return added

    async def _index_names(
        self, session: AsyncSession, *, user_id: int, texts: tuple[str, ...]
    ) -> None:
        await session.execute(name_trigrams.delete().where(name_trigrams.c.user_id == user_id))
        rows = [{"trigram": g, "user_id": user_id} for g in sorted(trigrams(*texts))]
        if rows:
            await session.execute(name_trigrams.insert(), rows)

    async def get_user(self, session: AsyncSession, *, user_id: int) -> UserRecord | None:
        """Return the account with this id."""
        row = (
            await session.execute(select(*_USER_COLUMNS).where(users.c.user_id == user_id))
        ).first()
        return _user(row) if row else None

    async def get_user_by_username(
        self, session: AsyncSession, *, username: str
    ) -> UserRecord | None:
        """Return the account with this username, ignoring case."""
        query = select(*_USER_COLUMNS).where(users.c.username_key == username.lower())
        row = (await session.execute(query)).first()
        return _user(row) if row else None

    async def get_user_by_login(self, session: AsyncSession, *, login: str) -> UserRecord | None:
        """Return the account whose username or email is `login`, ignoring case."""
        key = login.lower()
        column = users.c.email_key if "@" in key else users.c.username_key
        row = (await session.execute(select(*_USER_COLUMNS).where(column == key))).first()
        return _user(row) if row else None

    async def get_users(
        self, session: AsyncSession, *, user_ids: Sequence[int]
    ) -> list[UserRecord]:
        """Return the accounts with these ids, in no particular order, in one query."""
        if not user_ids:
            return []
        query = select(*_USER_COLUMNS).where(users.c.user_id.in_(list(user_ids)))
        return [_user(row) for row in await session.execute(query)]

    async def current_users(
        self, *, user_ids: Sequence[int], primary: bool = False
    ) -> list[UserRecord]:
        """Return the accounts with these ids as committed now, in no particular order, outside
        any transaction: from the replica (else the primary), or from the primary when asked.
        On PostgreSQL one prebuilt statement on an autocommit connection."""
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return []
        if not self._postgres:
            async with self.transaction() if primary else self.read_transaction() as session:
                return await self.get_users(session, user_ids=ids)
        engine = self._autocommit if primary else self._read_autocommit
        async with engine.connect() as connection:
            return [_user(row) for row in await connection.execute(_CURRENT_USERS, {"ids": ids})]

    async def update_user(
        self, session: AsyncSession, *, user_id: int, changes: dict[str, Any]
    ) -> UserRecord | None:
        """Apply changes to an account and return it as it is now."""
        values = dict(changes)
        if "full_name" in values:
            values["full_name_key"] = values["full_name"].lower()
        await session.execute(update(users).where(users.c.user_id == user_id).values(**values))
        after = await self.get_user(session, user_id=user_id)
        if after is not None and "full_name" in changes:
            await self._index_names(
                session, user_id=user_id, texts=(after.username, after.full_name)
            )
        return after

    async def search_users(
        self, session: AsyncSession, *, text: str, contains: bool, after: str, limit: int
    ) -> list[UserRecord]:
        """Return accounts whose username or full name starts with (or, with contains, only
        contains) `text`, ordered by username, after the username `after`."""
        prefix = _escape_like(text) + "%"
        starts = or_(
            users.c.username_key.like(prefix, escape="\\"),
            users.c.full_name_key.like(prefix, escape="\\"),
        )
        if contains:
            anywhere = "%" + prefix
            match = and_(
                or_(
                    users.c.username_key.like(anywhere, escape="\\"),
                    users.c.full_name_key.like(anywhere, escape="\\"),
                ),
                not_(starts),
            )
        else:
            match = starts
        query = (
            select(*_USER_COLUMNS)
            .where(match, users.c.username_key > after, users.c.suspended_at.is_(None))
            .order_by(users.c.username_key)
            .limit(limit)
        )
        return [_user(row) for row in await session.execute(query)]

    async def fuzzy_search_users(
        self,
        session: AsyncSession,
        *,
        grams: set[str],
        min_score: int,
        exclude: str,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[tuple[UserRecord, int]]:
        """Return accounts sharing at least min_score trigrams with the query, best first (then
        by username), leaving out names that contain `exclude`; `after` is the last (score,
        username) of the previous page."""
        if not grams:
            return []
        score = func.count().label("score")
        scored = (
            select(name_trigrams.c.user_id, score)
            .where(name_trigrams.c.trigram.in_(sorted(grams)))
            .group_by(name_trigrams.c.user_id)
            .having(func.count() >= min_score)
            .subquery()
        )
        anywhere = "%" + _escape_like(exclude) + "%"
        query = (
            select(*_USER_COLUMNS, scored.c.score)
            .join(scored, scored.c.user_id == users.c.user_id)
            .where(
                users.c.suspended_at.is_(None),
                not_(users.c.username_key.like(anywhere, escape="\\")),
                not_(users.c.full_name_key.like(anywhere, escape="\\")),
            )
            .order_by(scored.c.score.desc(), users.c.username_key)
            .limit(limit)
        )
        if after is not None:
            last_score, last_name = after
            query = query.where(
                or_(
                    scored.c.score < last_score,
                    and_(scored.c.score == last_score, users.c.username_key > last_name),
                )
            )
        return [(_user(row), int(row.score)) for row in await session.execute(query)]

    async def insert_refresh_token(
        self, session: AsyncSession, *, token: RefreshTokenRecord
    ) -> None:
        """Store a new refresh token (its hash)."""
        await session.execute(refresh_tokens.insert().values(**token.__dict__))

    async def get_refresh_token(
        self, session: AsyncSession, *, token_hash: str
    ) -> RefreshTokenRecord | None:
        """Return the refresh token with this hash."""
        query = select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        row = (await session.execute(query)).first()
        if row is None:
            return None
        return RefreshTokenRecord(
            token_id=row.token_id,
            user_id=row.user_id,
            family_id=row.family_id,
            token_hash=row.token_hash,
            created_at=_aware(row.created_at),
            expires_at=_aware(row.expires_at),
            spent_at=_aware(row.spent_at) if row.spent_at else None,
            revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
        )

    async def spend_refresh_token(self, session: AsyncSession, *, token_id: int) -> bool:
        """Mark a token spent; False when it already was (two refreshes raced, one wins)."""
        result = await session.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.token_id == token_id,
                refresh_tokens.c.spent_at.is_(None),
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(spent_at=datetime.now(UTC))
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def revoke_family(self, session: AsyncSession, *, family_id: int) -> None:
        """Revoke every token of a login's family."""
        await session.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )

    async def delete_user(self, session: AsyncSession, *, user_id: int) -> list[int]:
        """Remove an account, its name index and its refresh tokens; return the session (family)
        ids whose tokens had not expired yet."""
        now = datetime.now(UTC)
        families = (
            await session.execute(
                select(refresh_tokens.c.family_id)
                .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.expires_at > now)
                .distinct()
            )
        ).scalars()
        found = sorted(set(families))
        await session.execute(refresh_tokens.delete().where(refresh_tokens.c.user_id == user_id))
        await session.execute(name_trigrams.delete().where(name_trigrams.c.user_id == user_id))
        await session.execute(users.delete().where(users.c.user_id == user_id))
        await session.execute(
            deletion_ledger.insert().values(user_id=user_id, step="account_closed", done_at=now)
        )
        return found

    async def hold_username(
        self, session: AsyncSession, *, username_hash: str, until: datetime
    ) -> None:
        """Keep a deleted account's username from new accounts until `until`."""
        await session.execute(
            released_usernames.delete().where(released_usernames.c.username_hash == username_hash)
        )
        await session.execute(
            released_usernames.insert().values(username_hash=username_hash, available_at=until)
        )

    async def username_held_until(
        self, session: AsyncSession, *, username_hash: str
    ) -> datetime | None:
        """Return when a held username becomes available again, or None when it is not held."""
        found = await session.scalar(
            select(released_usernames.c.available_at).where(
                released_usernames.c.username_hash == username_hash
            )
        )
        return _aware(found) if found is not None else None

    async def revoke_user_sessions(self, session: AsyncSession, *, user_id: int) -> list[int]:
        """Revoke every live refresh token of an account; return the families (sessions) ended."""
        now = datetime.now(UTC)
        live = (
            refresh_tokens.c.user_id == user_id,
            refresh_tokens.c.revoked_at.is_(None),
            refresh_tokens.c.expires_at > now,
        )
        families = sorted(
            set((await session.execute(select(refresh_tokens.c.family_id).where(*live))).scalars())
        )
        await session.execute(update(refresh_tokens).where(*live).values(revoked_at=now))
        return families

    async def insert_report(self, session: AsyncSession, *, report: ReportRecord) -> bool:
        """Add a report; False when the reporter had already reported the thing."""
        try:
            async with session.begin_nested():
                await session.execute(reports.insert().values(**report.__dict__))
        except IntegrityError:
            return False
        return True

    async def get_report(self, session: AsyncSession, *, report_id: int) -> ReportRecord | None:
        """Return the report with this id."""
        row = (
            await session.execute(select(reports).where(reports.c.report_id == report_id))
        ).first()
        return _report(row) if row else None

    async def find_report(
        self, session: AsyncSession, *, reporter_id: int, target_type: str, target_id: int
    ) -> ReportRecord | None:
        """Return a reporter's report of a thing."""
        query = select(reports).where(
            reports.c.reporter_id == reporter_id,
            reports.c.target_type == target_type,
            reports.c.target_id == target_id,
        )
        row = (await session.execute(query)).first()
        return _report(row) if row else None

    async def list_report_groups(
        self, session: AsyncSession, *, state: str, after: int, limit: int
    ) -> list[ReportGroupRecord]:
        """Return up to `limit` reported things in a state, by their oldest report in that state
        (oldest first, after the report id `after`), each with its reports' count, reasons and
        notes: one grouping query and one query for the groups' reports."""
        first = func.min(reports.c.report_id).label("first_id")
        grouped = (
            select(first, func.count().label("report_count"))
            .where(reports.c.state == state)
            .group_by(reports.c.target_type, reports.c.target_id)
            .having(func.min(reports.c.report_id) > after)
            .order_by(first)
            .limit(limit)
        )
        heads = [(row.first_id, int(row.report_count)) for row in await session.execute(grouped)]
        if not heads:
            return []
        firsts = {
            r.report_id: _report(r)
            for r in await session.execute(
                select(reports).where(reports.c.report_id.in_([h for h, _ in heads]))
            )
        }
        keys = [(firsts[h].target_type, firsts[h].target_id) for h, _ in heads]
        members = await session.execute(
            select(reports)
            .where(
                reports.c.state == state,
                or_(*(and_(reports.c.target_type == t, reports.c.target_id == i) for t, i in keys)),
            )
            .order_by(reports.c.report_id)
        )
        reasons: dict[tuple[str, int], list[str]] = {k: [] for k in keys}
        notes: dict[tuple[str, int], list[str]] = {k: [] for k in keys}
        for row in members:
            key = (row.target_type, row.target_id)
            if row.reason not in reasons[key]:
                reasons[key].append(row.reason)
            if row.note and len(notes[key]) < GROUP_NOTES_MAX:
                notes[key].append(row.note)
        return [
            ReportGroupRecord(firsts[h], count, reasons[key], notes[key])
            for (h, count), key in zip(heads, keys, strict=True)
        ]

    async def resolve_reports(
        self,
        session: AsyncSession,
        *,
        target_type: str,
        target_id: int,
        resolution: str,
        at: datetime,
    ) -> list[ReportRecord]:
        """Resolve every open report of a thing; return them as they were (open)."""
        where = (
            reports.c.state == "open",
            reports.c.target_type == target_type,
            reports.c.target_id == target_id,
        )
        found = [
            _report(row)
            for row in await session.execute(
                select(reports).where(*where).order_by(reports.c.report_id)
            )
        ]
        await session.execute(
            update(reports)
            .where(*where, reports.c.report_id.in_([r.report_id for r in found]))
            .values(state="resolved", resolution=resolution, resolved_at=at)
        )
        return found

    async def add_log_entry(self, session: AsyncSession, *, entry: LogEntryRecord) -> None:
        """Append an entry to the moderation audit log."""
        await session.execute(moderation_log.insert().values(**entry.__dict__))

    async def list_log(
        self, session: AsyncSession, *, before: int, limit: int
    ) -> list[LogEntryRecord]:
        """Return up to `limit` audit log entries, newest first, before the entry id `before`
        (0: from the newest)."""
        query = select(moderation_log).order_by(moderation_log.c.entry_id.desc()).limit(limit)
        if before:
            query = query.where(moderation_log.c.entry_id < before)
        return [
            LogEntryRecord(
                entry_id=row.entry_id,
                moderator_id=row.moderator_id,
                action=row.action,
                target_type=row.target_type,
                target_id=row.target_id,
                target_owner_id=row.target_owner_id,
                report_id=row.report_id,
                report_count=row.report_count,
                created_at=_aware(row.created_at),
            )
            for row in await session.execute(query)
        ]
