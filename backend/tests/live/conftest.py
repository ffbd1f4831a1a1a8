"""Fixtures for suites that run the real service (uvicorn subprocess) against the fake upstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit.fake_coingecko import FakeCoinGecko

from .support import Launch, Service, start_service


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Launch]:
    """Start the service pointed at a fake upstream; every one started is stopped afterwards."""
    started: list[Service] = []

    def start(fake: FakeCoinGecko, **env: str) -> Service:
        service = start_service(fake, tmp_path / f"service-{len(started)}.log", **env)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def fake() -> Iterator[FakeCoinGecko]:
    with FakeCoinGecko() as server:
        yield server
