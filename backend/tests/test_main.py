"""The app's lifespan: side-effect-free construction, start-up data, polling, shutdown."""

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.config import Settings
from crypto_rates.main import create_app
from crypto_rates.persistence import save
from crypto_rates.snapshot import build_snapshot
from fastapi import FastAPI

from .conftest import RATES_URL, runtime


async def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


def test_create_app_has_no_side_effects(settings: Settings, no_network: None) -> None:
    app = create_app(settings)
    rt = runtime(app)
    assert rt.poller is None and rt.store.current is None
    assert settings.snapshot_path is not None and not settings.snapshot_path.exists()


@respx.mock
async def test_startup_polls_upstream_and_serves_its_data(
    settings: Settings, fixture_body: bytes
) -> None:
    route = respx.get(RATES_URL).respond(200, content=fixture_body)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        rt = runtime(app)
        await wait_until(lambda: rt.store.current is not None)
        assert route.call_count == 1
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            body = (await http.get("/api/v1/rates")).json()
            ready = await http.get("/health/ready")
        assert body["source"] == "coingecko" and body["stale"] is False
        assert ready.status_code == 200
    assert rt.shutting_down


@respx.mock
async def test_upstream_down_at_startup_serves_the_labelled_sample(
    make_settings: Callable[..., Settings],
) -> None:
    respx.get(RATES_URL).mock(side_effect=httpx.ConnectError("refused"))
    # a short interval keeps the retry backoff (and so this test) short
    fast = make_settings(sample_fallback=True, refresh_interval=0.8, allow_fast_refresh=True)
    app = create_app(fast)
    async with app.router.lifespan_context(app):
        rt = runtime(app)
        snapshot = rt.store.current
        assert snapshot is not None and snapshot.source == "sample"
        await wait_until(lambda: rt.poller is not None and rt.poller.last_outcome is not None)
        assert rt.store.current is snapshot  # the failed refresh replaced nothing


def _persist(path: Path, fixture_body: bytes, age: float) -> datetime:
    at = datetime.now(UTC) - timedelta(seconds=age)
    snapshot = build_snapshot(parse_exchange_rates(fixture_body), at, "coingecko")
    save(path, snapshot, ())
    return at


@respx.mock
async def test_a_restart_during_an_outage_serves_the_persisted_snapshot(
    make_settings: Callable[..., Settings], tmp_path: Path, fixture_body: bytes
) -> None:
    respx.get(RATES_URL).respond(500)
    path = tmp_path / "persisted.json"
    at = _persist(path, fixture_body, age=3600)
    app = create_app(make_settings(snapshot_path=path, sample_fallback=True))
    async with app.router.lifespan_context(app):
        snapshot = runtime(app).store.current
        assert snapshot is not None
        assert snapshot.source == "coingecko" and snapshot.fetched_at == at


@respx.mock
async def test_a_fresh_persisted_snapshot_delays_the_first_upstream_call(
    make_settings: Callable[..., Settings], tmp_path: Path, fixture_body: bytes
) -> None:
    route = respx.get(RATES_URL).respond(200, content=fixture_body)
    path = tmp_path / "persisted.json"
    _persist(path, fixture_body, age=10)
    app = create_app(make_settings(snapshot_path=path))
    async with app.router.lifespan_context(app):
        rt = runtime(app)
        await asyncio.sleep(0.1)
        assert route.call_count == 0
        assert rt.poller is not None and rt.poller.next_refresh_at is not None
        # The rest of the interval after the snapshot's 10 s of age.
        due_in = rt.poller.next_refresh_at - datetime.now(UTC).timestamp()
        assert rt.settings.refresh_interval - 15 <= due_in <= rt.settings.refresh_interval - 9


@respx.mock
async def test_a_corrupt_persisted_file_is_not_fatal(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    respx.get(RATES_URL).respond(500)
    path = tmp_path / "persisted.json"
    path.write_text(json.dumps({"format": 1, "garbage": True}))
    app = create_app(make_settings(snapshot_path=path, sample_fallback=True))
    async with app.router.lifespan_context(app):
        snapshot = runtime(app).store.current
        assert snapshot is not None and snapshot.source == "sample"


@respx.mock
async def test_without_data_or_fallback_rate_endpoints_answer_503_not_500(
    settings: Settings,
) -> None:
    respx.get(RATES_URL).respond(500)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get("/api/v1/rates")
            ready = await http.get("/health/ready")
    assert response.status_code == 503 and "retry-after" in response.headers
    assert ready.status_code == 503


@respx.mock
async def test_shutdown_cancels_the_poller_and_fails_readiness(
    settings: Settings, fixture_body: bytes
) -> None:
    respx.get(RATES_URL).respond(200, content=fixture_body)
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        rt = runtime(app)
        await wait_until(lambda: rt.store.current is not None)
        assert rt.poller is not None
        task = rt.poller._task
        assert task is not None and not task.done()
    assert task.cancelled()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/health/ready")).status_code == 503


def test_create_app_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFRESH_INTERVAL", "90")
    assert runtime(create_app()).settings.refresh_interval == 90
