"""Request metrics of the running service: every kind of request is counted exactly once, on its
route template, and nothing else is counted (scraped from /metrics over real HTTP)."""

from __future__ import annotations

from collections import Counter

import httpx
from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import wait_until

from .support import Launch, Service

N = 7
REQUESTS = "crypto_app_requests_total"
LATENCY_COUNT = "crypto_app_request_duration_seconds_count"

# kind -> (method, path for the i-th request, expected (method, handler, status) labels)
KINDS: dict[str, tuple[str, str, tuple[str, str, str]]] = {
    "fast path": ("GET", "/api/v1/rates", ("GET", "/api/v1/rates", "2xx")),
    "fast path, old shape": ("GET", "/api/rates", ("GET", "/api/rates", "2xx")),
    "routed": ("GET", "/api/v1/rates/eth", ("GET", "/api/v1/rates/{code}", "2xx")),
    "routed, query": ("GET", "/api/v1/rates?type=fiat", ("GET", "/api/v1/rates", "2xx")),
    "404 problem": ("GET", "/api/v1/rates/nosuch{i}", ("GET", "/api/v1/rates/{code}", "4xx")),
    "unmatched": ("GET", "/scan/{i}/wp-login.php", ("GET", "none", "4xx")),
    "unmatched, trailing slash": ("GET", "/api/v1/rates/eth{i}/", ("GET", "none", "4xx")),
    "405 problem": ("POST", "/api/v1/rates", ("POST", "/api/v1/rates", "4xx")),
    "HEAD": ("HEAD", "/api/v1/rates", ("HEAD", "/api/v1/rates", "2xx")),
}


def _moved(
    service: Service, name: str, before: dict[tuple[str, ...], float]
) -> Counter[tuple[str, ...]]:
    """How far each series of `name` moved since `before` (labels in name order), zeros dropped."""
    after = _samples(service, name)
    return Counter({k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)})


def _samples(service: Service, name: str) -> dict[tuple[str, ...], float]:
    """Samples of `name` keyed by label values in label-name order (handler, method[, status])."""
    return {
        tuple(value for _, value in labels): value
        for (sample, labels), value in service.metrics().items()
        if sample == name
    }


def test_each_kind_of_request_moves_its_counter_by_exactly_n(
    fake: FakeCoinGecko, launch: Launch
) -> None:
    service = launch(fake)
    wait_until("the first fetch", lambda: service.get("/health/ready").status_code == 200)
    requests_before = _samples(service, REQUESTS)
    latency_before = _samples(service, LATENCY_COUNT)

    with httpx.Client(base_url=service.url, timeout=10) as http:
        for method, path, _ in KINDS.values():
            for i in range(N):
                http.request(method, path.format(i=i))

    # Each scrape lies between the two states compared: /metrics itself is never counted.
    expected: Counter[tuple[str, ...]] = Counter()
    expected_latency: Counter[tuple[str, ...]] = Counter()
    for _, _, (method, handler, status) in KINDS.values():
        expected[(handler, method, status)] += N
        expected_latency[(handler, method)] += N
    assert _moved(service, REQUESTS, requests_before) == expected
    assert _moved(service, LATENCY_COUNT, latency_before) == expected_latency
    handlers = {labels[0] for labels in _samples(service, REQUESTS)}
    assert not any(
        handler.startswith(("/scan", "/metrics", "/api/v1/rates/eth")) for handler in handlers
    )
