"""What a rate response needs from the runtime, shared by the routes and the fast path.

It reads the current snapshot, judges its freshness with the configured interval, renders bodies
through one `BodyCache` and negotiates them with a `Cache-Control` that follows the next refresh.
"""

import time

from crypto_rates.api.bodies import (
    BodyCache,
    conversion_body,
    detail_body,
    history_body,
    legacy_body,
    list_body,
)
from crypto_rates.history import Window as HistoryWindow
from crypto_rates.history import earliest, select
from crypto_rates.http_caching import RawHeaders, Representation, cache_control, negotiate
from crypto_rates.runtime import Runtime
from crypto_rates.snapshot import Freshness, Snapshot


class RateResponder:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.cache = BodyCache()
        # Amounts and history windows are whatever a client sends: caches of their own, so varied
        # ones cannot evict the lists and details.
        self.conversions = BodyCache()
        self.histories = BodyCache(256)
        self._interval = runtime.settings.refresh_interval
        self._stale_after = runtime.settings.effective_stale_after
        self._cache_control = (-1, "")  # (unix second, header): it changes once a second

    def current(self) -> Snapshot | None:
        return self.runtime.store.current

    def freshness(self, snapshot: Snapshot) -> Freshness:
        return snapshot.freshness(time.time(), self._interval, self._stale_after)

    def list(
        self,
        snapshot: Snapshot,
        base: str = "btc",
        types: tuple[str, ...] = (),
        q: str | None = None,
    ) -> Representation:
        return list_body(self.cache, snapshot, self.freshness(snapshot), base, types, q)

    def legacy(self, snapshot: Snapshot) -> Representation:
        return legacy_body(self.cache, snapshot, self.freshness(snapshot))

    def detail(self, snapshot: Snapshot, code: str, base: str) -> Representation:
        return detail_body(self.cache, snapshot, self.freshness(snapshot), code, base)

    def history(
        self, snapshot: Snapshot, code: str, base: str, window: HistoryWindow, csv: bool
    ) -> Representation:
        store = self.runtime.store
        archive = store.archive  # read once: the poller may swap it
        fresh = self.freshness(snapshot)

        def render() -> Representation:
            series = select(store.history, archive, code, base, window, self._interval)
            return history_body(snapshot, fresh, code, base, window, series, archive.version, csv)

        # A range's window ends now: within a second its body is the first request's, as the
        # other bodies' age_seconds is (selecting the points costs ~0.3-1 ms: 48 h of refreshes).
        window_key = (int(window.start), int(window.end))
        version = (snapshot.version, store.history_version, archive.version)
        key = (version, code, base, window_key, csv, fresh.age_seconds, fresh.stale)
        return self.histories.get(key, render)

    def earliest(self, code: str) -> float | None:
        """Where `range=max` starts for `code`."""
        store = self.runtime.store
        return earliest(store.history, store.archive, code)

    def conversion(
        self, snapshot: Snapshot, source: str, target: str, amount: float
    ) -> Representation:
        """`amount` of `source` in `target`, both codes known to `snapshot`."""
        fresh = self.freshness(snapshot)
        return conversion_body(self.conversions, snapshot, fresh, source, target, amount)

    def respond(
        self, representation: Representation, if_none_match: str | None, accept_encoding: str | None
    ) -> tuple[int, RawHeaders, bytes]:
        now = time.time()
        second, header = self._cache_control
        if int(now) != second:
            max_age = self.runtime.seconds_to_next_refresh(now)
            header = cache_control(max_age, self._stale_after)
            self._cache_control = (int(now), header)
        return negotiate(representation, if_none_match, accept_encoding, header)
