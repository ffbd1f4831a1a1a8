"""`python -m crypto_rates`: real uvicorn on 127.0.0.1 against the fake upstream, and its exits."""

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from crypto_rates import __main__ as entrypoint
from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import wait_until

from .live.support import start_service


@pytest.fixture
def upstream() -> Iterator[FakeCoinGecko]:
    with FakeCoinGecko() as server:
        yield server


def test_real_http_serves_upstream_data_with_caching_headers(
    upstream: FakeCoinGecko, tmp_path: Path
) -> None:
    service = start_service(upstream, tmp_path / "service.log", LOG_LEVEL="debug")
    try:
        wait_until("first snapshot", lambda: service.get("/health/ready").status_code == 200)
        response = service.get("/api/v1/rates", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        body = response.json()
        assert body["source"] == "coingecko" and body["count"] == 61
        etag = response.headers["etag"]
        assert service.get("/api/v1/rates", headers={"If-None-Match": etag}).status_code == 304
        assert service.get("/api/rates").json()["data_source"] == "coingecko"
        assert "server" not in response.headers
    finally:
        assert service.stop() == 0
    assert "crypto_rates.access" in service.log()  # LOG_LEVEL=debug turns on request logs


def test_sigterm_shuts_down_cleanly_and_quickly(upstream: FakeCoinGecko, tmp_path: Path) -> None:
    service = start_service(upstream, tmp_path / "service.log")
    wait_until("first snapshot", lambda: service.get("/health/ready").status_code == 200)
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=10) == 0
    log = service.log()
    assert "Application shutdown complete" in log
    assert "Task was destroyed" not in log
    assert "Traceback" not in log


def test_the_api_key_never_reaches_logs_or_responses(
    upstream: FakeCoinGecko, tmp_path: Path
) -> None:
    key = "CG-topsecret-1234"
    service = start_service(
        upstream,
        tmp_path / "service.log",
        COINGECKO_API_PLAN="demo",
        COINGECKO_API_KEY=key,
        LOG_LEVEL="debug",
        LOG_FORMAT="json",
    )
    try:
        wait_until("first snapshot", lambda: service.get("/health/ready").status_code == 200)
        seen = [service.get(path).text for path in ("/", "/health", "/api/v1/rates", "/metrics")]
    finally:
        service.stop()
    assert upstream.last_headers is not None
    assert upstream.last_headers["x-cg-demo-api-key"] == key  # it was used...
    assert not [text for text in seen if key in text]  # ...and never shown
    assert key not in service.log()


def test_invalid_configuration_exits_with_one_clear_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crypto_rates"],
        env={"PORT": "eighty", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("crypto-rates: invalid configuration: PORT: ")
    assert "'eighty'" in lines[0]


def test_main_builds_uvicorn_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[uvicorn.Config] = []
    handlers: dict[int, object] = {}
    monkeypatch.setattr(entrypoint.Server, "run", lambda self: started.append(self.config))
    # main() installs process signal handlers; keep them away from pytest's own
    monkeypatch.setattr(entrypoint.signal, "signal", lambda sig, h: handlers.setdefault(sig, h))
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("SNAPSHOT_PATH", "")
    monkeypatch.setenv("LOG_FORMAT", "text")
    assert entrypoint.main() == 0
    (config,) = started
    assert (config.host, config.port) == ("127.0.0.1", 8123)
    assert config.access_log is False
    assert (config.loop, config.http) == ("uvloop", entrypoint.HttpProtocol)
    assert set(handlers) == {signal.SIGTERM, signal.SIGINT}


def test_main_refuses_bad_settings_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REFRESH_INTERVAL", "10")
    assert entrypoint.main() == 2
    err = capsys.readouterr().err
    assert "REFRESH_INTERVAL must be at least 60 seconds" in err and "Traceback" not in err


def test_a_signal_fails_readiness_before_uvicorn_drains() -> None:
    from crypto_rates.config import Settings
    from crypto_rates.main import create_app

    app = create_app(Settings(snapshot_path=None))
    server = entrypoint.Server(uvicorn.Config(app), app.state.runtime)
    server.handle_exit(signal.SIGTERM, None)
    assert app.state.runtime.shutting_down
    assert server.should_exit


def test_live_and_ready_are_distinct_over_http(upstream: FakeCoinGecko, tmp_path: Path) -> None:
    upstream.set_mode("500")
    service = start_service(upstream, tmp_path / "service.log")
    try:
        assert service.get("/health/live").status_code == 200
        ready = service.get("/health/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        rates = service.get("/api/v1/rates")
        assert rates.status_code == 503 and rates.headers["retry-after"]
        upstream.set_mode("ok")
        wait_until("recovery", lambda: service.get("/health/ready").status_code == 200)
        assert isinstance(service.get("/api/v1/rates").json()["rates"], list)
    finally:
        service.stop()


def test_a_request_too_long_to_parse_gets_a_problem_not_plain_text(
    upstream: FakeCoinGecko, tmp_path: Path
) -> None:
    service = start_service(upstream, tmp_path / "service.log")
    try:
        port = int(service.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"GET /api/v1/rates?q=" + b"x" * 100_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):  # the server closes the connection after answering
                answer += chunk
    finally:
        service.stop()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    assert b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 400 and "80 KB" in problem["detail"], problem
