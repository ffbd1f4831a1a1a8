"""The issue's "done when": a fresh service on the fake CoinGecko, BACKFILL_CALLS_PER_MINUTE=600:
within minutes a year of daily and a week of hourly points, for a fiat and a crypto unit; CSV
equal to JSON; the backfill's calls within the budget and the live refresh never held up."""

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit.fake_coingecko import NOT_SUPPORTED, FakeCoinGecko, load_fixture
from testkit.processes import wait_until

from .support import Service, start_service

UNITS = [u for u in load_fixture()["rates"] if u not in NOT_SUPPORTED | {"btc"}]
BACKFILL_CALLS = 1 + 2 * len(UNITS)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Service, FakeCoinGecko]]:
    with FakeCoinGecko() as fake:
        running = start_service(
            fake,
            tmp_path / "service.log",
            BACKFILL="true",
            BACKFILL_CALLS_PER_MINUTE="600",
            DATABASE_URL=f"sqlite:///{tmp_path}/state.db",
        )
        try:
            yield running, fake
        finally:
            running.stop()


def test_a_fresh_start_backfills_a_year_and_serves_it_by_range(
    service: tuple[Service, FakeCoinGecko],
) -> None:
    running, fake = service
    wait_until(
        "the backfill",
        lambda: (
            len(fake.history_calls) >= BACKFILL_CALLS
            and running.get("/api/v1/rates/eth/history?range=1y").json()["count"] >= 365
        ),
        timeout_s=120,
    )
    refreshes_during_backfill = fake.calls
    for code in ("usd", "eth"):
        year = running.get(f"/api/v1/rates/{code}/history?range=1y").json()
        week = running.get(f"/api/v1/rates/{code}/history?range=7d").json()
        assert year["resolution_seconds"] == 86400 and 365 <= year["count"] <= 367
        assert week["resolution_seconds"] == 3600 and 168 <= week["count"] <= 170
        as_csv = running.get(f"/api/v1/rates/{code}/history?range=1y&format=csv").text
        rows = list(csv.DictReader(io.StringIO(as_csv)))
        assert [(r["t"], float(r["value"])) for r in rows] == [
            (p["t"], p["value"]) for p in year["points"]
        ]
    # The live refresh kept its 1 s rhythm meanwhile (the backfill took at least 12 s at 600/min).
    assert refreshes_during_backfill >= 5
    budget = running.get("/health").json()["upstream_budget"]
    assert budget["calls_this_month"] >= BACKFILL_CALLS  # counted with the live calls
    assert len(fake.history_calls) == BACKFILL_CALLS  # done once
