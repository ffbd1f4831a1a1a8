"""The monthly call budget, with a fake clock: whole simulated months through the real poller."""

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest
from crypto_rates.budget import RETRY_RESERVE, CallBudget, month_of, seconds_left_in_month
from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.database import Database
from crypto_rates.database_url import sqlite_memory
from crypto_rates.metrics import Metrics
from crypto_rates.poller import Poller
from crypto_rates.rate import Rate
from crypto_rates.store import SnapshotStore
from crypto_rates.upstream import MAX_ATTEMPTS, AttemptStatus, UpstreamError

DEMO = 10_000
DECEMBER = datetime(2026, 12, 1, tzinfo=UTC).timestamp()  # 31 days
INTERVAL = 300.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeUpstream:
    """Stands in for CoinGecko's client: each cycle costs one call, or MAX_ATTEMPTS while down."""

    def __init__(self, metrics: Metrics, rates: Mapping[str, Rate], clock: Clock) -> None:
        self._metrics = metrics
        self._rates = rates
        self._clock = clock
        self.down: tuple[float, float] = (0.0, 0.0)

    async def fetch_rates(self) -> Mapping[str, Rate]:
        start, end = self.down
        if start <= self._clock() < end:
            for _ in range(MAX_ATTEMPTS):
                self._metrics.upstream_call(AttemptStatus.SERVER_ERROR, 0.1)
            raise UpstreamError(AttemptStatus.SERVER_ERROR, "HTTP 500")
        self._metrics.upstream_call(AttemptStatus.SUCCESS, 0.1)
        return self._rates


def simulate_month(
    fixture_body: bytes, used_before: int = 0, down: tuple[float, float] = (0.0, 0.0)
) -> tuple[int, list[float], Poller]:
    """Run the poller's cycles through December at its own delays; (calls, delays, poller)."""
    clock = Clock(DECEMBER)
    metrics = Metrics()
    upstream = FakeUpstream(metrics, parse_exchange_rates(fixture_body), clock)
    upstream.down = down
    budget = CallBudget(DEMO)
    budget.observe("2026-12", used_before)
    poller = Poller(
        upstream,  # type: ignore[arg-type]
        SnapshotStore(history_limit=2),
        metrics,
        INTERVAL,
        Database(sqlite_memory()),
        budget,
        clock=clock,
    )
    delays: list[float] = []
    end = DECEMBER + seconds_left_in_month(DECEMBER)
    while clock.now < end:
        # The fake upstream never suspends: one send() runs a whole cycle, no event loop needed.
        cycle = poller.refresh_once()
        try:
            cycle.send(None)
        except StopIteration as finished:
            outcome = finished.value
        delays.append(poller.delay_after(outcome))
        clock.now += delays[-1]
    return budget.used_in(end - 1), delays, poller


def test_a_normal_month_stays_under_budget_at_the_configured_interval(fixture_body: bytes) -> None:
    calls, delays, _ = simulate_month(fixture_body)
    assert calls == 31 * 24 * 3600 / INTERVAL  # one call per interval: 8,928
    assert calls <= DEMO * (1 - RETRY_RESERVE)
    assert set(delays) == {INTERVAL}  # never stretched


def test_an_outage_with_retries_stays_under_budget(fixture_body: bytes) -> None:
    # Five days down, three calls per failed cycle and the failure backoff: unchecked, that is
    # about 1,400 calls more than the month's allowance has room for.
    down = (DECEMBER + 10 * 86400, DECEMBER + 15 * 86400)
    calls, delays, _ = simulate_month(fixture_body, down=down)
    assert calls <= DEMO
    assert max(delays) > INTERVAL  # it had to stretch


def test_a_budget_almost_spent_stretches_the_interval(
    fixture_body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        calls, delays, poller = simulate_month(fixture_body, used_before=8_000)
    assert "refresh interval stretched to last the monthly call budget" in caplog.text
    assert poller.last_outcome is not None
    assert calls <= DEMO
    usable = DEMO * (1 - RETRY_RESERVE) - 8_001  # after its first call
    assert delays[0] == pytest.approx(31 * 86400 / usable)  # ~2,681 s instead of 300


def test_a_spent_budget_waits_for_the_next_month() -> None:
    budget = CallBudget(DEMO)
    budget.observe("2026-12", DEMO)
    mid = DECEMBER + 20 * 86400
    assert budget.spacing(mid) == pytest.approx(11 * 86400 + 1)
    assert month_of(mid + budget.spacing(mid)) == "2027-01"
    assert budget.used_in(mid + budget.spacing(mid)) == 0


def test_without_an_allowance_nothing_is_stretched() -> None:
    budget = CallBudget(None)
    budget.record(DECEMBER, 1_000_000)
    assert budget.interval(INTERVAL, DECEMBER) == INTERVAL


@pytest.mark.parametrize(
    ("plan", "setting", "allowance"),
    [
        ("public", None, None),
        ("demo", None, 10_000),
        ("pro", None, None),
        ("pro", 500_000, 500_000),
    ],
)
def test_the_allowance_defaults_by_plan(
    plan: str, setting: int | None, allowance: int | None
) -> None:
    from crypto_rates.config import load_settings

    key = None if plan == "public" else "k"
    settings = load_settings(
        coingecko_api_plan=plan, coingecko_api_key=key, coingecko_monthly_calls=setting
    )
    assert settings.monthly_call_allowance == allowance


def test_december_ends_at_new_year() -> None:
    assert seconds_left_in_month(DECEMBER) == 31 * 86400
    assert json.dumps(month_of(DECEMBER)) == '"2026-12"'
