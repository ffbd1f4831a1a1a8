"""Prometheus metrics on a registry per app (so tests can build many apps in one process)."""

import math
import time
from bisect import bisect_left
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
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from crypto_rates.snapshot import Snapshot

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# `*_created` series double the exposition size and no dashboard uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}


class RequestCollector(Collector):
    """crypto_app_requests_total and crypto_app_request_duration_seconds, kept in plain ints.

    This runs on every request: prometheus_client's labelled metrics take a lock and hash labels
    per call; here an observation is two dict lookups and a bisect. Only the event loop thread
    touches it (requests and the /metrics handler alike), so no lock is needed.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], int] = {}
        # (method, handler) -> [per-bucket counts..., +Inf count], sum
        self._latency: dict[tuple[str, str], tuple[list[int], list[float]]] = {}

    def observe(self, method: str, handler: str, status: int, seconds: float) -> None:
        key = (method, handler, STATUS_CLASSES.get(status // 100, "other"))
        self._counts[key] = self._counts.get(key, 0) + 1
        series = self._latency.get((method, handler))
        if series is None:
            series = self._latency[(method, handler)] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
        series[0][bisect_left(LATENCY_BUCKETS, seconds)] += 1
        series[1][0] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "crypto_app_requests",
            "HTTP requests by method, route template and status class.",
            labels=["method", "handler", "status"],
        )
        for labels, count in sorted(self._counts.items()):
            requests.add_metric(list(labels), count)
        latency = HistogramMetricFamily(
            "crypto_app_request_duration_seconds",
            "HTTP request latency by method and route template.",
            labels=["method", "handler"],
        )
        for (method, handler), (counts, total) in sorted(self._latency.items()):
            cumulative, buckets = 0, []
            for bound, count in zip([*LATENCY_BUCKETS, math.inf], counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
            latency.add_metric([method, handler], buckets, total[0])
        yield requests
        yield latency


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


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        # The first three names are the old Flask service's; dashboards and alerts rely on them.
        self._requests = RequestCollector()
        r.register(self._requests)
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

    def watch_snapshot(self, current: Callable[[], Snapshot | None]) -> None:
        """Age, availability and rate gauges are read from the served snapshot at scrape time."""

        def age() -> float:
            snapshot = current()
            return math.inf if snapshot is None else max(0.0, time.time() - snapshot.fetched_ts)

        self._snapshot_age.set_function(age)
        self._snapshot_available.set_function(lambda: 0.0 if current() is None else 1.0)
        self.registry.register(RateCollector(current))

    def request(self, method: str, handler: str, status: int, seconds: float) -> None:
        self._requests.observe(method, handler, status, seconds)

    def upstream_call(self, status: str, seconds: float) -> None:
        self._upstream_calls.labels(status).inc()
        self._upstream_latency.observe(seconds)

    def refresh(self, ok: bool) -> None:
        self._refreshes.labels("success" if ok else "failure").inc()

    def upstream_success(self, at: float) -> None:
        self._last_success.set(at)
