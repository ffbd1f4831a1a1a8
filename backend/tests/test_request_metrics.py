"""Request metrics in-process: the instrumentation function's series, and what keeps it cheap."""

import pytest
from crypto_rates.metrics import RequestInstrumentation
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator.metrics import Info
from starlette.requests import Request


def _info(handler: str, method: str, status: str, seconds: float) -> Info:
    request = Request({"type": "http", "method": method, "path": handler, "headers": []})
    return Info(request, None, method, handler, status, seconds)


def test_each_label_combination_counts_and_times_its_own_requests() -> None:
    registry = CollectorRegistry()
    instrument = RequestInstrumentation(registry)
    calls = [
        ("/api/v1/rates", "GET", "2xx", 0.0004),
        ("/api/v1/rates", "GET", "2xx", 0.003),
        ("/api/v1/rates", "HEAD", "2xx", 0.0004),
        ("/api/v1/rates/{code}", "GET", "4xx", 0.0004),
        ("/api/v1/rates", "GET", "2xx", 0.2),
        ("/api/v1/rates/{code}", "GET", "2xx", 0.0004),
    ]
    for call in calls:
        instrument(_info(*call))

    def requests(handler: str, method: str, status: str) -> float | None:
        labels = {"handler": handler, "method": method, "status": status}
        return registry.get_sample_value("crypto_app_requests_total", labels)

    def latency(sample: str, handler: str, method: str, le: str | None = None) -> float | None:
        labels = {"handler": handler, "method": method} | ({"le": le} if le else {})
        return registry.get_sample_value(f"crypto_app_request_duration_seconds_{sample}", labels)

    assert requests("/api/v1/rates", "GET", "2xx") == 3
    assert requests("/api/v1/rates", "HEAD", "2xx") == 1
    assert requests("/api/v1/rates/{code}", "GET", "4xx") == 1
    assert requests("/api/v1/rates/{code}", "GET", "2xx") == 1
    assert latency("count", "/api/v1/rates", "GET") == 3
    assert latency("sum", "/api/v1/rates", "GET") == pytest.approx(0.2034)
    assert latency("bucket", "/api/v1/rates", "GET", "0.0005") == 1
    assert latency("bucket", "/api/v1/rates", "GET", "0.005") == 2
    assert latency("bucket", "/api/v1/rates", "GET", "0.25") == 3
    assert latency("count", "/api/v1/rates/{code}", "GET") == 2  # status is not a latency label


def test_the_hottest_route_is_matched_first_among_the_apps_own_routes(app: FastAPI) -> None:
    """The instrumentator resolves each request's template by matching the app's routes in
    order, flattening included routers on every request: routes are the app's own, hot first."""
    paths = [getattr(route, "path", None) for route in app.routes]
    assert None not in paths  # an included router has no path of its own
    assert paths[:2] == ["/api/v1/rates", "/api/rates"]
    assert "/openapi.json" in paths
