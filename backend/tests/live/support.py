"""Helpers for suites that run the real service (uvicorn subprocess) against the fake upstream."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Protocol

import httpx
from prometheus_client.parser import text_string_to_metric_families
from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import ServerProcess, free_port

START_TIMEOUT_S = 30


class Service(ServerProcess):
    """One `python -m crypto_rates` process on 127.0.0.1, its output in `log_path`."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "crypto_rates"]
        ready_url = self.url + "/health/live"
        super().__init__(log_path.stem, command, ready_url, env, log_path.parent, START_TIMEOUT_S)

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics keyed by (name, sorted labels)."""
        text = self.get("/metrics").text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }


class Launch(Protocol):
    def __call__(self, fake: FakeCoinGecko, **env: str) -> Service: ...


def start_service(fake: FakeCoinGecko, log_path: Path, **env: str) -> Service:
    """`python -m crypto_rates` on a free port, polling `fake` every second (unless `env` says
    otherwise); returns once /health/live answers."""
    port = free_port()
    settings = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "COINGECKO_BASE_URL": fake.url,
        "COINGECKO_API_PLAN": "public",
        "REFRESH_INTERVAL": "1",
        "CRYPTO_RATES_ALLOW_FAST_REFRESH": "1",  # test hook: intervals below 60 s
        "CRYPTO_RATES_ALLOW_TEST_UPSTREAM": "1",  # test hook: the fake speaks plain http
        "API_TIMEOUT": "0.5",
        "SNAPSHOT_PATH": "",
        "SAMPLE_FALLBACK": "false",
        "LOG_FORMAT": "text",
        "BACKFILL": "false",  # its calls would blur what other tests count; its tests turn it on
        **env,
    }
    # Nothing from the developer's shell (a real API key, say) leaks into the service.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COINGECKO_", "CRYPTO_RATES_", "CACHE_", "REFRESH_", "SNAPSHOT_"))
    }
    service = Service(port, {**inherited, **settings}, log_path)
    service.start()
    return service
