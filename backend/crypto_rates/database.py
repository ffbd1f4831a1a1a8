"""The state database: snapshots, history and the monthly call count, shared by every replica.

SQLite (aiosqlite) by default, PostgreSQL (asyncpg) with DATABASE_URL. Requests never read it: the
poller loads what the store serves from here and writes each new snapshot here. With PostgreSQL a
session-level advisory lock, held on a connection of its own, makes one replica the poller.
"""

import json
import logging
from array import array
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from crypto_rates.coingecko_payload import InvalidResponse, rates_from_payload, rates_payload
from crypto_rates.database_url import DatabaseUrl
from crypto_rates.history import (
    DAY,
    HOUR,
    RAW_RETENTION,
    RETENTION,
    Archive,
    ArchivedPoint,
    Series,
    downsample,
)
from crypto_rates.rate import Source
from crypto_rates.snapshot import Snapshot, build_snapshot
from crypto_rates.store import HistoryPoint

log = logging.getLogger(__name__)


class SchemaError(Exception):
    """The database's schema is not one this version can migrate (e.g. a newer version's)."""


# Errors that mean "the database is not usable right now"; the caller serves from memory.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    SQLAlchemyError,
    OSError,
    TimeoutError,
    SchemaError,
)
CONNECT_TIMEOUT = 5.0
# pg_advisory_lock keys (any two distinct bigints that nothing else on the server uses).
MIGRATION_LOCK = 0x6372_7970_7401
POLLER_LOCK = 0x6372_7970_7402

metadata = MetaData()
# The schema as the newest migration leaves it (crypto_rates/migrations/versions).
snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fetched_at", DateTime(timezone=True), nullable=False, unique=True),
    Column("source", String(16), nullable=False),
    Column("rates", Text, nullable=False),
)
history = Table(
    "history",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("resolution", Integer, primary_key=True),
    Column("t", DateTime(timezone=True), primary_key=True),
    Column("value", Float, nullable=False),
)
backfill = Table(
    "backfill",
    metadata,
    Column("unit", String(16), primary_key=True),
    Column("days", Integer, primary_key=True),
    Column("done_at", DateTime(timezone=True), nullable=False),
)
upstream_calls = Table(
    "upstream_calls",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("calls", Integer, nullable=False),
)


def describe_error(exc: BaseException) -> str:
    """One line about a database error, without SQL, parameters or the URL."""
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first}"[:200] if first else type(cause).__name__


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every value written is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _at(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _migrate(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("crypto_rates").joinpath("migrations"))
    )
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


class Database:
    def __init__(self, target: DatabaseUrl) -> None:
        self.target = target
        self.engine = self._create_engine(target)
        self._lock: AsyncConnection | None = None  # holds POLLER_LOCK while this replica polls

    @staticmethod
    def _create_engine(target: DatabaseUrl) -> AsyncEngine:
        if target.engine == "postgresql":
            args = {"timeout": CONNECT_TIMEOUT, "command_timeout": CONNECT_TIMEOUT}
            return create_async_engine(
                target.url,
                connect_args={**args, **target.connect_args},
                pool_pre_ping=True,
                pool_size=3,
                max_overflow=2,
            )
        if target.in_memory:  # one connection, or every connection would see its own database
            return create_async_engine(target.url, poolclass=StaticPool)
        if target.url.database:
            Path(target.url.database).parent.mkdir(parents=True, exist_ok=True)
        return create_async_engine(target.url, connect_args={"timeout": CONNECT_TIMEOUT})

    @property
    def shared(self) -> bool:
        """Several processes may use it (so one of them polls): PostgreSQL."""
        return self.target.engine == "postgresql"

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision`; replicas starting together take turns (one transaction
        under an advisory lock: PostgreSQL's DDL is transactional)."""
        async with self.engine.begin() as conn:
            if self.shared:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                )
            try:
                await conn.run_sync(_migrate, revision)
            except CommandError as exc:  # e.g. a revision this version does not know
                raise SchemaError(str(exc)) from None

    async def close(self) -> None:
        await self.release_lead()
        await self.engine.dispose()

    # -- snapshots and history ---------------------------------------------------------------

    async def save(self, snapshot: Snapshot) -> None:
        """Store a snapshot; one already stored (same fetched_at) is left as it is."""
        row = {
            "fetched_at": snapshot.fetched_at.astimezone(UTC),
            "source": str(snapshot.source),
            "rates": json.dumps(rates_payload(snapshot.rates), separators=(",", ":")),
        }
        await self.save_rows([row])

    async def save_rows(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        insert_ = pg_insert if self.shared else sqlite_insert
        statement = insert_(snapshots).on_conflict_do_nothing(index_elements=["fetched_at"])
        async with self.engine.begin() as conn:
            await conn.execute(statement, rows)

    async def latest_fetched_at(self) -> datetime | None:
        async with self.engine.connect() as conn:
            value = await conn.scalar(select(func.max(snapshots.c.fetched_at)))
        return None if value is None else _utc(value)

    async def latest(self) -> Snapshot | None:
        rows = await self._snapshot_rows(latest_only=True)
        return rows[0] if rows else None

    async def history(self, since: datetime) -> list[HistoryPoint]:
        """Upstream snapshots since `since`, oldest first, as history points."""
        rows = await self._snapshot_rows(since=since)
        return [
            HistoryPoint(s.fetched_at, MappingProxyType({c: r.value for c, r in s.rates.items()}))
            for s in rows
            if s.source == Source.COINGECKO
        ]

    async def _snapshot_rows(
        self, latest_only: bool = False, since: datetime | None = None
    ) -> list[Snapshot]:
        query = select(snapshots.c.fetched_at, snapshots.c.source, snapshots.c.rates)
        if latest_only:
            query = query.order_by(snapshots.c.fetched_at.desc()).limit(1)
        else:
            query = query.order_by(snapshots.c.fetched_at)
        if since is not None:
            query = query.where(snapshots.c.fetched_at >= since)
        async with self.engine.connect() as conn:
            rows = cast(list[tuple[datetime, str, str]], (await conn.execute(query)).all())
        result = []
        for fetched_at, source, rates_json in rows:
            # Read back like live data: a row that fails the bounds is skipped, not served.
            try:
                rates = rates_from_payload({"rates": json.loads(rates_json)})
                result.append(build_snapshot(rates, _utc(fetched_at), Source(source)))
            except (InvalidResponse, ValueError) as exc:
                log.warning(
                    "stored snapshot invalid, skipped",
                    extra={"fetched_at": str(fetched_at), "error": str(exc)},
                )
        return result

    async def import_history(self, snapshot: Snapshot, history: list[HistoryPoint]) -> None:
        """Store a snapshot file's contents (an upgrade from the JSON file)."""
        current = rates_payload(snapshot.rates)
        rows = [
            {
                "fetched_at": point.t.astimezone(UTC),
                "source": str(Source.COINGECKO),
                "rates": json.dumps(
                    {
                        c: {**current[c], "value": v}
                        for c, v in point.values.items()
                        if c in current
                    },
                    separators=(",", ":"),
                ),
            }
            for point in history
            if point.t != snapshot.fetched_at
        ]
        await self.save_rows(rows)
        await self.save(snapshot)

    # -- the archive: hourly and daily points ------------------------------------------------

    async def save_archived(self, points: list[ArchivedPoint]) -> None:
        """Store archive points; one already stored for that code, resolution and time wins."""
        if not points:
            return
        insert_ = pg_insert if self.shared else sqlite_insert
        statement = insert_(history).on_conflict_do_nothing(
            index_elements=["code", "resolution", "t"]
        )
        rows = [
            {"code": p.code, "resolution": p.resolution, "t": _at(p.t), "value": p.value}
            for p in points
        ]
        async with self.engine.begin() as conn:
            for start in range(0, len(rows), 5000):  # bounded statements on both engines
                await conn.execute(statement, rows[start : start + 5000])

    async def compact(self, since: float | None, now: float) -> list[ArchivedPoint]:
        """Downsample the refreshes since `since` (all when None) into hourly points, and the
        hourly points of those days into daily ones; complete hours and days only. Returns the
        points computed (the archive merges them the way the database does)."""
        hour_start, day_start = _at(now // HOUR * HOUR), _at(now // DAY * DAY)
        recent = [
            (s.fetched_ts, {c: r.value for c, r in s.rates.items()})
            for s in await self._snapshot_rows(since=None if since is None else _at(since))
            if s.source == Source.COINGECKO and s.fetched_at < hour_start
        ]
        hourly = downsample(recent, HOUR)
        await self.save_archived(hourly)
        first_day = min((t for t, _ in recent), default=now) // DAY * DAY
        query = (
            select(history.c.code, history.c.t, history.c.value)
            .where(history.c.resolution == HOUR)
            .where(history.c.t >= _at(first_day), history.c.t < day_start)
            .order_by(history.c.t)
        )
        async with self.engine.connect() as conn:
            rows = cast(list[tuple[str, datetime, float]], (await conn.execute(query)).all())
        by_time: dict[float, dict[str, float]] = {}
        for code, t, value in rows:
            by_time.setdefault(_utc(t).timestamp(), {})[code] = value
        daily = downsample(sorted(by_time.items()), DAY)
        await self.save_archived(daily)
        return hourly + daily

    async def prune(self, now: float) -> None:
        """Drop refreshes older than 48 h (never the newest) and archive points past retention."""
        async with self.engine.begin() as conn:
            newest = await conn.scalar(select(func.max(snapshots.c.fetched_at)))
            if newest is not None:
                cutoff = min(_utc(newest), _at(now - RAW_RETENTION))
                await conn.execute(delete(snapshots).where(snapshots.c.fetched_at < cutoff))
            for resolution, kept in RETENTION.items():
                await conn.execute(
                    delete(history)
                    .where(history.c.resolution == resolution)
                    .where(history.c.t < _at(now - kept))
                )

    async def load_archive(self) -> Archive:
        """The archive, read one code at a time straight into arrays: memory peaks at one
        code's rows, and the event loop gets a turn between codes."""
        async with self.engine.connect() as conn:
            codes: list[str] = list((await conn.scalars(select(history.c.code).distinct())).all())
        tiers: dict[int, dict[str, Series]] = {HOUR: {}, DAY: {}}
        for code in codes:
            query = (
                select(history.c.resolution, history.c.t, history.c.value)
                .where(history.c.code == code)
                .order_by(history.c.resolution, history.c.t)
            )
            async with self.engine.connect() as conn:
                result = await conn.execute(query)
                for tier in tiers.values():
                    tier[code] = Series(array("q"), array("d"))
                rows = cast(Iterable[tuple[int, datetime, float]], result)
                for resolution, t, value in rows:
                    series = tiers[resolution][code]
                    series.times.append(int(_utc(t).timestamp()))
                    series.values.append(value)
        return Archive(tiers)

    # -- backfill progress --------------------------------------------------------------------

    async def backfilled(self) -> set[tuple[str, int]]:
        """The (unit, days) market_chart ranges already stored."""
        async with self.engine.connect() as conn:
            rows = cast(
                list[tuple[str, int]],
                (await conn.execute(select(backfill.c.unit, backfill.c.days))).all(),
            )
        return set(rows)

    async def mark_backfilled(self, unit: str, days: int, points: list[ArchivedPoint]) -> None:
        """Store a unit's backfilled points, then mark its range done (a crash between the two
        means fetching it again: storing is idempotent)."""
        await self.save_archived(points)
        insert_ = pg_insert if self.shared else sqlite_insert
        statement = insert_(backfill).values(unit=unit, days=days, done_at=datetime.now(UTC))
        async with self.engine.begin() as conn:
            await conn.execute(statement.on_conflict_do_nothing(index_elements=["unit", "days"]))

    # -- the monthly call count --------------------------------------------------------------

    async def add_calls(self, month: str, calls: int) -> int:
        """Add `calls` to `month`'s count and return the new total (all replicas' calls)."""
        insert_ = pg_insert if self.shared else sqlite_insert
        statement = insert_(upstream_calls).values(month=month, calls=calls)
        statement = statement.on_conflict_do_update(
            index_elements=["month"], set_={"calls": upstream_calls.c.calls + calls}
        )
        async with self.engine.begin() as conn:
            if calls:
                await conn.execute(statement)
            total = await conn.scalar(
                select(upstream_calls.c.calls).where(upstream_calls.c.month == month)
            )
        return int(total or 0)

    # -- leadership --------------------------------------------------------------------------

    async def lead(self) -> bool:
        """True while this process is the one that polls: always with SQLite; with PostgreSQL
        while it holds the poller lock (tried again on every call until it gets it)."""
        if not self.shared:
            async with self.engine.connect() as conn:  # still reachable?
                await conn.execute(text("SELECT 1"))
            return True
        if self._lock is not None:
            try:
                await self._lock.execute(text("SELECT 1"))
                await self._lock.commit()
            except BaseException:
                await self._drop_lock()
                raise
            return True
        conn = await self.engine.connect()
        try:
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": POLLER_LOCK})
            await conn.commit()
        except BaseException:
            await conn.invalidate()
            await conn.close()
            raise
        if got:
            self._lock = conn
            return True
        await conn.close()
        return False

    async def release_lead(self) -> None:
        conn, self._lock = self._lock, None
        if conn is None:
            return
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": POLLER_LOCK})
            await conn.commit()
            await conn.close()
        except UNAVAILABLE:
            await conn.invalidate()

    async def _drop_lock(self) -> None:
        conn, self._lock = self._lock, None
        if conn is not None:
            # The session (and its lock) is gone or unusable: never hand it back to the pool.
            try:
                await conn.invalidate()
                await conn.close()
            except UNAVAILABLE:
                pass

    async def forget_connections(self) -> None:
        """After an outage: drop the lock connection and every pooled one."""
        await self._drop_lock()
        await self.engine.dispose()
