"""The history backfill against the fake CoinGecko: complete, spaced, resumable, within budget,
and never in the way of a live refresh."""

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from crypto_rates.backfill import DONE, RETRY_AFTER_FAILURE, WAIT_FOR_BUDGET, Backfill
from crypto_rates.budget import RETRY_RESERVE, CallBudget, seconds_left_in_month
from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.config import Settings
from crypto_rates.database import Database
from crypto_rates.history import DAY, HOUR, Window, select
from crypto_rates.metrics import Metrics
from crypto_rates.poller import Poller
from crypto_rates.snapshot import build_snapshot
from crypto_rates.store import SnapshotStore
from crypto_rates.upstream import CoinGeckoClient
from testkit.fake_coingecko import NOT_SUPPORTED, FakeCoinGecko

RATE = 600  # calls per minute: 0.1 s apart (on the test's clock)


class Stopped(Exception):
    """Raised from the fake sleep to stop a run, as a restart would."""


@pytest.fixture
def fake() -> Iterator[FakeCoinGecko]:
    with FakeCoinGecko() as server:
        yield server


class Rig:
    """A backfill on a fake clock: sleeping advances it; `on_sleep` may interfere."""

    def __init__(self, settings: Settings, fixture_body: bytes, database: Database) -> None:
        self.now = datetime.now(UTC).timestamp()
        self.metrics = Metrics()
        self.client = CoinGeckoClient(settings, self.metrics)
        self.store = SnapshotStore(history_limit=10)
        rates = parse_exchange_rates(fixture_body)
        self.store.replace(build_snapshot(rates, datetime.now(UTC), "coingecko"))
        self.database = database
        self.budget = CallBudget(None)
        self.call_times: list[float] = []
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[float], None] = lambda seconds: None

    def backfill(self) -> Backfill:
        return Backfill(
            self.client,
            self.database,
            self.store,
            self.budget,
            300,
            RATE,
            self.count,
            clock=lambda: self.now,
            sleep=self.sleep,
        )

    def count(self) -> None:
        self.call_times.append(self.now)
        self.budget.record(self.now, 1)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.on_sleep(seconds)
        self.now += seconds


@pytest.fixture
async def rig(make_settings: Callable[..., Settings], fixture_body: bytes, fake: FakeCoinGecko):  # type: ignore[no-untyped-def]
    settings = make_settings(coingecko_base_url=fake.url)
    database = Database(settings.database)
    await database.migrate()
    yield Rig(settings, fixture_body, database)
    await database.close()


def units_served(fixture_body: bytes) -> list[str]:
    return [u for u in parse_exchange_rates(fixture_body) if u not in NOT_SUPPORTED | {"btc"}]


async def test_a_backfill_fills_a_year_daily_and_90_days_hourly_for_every_supported_unit(
    rig: Rig, fake: FakeCoinGecko, fixture_body: bytes
) -> None:
    await rig.backfill().run()
    units = units_served(fixture_body)
    assert len(fake.history_calls) == 1 + 2 * len(units)
    daily, hourly = rig.store.archive.tiers[DAY], rig.store.archive.tiers[HOUR]
    assert set(daily) == set(hourly) == set(units)  # vef and xdr: their own points only
    for unit in ("usd", "eth"):
        assert 365 <= len(daily[unit].times) <= 366
        assert 90 * 24 <= len(hourly[unit].times) <= 90 * 24 + 1
    year = select([], rig.store.archive, "usd", "btc", Window(rig.now - 365 * DAY, rig.now), 300)
    week = select([], rig.store.archive, "eth", "usd", Window(rig.now - 7 * DAY, rig.now), 300)
    assert year.resolution_seconds == DAY and len(year.points) >= 364
    assert week.resolution_seconds == HOUR and len(week.points) >= 167
    # Spaced by BACKFILL_CALLS_PER_MINUTE (on the fake clock), and counted.
    gaps = [b - a for a, b in zip(rig.call_times, rig.call_times[1:], strict=False)]
    assert min(gaps) >= 60 / RATE - 1e-6
    assert rig.metrics.upstream_attempts == len(fake.history_calls)
    # Done once: the next start asks nothing.
    assert DONE in await rig.database.backfilled()
    again = rig.backfill()
    await again.run()
    assert again.finished and len(fake.history_calls) == 1 + 2 * len(units)


async def test_a_restarted_backfill_resumes_where_it_stopped(
    rig: Rig, fake: FakeCoinGecko, fixture_body: bytes
) -> None:
    def stop_after_ten_calls(seconds: float) -> None:
        if len(fake.history_calls) >= 10:
            raise Stopped

    rig.on_sleep = stop_after_ten_calls
    with pytest.raises(Stopped):
        await rig.backfill().run()
    assert len(await rig.database.backfilled()) == 9  # 1 call for the unit list, 9 charts
    rig.on_sleep = lambda seconds: None
    await rig.backfill().run()
    # The second run: the unit list again, then only the charts not yet stored.
    assert len(fake.history_calls) == 10 + 1 + 2 * len(units_served(fixture_body)) - 9


async def test_failed_calls_are_retried_later_and_counted(rig: Rig, fake: FakeCoinGecko) -> None:
    fake.set_history_mode("500")

    def recover(seconds: float) -> None:
        if seconds == RETRY_AFTER_FAILURE:
            fake.set_history_mode("ok")

    rig.on_sleep = recover
    await rig.backfill().run()
    assert RETRY_AFTER_FAILURE in rig.sleeps
    assert rig.metrics.upstream_attempts == len(fake.history_calls)  # the failed one too
    assert fake.calls == 0  # /exchange_rates was never asked by the backfill


async def test_the_backfill_only_spends_calls_the_live_refresh_will_not_need(
    rig: Rig, fake: FakeCoinGecko
) -> None:
    # Demo's 10,000 calls, so many spent that 20 are left beyond the live refresh's needs.
    rig.budget = CallBudget(10_000)
    live = seconds_left_in_month(rig.now) / 300
    rig.budget.record(rig.now, int(10_000 * (1 - RETRY_RESERVE) - live - 20))
    backfill = rig.backfill()
    spare = int(backfill.spare_calls())
    assert 19 <= spare <= 20

    def stop_when_waiting_for_budget(seconds: float) -> None:
        if seconds == WAIT_FOR_BUDGET:
            raise Stopped

    rig.on_sleep = stop_when_waiting_for_budget
    with pytest.raises(Stopped):
        await backfill.run()
    assert len(fake.history_calls) == spare  # then it waits (for next month's calls)
    assert backfill.spare_calls() < 1
    assert rig.budget.interval(300, rig.now) == 300  # the live refresh keeps its interval


async def test_a_hanging_backfill_call_never_delays_a_live_refresh(
    make_settings: Callable[..., Settings], fake: FakeCoinGecko
) -> None:
    settings = make_settings(coingecko_base_url=fake.url, api_timeout=30)
    metrics = Metrics()
    client = CoinGeckoClient(settings, metrics)
    store = SnapshotStore(history_limit=10)
    database = Database(settings.database)
    poller = Poller(client, store, metrics, 300, database, CallBudget(None), backfill_rate=RATE)
    fake.set_history_mode("timeout")  # every backfill call hangs
    try:
        await poller.step()  # connects and becomes the poller; the backfill starts
        assert poller.role == "poller" and poller._backfill_task is not None
        while not fake.history_calls:  # noqa: ASYNC110 - filled by the fake's thread
            await asyncio.sleep(0.01)
        poller.next_refresh_at = 0  # a refresh is due now
        await poller.step()
        assert poller.last_outcome is not None and poller.last_outcome.ok
        assert fake.calls == 1  # the live refresh was answered while the backfill call hangs
        assert not poller._backfill_task.done()
    finally:
        fake.set_history_mode("ok")
        await poller.stop()
