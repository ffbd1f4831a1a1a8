"""The history backfill: a year of daily and 90 days of hourly points from CoinGecko's market_chart.

Run by the one poller of a deployment, as a task of its own: the live refresh never waits for it.
It asks `/simple/supported_vs_currencies` once, then for every unit we serve that CoinGecko lists,
`market_chart?days=365` (daily points) and then `days=90` (hourly points): about two calls per
unit. Calls are spaced by BACKFILL_CALLS_PER_MINUTE and made only while the month's budget has calls
the live refresh will not need; each unit's range is marked done in the database, so a restart
resumes and a finished backfill is never repeated. Units CoinGecko cannot backfill keep only the
points we record.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from crypto_rates.budget import RETRY_RESERVE, CallBudget, seconds_left_in_month
from crypto_rates.database import UNAVAILABLE, Database, describe_error
from crypto_rates.history import DAY, HOUR, downsample
from crypto_rates.store import SnapshotStore
from crypto_rates.upstream import CoinGeckoClient, UpstreamError

log = logging.getLogger(__name__)

PASSES = ((365, DAY), (90, HOUR))  # market_chart days -> the resolution its points are kept at
DONE = ("*", 0)  # the marker of a finished backfill
RETRY_AFTER_FAILURE = 60.0
WAIT_FOR_BUDGET = 3600.0


T = TypeVar("T")


class Backfill:
    def __init__(
        self,
        client: CoinGeckoClient,
        database: Database,
        store: SnapshotStore,
        budget: CallBudget,
        refresh_interval: float,
        calls_per_minute: int,
        count_calls: Callable[[], None],  # the poller's: counts calls made into the budget
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._database = database
        self._store = store
        self._budget = budget
        self._interval = refresh_interval
        self._spacing = 60.0 / calls_per_minute
        self._count_calls = count_calls
        self._clock = clock
        self._sleep = sleep
        self._last_call: float | None = None
        self.finished = False

    def spare_calls(self) -> float:
        """Calls this month that the live refresh, at its interval, will not need."""
        if self._budget.allowance is None:
            return float("inf")
        now = self._clock()
        live = seconds_left_in_month(now) / self._interval
        usable = self._budget.allowance * (1 - RETRY_RESERVE) - self._budget.used_in(now)
        return usable - live

    async def _turn(self) -> None:
        """Wait for the next call's turn: spaced per minute, and only with spare budget."""
        while self.spare_calls() < 1:
            log.info("backfill waits for the monthly call budget")
            await self._sleep(WAIT_FOR_BUDGET)
        if self._last_call is not None:
            wait = self._last_call + self._spacing - self._clock()
            if wait > 0:
                await self._sleep(wait)
        self._last_call = self._clock()

    async def _call(self, fetch: Callable[[], Awaitable[T]]) -> T:
        """One upstream call in its turn, counted; failures are retried after a pause."""
        while True:
            await self._turn()
            try:
                return await fetch()
            except UpstreamError as exc:
                log.warning("backfill call failed; trying again", extra={"error": str(exc)})
                await self._sleep(max(RETRY_AFTER_FAILURE, exc.retry_after or 0))
            finally:
                self._count_calls()

    async def run(self) -> None:
        """Backfill what is missing; returns when everything is stored (or was already)."""
        done = await self._database.backfilled()
        if DONE in done:
            self.finished = True
            return
        supported = await self._call(self._client.fetch_supported_units)
        while (snapshot := self._store.current) is None:  # our units: what we serve
            await self._sleep(1.0)
        units = [u for u in snapshot.rates if u in supported and u != "btc"]  # btc: always 1
        log.info("backfill started", extra={"units": len(units), "stored": len(done)})
        for days, resolution in PASSES:
            for unit in units:
                if (unit, days) in done:
                    continue
                prices = await self._call(partial(self._client.fetch_market_chart, unit, days))
                points = downsample(((t, {unit: v}) for t, v in prices), resolution)
                await self._database.mark_backfilled(unit, days, points)
                self._store.replace_archive(self._store.archive.merged(points, self._clock()))
        await self._database.mark_backfilled(*DONE, [])
        self.finished = True
        log.info("backfill finished", extra={"units": len(units)})

    async def run_until_done(self) -> None:
        """`run`, again after a database failure (upstream failures are retried inside)."""
        while not self.finished:
            try:
                await self.run()
            except UNAVAILABLE as exc:
                log.warning(
                    "backfill paused: database unavailable", extra={"error": describe_error(exc)}
                )
                await self._sleep(RETRY_AFTER_FAILURE)
