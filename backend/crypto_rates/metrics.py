"""Prometheus metrics on a registry per app (so tests can build many apps in one process)."""

import math
import time
from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from crypto_rates.rate import Rate

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# `*_created` series double the exposition size and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        # The first three names are the old Flask service's; dashboards and alerts rely on them.
        self._requests = Counter(
            "crypto_app_requests_total",
            "HTTP requests by method, route template and status class.",
            ["method", "handler", "status"],
            registry=r,
        )
        self._latency = Histogram(
            "crypto_app_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "handler"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._upstream_calls = Counter(
            "coingecko_api_calls_total",
            "CoinGecko HTTP attempts by outcome.",
            ["status"],
            registry=r,
        )
        self._upstream_latency = Histogram(
            "coingecko_api_request_duration_seconds",
            "CoinGecko HTTP attempt latency.",
            buckets=UPSTREAM_BUCKETS,
            registry=r,
        )
        self._refreshes = Counter(
            "crypto_rates_refreshes_total", "Refresh cycles by outcome.", ["outcome"], registry=r
        )
        self._snapshot_age = Gauge(
            "crypto_rates_snapshot_age_seconds", "Age of the served snapshot.", registry=r
        )
        self._snapshot_available = Gauge(
            "crypto_rates_snapshot_available", "1 while a snapshot exists to serve.", registry=r
        )
        self._last_success = Gauge(
            "crypto_rates_last_success_timestamp_seconds",
            "Unix time of the last good upstream fetch.",
            registry=r,
        )
        self._rate = Gauge(
            "crypto_rates_rate", "Units per 1 BTC, by currency.", ["code", "type"], registry=r
        )
        # Label children cached per key: .labels() takes a lock and hashes on every call.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def watch_snapshot(self, fetched_at: Callable[[], float | None]) -> None:
        """Age and availability are computed at scrape time from the store's current snapshot."""

        def age() -> float:
            at = fetched_at()
            return math.inf if at is None else max(0.0, time.time() - at)

        self._snapshot_age.set_function(age)
        self._snapshot_available.set_function(lambda: 0.0 if fetched_at() is None else 1.0)

    def request(self, method: str, handler: str, status: int, seconds: float) -> None:
        key = (method, handler, status // 100)
        children = self._request_children.get(key)
        if children is None:
            status_class = STATUS_CLASSES.get(status // 100, "other")
            children = (
                self._requests.labels(method, handler, status_class),
                self._latency.labels(method, handler),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def upstream_call(self, status: str, seconds: float) -> None:
        self._upstream_calls.labels(status).inc()
        self._upstream_latency.observe(seconds)

    def refresh(self, ok: bool) -> None:
        self._refreshes.labels("success" if ok else "failure").inc()

    def upstream_success(self, rates: Iterable[Rate], at: float) -> None:
        self._last_success.set(at)
        self._rate.clear()  # a code that disappeared upstream must not linger
        for rate in rates:
            self._rate.labels(rate.code, rate.type).set(rate.value)
