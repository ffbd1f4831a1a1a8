"""The poller: keeps the store fresh in the background; every failure is an outcome, not a crash."""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crypto_rates import persistence
from crypto_rates.metrics import Metrics
from crypto_rates.rate import Source
from crypto_rates.snapshot import Snapshot, build_snapshot
from crypto_rates.store import SnapshotStore
from crypto_rates.upstream import CoinGeckoClient, UpstreamError

log = logging.getLogger(__name__)

# After a failed cycle the next one comes this soon, doubling per consecutive failure up to the
# refresh interval: data returns soon after the upstream does, and an outage costs few calls.
FAILURE_BACKOFF_START = 15.0


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
        snapshot_path: Path | None,
    ) -> None:
        self._client = client
        self._store = store
        self._metrics = metrics
        self._interval = refresh_interval
        self._snapshot_path = snapshot_path
        self._task: asyncio.Task[None] | None = None
        self.last_outcome: RefreshOutcome | None = None
        self.next_refresh_at: float | None = None  # unix time of the next attempt
        self._failures = 0  # consecutive failed cycles

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
            snapshot = build_snapshot(rates, datetime.now(UTC), Source.COINGECKO)
            self._store.replace(snapshot)
            self._metrics.upstream_success(snapshot.fetched_ts)
            await self._persist(snapshot)
            outcome = RefreshOutcome(ok=True, snapshot=snapshot)
            log.info("refreshed", extra={"currencies": len(rates), "version": snapshot.version})
        self._metrics.refresh(outcome.ok)
        self._failures = 0 if outcome.ok else self._failures + 1
        self.last_outcome = outcome
        return outcome

    async def _persist(self, snapshot: Snapshot) -> None:
        if self._snapshot_path is None:
            return
        try:
            await asyncio.to_thread(
                persistence.save, self._snapshot_path, snapshot, self._store.history
            )
        except OSError as exc:
            log.error("could not persist the snapshot", extra={"error": str(exc)})

    def delay_after(self, outcome: RefreshOutcome) -> float:
        """The wait before the next cycle: the interval after a success, the failure backoff after
        a failure, and never less than upstream's Retry-After."""
        delay = self._interval
        if not outcome.ok:
            delay = min(delay, FAILURE_BACKOFF_START * 2 ** (self._failures - 1))
        return max(delay, outcome.retry_after or 0.0)

    async def run(self, initial_delay: float = 0.0) -> None:
        await asyncio.sleep(initial_delay)
        while True:
            outcome = await self.refresh_once()
            delay = self.delay_after(outcome)
            self.next_refresh_at = time.time() + delay
            await asyncio.sleep(delay)

    def start(self, initial_delay: float = 0.0) -> None:
        self.next_refresh_at = time.time() + initial_delay
        self._task = asyncio.create_task(self.run(initial_delay), name="crypto-rates-poller")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
