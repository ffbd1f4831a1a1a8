"""The process's long-lived parts wired together: settings, metrics, store, client and poller."""

import logging
import time

from crypto_rates import persistence
from crypto_rates.budget import CallBudget
from crypto_rates.config import Settings
from crypto_rates.database import Database
from crypto_rates.metrics import Metrics
from crypto_rates.poller import Poller
from crypto_rates.store import SnapshotStore, history_limit
from crypto_rates.upstream import CoinGeckoClient

log = logging.getLogger(__name__)


class Runtime:
    """Built without side effects; `start()` (from the lifespan) loads data and starts polling."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.metrics.refresh_interval(settings.refresh_interval)
        self.store = SnapshotStore(history_limit(settings.refresh_interval))
        self.metrics.watch_snapshot(lambda: self.store.current)
        self.budget = CallBudget(settings.monthly_call_allowance)
        self.started_at = time.time()
        self.shutting_down = False
        self.poller: Poller | None = None
        self._client: CoinGeckoClient | None = None

    def load_fallback(self, snapshot_file: bool) -> None:
        """Nothing in the database: the snapshot file (when the database is unreachable; else it
        was imported) if there is a good one, else the sample when allowed."""
        path = self.settings.snapshot_path if snapshot_file else None
        restored = persistence.load(path) if path is not None else None
        if restored is not None:
            snapshot, history = restored
            self.store.restore(snapshot, history)
            log.info("loaded the snapshot file", extra={"fetched_at": snapshot.fetched_at_iso})
        elif self.settings.sample_fallback:
            self.store.replace(persistence.load_sample())
            log.info("serving the bundled sample until upstream answers (stale, source=sample)")

    async def start(self) -> None:
        self._client = CoinGeckoClient(self.settings, self.metrics)
        database = Database(self.settings.database)
        log.info("database", extra={"database": database.target.display})
        self.poller = Poller(
            self._client,
            self.store,
            self.metrics,
            self.settings.refresh_interval,
            database,
            self.budget,
            self.settings.snapshot_path,
            backfill_rate=self.settings.backfill_rate if self.settings.backfill else None,
        )
        await self.poller.sync()  # migrate, import, load: bounded, and never fatal
        if self.store.current is None:
            self.load_fallback(snapshot_file=not self.poller.database_up)
            self.poller.reschedule()
        self.poller.start()

    def begin_shutdown(self) -> None:
        """Readiness fails from here on, so load balancers stop sending new requests."""
        self.shutting_down = True

    async def stop(self) -> None:
        self.begin_shutdown()
        if self.poller is not None:
            await self.poller.stop()
        if self._client is not None:
            await self._client.aclose()

    def seconds_to_next_refresh(self, now: float) -> float:
        """Until the next attempt, at most one refresh interval: this is the rate answers'
        max-age, and a long Retry-After must not make browsers and caches keep data that long."""
        interval = self.settings.refresh_interval
        next_at = self.poller.next_refresh_at if self.poller is not None else None
        if next_at is None:
            return interval
        return min(interval, max(0.0, next_at - now))
