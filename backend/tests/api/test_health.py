"""Health, liveness, readiness and metrics."""

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.config import Settings
from crypto_rates.main import create_app
from crypto_rates.poller import RefreshOutcome
from crypto_rates.snapshot import build_snapshot
from fastapi import FastAPI

from ..conftest import runtime


async def get(app: FastAPI, url: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        return await http.get(url)


def live_snapshot(fixture_body: bytes, age: float = 1):
    at = datetime.now(UTC) - timedelta(seconds=age)
    return build_snapshot(parse_exchange_rates(fixture_body), at, "coingecko")


async def test_health_has_the_old_fields_plus_age(app: FastAPI, fixture_body: bytes) -> None:
    runtime(app).store.replace(live_snapshot(fixture_body, age=12))
    response = await get(app, "/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "status",
        "timestamp",
        "version",
        "uptime",
        "api_status",
        "snapshot_age_seconds",
        "database",
        "upstream_budget",
    }
    assert body["database"] == {"engine": "sqlite", "status": "unknown", "role": None}
    assert body["upstream_budget"] == {
        "calls_this_month": 0,
        "monthly_calls": None,
        "refresh_interval_seconds": 300.0,
        "stretched": False,
    }
    assert body["status"] == "healthy"
    assert body["api_status"] == "unknown"
    assert 12 <= body["snapshot_age_seconds"] < 14
    assert body["uptime"] >= 0
    assert abs(datetime.fromisoformat(body["timestamp"]) - datetime.now(UTC)) < timedelta(seconds=5)
    assert response.headers["cache-control"] == "no-store"


async def test_health_is_degraded_on_sample_data(app: FastAPI) -> None:
    body = (await get(app, "/health")).json()
    assert body["status"] == "degraded"


async def test_health_is_degraded_when_refreshes_fail(app: FastAPI, fixture_body: bytes) -> None:
    rt = runtime(app)
    rt.store.replace(live_snapshot(fixture_body))

    class FailingPoller:
        last_outcome = RefreshOutcome(ok=False, error="server_error: HTTP 500")
        next_refresh_at = None
        database_up = True
        role = "poller"

    rt.poller = FailingPoller()  # type: ignore[assignment]
    body = (await get(app, "/health")).json()
    assert body["status"] == "degraded" and body["api_status"] == "failing"


async def test_health_body_is_made_once_a_second_and_anew_on_any_change(
    app: FastAPI, fixture_body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Poller:
        last_outcome = RefreshOutcome(ok=True)
        database_up = True
        role = "poller"

    rt = runtime(app)
    rt.store.replace(live_snapshot(fixture_body))
    rt.poller = Poller()  # type: ignore[assignment]
    clock = [int(datetime.now(UTC).timestamp()) + 0.25]  # the snapshots' ages are real
    monkeypatch.setattr("crypto_rates.api.health.time.time", lambda: clock[0])
    first = (await get(app, "/health")).content
    clock[0] += 0.5  # the same second: the same answer, uptime and timestamp included
    assert (await get(app, "/health")).content == first
    clock[0] += 0.5  # the next second: made anew
    assert (await get(app, "/health")).json()["uptime"] != json.loads(first)["uptime"]
    # Within the second, what it shows changes: it shows the change at once.
    Poller.last_outcome = RefreshOutcome(ok=False, error="server_error: HTTP 500")
    assert (await get(app, "/health")).json()["api_status"] == "failing"
    Poller.database_up = False
    assert (await get(app, "/health")).json()["database"]["status"] == "down"
    rt.budget.record(clock[0], 7)
    assert (await get(app, "/health")).json()["upstream_budget"]["calls_this_month"] == 7
    rt.store.replace(live_snapshot(fixture_body, age=3600))
    assert (await get(app, "/health")).json()["snapshot_age_seconds"] > 3000
    assert json.loads(first)["snapshot_age_seconds"] < 60


async def test_health_is_degraded_on_stale_data(app: FastAPI, fixture_body: bytes) -> None:
    runtime(app).store.replace(live_snapshot(fixture_body, age=3600))
    assert (await get(app, "/health")).json()["status"] == "degraded"


async def test_health_is_unhealthy_and_503_without_data(settings: Settings) -> None:
    response = await get(create_app(settings), "/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy" and body["snapshot_age_seconds"] is None


async def test_liveness_answers_even_without_data(settings: Settings) -> None:
    response = await get(create_app(settings), "/health/live")
    assert response.status_code == 200 and response.json() == {"status": "alive"}


async def test_readiness_waits_for_the_first_snapshot(
    settings: Settings, fixture_body: bytes
) -> None:
    app = create_app(settings)
    before = await get(app, "/health/ready")
    assert before.status_code == 503
    assert before.headers["content-type"] == "application/problem+json"
    assert before.headers["retry-after"]
    runtime(app).store.replace(live_snapshot(fixture_body))
    after = await get(app, "/health/ready")
    assert after.status_code == 200 and after.json() == {"status": "ready"}


async def test_readiness_503_while_waiting_is_logged_at_info_not_error(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)
    with caplog.at_level(logging.DEBUG, logger="crypto_rates"):
        assert (await get(app, "/health/ready")).status_code == 503
    probes = [r for r in caplog.records if getattr(r, "path", None) == "/health/ready"]
    assert probes and all(r.levelno == logging.INFO for r in probes), probes


async def test_readiness_fails_once_shutdown_begins(app: FastAPI) -> None:
    assert (await get(app, "/health/ready")).status_code == 200
    runtime(app).begin_shutdown()
    response = await get(app, "/health/ready")
    assert response.status_code == 503
    assert "shutting down" in response.json()["detail"]
    assert (await get(app, "/health/live")).status_code == 200


async def test_metrics_expose_the_old_names_and_ours(app: FastAPI, fixture_body: bytes) -> None:
    rt = runtime(app)
    snapshot = live_snapshot(fixture_body)
    rt.store.replace(snapshot)
    rt.metrics.upstream_success(snapshot.fetched_ts)
    rt.metrics.upstream_call("success", 0.2)
    rt.metrics.refresh(True)
    await get(app, "/api/v1/rates/eth")
    await get(app, "/api/v1/rates/btc")
    await get(app, "/nonexistent")
    response = await get(app, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # the old Flask service's three names, labelled by route template (never raw path)
    code_route = 'handler="/api/v1/rates/{code}"'
    assert f'crypto_app_requests_total{{{code_route},method="GET",status="2xx"}} 2.0' in text
    assert 'crypto_app_requests_total{handler="none",method="GET",status="4xx"} 1.0' in text
    bucket = f'crypto_app_request_duration_seconds_bucket{{{code_route},le="+Inf",method="GET"}}'
    assert f"{bucket} 2.0" in text
    assert 'coingecko_api_calls_total{status="success"} 1.0' in text
    assert "coingecko_api_request_duration_seconds_count 1.0" in text
    assert 'crypto_rates_refreshes_total{outcome="success"} 1.0' in text
    assert "crypto_rates_snapshot_available 1.0" in text
    age = float(re.search(r"^crypto_rates_snapshot_age_seconds (\S+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert 0 <= age < 10
    assert re.search(r"^crypto_rates_last_success_timestamp_seconds \S+$", text, re.M)
    assert 'crypto_rates_rate{code="eth",type="crypto"} 18.801' in text
    assert 'crypto_rates_rate{code="xau",type="commodity"}' in text
    assert "process_resident_memory_bytes" in text
    assert "/api/v1/rates/eth" not in text  # raw paths never become labels


async def test_metrics_report_the_refresh_interval_in_force(
    make_settings: Callable[..., Settings],
) -> None:
    # The staleness alert's threshold is a multiple of this gauge (deploy/helm alerts).
    default = (await get(create_app(make_settings()), "/metrics")).text
    assert f"crypto_rates_refresh_interval_seconds {Settings().refresh_interval}" in default
    text = (await get(create_app(make_settings(refresh_interval=600)), "/metrics")).text
    assert "crypto_rates_refresh_interval_seconds 600.0" in text


async def test_metrics_without_a_snapshot(settings: Settings) -> None:
    text = (await get(create_app(settings), "/metrics")).text
    assert "crypto_rates_snapshot_available 0.0" in text
    assert "crypto_rates_snapshot_age_seconds +Inf" in text
    assert "crypto_rates_rate{" not in text


async def test_rate_gauges_follow_the_served_snapshot(app: FastAPI, fixture_body: bytes) -> None:
    # The app fixture serves the bundled sample: not a rate, so no gauges.
    assert "crypto_rates_rate{" not in (await get(app, "/metrics")).text
    # A restored or refreshed upstream snapshot is exported without waiting for a new refresh.
    runtime(app).store.replace(live_snapshot(fixture_body))
    text = (await get(app, "/metrics")).text
    assert 'crypto_rates_rate{code="eth",type="crypto"} 18.801' in text
    assert text.count("crypto_rates_rate{") == 61
