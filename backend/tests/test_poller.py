import asyncio
import gc
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import respx
from crypto_rates.budget import CallBudget
from crypto_rates.config import Settings
from crypto_rates.database import Database
from crypto_rates.metrics import Metrics
from crypto_rates.poller import FAILURE_BACKOFF_START, Poller, RefreshOutcome
from crypto_rates.store import SnapshotStore
from crypto_rates.upstream import CoinGeckoClient
from sqlalchemy import text

from .conftest import RATES_URL


async def no_sleep(seconds: float) -> None:
    return None


class Harness:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.store = SnapshotStore(history_limit=10)
        self.metrics.watch_snapshot(lambda: self.store.current)
        self.client = CoinGeckoClient(settings, self.metrics, sleep=no_sleep)
        self.database = Database(settings.database)
        self.poller = Poller(
            self.client,
            self.store,
            self.metrics,
            settings.refresh_interval,
            self.database,
            CallBudget(settings.monthly_call_allowance),
            settings.snapshot_path,
        )

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels or {})


@pytest.fixture
def harness(settings: Settings) -> Harness:
    return Harness(settings)


@respx.mock
async def test_a_successful_refresh_replaces_persists_and_counts(
    harness: Harness, settings: Settings, fixture_body: bytes
) -> None:
    respx.get(RATES_URL).respond(200, content=fixture_body)
    outcome = await harness.poller.refresh_once()
    assert outcome.ok and outcome.snapshot is not None
    assert harness.store.current is outcome.snapshot
    assert outcome.snapshot.source == "coingecko"
    assert harness.sample("crypto_rates_refreshes_total", {"outcome": "success"}) == 1
    assert harness.sample("crypto_rates_rate", {"code": "eth", "type": "crypto"}) == 18.801
    assert harness.sample("crypto_rates_last_success_timestamp_seconds") == pytest.approx(
        outcome.snapshot.fetched_ts
    )
    await harness.poller.sync()
    stored = await harness.database.latest()
    assert stored is not None and stored.version == outcome.snapshot.version
    assert await harness.database.add_calls(outcome.snapshot.fetched_at.strftime("%Y-%m"), 0) == 1
    await harness.poller.stop()


FAILURES: dict[str, Callable[[respx.Route], object]] = {
    "timeout": lambda r: r.mock(side_effect=httpx.ReadTimeout("slow")),
    "connection refused": lambda r: r.mock(side_effect=httpx.ConnectError("refused")),
    "500": lambda r: r.respond(500),
    "429 with Retry-After": lambda r: r.respond(429, headers={"Retry-After": "5"}),
    "429 without Retry-After": lambda r: r.respond(429),
    "HTML body": lambda r: r.respond(200, text="<!DOCTYPE html><h1>Bad gateway</h1>"),
    "malformed JSON": lambda r: r.respond(200, text='{"rates": {"btc": {"name"'),
    "wrong shape": lambda r: r.respond(200, json={"data": [1, 2, 3]}),
    "empty rates": lambda r: r.respond(200, json={"rates": {}}),
}


@pytest.mark.parametrize("failure", list(FAILURES))
@respx.mock
async def test_every_upstream_failure_keeps_the_last_good_snapshot(
    harness: Harness, fixture_body: bytes, failure: str
) -> None:
    route = respx.get(RATES_URL)
    route.respond(200, content=fixture_body)
    good = await harness.poller.refresh_once()
    FAILURES[failure](route)
    outcome = await harness.poller.refresh_once()
    assert not outcome.ok and outcome.error
    assert harness.store.current is good.snapshot
    assert harness.poller.last_outcome is outcome
    assert harness.sample("crypto_rates_refreshes_total", {"outcome": "failure"}) == 1
    failed_calls = sum(
        harness.sample("coingecko_api_calls_total", {"status": s}) or 0
        for s in ("timeout", "connection_error", "server_error", "rate_limited", "invalid_response")
    )
    assert failed_calls >= 1


@respx.mock
async def test_a_failure_before_any_data_leaves_the_store_empty(harness: Harness) -> None:
    respx.get(RATES_URL).respond(503)
    outcome = await harness.poller.refresh_once()
    assert not outcome.ok
    assert harness.store.current is None


@respx.mock
async def test_retry_after_from_upstream_delays_the_next_cycle(harness: Harness) -> None:
    respx.get(RATES_URL).respond(429, headers={"Retry-After": "900"})
    outcome = await harness.poller.refresh_once()
    assert outcome.retry_after == 900
    assert harness.poller.delay_after(outcome) == 900
    assert harness.poller.delay_after(RefreshOutcome(ok=True)) == harness.settings.refresh_interval


@respx.mock
async def test_after_a_failure_the_next_cycle_comes_sooner_doubling_up_to_the_interval(
    harness: Harness, fixture_body: bytes
) -> None:
    route = respx.get(RATES_URL)
    route.respond(500)
    delays = [harness.poller.delay_after(await harness.poller.refresh_once()) for _ in range(6)]
    interval = harness.settings.refresh_interval
    assert interval > 2 * FAILURE_BACKOFF_START  # so the doubling shows
    assert delays == [min(interval, FAILURE_BACKOFF_START * 2**i) for i in range(6)]
    assert delays[-1] == interval
    route.respond(200, content=fixture_body)
    assert harness.poller.delay_after(await harness.poller.refresh_once()) == interval
    route.respond(500)  # a success starts the backoff over
    assert harness.poller.delay_after(await harness.poller.refresh_once()) == FAILURE_BACKOFF_START


async def test_an_unexpected_error_is_an_outcome_not_a_crash(
    harness: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken() -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(harness.client, "fetch_rates", broken)
    with caplog.at_level(logging.ERROR):
        outcome = await harness.poller.refresh_once()
    assert not outcome.ok and outcome.error == "unexpected RuntimeError"
    assert "refresh failed unexpectedly" in caplog.text


@respx.mock
async def test_an_unreachable_database_means_polling_alone_and_writing_later(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    fixture_body: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(database_url=f"sqlite:///{tmp_path}/data.db")
    harness = Harness(settings)
    (tmp_path / "data.db").mkdir()  # a directory where the file should be: unusable
    respx.get(RATES_URL).respond(200, content=fixture_body)
    with caplog.at_level(logging.INFO):
        await harness.poller.sync()
        await harness.poller.step()
    assert harness.poller.database_up is False and harness.poller.role == "standalone"
    outcome = harness.poller.last_outcome
    assert outcome is not None and outcome.ok and harness.store.current is outcome.snapshot
    assert "database unreachable" in caplog.text
    assert harness.sample("crypto_rates_poller_role", {"role": "standalone"}) == 1
    assert harness.sample("crypto_rates_database_up") == 0

    (tmp_path / "data.db").rmdir()  # the database is back
    await harness.poller.sync()
    assert harness.poller.database_up is True and harness.poller.role == "poller"
    stored = await harness.database.latest()
    assert stored is not None and stored.version == outcome.snapshot.version
    assert harness.sample("coingecko_api_calls_month") == 1
    await harness.poller.stop()


@respx.mock
async def test_the_loop_refreshes_every_interval_and_stops_cleanly(
    make_settings: Callable[..., Settings], fixture_body: bytes
) -> None:
    route = respx.get(RATES_URL).respond(200, content=fixture_body)
    harness = Harness(make_settings(refresh_interval=0.05, allow_fast_refresh=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        harness.poller.start()
        for _ in range(200):  # bounded: at most 2 s
            if route.call_count >= 3:
                break
            await asyncio.sleep(0.01)
        await harness.poller.stop()
        calls_at_stop = route.call_count
        await asyncio.sleep(0.15)
        gc.collect()
    assert calls_at_stop >= 3
    assert route.call_count == calls_at_stop  # nothing runs after stop()
    assert not [w for w in caught if "destroyed" in str(w.message)]
    await harness.poller.stop()  # stopping twice is harmless


@respx.mock
async def test_the_loop_survives_failures(
    make_settings: Callable[..., Settings], fixture_body: bytes
) -> None:
    route = respx.get(RATES_URL)
    route.side_effect = [
        httpx.Response(404),
        httpx.Response(404),
        httpx.Response(200, content=fixture_body),
    ]
    harness = Harness(make_settings(refresh_interval=0.02, allow_fast_refresh=True))
    harness.poller.start()
    for _ in range(200):
        if harness.store.current is not None:
            break
        await asyncio.sleep(0.01)
    await harness.poller.stop()
    assert harness.store.current is not None
    assert harness.sample("crypto_rates_refreshes_total", {"outcome": "failure"}) == 2


async def test_a_schema_from_a_newer_version_is_not_fatal(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await harness.database.migrate()
    async with harness.database.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with caplog.at_level(logging.ERROR):
        await harness.poller.sync()
    assert harness.poller.database_up is False and harness.poller.role == "standalone"
    errors = [getattr(r, "error", "") for r in caplog.records]
    assert any("SchemaError" in e and "9999" in e for e in errors), errors
    await harness.poller.stop()


async def test_the_poller_downsamples_stored_refreshes_into_the_archive_every_hour(
    harness: Harness, fixture_body: bytes
) -> None:
    from datetime import UTC, datetime, timedelta

    from crypto_rates.coingecko_payload import parse_exchange_rates
    from crypto_rates.history import HOUR
    from crypto_rates.snapshot import build_snapshot

    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    now = [(start + timedelta(hours=3, minutes=10)).timestamp()]
    poller = Poller(
        harness.client,
        harness.store,
        harness.metrics,
        300,
        harness.database,
        CallBudget(10_000),
        clock=lambda: now[0],
    )
    await harness.database.migrate()
    rates = parse_exchange_rates(fixture_body)
    for minutes in range(0, 4 * 60, 30):
        await harness.database.save(
            build_snapshot(rates, start + timedelta(minutes=minutes), "coingecko")
        )
    await poller.sync()
    assert poller.role == "poller"
    hourly = harness.store.archive.tiers[HOUR]["usd"]
    assert [datetime.fromtimestamp(t, UTC).hour for t in hourly.times] == [10, 11, 12]
    await poller.sync()  # not due again within the hour
    assert harness.store.archive.tiers[HOUR]["usd"] is hourly
    now[0] += HOUR
    await poller.sync()
    hours = harness.store.archive.tiers[HOUR]["usd"].times
    assert [datetime.fromtimestamp(t, UTC).hour for t in hours] == [10, 11, 12, 13]
    await poller.stop()
