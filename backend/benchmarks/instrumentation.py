"""What the request metrics (prometheus-fastapi-instrumentator's middleware) cost per request.

    PYTHONPATH=backend .venv/bin/python -m benchmarks.instrumentation [--requests 20000]

In-process, no socket: the app's front door is called directly with an ASGI scope, once as
deployed (instrumentator outermost) and once without that one layer (the same app's inner front
door), in alternating blocks; the difference of the medians is the layer's cost in µs. `make
bench` prints it beside the wrk table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any

from crypto_rates.config import Settings
from crypto_rates.main import create_app
from crypto_rates.persistence import load_sample
from starlette.types import ASGIApp, Message

PATHS = ("/api/v1/rates", "/api/v1/rates/eth", "/nonexistent")
BLOCKS = 7  # alternating blocks per variant; medians taken


@dataclass
class Cost:
    path: str
    without_us: float
    with_us: float

    @property
    def added_us(self) -> float:
        return self.with_us - self.without_us


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"accept-encoding", b"gzip")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _per_request_us(app: ASGIApp, owner: Any, path: str, requests: int) -> float:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    started = time.perf_counter()
    for _ in range(requests):
        scope = _scope(path)
        scope["app"] = owner  # what CryptoRatesApp.__call__ sets before its front door
        await app(scope, receive, send)
    return (time.perf_counter() - started) / requests * 1e6


async def measure(requests: int) -> list[Cost]:
    app = create_app(
        Settings(
            coingecko_base_url="http://127.0.0.1:9", allow_test_upstream=True, snapshot_path=None
        )
    )
    app.state.runtime.store.replace(load_sample())
    instrumented = app.front  # type: ignore[attr-defined]
    bare = instrumented.app  # the instrumentator's middleware wraps the rest of the front door
    costs = []
    for path in PATHS:
        with_us, without_us = [], []
        await _per_request_us(instrumented, app, path, requests // 10)  # warm-up
        for _ in range(BLOCKS):
            without_us.append(await _per_request_us(bare, app, path, requests // BLOCKS))
            with_us.append(await _per_request_us(instrumented, app, path, requests // BLOCKS))
        costs.append(Cost(path, statistics.median(without_us), statistics.median(with_us)))
    return costs


def report(costs: list[Cost]) -> str:
    lines = [
        "| request (in-process, no socket) | µs without metrics | µs with | instrumentator µs |",
        "|---|---:|---:|---:|",
    ]
    for cost in costs:
        lines.append(
            f"| GET {cost.path} | {cost.without_us:.1f} | {cost.with_us:.1f} | "
            f"{cost.added_us:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instrumentation", description=__doc__
    )
    parser.add_argument("--requests", type=int, default=20000, help="requests per path and variant")
    args = parser.parse_args(argv)
    print(report(asyncio.run(measure(args.requests))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
