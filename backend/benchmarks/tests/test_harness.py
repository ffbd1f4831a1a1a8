"""The benchmark harness reads wrk right, and its re-created old design behaves like the old one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from flask.testing import FlaskClient
from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import wait_until

from benchmarks import floor_app, old_design
from benchmarks.procfs import tree_cpu_seconds, tree_pids, tree_rss_bytes
from benchmarks.wrk import WrkError, WrkResult, parse_wrk_output, run_wrk

OldClient = tuple[FakeCoinGecko, FlaskClient]

WRK_OUTPUT = """\
Running 8s test @ http://127.0.0.1:8000/api/v1/rates
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.49ms    1.12ms  10.83ms   74.54%
    Req/Sec    14.14k   140.20    15.20k    72.73%
  Latency Distribution
     50%  850.00us
     75%    4.10ms
     90%    4.79ms
     99%    1.02s
  112470 requests in 8.10s, 652.45MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:  13885.19
Transfer/sec:     80.55MB
"""


def test_wrk_report_is_read_with_units() -> None:
    result = parse_wrk_output(WRK_OUTPUT)
    assert result.requests == 112470
    assert result.duration_s == pytest.approx(8.10)
    assert result.bytes_read == round(652.45 * 1024 * 1024)
    assert result.requests_per_s == pytest.approx(13885.19)
    assert result.p50_s == pytest.approx(850e-6)
    assert result.p90_s == pytest.approx(4.79e-3)
    assert result.p99_s == pytest.approx(1.02)
    assert (result.socket_errors, result.non_2xx_3xx, result.errors) == (5, 7, 12)


def test_clean_wrk_report_has_no_errors() -> None:
    clean = "\n".join(
        line for line in WRK_OUTPUT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    assert parse_wrk_output(clean).errors == 0


def test_wrk_report_without_latency_distribution_is_refused() -> None:
    without = WRK_OUTPUT.replace("99%    1.02s", "")
    with pytest.raises(WrkError, match="--latency"):
        parse_wrk_output(without)


@pytest.mark.parametrize(
    ("duration_s", "connections", "message"),
    [(0, 1, "duration"), (3600, 1, "duration"), (1, 100_000, "connections")],
)
def test_wrk_runs_are_bounded(duration_s: int, connections: int, message: str) -> None:
    with pytest.raises(WrkError, match=message):
        run_wrk("http://127.0.0.1:1/", duration_s=duration_s, connections=connections)


def test_wrk_only_targets_loopback() -> None:
    with pytest.raises(WrkError, match="loopback"):
        run_wrk("http://10.0.0.1/", duration_s=1, connections=1)


def test_tree_rss_counts_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in tree_pids(os.getpid())
        assert tree_rss_bytes(os.getpid()) > tree_rss_bytes(child.pid) > 0
    finally:
        child.kill()
        child.wait()


def test_tree_cpu_time_counts_a_busy_child() -> None:
    spin = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    idle = "import time; time.sleep(30)"
    busy = subprocess.Popen([sys.executable, "-c", spin + "\n" + idle])
    try:
        wait_until("0.3 s of CPU", lambda: tree_cpu_seconds(busy.pid) >= 0.3, timeout_s=10)
        assert tree_cpu_seconds(os.getpid()) >= tree_cpu_seconds(busy.pid) >= 0.3
    finally:
        busy.kill()
        busy.wait()


async def test_floor_app_answers_the_given_bytes_on_any_path() -> None:
    app = floor_app.make_app(b'{"count":1}')
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://floor") as client:
        response = await client.get("/anything")
    assert response.status_code == 200
    assert response.content == b'{"count":1}'
    assert response.headers["content-type"] == "application/json"


@pytest.fixture
def old_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[OldClient]:
    with FakeCoinGecko() as fake:
        monkeypatch.setattr(old_design, "UPSTREAM", fake.url)
        monkeypatch.setattr(old_design, "_cache", {"rates": None, "fetched_at": 0.0})
        yield fake, old_design.app.test_client()


def test_old_design_fetches_in_the_request_then_serves_its_cache(old_client: OldClient) -> None:
    fake, client = old_client
    first = client.get("/api/rates").get_json()
    second = client.get("/api/rates").get_json()
    assert (first["cache_status"], second["cache_status"]) == ("fresh", "cached")
    assert first["total_currencies"] == 61
    assert fake.calls == 1


def test_old_design_refetches_after_its_cache_expires(
    old_client: OldClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, client = old_client
    client.get("/api/rates")
    monkeypatch.setattr(old_design, "CACHE_DURATION", 0)
    fake.set_mode("500")
    assert client.get("/api/rates").get_json()["cache_status"] == "stale"
    assert fake.calls == 2
    assert b"crypto_app_requests_total" in client.get("/metrics").data


def test_deployed_report_judges_nginx_on_per_round_ratios() -> None:
    from benchmarks import deployed

    def row(case: str, rps: list[float], p99: float, reached: float | None) -> dict[str, object]:
        return {
            "case": case,
            "rounds": [{"requests_per_s": r} for r in rps],
            "requests_per_s": sorted(rps)[1],
            "p50_s": 0.001,
            "p99_s": p99,
            "errors": 0,
            "backend_requests": reached,
            "backend_requests_per_s": None if reached is None else reached / 24,
        }

    rows = [
        row("through nginx (micro-cache)", [10, 40, 16], 0.004, 24),
        row("nginx static file, same bytes", [20, 50, 20], 0.002, None),
        row("backend direct", [5, 5, 5], 0.02, None),
    ]
    table, checks = deployed.report(rows)  # type: ignore[arg-type]
    assert "| through nginx (micro-cache) | 16 | 0.80 |" in table
    (_, ok_ratio, _), (_, ok_p99, _), (_, ok_backend, backend) = checks
    assert ok_ratio and "0.80x (rounds: 0.50, 0.80, 0.80)" in checks[0][2]
    assert ok_p99 and ok_backend and backend == "24 requests, 1.0/s"
    rows[0]["p99_s"] = 0.011
    rows[0]["rounds"] = [{"requests_per_s": r} for r in (10, 20, 13)]
    assert [ok for _, ok, _ in deployed.report(rows)[1]] == [False, False, True]  # type: ignore[arg-type]


def _wrk(rps: float, p99_s: float, requests: int = 1000, non_ok: int = 0) -> WrkResult:
    return WrkResult(requests, 8.0, 1, rps, 0.001, 0.002, 0.003, p99_s, 0, non_ok)


def test_each_endpoint_row_is_judged_on_its_multiple_and_its_p99() -> None:
    from benchmarks.run import Case, row_verdict

    case = Case("one rate", "ours", "/api/v1/rates/eth", target=1.5)
    case.rounds = [_wrk(rps, 0.010) for rps in (1400, 1600, 1800)]
    assert row_verdict(case, old_rps=1000).startswith("ok (>= 1.5x old")
    assert row_verdict(case, old_rps=1100).startswith("MISS throughput (")  # 1600 < 1.5 x 1100
    case.rounds[1] = _wrk(1600, 0.030)
    case.rounds[2] = _wrk(1800, 0.030)
    assert row_verdict(case, old_rps=1000).startswith("MISS p99 (")  # median p99 30 ms
    assert row_verdict(case, old_rps=1100).startswith("MISS throughput, p99 (")
    assert row_verdict(Case("floor", "floor", "/"), old_rps=1000) == ""


def test_an_error_case_counts_the_answers_that_are_not_errors() -> None:
    from benchmarks.run import Case

    missing = Case("404", "ours", "/api/v1/rates/xyz", status=404)
    missing.rounds = [_wrk(1000, 0.01, requests=1000, non_ok=1000)]
    assert missing.errors() == 0
    missing.rounds.append(_wrk(1000, 0.01, requests=1000, non_ok=990))
    assert missing.errors() == 10
    ok = Case("rates", "ours", "/api/v1/rates")
    ok.rounds = [_wrk(1000, 0.01, requests=1000, non_ok=3)]
    assert ok.errors() == 3
