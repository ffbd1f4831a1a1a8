"""Three replicas on one PostgreSQL and one fake CoinGecko: one poller for all of them.

They make one upstream call per interval (not three), serve the same ETag within 2 s of each
refresh, survive the poller being killed (another takes over within an interval), keep the history
through restarting all three, and come through a PostgreSQL restart.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit.fake_coingecko import FakeCoinGecko
from testkit.postgres import PASSWORD, PostgresServer
from testkit.processes import wait_until

from .support import Launch, Service

INTERVAL = 3.0
FOLLOW_S = 2.0  # the bound: every replica serves a new snapshot within 2 s


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[PostgresServer, str]]:
    with PostgresServer() as server:
        yield server, server.create_database("crypto_rates")


def start_three(launch: Launch, fake: FakeCoinGecko, url: str) -> list[Service]:
    env = {"DATABASE_URL": url, "REFRESH_INTERVAL": f"{INTERVAL:g}", "API_TIMEOUT": "1"}
    return [launch(fake, **env) for _ in range(3)]


def roles(services: list[Service]) -> list[str | None]:
    return [s.get("/health").json()["database"]["role"] for s in services]


def etags(services: list[Service]) -> set[str]:
    return {s.get("/api/v1/rates").headers.get("etag", "") for s in services}


def one_poller(services: list[Service]) -> Service:
    def found() -> Service | None:
        current = roles(services)
        if current.count("poller") == 1 and current.count("follower") == len(services) - 1:
            return services[current.index("poller")]
        return None

    return wait_until("exactly one poller and the rest following", found, timeout_s=20)


def same_etag_after_next_refresh(fake: FakeCoinGecko, services: list[Service]) -> str:
    calls = fake.calls
    wait_until("the next upstream call", lambda: fake.calls > calls, timeout_s=INTERVAL + 5)
    refreshed = time.monotonic()
    agreed = wait_until(
        "the same ETag from every replica",
        lambda: len(tags := etags(services)) == 1 and "" not in tags and tags,
        timeout_s=FOLLOW_S + 1,  # the bound plus the time these requests take
    )
    assert time.monotonic() - refreshed <= FOLLOW_S + 1
    return next(iter(agreed))


def test_three_replicas_share_one_poller(
    fake: FakeCoinGecko, launch: Launch, database: tuple[PostgresServer, str]
) -> None:
    server, url = database
    services = start_three(launch, fake, url)
    wait_until(
        "data everywhere", lambda: all(s.get("/health/ready").status_code == 200 for s in services)
    )
    poller = one_poller(services)

    # One call per interval for the deployment, not one per replica.
    start_calls, started = fake.calls, time.monotonic()
    time.sleep(4 * INTERVAL)
    intervals = (time.monotonic() - started) / INTERVAL
    made = fake.calls - start_calls
    assert 1 <= made <= intervals + 1, f"{made} calls in {intervals:.1f} intervals"

    # Every replica serves the new snapshot, byte for byte the same, soon after each refresh.
    for _ in range(2):
        same_etag_after_next_refresh(fake, services)

    # The shared count and the budget say the same everywhere; no password anywhere.
    healths = [s.get("/health").json() for s in services]
    assert {h["upstream_budget"]["calls_this_month"] for h in healths} != {0}
    for service in services:
        assert PASSWORD not in service.get("/health").text
        assert PASSWORD not in service.get("/metrics").text
        assert PASSWORD not in service.log()

    # The poller killed: another takes over within one interval (plus the takeover tick).
    history_before = poller.get("/api/v1/rates/eth/history").json()["count"]
    assert poller.stop(signal.SIGKILL) == -signal.SIGKILL
    survivors = [s for s in services if s is not poller]
    calls = fake.calls
    wait_until("calls to resume", lambda: fake.calls > calls, timeout_s=2 * INTERVAL + 2)
    one_poller(survivors)
    same_etag_after_next_refresh(fake, survivors)

    # All three restarted: the history is the database's, every point kept.
    for service in survivors:
        service.stop()
    restarted = start_three(launch, fake, url)
    for service in restarted:
        assert service.get("/api/v1/rates/eth/history").json()["count"] >= history_before + 1
    one_poller(restarted)

    # PostgreSQL restarts: everyone keeps serving (polling for itself meanwhile), then they
    # converge on one poller again without being restarted.
    server.stop()
    wait_until(
        "every replica to notice the database is down",
        lambda: roles(restarted) == ["standalone"] * 3,
        timeout_s=15,
    )
    assert all(s.get("/health/ready").status_code == 200 for s in restarted)
    assert all(s.get("/health").json()["database"]["status"] == "down" for s in restarted)
    server.start()
    one_poller(restarted)
    same_etag_after_next_refresh(fake, restarted)
    assert "database reachable again" in restarted[0].log()
