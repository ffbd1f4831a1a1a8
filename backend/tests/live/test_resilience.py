"""Fault injection: the real service serves the last good data through every upstream failure.

One scenario runs once per module (about 30 s): the service polls the fake upstream every second
while a client loop keeps requesting, and the upstream cycles through healthy -> 500s -> hangs past
the timeout -> 429 with Retry-After -> 429 without -> HTML page -> truncated JSON -> JSON of the
wrong shape -> empty map -> healthy with new values. Each test below checks one promise against
what the clients and the upstream recorded.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from testkit.fake_coingecko import Call, FakeCoinGecko
from testkit.processes import wait_until

from .support import Service, start_service

INTERVAL_S = 1.0
STALE_AFTER_S = 2.5
RETRY_AFTER_S = 3
ORIGINAL_ETH = 18.801  # ETH per BTC in the bundled recording
NEW_FACTOR = 1.5
# (mode, Retry-After, seconds). Each phase outlasts the poller's longest wait going into it
# (3 s after a Retry-After: 3), so every mode is actually seen by the service.
PHASES: list[tuple[str, str | None, float]] = [
    ("500", None, 3.0),
    ("timeout", None, 3.0),
    ("429", str(RETRY_AFTER_S), 4.0),
    ("429", None, 4.0),
    ("html", None, 2.5),  # after 429s the last cycle of retries can end 1.6 s late
    ("truncated", None, 2.0),
    ("wrong_shape", None, 2.0),
    ("empty", None, 2.0),
]
METRIC_STATUS = {
    "ok": "success",
    "500": "server_error",
    "429": "rate_limited",
    "timeout": "timeout",
    "html": "invalid_response",
    "truncated": "invalid_response",
    "wrong_shape": "invalid_response",
    "empty": "invalid_response",
}
CLIENT_PATHS = ("/api/v1/rates", "/api/rates", "/health/ready")
# asyncio/uvloop timers may fire a millisecond or so early against another process's clock.
TIMER_SLACK_S = 0.05
# Between the fake recording a call and the service serving its result: scheduling noise only.
SCHEDULING_SLACK_S = 1.0


@dataclass(frozen=True)
class Observation:
    path: str
    started: float  # time.monotonic(), comparable with the fake's call times
    wall_started: float  # time.time(), comparable with the service's fetched_at
    wall_ended: float
    status: int | None
    body: Any
    error: str | None


class ClientLoop:
    """Requests CLIENT_PATHS round and round on a thread until stopped (at most `limit_s`)."""

    def __init__(self, base_url: str, limit_s: float = 120) -> None:
        self.base_url = base_url
        self.limit_s = limit_s
        self.observations: list[Observation] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit_s
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                for path in CLIENT_PATHS:
                    self.observations.append(self._request(client, path))
                self._stop.wait(0.05)

    @staticmethod
    def _request(client: httpx.Client, path: str) -> Observation:
        started, wall_started = time.monotonic(), time.time()
        try:
            response = client.get(path)
        except httpx.HTTPError as exc:
            return Observation(path, started, wall_started, time.time(), None, None, repr(exc))
        body = response.json() if "json" in response.headers.get("content-type", "") else None
        return Observation(
            path, started, wall_started, time.time(), response.status_code, body, None
        )

    def latest(self, path: str) -> Observation | None:
        return next((o for o in reversed(self.observations) if o.path == path), None)

    def __enter__(self) -> ClientLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Scenario:
    observations: list[Observation]
    calls: list[Call]
    outage_started: float  # monotonic
    recovered: float  # monotonic: the moment the upstream turned healthy with new values
    metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    service_log: str

    def seen(self, path: str) -> list[Observation]:
        return [o for o in self.observations if o.path == path]


def eth_value(body: Any) -> float:
    """ETH per BTC in a rates body; NaN (equal to nothing) when the body has no ETH row."""
    if isinstance(body["rates"], dict):  # /api/rates
        return float(body["rates"].get("eth", {}).get("value", math.nan))
    return next((float(row["value"]) for row in body["rates"] if row["code"] == "eth"), math.nan)


def stable_metrics(service: Service, fake: FakeCoinGecko) -> dict[Any, float]:
    """A scrape during which the upstream saw no call, so the two counts can be compared."""
    for _ in range(20):
        before = fake.calls
        metrics = service.metrics()
        if fake.calls == before:
            return metrics
    pytest.fail("the upstream never stayed quiet for the length of one /metrics scrape")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    log_path: Path = tmp_path_factory.mktemp("resilience") / "service.log"
    with FakeCoinGecko() as fake:
        service = start_service(fake, log_path, STALE_AFTER=str(STALE_AFTER_S))
        try:
            wait_until(
                "the first good fetch", lambda: service.get("/api/v1/rates").status_code == 200
            )
            with ClientLoop(service.url) as loop:
                time.sleep(INTERVAL_S)  # healthy for a moment, then the outage
                outage_started = time.monotonic()
                for mode, retry_after, seconds in PHASES:
                    fake.set_mode(mode, retry_after=retry_after)
                    time.sleep(seconds)
                fake.scale(NEW_FACTOR)
                recovered = time.monotonic()
                fake.set_mode("ok")

                def new_values_served() -> bool:
                    latest = loop.latest("/api/v1/rates")
                    return bool(
                        latest
                        and latest.status == 200
                        and latest.started > recovered
                        and eth_value(latest.body) == pytest.approx(ORIGINAL_ETH * NEW_FACTOR)
                    )

                wait_until("the new values after recovery", new_values_served, timeout_s=10)
                time.sleep(INTERVAL_S)
            yield Scenario(
                observations=loop.observations,
                calls=fake.call_log,
                outage_started=outage_started,
                recovered=recovered,
                metrics=stable_metrics(service, fake),
                service_log=service.log(),
            )
        finally:
            service.stop()


def test_every_failure_mode_reached_the_service(scenario: Scenario) -> None:
    modes = {call.mode for call in scenario.calls if call.at > scenario.outage_started}
    assert modes == set(METRIC_STATUS), "a phase was too short for the poller to see its mode"
    assert any(c.mode == "429" and c.retry_after for c in scenario.calls)
    assert any(c.mode == "429" and not c.retry_after for c in scenario.calls)


def test_clients_never_see_a_5xx_or_a_connection_error(scenario: Scenario) -> None:
    assert len(scenario.observations) > 100
    failures = [o for o in scenario.observations if o.error or (o.status or 0) >= 500]
    assert failures == [], scenario.service_log[-3000:]


def test_readiness_stays_up_while_a_snapshot_exists(scenario: Scenario) -> None:
    statuses = {o.status for o in scenario.seen("/health/ready")}
    assert statuses == {200}


def test_the_last_good_data_is_served_throughout_the_outage(scenario: Scenario) -> None:
    # Past the outage's first half second no refresh can succeed, so one fetched_at is served.
    during = [
        o
        for o in scenario.seen("/api/v1/rates")
        if scenario.outage_started + 0.5 < o.started < scenario.recovered
    ]
    assert len(during) > 50
    assert {o.status for o in during} == {200}
    assert len({o.body["fetched_at"] for o in during}) == 1
    assert {o.body["source"] for o in during} == {"coingecko"}
    assert {o.body["count"] for o in during} == {61}
    assert {eth_value(o.body) for o in during} == {ORIGINAL_ETH}
    legacy = [
        o
        for o in scenario.seen("/api/rates")
        if scenario.outage_started + 0.5 < o.started < scenario.recovered
    ]
    assert {eth_value(o.body) for o in legacy} == {ORIGINAL_ETH}
    assert {o.body["total_currencies"] for o in legacy} == {61}


def _age_bounds(observation: Observation, fetched_at: str) -> tuple[float, float]:
    at = datetime.fromisoformat(fetched_at).timestamp()
    return observation.wall_started - at, observation.wall_ended - at


def test_stale_flips_exactly_when_the_data_outlives_stale_after(scenario: Scenario) -> None:
    fresh_checked = stale_checked = 0
    for o in scenario.seen("/api/v1/rates"):
        youngest, oldest = _age_bounds(o, o.body["fetched_at"])
        if oldest < STALE_AFTER_S:
            assert o.body["stale"] is False, o
            fresh_checked += 1
        elif youngest > STALE_AFTER_S:
            assert o.body["stale"] is True, o
            stale_checked += 1
    assert fresh_checked > 10 and stale_checked > 10
    assert scenario.seen("/api/v1/rates")[-1].body["stale"] is False  # fresh again after recovery


def test_legacy_cache_status_follows_the_data_age(scenario: Scenario) -> None:
    seen = set()
    for o in scenario.seen("/api/rates"):
        youngest, oldest = _age_bounds(o, o.body["last_updated"])
        status = o.body["cache_status"]
        if oldest < INTERVAL_S:
            assert status == "fresh", o
        elif youngest > INTERVAL_S and oldest < STALE_AFTER_S:
            assert status == "cached", o
        elif youngest > STALE_AFTER_S:
            assert status == "stale", o
        seen.add(status)
    assert seen == {"fresh", "cached", "stale"}


def test_retry_after_is_respected(scenario: Scenario) -> None:
    checked = 0
    for call, following in itertools.pairwise(scenario.calls):
        if call.mode == "429" and call.retry_after is not None:
            waited = following.at - call.at
            assert waited >= float(call.retry_after) - TIMER_SLACK_S, (call, following)
            checked += 1
    assert checked >= 1


def test_new_values_appear_within_one_interval_after_recovery(scenario: Scenario) -> None:
    first_new = next(
        o
        for o in scenario.seen("/api/v1/rates")
        if o.status == 200 and eth_value(o.body) == pytest.approx(ORIGINAL_ETH * NEW_FACTOR)
    )
    assert first_new.started > scenario.recovered  # never before the upstream changed
    after = [c for c in scenario.calls if c.at > scenario.recovered]
    assert after[0].mode == "ok"
    # The poller waits one interval after the last failure; its first call then brings the values
    # and the clients see them before the next call.
    assert after[0].at - scenario.recovered <= INTERVAL_S + SCHEDULING_SLACK_S
    assert [c for c in after if c.at < first_new.started] == after[:1]
    assert all(
        eth_value(o.body) == pytest.approx(ORIGINAL_ETH * NEW_FACTOR)
        for o in scenario.seen("/api/v1/rates")
        if o.started > first_new.started
    )


def test_metrics_count_every_upstream_attempt_by_kind(scenario: Scenario) -> None:
    expected: dict[str, int] = {}
    for call in scenario.calls:
        status = METRIC_STATUS[call.mode]
        expected[status] = expected.get(status, 0) + 1
    counted = {
        dict(labels)["status"]: int(value)
        for (name, labels), value in scenario.metrics.items()
        if name == "coingecko_api_calls_total"
    }
    assert {k: v for k, v in counted.items() if v} == expected
    refreshes = {
        dict(labels)["outcome"]: value
        for (name, labels), value in scenario.metrics.items()
        if name == "crypto_rates_refreshes_total"
    }
    assert refreshes["failure"] >= len(PHASES) and refreshes["success"] >= 2
    assert scenario.metrics[("crypto_rates_snapshot_available", ())] == 1
