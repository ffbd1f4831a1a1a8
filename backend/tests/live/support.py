"""Helpers for suites that run the real service (uvicorn subprocess) against the fake upstream."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest
from crypto_rates.fake_coingecko import FakeCoinGecko
from prometheus_client.parser import text_string_to_metric_families

START_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    """One `python -m crypto_rates` process on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

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

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Launch(Protocol):
    def __call__(self, fake: FakeCoinGecko, **env: str) -> Service: ...


def wait_for(what: str, check: object, timeout_s: float = 15) -> None:
    """Poll `check()` until it is truthy; fail naming `what` after `timeout_s`."""
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")


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
        "API_TIMEOUT": "0.5",
        "SNAPSHOT_PATH": "",
        "SAMPLE_FALLBACK": "false",
        "LOG_FORMAT": "text",
        **env,
    }
    # Nothing from the developer's shell (a real API key, say) leaks into the service.
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COINGECKO_", "CRYPTO_RATES_", "CACHE_", "REFRESH_", "SNAPSHOT_"))
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "crypto_rates"],
            env={**inherited, **settings},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    service = Service(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"service exited with {process.returncode}:\n{service.log()}")
        try:
            if service.get("/health/live").status_code == 200:
                return service
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    service.stop()
    pytest.fail(f"service did not come up within {START_TIMEOUT_S} s:\n{service.log()}")
