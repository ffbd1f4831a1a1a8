"""The poller: keeps the store fresh in the background; every failure is an outcome, not a crash.

One loop per process, ticking about once a second. Each tick it talks to the database (bounded):
it takes or keeps the poller role, writes what it fetched, counts its calls and adopts a newer
snapshot another replica stored. When its role is `poller` (or `standalone`: the database is
unreachable, so it polls for itself) and a refresh is due, it calls upstream. Requests never wait
for any of this: they read the store.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from crypto_rates import persistence
from crypto_rates.backfill import Backfill
from crypto_rates.budget import CallBudget, month_of
from crypto_rates.database import UNAVAILABLE, Database, describe_error
from crypto_rates.history import HOUR
from crypto_rates.metrics import Metrics
from crypto_rates.rate import Source
from crypto_rates.snapshot import Snapshot, build_snapshot
from crypto_rates.store import HISTORY_SPAN_SECONDS, SnapshotStore
from crypto_rates.upstream import CoinGeckoClient, UpstreamError

log = logging.getLogger(__name__)

# After a failed cycle the next one comes this soon, doubling per consecutive failure up to the
# refresh interval: data returns soon after the upstream does, and an outage costs few calls.
FAILURE_BACKOFF_START = 15.0
# How often every replica looks at the database: followers see a new snapshot within about this
# (plus one query), and a poller that died is replaced within it once its lock is free.
TICK = 1.0
DATABASE_TIMEOUT = 5.0
# The archive's upkeep runs this long after each full hour, bounded by its own timeout.
ARCHIVE_DELAY = 60.0
ARCHIVE_TIMEOUT = 60.0
ARCHIVE_RETRY = 60.0

Role = Literal["poller", "follower", "standalone"]


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    ok: bool
    snapshot: Snapshot | None = None  # the new snapshot when ok
    error: str | None = None  # what went wrong when not ok
    retry_after: float | None = None  # upstream asked us to wait this long


class Poller:
    def __init__(
        self,
        client: CoinGeckoClient,
        store: SnapshotStore,
        metrics: Metrics,
        refresh_interval: float,
        database: Database,
        budget: CallBudget,
        snapshot_path: Path | None = None,  # an old JSON snapshot file, imported once
        backfill_rate: int | None = None,  # backfill calls per minute; None: no backfill
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._store = store
        self._metrics = metrics
        self._interval = refresh_interval
        self._database = database
        self.budget = budget
        self._snapshot_path = snapshot_path
        self._clock = clock
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.last_outcome: RefreshOutcome | None = None
        self.next_refresh_at: float | None = None  # unix time of the next attempt
        self._failures = 0  # consecutive failed cycles
        self.role: Role | None = None
        self.database_up: bool | None = None  # None: not tried yet
        self._unsaved: list[Snapshot] = []  # fetched, not yet in the database
        self._uncounted_calls = 0  # made, not yet counted in the database
        self._calls_seen = metrics.upstream_attempts
        self._stretched = False
        self._archive_due: float | None = None  # None: at the next sync
        self._compacted_since: float | None = None  # None: compact every stored refresh
        self.backfill = (
            None
            if backfill_rate is None
            else Backfill(
                client, database, store, budget, refresh_interval, backfill_rate, self._count_calls
            )
        )
        self._backfill_task: asyncio.Task[None] | None = None

    # -- upstream ----------------------------------------------------------------------------

    async def refresh_once(self) -> RefreshOutcome:
        """One refresh cycle (with bounded retries); never raises on upstream trouble."""
        try:
            rates = await self._client.fetch_rates()
        except UpstreamError as exc:
            outcome = RefreshOutcome(ok=False, error=str(exc), retry_after=exc.retry_after)
            log.warning("refresh failed, keeping the last good snapshot", extra={"error": str(exc)})
        except Exception as exc:  # the poller must survive anything, e.g. a bug in parsing
            outcome = RefreshOutcome(ok=False, error=f"unexpected {type(exc).__name__}")
            log.exception("refresh failed unexpectedly, keeping the last good snapshot")
        else:
            snapshot = build_snapshot(
                rates, datetime.fromtimestamp(self._clock(), UTC), Source.COINGECKO
            )
            self._store.replace(snapshot)
            self._metrics.upstream_success(snapshot.fetched_ts)
            self._unsaved.append(snapshot)
            outcome = RefreshOutcome(ok=True, snapshot=snapshot)
            log.info("refreshed", extra={"currencies": len(rates), "version": snapshot.version})
        self._count_calls()
        self._metrics.refresh(outcome.ok)
        self._failures = 0 if outcome.ok else self._failures + 1
        self.last_outcome = outcome
        return outcome

    def _count_calls(self) -> None:
        made = self._metrics.upstream_attempts - self._calls_seen
        self._calls_seen = self._metrics.upstream_attempts
        self._uncounted_calls += made
        self.budget.record(self._clock(), made)
        self._publish_budget()

    def interval_in_force(self) -> float:
        return self.budget.interval(self._interval, self._clock())

    def delay_after(self, outcome: RefreshOutcome) -> float:
        """The wait before the next cycle: the interval after a success, the failure backoff after
        a failure, never less than upstream's Retry-After, and never so short that the month's
        remaining calls would run out (the budget's spacing)."""
        delay = self._interval
        if not outcome.ok:
            # The exponent is capped: 2**1024 is no float (after days of failures at 300 s).
            doublings = min(self._failures - 1, 30)
            delay = min(delay, FAILURE_BACKOFF_START * 2**doublings)
        delay = max(delay, outcome.retry_after or 0.0)
        spacing = self.budget.spacing(self._clock())
        if spacing > self._interval:
            return max(delay, spacing)
        return delay

    def _publish_budget(self) -> None:
        now = self._clock()
        interval = self.interval_in_force()
        self._metrics.budget(self.budget.used_in(now), self.budget.allowance, interval)
        stretched = interval > self._interval
        if stretched != self._stretched:
            self._stretched = stretched
            extra = {
                "interval": round(interval, 1),
                "calls_this_month": self.budget.used_in(now),
                "monthly_calls": self.budget.allowance,
            }
            if stretched:
                log.warning(
                    "refresh interval stretched to last the monthly call budget", extra=extra
                )
            else:
                log.info("refresh interval back to REFRESH_INTERVAL", extra=extra)

    # -- the database ------------------------------------------------------------------------

    async def sync(self) -> None:
        """One bounded exchange with the database (on failure this replica polls for itself),
        then, once an hour, the archive's upkeep."""
        if not self._alone_and_idle():
            await self._exchange()
        if self.database_up:
            await self._maintain_archive()
        self._steer_backfill()

    def _steer_backfill(self) -> None:
        """The backfill runs beside the loop while this replica is the poller (never in it: a
        live refresh never waits for it), and stops when it no longer is."""
        task = self._backfill_task
        running = task is not None and not task.done()
        if self.backfill is None or self.backfill.finished:
            return
        if self.role == "poller" and self.database_up and not running:
            self._backfill_task = asyncio.create_task(
                self.backfill.run_until_done(), name="crypto-rates-backfill"
            )
        elif self.role != "poller" and running and task is not None:
            task.cancel()

    async def _exchange(self) -> None:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT):
                if not self.database_up:
                    await self._reconnect()
                leading = await self._database.lead()
                await self._flush()
                await self._follow()
        except UNAVAILABLE as exc:
            if self.database_up is not False:
                log.error(
                    "database unreachable: serving from memory and polling for ourselves",
                    extra={"database": self._database.target.display, "error": describe_error(exc)},
                )
            self.database_up = False
            self._set_role("standalone")
            with contextlib.suppress(*UNAVAILABLE):
                await self._database.forget_connections()
            return
        if self.database_up is False:
            log.info("database reachable again", extra={"database": self._database.target.display})
        self.database_up = True
        self._set_role("poller" if leading else "follower")

    async def _maintain_archive(self) -> None:
        """Once an hour (and after connecting): the poller downsamples the refreshes of complete
        hours and days and prunes what is past retention; every replica then loads the archive."""
        now = self._clock()
        if self._archive_due is not None and now < self._archive_due:
            return
        try:
            async with asyncio.timeout(ARCHIVE_TIMEOUT):
                if self.role == "poller":
                    await self._database.compact(self._compacted_since, now)
                    self._compacted_since = now // HOUR * HOUR - HOUR  # redo the last hour
                    await self._database.prune(now)
                archive = (await self._database.load_archive()).merged([], now)
        except UNAVAILABLE as exc:
            log.warning("archive upkeep failed; trying again", extra={"error": describe_error(exc)})
            self._archive_due = now + ARCHIVE_RETRY
            return
        self._store.replace_archive(archive)
        self._archive_due = now // HOUR * HOUR + HOUR + ARCHIVE_DELAY

    def _alone_and_idle(self) -> bool:
        # SQLite is one process's database: nobody to follow, no lock to keep; it is only
        # written to (and so only found broken) when there is something to write.
        return (
            not self._database.shared
            and bool(self.database_up)
            and not self._unsaved
            and not self._uncounted_calls
        )

    async def _reconnect(self) -> None:
        """First contact (or after an outage): migrate, import an old snapshot file into an empty
        database, then serve what the database has (it holds every replica's history)."""
        await self._database.migrate()
        self._archive_due = None  # load it (and catch up) right after this exchange
        latest = await self._database.latest_fetched_at()
        if latest is None:
            await self._import_snapshot_file()
        await self._flush()
        now = self._clock()
        since = datetime.fromtimestamp(now - HISTORY_SPAN_SECONDS, UTC)
        history = await self._database.history(since)
        snapshot = await self._database.latest()
        if snapshot is not None and self._is_newer(snapshot):
            self._store.restore(snapshot, history)
            log.info("loaded the stored snapshot", extra={"fetched_at": snapshot.fetched_at_iso})
        elif snapshot is not None and self._store.current is not None:
            self._store.restore(self._store.current, history)

    async def _import_snapshot_file(self) -> None:
        path = self._snapshot_path
        restored = persistence.load(path) if path is not None else None
        if restored is None:
            return
        snapshot, history = restored
        await self._database.import_history(snapshot, history)
        log.info(
            "imported the snapshot file into the database",
            extra={"path": str(path), "points": len(history)},
        )

    async def _flush(self) -> None:
        """Write the snapshots fetched since the last write, and count the calls made."""
        while self._unsaved:
            await self._database.save(self._unsaved[0])
            self._unsaved.pop(0)
        now = self._clock()
        month = month_of(now)
        calls, self._uncounted_calls = self._uncounted_calls, 0
        try:
            total = await self._database.add_calls(month, calls)
        except BaseException:
            self._uncounted_calls += calls
            raise
        self.budget.observe(month, total)
        self._publish_budget()

    async def _follow(self) -> None:
        """Serve a newer snapshot that another replica stored."""
        latest = await self._database.latest_fetched_at()
        if latest is None or not self._newer_than_served(latest):
            return
        snapshot = await self._database.latest()
        if snapshot is not None and self._is_newer(snapshot):
            self._store.replace(snapshot)
            log.info("adopted a stored snapshot", extra={"fetched_at": snapshot.fetched_at_iso})
            if self.role == "follower":
                self.next_refresh_at = snapshot.fetched_ts + self.interval_in_force()

    def _is_newer(self, snapshot: Snapshot) -> bool:
        return self._newer_than_served(snapshot.fetched_at)

    def _newer_than_served(self, fetched_at: datetime) -> bool:
        current = self._store.current
        return (
            current is None or current.source != Source.COINGECKO or fetched_at > current.fetched_at
        )

    def _set_role(self, role: Role) -> None:
        if role != self.role:
            if self.role is not None or role != "poller":
                log.info("poller role", extra={"role": role})
            if not {self.role, role} <= {"poller", "standalone"}:  # keep a poller's schedule
                self.reschedule()
            self.role = role
        self._metrics.coordination(bool(self.database_up), role)

    def reschedule(self) -> None:
        """Due judging by the snapshot served: a process that just took over (or restarted right
        after a refresh) need not call upstream before the interval is up."""
        current = self._store.current
        now = self._clock()
        if current is None or current.source != Source.COINGECKO:
            self.next_refresh_at = now
        else:
            self.next_refresh_at = max(now, current.fetched_ts + self.interval_in_force())

    # -- the loop ----------------------------------------------------------------------------

    async def step(self) -> None:
        """Refresh when due (before talking to the database: its latency must not delay it),
        then sync, which stores the new snapshot at once: followers see it within a tick."""
        due = self.next_refresh_at
        if self.role in ("poller", "standalone") and (due is None or self._clock() >= due):
            outcome = await self.refresh_once()
            self.next_refresh_at = self._clock() + self.delay_after(outcome)
        await self.sync()

    def _tick_delay(self) -> float:
        due = self.next_refresh_at
        if self.role == "follower" or due is None:
            return TICK
        return max(0.0, min(TICK, due - self._clock()))

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # the loop must survive anything, e.g. a bug in a database path
                log.exception("poller step failed unexpectedly; trying again")
            await self._sleep(self._tick_delay())

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="crypto-rates-poller")

    async def stop(self) -> None:
        for task in (self._task, self._backfill_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._backfill_task = None
        if self.database_up and (self._unsaved or self._uncounted_calls):
            with contextlib.suppress(*UNAVAILABLE):
                async with asyncio.timeout(DATABASE_TIMEOUT):
                    await self._flush()
        with contextlib.suppress(*UNAVAILABLE):
            await self._database.close()
