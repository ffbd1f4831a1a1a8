"""`make bench`: every endpoint of our service vs the bare ASGI floor vs the old Flask design.

Every server runs as its own process on 127.0.0.1, each pointed at its own fake CoinGecko; wrk (a
separate process) drives one at a time. Rounds are interleaved so drift on this shared machine hits
every case alike; the table shows medians and ratios to the floor measured in the same run.
Then the upstream-economy phase counts upstream calls under 1 and 50 clients at a short interval,
then the deployed path (nginx -> backend vs nginx static vs backend direct, benchmarks.deployed),
and the request metrics' own cost per request is measured in-process (benchmarks.instrumentation).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from testkit.fake_coingecko import FakeCoinGecko
from testkit.processes import ServerProcess, free_port, http_get

from . import deployed, instrumentation
from .procfs import PeakRssSampler, stolen_seconds, tree_cpu_seconds
from .wrk import WrkResult, run_wrk

BACKEND_DIR = Path(__file__).resolve().parents[1]
MB = 1024 * 1024

# The targets (issue 12: the request metrics are prometheus-fastapi-instrumentator's, a cost
# accepted over issue 7's 0.6x of the floor; the floor stays in the table as the reference).
OLD_DESIGN_MULTIPLE_TARGET = 2.5
P99_TARGET_S = 0.025
# Issue 28: every other endpoint, as multiples of the old design's /api/rates throughput.
API_MULTIPLE_TARGET = 1.5
HEALTH_MULTIPLE_TARGET = 2.0
RSS_TARGET_BYTES = 120 * MB


@dataclass
class Case:
    name: str
    server: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200  # what every answer must be (checked once before the rounds)
    target: float | None = None  # the least multiple of the old design's /api/rates req/s
    rounds: list[WrkResult] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # the server's CPU time per request
    stolen: list[float] = field(default_factory=list)  # stolen CPU-seconds per second

    def median(self, attribute: str) -> float:
        return statistics.median(float(getattr(r, attribute)) for r in self.rounds)

    def round_errors(self, result: WrkResult) -> int:
        """Socket errors plus answers of the wrong class (wrk counts only non-2xx/3xx ones)."""
        if self.status < 400:
            return result.errors
        return result.socket_errors + result.requests - result.non_2xx_3xx

    def errors(self) -> int:
        return sum(self.round_errors(r) for r in self.rounds)


def endpoint_cases() -> list[Case]:
    """Every public endpoint besides the two hottest (issue 28), with its target."""
    api, health = API_MULTIPLE_TARGET, HEALTH_MULTIPLE_TARGET
    convert = "/api/v1/convert?from=eth&to=usd"
    return [
        Case("ours GET /api/v1/rates/eth", "ours", "/api/v1/rates/eth", target=api),
        Case(
            "ours GET /api/v1/rates/eth?base=usd", "ours", "/api/v1/rates/eth?base=usd", target=api
        ),
        Case("ours GET /api/v1/convert", "ours", convert + "&amount=2", target=api),
        Case(
            "ours GET /api/v1/rates/eth/history?base=usd",
            "ours",
            "/api/v1/rates/eth/history?base=usd",
            target=api,
        ),
        Case("ours GET /health", "ours", "/health", target=health),
        Case("ours GET /health/ready", "ours", "/health/ready", target=health),
        Case("ours 404 unknown code", "ours", "/api/v1/rates/xyz", status=404, target=api),
        Case("ours 422 amount=-1", "ours", convert + "&amount=-1", status=422, target=api),
    ]


def check_statuses(cases: list[Case], servers: dict[str, ServerProcess]) -> None:
    for case in cases:
        status = http_get(base_url(servers[case.server]) + case.path, case.headers, 10)[0]
        if status != case.status:
            raise SystemExit(f"{case.name}: answered {status}, expected {case.status}")


def _env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BACKEND_DIR), env.get("PYTHONPATH")]))
    env.update(overrides)
    return env


def ours(fake: FakeCoinGecko, log_dir: Path, name: str = "ours", **extra: str) -> ServerProcess:
    """Our service as deployed: `python -m crypto_rates`, production middleware and defaults,
    its database the default SQLite file (in a directory of its own: each server starts empty)."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix=f"{name}-data-", dir=log_dir))
    env = _env(
        HOST="127.0.0.1",
        PORT=str(port),
        COINGECKO_BASE_URL=fake.url,
        CRYPTO_RATES_ALLOW_TEST_UPSTREAM="1",  # the fake speaks plain http
        SNAPSHOT_PATH=str(data_dir / "snapshot.json"),
        SAMPLE_FALLBACK="false",
        **extra,
    )
    return ServerProcess(
        name,
        [sys.executable, "-m", "crypto_rates"],
        f"http://127.0.0.1:{port}/health/ready",
        env,
        log_dir,
    )


def backfilled(server: ServerProcess, fake: FakeCoinGecko, timeout_s: float = 300) -> str:
    """Wait until SERVER's history backfill has finished (its log says so), so that the rounds run
    and the peak RSS is sampled with the whole archive in memory: a year of daily and 90 days of
    hourly points for every unit (issue 29). Returns what was loaded, for the table."""
    started = time.monotonic()
    assert server.log_path is not None
    while "backfill finished" not in server.log_path.read_text(errors="replace"):
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"ours: no 'backfill finished' in {server.log_path} in {timeout_s} s")
        time.sleep(0.5)
    status, _, body = http_get(base_url(server) + "/api/v1/rates/usd/history?range=1y", timeout=10)
    if status != 200:
        raise SystemExit(f"ours: the USD history of a year answered {status}")
    points = len(json.loads(body)["points"])
    return (
        f"{len(fake.history_calls)} market_chart calls in {time.monotonic() - started:.0f} s; "
        f"USD over 1 y: {points} points"
    )


def floor(body_file: Path, log_dir: Path) -> ServerProcess:
    port = free_port()
    command = [sys.executable, "-m", "benchmarks.floor_app", "--port", str(port)]
    return ServerProcess(
        "floor",
        [*command, "--body", str(body_file)],
        f"http://127.0.0.1:{port}/",
        _env(),
        log_dir,
    )


def old_design(fake: FakeCoinGecko, log_dir: Path, cache_s: float = 300) -> ServerProcess:
    port = free_port()
    workers = os.cpu_count() or 1  # as it was deployed: sync workers, one per core
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    command = [gunicorn, "--workers", str(workers), "--worker-class", "sync"]
    return ServerProcess(
        "old-design",
        [*command, "--bind", f"127.0.0.1:{port}", "benchmarks.old_design:app"],
        f"http://127.0.0.1:{port}/health",
        _env(COINGECKO_BASE_URL=fake.url, CACHE_DURATION=str(cache_s)),
        log_dir,
    )


def base_url(server: ServerProcess) -> str:
    return "/".join(server.ready_url.split("/", 3)[:3])  # http://127.0.0.1:PORT


def machine() -> dict[str, str]:
    cpuinfo: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        cpuinfo.setdefault(key.strip(), value.strip())
    cpu = f"{cpuinfo.get('model name', 'unknown')}, {cpuinfo.get('cpu MHz', '?')} MHz"
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    packages = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "flask", "gunicorn")
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "os": platform.freedesktop_os_release().get("PRETTY_NAME", platform.system()),
        "python": platform.python_version(),
        "wrk": (wrk.stdout or wrk.stderr).split("[")[0].strip(),
        "load average at start": " ".join(f"{n:.2f}" for n in os.getloadavg()),
        **{name: version(name) for name in packages},
    }


def measure(cases: list[Case], servers: dict[str, ServerProcess], args: argparse.Namespace) -> None:
    check_statuses(cases, servers)
    for case in cases:  # warm-up: JIT-free, but caches, pools and the first upstream fetch
        url = base_url(servers[case.server]) + case.path
        run_wrk(url, duration_s=args.warmup, connections=args.connections, headers=case.headers)
    for round_no in range(1, args.rounds + 1):
        for case in cases:
            server = servers[case.server]
            cpu, stolen = tree_cpu_seconds(server.pid), stolen_seconds()
            result = run_wrk(
                base_url(server) + case.path,
                duration_s=args.duration,
                connections=args.connections,
                headers=case.headers,
            )
            case.rounds.append(result)
            case.cpu_us.append((tree_cpu_seconds(server.pid) - cpu) / result.requests * 1e6)
            case.stolen.append((stolen_seconds() - stolen) / result.duration_s)
            print(
                f"  round {round_no}/{args.rounds} {case.name:<34} "
                f"{result.requests_per_s:>9.0f} req/s  p99 {result.p99_s * 1000:6.2f} ms  "
                f"errors {case.round_errors(result)}  CPU {case.cpu_us[-1]:6.1f} us/req  "
                f"stolen {case.stolen[-1]:.2f}",
                flush=True,
            )


def economy(args: argparse.Namespace, log_dir: Path) -> list[dict[str, Any]]:
    """Upstream calls while 1 or 50 clients hammer each design at a short refresh interval."""
    rows = []
    interval = args.economy_interval
    window = args.economy_intervals * interval
    with FakeCoinGecko() as fake:
        designs = [
            (
                "ours /api/v1/rates",
                ours(
                    fake,
                    log_dir,
                    "ours-economy",
                    REFRESH_INTERVAL=str(interval),
                    CRYPTO_RATES_ALLOW_FAST_REFRESH="1",
                ),
                "/api/v1/rates",
            ),
            ("old design /api/rates", old_design(fake, log_dir, cache_s=interval), "/api/rates"),
        ]
        for label, server, path in designs:
            with server:
                for clients in (1, 50):
                    before = fake.calls
                    result = run_wrk(
                        base_url(server) + path, duration_s=window, connections=clients
                    )
                    calls = fake.calls - before
                    rows.append(
                        {
                            "design": label,
                            "clients": clients,
                            "seconds": window,
                            "refresh_interval_s": interval,
                            "requests": result.requests,
                            "upstream_calls": calls,
                            "calls_per_interval": calls / args.economy_intervals,
                        }
                    )
                    print(
                        f"  economy {label:<24} {clients:>2} clients: {result.requests} requests,"
                        f" {calls} upstream calls in {window} s (interval {interval} s)",
                        flush=True,
                    )
    return rows


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def row_verdict(case: Case, old_rps: float) -> str:
    """`ok`/`MISS` for a row with a target: its multiple of the old design and its p99."""
    if case.target is None:
        return ""
    missed = [
        name
        for name, ok in (
            ("throughput", case.median("requests_per_s") >= case.target * old_rps),
            ("p99", case.median("p99_s") < P99_TARGET_S),
        )
        if not ok
    ]
    verdict = f"MISS {', '.join(missed)}" if missed else "ok"
    return f"{verdict} (>= {case.target:g}x old, p99 < {_ms(P99_TARGET_S)} ms)"


def report(
    cases: list[Case], peaks: dict[str, int], calls: dict[str, int], rows: list[dict[str, Any]]
) -> tuple[str, list[str]]:
    by_name = {case.name: case for case in cases}
    floor_rps = by_name["floor (bare ASGI)"].median("requests_per_s")
    old_rps = by_name["old design GET /api/rates"].median("requests_per_s")
    lines = [
        "| case | req/s (median) | vs floor | vs old | p50 ms | p99 ms | errors | peak RSS MB "
        "| CPU µs/req | stolen CPU s/s | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case in cases:
        rps = case.median("requests_per_s")
        lines.append(
            f"| {case.name} | {rps:.0f} | {rps / floor_rps:.2f} | {rps / old_rps:.2f} | "
            f"{_ms(case.median('p50_s'))} | {_ms(case.median('p99_s'))} | {case.errors()} | "
            f"{peaks[case.server] / MB:.1f} | {statistics.median(case.cpu_us):.0f} | "
            f"{statistics.median(case.stolen):.2f} | {row_verdict(case, old_rps)} |"
        )
    lines += [
        "",
        "Upstream calls during the throughput rounds (5-minute interval/cache): "
        + ", ".join(f"{name} {count}" for name, count in calls.items()),
        "",
        "| upstream economy | clients | seconds | interval s | requests | upstream calls | "
        "calls per interval |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['design']} | {row['clients']} | {row['seconds']} | "
            f"{row['refresh_interval_s']} | {row['requests']} | {row['upstream_calls']} | "
            f"{row['calls_per_interval']:.2f} |"
        )

    v1 = by_name["ours GET /api/v1/rates"]
    ours_cases = [case for case in cases if case.server == "ours"]
    worst_p99 = max(case.median("p99_s") for case in ours_cases)
    floor_p99 = by_name["floor (bare ASGI)"].median("p99_s")
    ours_errors = sum(case.errors() for case in ours_cases)
    endpoint_misses = [case.name for case in cases if row_verdict(case, old_rps).startswith("MISS")]
    checks = [
        (
            f"/api/v1/rates at >= {OLD_DESIGN_MULTIPLE_TARGET:g}x the old design (1 worker vs "
            f"{os.cpu_count()})",
            v1.median("requests_per_s") / old_rps >= OLD_DESIGN_MULTIPLE_TARGET,
            f"{v1.median('requests_per_s') / old_rps:.1f}x "
            f"(floor ratio {v1.median('requests_per_s') / floor_rps:.2f}x)",
        ),
        (
            f"p99 < {_ms(P99_TARGET_S)} ms on every route of ours",
            worst_p99 < P99_TARGET_S,
            # The floor's tail in the same run tells the machine's noise from the service's.
            f"worst {_ms(worst_p99)} ms (floor: {_ms(floor_p99)} ms)",
        ),
        (
            f"peak RSS < {RSS_TARGET_BYTES // MB} MB",
            peaks["ours"] < RSS_TARGET_BYTES,
            f"{peaks['ours'] / MB:.1f} MB",
        ),
        ("no errors or unexpected statuses on ours", ours_errors == 0, f"{ours_errors} errors"),
        (
            f"every endpoint at its target (/api/v1 >= {API_MULTIPLE_TARGET:g}x the old design, "
            f"/health* >= {HEALTH_MULTIPLE_TARGET:g}x, p99 < {_ms(P99_TARGET_S)} ms)",
            not endpoint_misses,
            ", ".join(endpoint_misses) or "all rows ok",
        ),
    ]
    economy_ours = [row for row in rows if row["design"].startswith("ours")]
    if economy_ours:
        counts = [row["upstream_calls"] for row in economy_ours]
        checks.append(
            (
                "upstream calls do not grow with clients (ours, 1 vs 50)",
                max(counts) - min(counts) <= 1,
                " vs ".join(str(c) for c in counts),
            )
        )
    misses = [f"MISS {name}: {value}" for name, ok, value in checks if not ok]
    lines += ["", *(f"{'ok  ' if ok else 'MISS'} {name}: {value}" for name, ok, value in checks)]
    return "\n".join(lines), misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per case (median taken)")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk round")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per case")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--economy-interval", type=int, default=2, help="refresh interval, s")
    parser.add_argument("--economy-intervals", type=int, default=5, help="intervals per count")
    parser.add_argument(
        "--instrumentation-requests", type=int, default=20000, help="in-process requests per path"
    )
    parser.add_argument("--out", type=Path, default=Path(".bench"), help="results and logs")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (the table reports medians)")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install -y wrk; `make bench` does this)")

    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    log_dir = args.out / "logs"
    shutil.rmtree(log_dir, ignore_errors=True)  # servers append to their logs: this run's only
    description = machine()
    print("machine: " + "; ".join(f"{k} {v}" for k, v in description.items()), flush=True)

    with FakeCoinGecko() as fake_ours, FakeCoinGecko() as fake_old:
        # the backfill at 600 calls a minute, so the archive is whole within a minute
        servers = {"ours": ours(fake_ours, log_dir, BACKFILL_CALLS_PER_MINUTE="600")}
        with servers["ours"]:
            archive = backfilled(servers["ours"], fake_ours)
            print(f"ours: history backfilled ({archive})", flush=True)
            description["history archive"] = archive
            ours_url = base_url(servers["ours"])
            status, headers, body = http_get(ours_url + "/api/v1/rates", timeout=10)
            etag = headers.get("etag")
            if status != 200 or not etag:
                raise SystemExit(f"ours /api/v1/rates answered {status} without an ETag")
            if http_get(ours_url + "/api/v1/rates", {"If-None-Match": etag}, 10)[0] != 304:
                raise SystemExit("ours /api/v1/rates does not answer If-None-Match with 304")
            body_file = args.out / "floor-body.json"
            body_file.write_bytes(body)  # the floor serves exactly our /api/v1/rates bytes
            servers["floor"] = floor(body_file, log_dir)
            servers["old"] = old_design(fake_old, log_dir)
            with servers["floor"], servers["old"]:
                cases = [
                    Case("floor (bare ASGI)", "floor", "/"),
                    Case("ours GET /api/v1/rates", "ours", "/api/v1/rates"),
                    Case(
                        "ours GET /api/v1/rates (304)",
                        "ours",
                        "/api/v1/rates",
                        {"If-None-Match": etag},
                        status=304,
                    ),
                    Case("ours GET /api/rates", "ours", "/api/rates"),
                    *endpoint_cases(),
                    Case("old design GET /api/rates", "old", "/api/rates"),
                ]
                with (
                    PeakRssSampler(servers["ours"].pid) as rss_ours,
                    PeakRssSampler(servers["floor"].pid) as rss_floor,
                    PeakRssSampler(servers["old"].pid) as rss_old,
                ):
                    measure(cases, servers, args)
                peaks = {"ours": rss_ours.peak, "floor": rss_floor.peak, "old": rss_old.peak}
                calls = {"ours": fake_ours.calls, "old design": fake_old.calls}

    rows = economy(args, log_dir)
    deployed_rows = deployed.measure(args, log_dir, ours, base_url)
    costs = asyncio.run(instrumentation.measure(args.instrumentation_requests))
    table, misses = report(cases, peaks, calls, rows)
    deployed_table, deployed_checks = deployed.report(deployed_rows)
    table += "\n\n" + deployed_table + "\n\n"
    table += "\n".join(
        f"{'ok  ' if ok else 'MISS'} {name}: {value}" for name, ok, value in deployed_checks
    )
    misses += [f"MISS {name}: {value}" for name, ok, value in deployed_checks if not ok]
    table += "\n\nRequest metrics (prometheus-fastapi-instrumentator) per request:\n\n"
    table += instrumentation.report(costs)
    elapsed = time.monotonic() - started
    description["load average at end"] = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"\n{table}\n\n(bench took {elapsed:.0f} s; results in {args.out}/results.json)")
    results = {
        "machine": description,
        "settings": {k: str(v) for k, v in vars(args).items()},
        "cases": [
            {
                "name": c.name,
                "server": c.server,
                "rounds": [asdict(r) for r in c.rounds],
                "status": c.status,
                "target_vs_old": c.target,
                "cpu_us_per_request": c.cpu_us,
                "stolen_cpu_s_per_s": c.stolen,
            }
            for c in cases
        ],
        "peak_rss_bytes": peaks,
        "upstream_calls": calls,
        "economy": rows,
        "deployed": deployed_rows,
        "instrumentation_us": [{**asdict(c), "added_us": c.added_us} for c in costs],
        "misses": misses,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    described = "\n".join(f"- {key}: {value}" for key, value in description.items())
    settings = f"rounds {args.rounds} x {args.duration} s, {args.connections} connections, wrk -t1"
    (args.out / "results.md").write_text(f"{described}\n- {settings}\n\n{table}\n")
    return 1 if misses and args.strict else 0
