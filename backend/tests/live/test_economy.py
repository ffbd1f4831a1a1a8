"""Upstream economy: however hard clients hammer the API, the upstream sees one call per refresh
interval (plus bounded retries while it fails). Counted with the fake upstream's call log."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

import httpx
import pytest
from crypto_rates.upstream import MAX_ATTEMPTS
from testkit.fake_coingecko import Call, FakeCoinGecko
from testkit.processes import wait_until

from .support import Launch

INTERVAL_S = 1.0
WINDOW_S = 4.0
TIMER_SLACK_S = 0.05  # asyncio/uvloop timers may fire a millisecond or so early


async def _hammer(url: str, clients: int, seconds: float) -> Counter[int]:
    """`clients` concurrent keep-alive clients requesting /api/v1/rates for `seconds`."""
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as http:
        deadline = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < deadline:
                statuses[(await http.get("/api/v1/rates")).status_code] += 1

        await asyncio.gather(*(client() for _ in range(clients)))
    return statuses


def _calls_during(
    fake: FakeCoinGecko, clients: int, url: str
) -> tuple[list[Call], Counter[int], float]:
    """The upstream calls while `clients` hammer the API for WINDOW_S, the answers' statuses, and
    the window's real length (on a busy machine the last requests end well after WINDOW_S)."""
    started = time.monotonic()
    statuses = asyncio.run(_hammer(url, clients, WINDOW_S))
    ended = time.monotonic()
    return [c for c in fake.call_log if started <= c.at <= ended], statuses, ended - started


@pytest.mark.parametrize("clients", [1, 50])
def test_upstream_sees_one_call_per_interval_whatever_the_client_load(
    fake: FakeCoinGecko, launch: Launch, clients: int
) -> None:
    service = launch(fake)
    wait_until("the first fetch", lambda: service.get("/health/ready").status_code == 200)
    calls, statuses, window_s = _calls_during(fake, clients, service.url)

    assert set(statuses) == {200}
    assert statuses[200] >= 2 * clients, "every client must have been served, repeatedly"
    assert {c.mode for c in calls} == {"ok"}
    # One call per interval: never closer together, never more than the window allows...
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    assert all(gap >= INTERVAL_S - TIMER_SLACK_S for gap in gaps), gaps
    assert len(calls) <= window_s / (INTERVAL_S - TIMER_SLACK_S) + 1
    # ...and the poller keeps polling while serving (not one call per request, not none).
    assert len(calls) >= WINDOW_S / INTERVAL_S - 1


def _cycles(calls: list[Call]) -> list[list[Call]]:
    """Group attempts into refresh cycles: retries come within a quarter interval, cycles an
    interval apart."""
    cycles: list[list[Call]] = []
    for call in calls:
        if cycles and call.at - cycles[-1][-1].at < INTERVAL_S / 2:
            cycles[-1].append(call)
        else:
            cycles.append([call])
    return cycles


def test_a_failing_upstream_gets_bounded_retries_not_a_stampede(
    fake: FakeCoinGecko, launch: Launch
) -> None:
    service = launch(fake)
    wait_until("the first fetch", lambda: service.get("/health/ready").status_code == 200)
    fake.set_mode("500")
    calls, statuses, _ = _calls_during(fake, 50, service.url)

    assert set(statuses) == {200}, "clients are served the last good data meanwhile"
    cycles = _cycles([c for c in calls if c.mode == "500"])
    assert len(cycles) >= 2
    assert all(len(cycle) <= MAX_ATTEMPTS for cycle in cycles), [len(c) for c in cycles]
    assert any(len(cycle) > 1 for cycle in cycles), "a 500 is worth a retry"
    starts = [cycle[0].at for cycle in cycles]
    ends = [cycle[-1].at for cycle in cycles]
    assert all(b - a >= INTERVAL_S - TIMER_SLACK_S for a, b in zip(ends, starts[1:], strict=False))
