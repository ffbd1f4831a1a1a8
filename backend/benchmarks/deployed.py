"""The deployed path in `make bench`: browser -> nginx -> backend, as users reach the API.

Three cases in one run, rounds interleaved, wrk at 64 connections: `/api/v1/rates` through the
project's nginx (frontend/nginx rendered by render.sh, micro-cache at its default TTL), the same
nginx serving the same bytes as a static file, and the backend direct. The backend's own
/metrics counts how many requests reached it during the nginx rounds.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from testkit.fake_coingecko import FakeCoinGecko
from testkit.local_stack import Nginx, run_directory
from testkit.processes import http_get

from .wrk import WrkResult, run_wrk

PATH = "/api/v1/rates"
STATIC = "/bench-static-rates.json"
CONNECTIONS = 64
NGINX_RATIO_TARGET = 0.7  # through nginx vs nginx's static file, issue 13
NGINX_P99_TARGET_S = 0.010


def nginx(backend_url: str, body: bytes) -> tuple[Nginx, Path]:
    """The project's nginx as `make run` starts it (testkit.local_stack) on a free port, with `body`
    at STATIC in its document root; the run directory to remove afterwards."""
    run_dir = run_directory("crypto-rates-bench-nginx-")
    try:
        # one load generator on 127.0.0.1 is not a client to rate-limit
        server = Nginx(backend_url, run_dir, RATE_LIMIT="0")
        static = server.html / STATIC.lstrip("/")
        static.write_bytes(body)
        static.chmod(0o644)  # as the rest of the app: readable by nginx's workers
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return server, run_dir


def backend_requests(backend: str) -> float:
    """crypto_app_requests_total on PATH, from the backend's /metrics."""
    text = http_get(backend + "/metrics")[2].decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "crypto_app_requests_total" and sample.labels.get("handler") == PATH
    )


def measure(
    args: argparse.Namespace, log_dir: Path, ours: Any, base_url: Any
) -> list[dict[str, Any]]:
    """Rows for the report: one per case, medians of the rounds, and the backend's request count
    during the nginx rounds. `ours`/`base_url` are run.py's (kept there, one home)."""
    with FakeCoinGecko() as fake, ours(fake, log_dir, "ours-deployed") as backend_server:
        backend = base_url(backend_server)
        status, _, body = http_get(backend + PATH)
        if status != 200:
            raise SystemExit(f"backend {PATH} answered {status}")
        server, run_dir = nginx(backend, body)
        try:
            server.start()
            front = server.url
            cases = {
                "through nginx (micro-cache)": front + PATH,
                "nginx static file, same bytes": front + STATIC,
                "backend direct": backend + PATH,
            }
            rounds: dict[str, list[WrkResult]] = {name: [] for name in cases}
            reached = 0.0
            for url in cases.values():
                run_wrk(url, duration_s=args.warmup, connections=CONNECTIONS)
            for round_no in range(1, args.rounds + 1):
                for name, url in cases.items():
                    before = backend_requests(backend) if url == front + PATH else 0
                    result = run_wrk(url, duration_s=args.duration, connections=CONNECTIONS)
                    if url == front + PATH:
                        reached += backend_requests(backend) - before
                    rounds[name].append(result)
                    print(
                        f"  deployed round {round_no}/{args.rounds} {name:<30} "
                        f"{result.requests_per_s:>9.0f} req/s  p99 "
                        f"{result.p99_s * 1000:6.2f} ms  errors {result.errors}",
                        flush=True,
                    )
        finally:
            server.stop()
            shutil.rmtree(run_dir, ignore_errors=True)
    seconds = args.rounds * args.duration
    return [
        {
            "case": name,
            "rounds": [vars(r) for r in results],
            "requests_per_s": sorted(r.requests_per_s for r in results)[len(results) // 2],
            "p50_s": sorted(r.p50_s for r in results)[len(results) // 2],
            "p99_s": sorted(r.p99_s for r in results)[len(results) // 2],
            "errors": sum(r.errors for r in results),
            "backend_requests": reached if name.startswith("through") else None,
            "backend_requests_per_s": reached / seconds if name.startswith("through") else None,
        }
        for name, results in rounds.items()
    ]


def report(rows: list[dict[str, Any]]) -> tuple[str, list[tuple[str, bool, str]]]:
    by_case = {row["case"]: row for row in rows}
    static = by_case["nginx static file, same bytes"]["requests_per_s"]
    lines = [
        f"| deployed path, {CONNECTIONS} connections | req/s (median) | vs static | p50 ms | "
        "p99 ms | errors | backend requests |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        reached = row["backend_requests"]
        lines.append(
            f"| {row['case']} | {row['requests_per_s']:.0f} | "
            f"{row['requests_per_s'] / static:.2f} | {row['p50_s'] * 1000:.2f} | "
            f"{row['p99_s'] * 1000:.2f} | {row['errors']} | "
            + ("" if reached is None else f"{reached:.0f} ({row['backend_requests_per_s']:.1f}/s)")
            + " |"
        )
    nginx_row = by_case["through nginx (micro-cache)"]
    # Each round's two nginx cases ran back to back: their ratio is the least disturbed by the
    # machine's drift, so the target is judged on the median of the per-round ratios.
    ratios = sorted(
        a["requests_per_s"] / b["requests_per_s"]
        for a, b in zip(
            nginx_row["rounds"], by_case["nginx static file, same bytes"]["rounds"], strict=True
        )
    )
    ratio = ratios[len(ratios) // 2]
    checks = [
        (
            f"through nginx >= {NGINX_RATIO_TARGET}x nginx's static file (median of per-round "
            "ratios)",
            ratio >= NGINX_RATIO_TARGET,
            f"{ratio:.2f}x (rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
        ),
        (
            f"p99 through nginx <= {NGINX_P99_TARGET_S * 1000:.0f} ms at {CONNECTIONS} connections",
            nginx_row["p99_s"] <= NGINX_P99_TARGET_S,
            f"{nginx_row['p99_s'] * 1000:.2f} ms",
        ),
        (
            "the backend sees a few requests per second during the nginx rounds",
            nginx_row["backend_requests_per_s"] <= 5,
            f"{nginx_row['backend_requests']:.0f} requests, "
            f"{nginx_row['backend_requests_per_s']:.1f}/s",
        ),
    ]
    return "\n".join(lines), checks
