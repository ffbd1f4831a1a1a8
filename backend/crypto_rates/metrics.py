"""Prometheus metrics on a registry per app (so tests can build many apps in one process).

Request metrics are prometheus-fastapi-instrumentator's (`instrument`); what it does not do is
written here: upstream calls, refresh outcomes, snapshot age and availability, the rate gauges.
"""

import math
import time
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator.metrics import Info
from prometheus_fastapi_instrumentator.middleware import PrometheusInstrumentatorMiddleware
from starlette.types import ASGIApp

from crypto_rates.snapshot import Snapshot

ROLES = ("poller", "follower", "standalone")
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# `*_created` series double the exposition size and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]


class RateCollector(Collector):
    """crypto_rates_rate{code,type}, read from the served snapshot at scrape time.

    Whatever the store serves is what is exported (a restored snapshot too), and a code that
    disappears upstream disappears here. The bundled sample is not exported: it is not a rate.
    """

    def __init__(self, current: Callable[[], Snapshot | None]) -> None:
        self._current = current

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "crypto_rates_rate", "Units per 1 BTC, by currency.", labels=["code", "type"]
        )
        snapshot = self._current()
        if snapshot is not None and snapshot.source == "coingecko":
            for rate in snapshot.rates.values():
                family.add_metric([rate.code, rate.type], rate.value)
        yield family


class RequestInstrumentation:
    """The instrumentator's request metrics: one instrumentation function on its `Info`.

    crypto_app_requests_total{handler,method,status} and crypto_app_request_duration_seconds
    {handler,method}, the old Flask service's names, labels and buckets, recorded as the
    library's `metrics.requests(...)` and `metrics.latency(...)` would, except that each label
    combination's children are kept: `.labels()` checks and hashes its values under a lock on
    every call, and this runs on every request. There are as many children as series.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        # Dashboards and alerts rely on these names, labels and buckets.
        self._requests = Counter(
            "crypto_app_requests_total",
            "HTTP requests by method, route template and status class.",
            ["handler", "method", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "crypto_app_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["handler", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def __call__(self, info: Info) -> None:
        key = (info.modified_handler, info.method, info.modified_status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self._requests.labels(*key),
                self._latency.labels(key[0], key[1]),
            )
        requests, latency = children
        requests.inc()
        latency.observe(info.modified_duration)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self._request_instrumentation = RequestInstrumentation(r)
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
        # The interval the service runs with (its default or REFRESH_INTERVAL), so the staleness
        # alert derives its threshold from it instead of repeating the default.
        self._refresh_interval = Gauge(
            "crypto_rates_refresh_interval_seconds",
            "Seconds between refreshes (the REFRESH_INTERVAL in force).",
            registry=r,
        )
        self.upstream_attempts = 0  # every call since start; the poller counts the month's from it
        self._calls_month = Gauge(
            "coingecko_api_calls_month",
            "CoinGecko calls this UTC calendar month, all replicas (as the database counts them).",
            registry=r,
        )
        self._calls_budget = Gauge(
            "coingecko_api_calls_budget",
            "The plan's monthly call allowance (COINGECKO_MONTHLY_CALLS); 0: none.",
            registry=r,
        )
        self._interval_in_force = Gauge(
            "crypto_rates_refresh_interval_effective_seconds",
            "Seconds between refreshes now: REFRESH_INTERVAL, or more to stay within the budget.",
            registry=r,
        )
        self._database_up = Gauge(
            "crypto_rates_database_up", "1 while the state database answers.", registry=r
        )
        self._role = Gauge(
            "crypto_rates_poller_role",
            "1 for this replica's role: poller, follower, or standalone (polling for itself "
            "because the database is unreachable).",
            ["role"],
            registry=r,
        )

    def watch_snapshot(self, current: Callable[[], Snapshot | None]) -> None:
        """Age, availability and rate gauges are read from the served snapshot at scrape time."""

        def age() -> float:
            snapshot = current()
            return math.inf if snapshot is None else max(0.0, time.time() - snapshot.fetched_ts)

        self._snapshot_age.set_function(age)
        self._snapshot_available.set_function(lambda: 0.0 if current() is None else 1.0)
        self.registry.register(RateCollector(current))

    def refresh_interval(self, seconds: float) -> None:
        self._refresh_interval.set(seconds)

    def instrument(self, app: ASGIApp) -> ASGIApp:
        """Count and time every request `app` answers, with the instrumentator's middleware.

        Its handler label is the route template of the app in `scope["app"]` (resolved before the
        request runs, so requests answered before FastAPI's router are labelled alike), `none` for
        a path no route matches (a scanner cannot create series), status grouped into `2xx`...
        /metrics itself is not counted.
        """
        return PrometheusInstrumentatorMiddleware(
            app,
            should_group_status_codes=True,
            should_group_untemplated=True,
            excluded_handlers=["^/metrics$"],
            instrumentations=[self._request_instrumentation],
            registry=self.registry,
        )

    def upstream_call(self, status: str, seconds: float) -> None:
        self.upstream_attempts += 1
        self._upstream_calls.labels(status).inc()
        self._upstream_latency.observe(seconds)

    def refresh(self, ok: bool) -> None:
        self._refreshes.labels("success" if ok else "failure").inc()

    def upstream_success(self, at: float) -> None:
        self._last_success.set(at)

    def budget(self, calls_this_month: int, allowance: int | None, interval: float) -> None:
        self._calls_month.set(calls_this_month)
        self._calls_budget.set(allowance or 0)
        self._interval_in_force.set(interval)

    def coordination(self, database_up: bool, role: str) -> None:
        self._database_up.set(1 if database_up else 0)
        for name in ROLES:
            self._role.labels(name).set(1 if name == role else 0)
