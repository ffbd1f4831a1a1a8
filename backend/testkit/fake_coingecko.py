"""A fake CoinGecko upstream: a real HTTP server on 127.0.0.1 for tests, e2e runs and benchmarks.

It serves ``GET /api/v3/exchange_rates`` from a fixture (by default the bundled recorded response)
and can be told to fail the ways the real one does. For the history backfill it also serves
``/simple/supported_vs_currencies`` (the fixture's units but ``vef`` and ``xdr``) and
``/coins/bitcoin/market_chart?vs_currency=<unit>&days=<n>``: the price of 1 BTC in the unit
(the fixture's value, varied a little over time) with CoinGecko's automatic granularity (1 day:
5-minutely, 2-90 days: hourly, more: daily at 00:00 UTC; the last point is now), at most 365 days
back (the Demo plan's reach; more is a 401 like CoinGecko's). Control it in-process
(``FakeCoinGecko``) or over HTTP:

    POST /_control/mode   {"mode": "ok|500|429|timeout|html|truncated|wrong_shape|empty|
                                    401|gzip_bomb|endless",
                           "retry_after": "<optional Retry-After header value>",
                           "endpoint": "all|history"}  (history: the two backfill endpoints only)
    POST /_control/scale  {"factor": 1.1}   multiplies every value (a "changed snapshot")
    POST /_control/key    {"key": "k"}   from now on a call without that key (in x-cg-demo-api-key
                                         or x-cg-pro-api-key) gets 401; {"key": null}: any call
    GET  /_control/calls  -> {"calls": n, "history_calls": m}
    POST /_control/reset

Standalone: ``PYTHONPATH=backend python -m testkit.fake_coingecko --port 9900`` prints one line
whose last word is its base URL (``http://127.0.0.1:9900/api/v3``) once it accepts connections.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import signal
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any, Final, NamedTuple, cast
from urllib.parse import parse_qs, urlsplit

MODES: Final = (
    "ok",
    "500",
    "429",
    "timeout",
    "html",
    "truncated",
    "wrong_shape",
    "empty",
    "401",  # the key was refused (revoked or rotated)
    "gzip_bomb",  # ~100 KB on the wire that inflates to GZIP_BOMB_BYTES
    "endless",  # a chunked body that never ends (64 KB every few ms until the client leaves)
)
GZIP_BOMB_BYTES: Final = 100_000_000
RATES_PATH: Final = "/api/v3/exchange_rates"
SUPPORTED_PATH: Final = "/api/v3/simple/supported_vs_currencies"
CHART_PATH: Final = "/api/v3/coins/bitcoin/market_chart"
NOT_SUPPORTED: Final = frozenset({"vef", "xdr"})  # units market_chart cannot backfill
MAX_DAYS: Final = 365
DEFAULT_HANG_SECONDS: Final = 30.0
_BUNDLED_SAMPLE: Final = "data/sample-exchange-rates.json"

_HTML_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad gateway</h1><p>The origin is unreachable.</p></body></html>"
)
_RATE_LIMITED: Final = (
    b'{"status":{"error_code":429,"error_message":"You\'ve exceeded the Rate Limit."}}'
)
_SERVER_ERROR: Final = b'{"error":"Internal Server Error"}'


class Call(NamedTuple):
    """One request to ``/exchange_rates`` and how it was answered."""

    at: float  # time.monotonic(): one clock for every process on this machine
    mode: str
    retry_after: str | None


def load_fixture(path: str | Path | None = None) -> dict[str, Any]:
    """Read an exchange-rates payload; ``None`` means the bundled recorded response."""
    if path is None:
        raw = resources.files("crypto_rates").joinpath(_BUNDLED_SAMPLE).read_bytes()
        source = "bundled sample"
    else:
        raw = Path(path).read_bytes()
        source = str(path)
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"fixture {source} is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("rates"), dict):
        raise ValueError(f'fixture {source} must be a JSON object {{"rates": {{code: {{...}}}}}}')
    return payload


def _scaled_body(payload: dict[str, Any], factor: float) -> bytes:
    rates = {
        code: {**rate, "value": rate["value"] * factor} if factor != 1 else rate
        for code, rate in payload["rates"].items()
    }
    return json.dumps({**payload, "rates": rates}, separators=(",", ":")).encode()


@functools.cache
def _gzip_bomb() -> bytes:
    # Compressed a megabyte at a time: the fake itself never holds the inflated body.
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    megabyte = b" " * 1_000_000
    parts = [deflate.compress(megabyte) for _ in range(GZIP_BOMB_BYTES // len(megabyte))]
    return b"".join([*parts, deflate.flush()])


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must never keep the process (or stop()) waiting
    fake: FakeCoinGecko


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API behind its CDN
    server_version = "fake-coingecko/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests and benchmarks read stdout/stderr of processes around it

    @property
    def fake(self) -> FakeCoinGecko:
        return cast(_Server, self.server).fake

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == RATES_PATH:
            self._exchange_rates()
        elif path in (SUPPORTED_PATH, CHART_PATH):
            self._history(path)
        elif path == "/_control/calls":
            calls = {"calls": self.fake.calls, "history_calls": len(self.fake.history_calls)}
            self._send(200, json.dumps(calls).encode())
        else:
            self._send(404, b'{"error":"not found"}')

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            request = self._json_body()
            if path == "/_control/mode":
                if request.get("endpoint") == "history":
                    self.fake.set_history_mode(request.get("mode", ""), request.get("retry_after"))
                else:
                    self.fake.set_mode(request.get("mode", ""), request.get("retry_after"))
            elif path == "/_control/scale":
                self.fake.scale(request.get("factor"))
            elif path == "/_control/key":
                self.fake.require_key(request.get("key"))
            elif path == "/_control/reset":
                self.fake.reset()
            else:
                self._send(404, b'{"error":"not found"}')
                return
        except ValueError as exc:
            self._send(400, json.dumps({"error": str(exc)}).encode())
            return
        self._send(200, b'{"ok":true}')

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"control body must be a JSON object: {exc}") from exc
        if not isinstance(body, dict):
            raise ValueError("control body must be a JSON object")
        return body

    def _exchange_rates(self) -> None:
        mode, retry_after, body = self.fake._record_call(dict(self.headers.items()))
        self._answer(mode, retry_after, body)

    def _history(self, path: str) -> None:
        mode, retry_after = self.fake._record_history_call(self.path, dict(self.headers.items()))
        query = parse_qs(urlsplit(self.path).query)
        if path == SUPPORTED_PATH:
            units = [c for c in self.fake._payload["rates"] if c not in NOT_SUPPORTED]
            self._answer(mode, retry_after, json.dumps(units).encode(), history=True)
            return
        unit = (query.get("vs_currency") or [""])[0].lower()
        days_text = (query.get("days") or [""])[0]
        rate = self.fake._payload["rates"].get(unit)
        if rate is None or unit in NOT_SUPPORTED:
            self._send(400, b'{"error":"invalid vs_currency"}')
            return
        try:
            days = int(days_text)
        except ValueError:
            self._send(400, b'{"error":"invalid days"}')
            return
        if days > MAX_DAYS:
            self._send(401, b'{"status":{"error_code":10012,"error_message":"365 days at most"}}')
            return
        prices = chart_prices(rate["value"] * self.fake.factor, max(days, 1), time.time())
        body = json.dumps({"prices": prices, "market_caps": [], "total_volumes": []})
        self._answer(mode, retry_after, body.encode(), history=True)

    def _answer(
        self, mode: str, retry_after: str | None, body: bytes, history: bool = False
    ) -> None:
        extra = {"Retry-After": retry_after} if retry_after is not None else {}
        if mode == "ok":
            self._send(200, body)
        elif mode == "500":
            self._send(500, _SERVER_ERROR, extra)
        elif mode == "429":
            self._send(429, _RATE_LIMITED, extra)
        elif mode == "timeout":
            self.fake._release.wait(self.fake.hang_seconds)  # until stop() at the latest
            self.close_connection = True  # never answer: the client must have given up by now
        elif mode == "html":
            self._send(200, _HTML_PAGE, content_type="text/html; charset=utf-8")
        elif mode == "truncated":
            self._send(200, body[: len(body) // 2])
        elif mode == "wrong_shape":
            rates = json.loads(body)["rates"] if not history else {"a": 1}
            self._send(200, json.dumps({"rates": list(rates.values()), "prices": {}}).encode())
        elif mode == "401":
            self._send(401, b'{"status":{"error_code":401,"error_message":"invalid API key"}}')
        elif mode == "gzip_bomb":
            self._send(200, _gzip_bomb(), {"Content-Encoding": "gzip"})
        elif mode == "endless":
            self._endless()
        else:  # empty
            self._send(200, b'{"prices":[]}' if history else b'{"rates":{}}')

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
        self.close_connection = True
        try:
            while not self.fake._release.wait(0.005):  # until the client leaves, or stop()
                self.wfile.write(chunk)
        except OSError:
            pass

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def chart_prices(value: float, days: int, now: float) -> list[list[float]]:
    """market_chart's `prices`: [ms, price] with CoinGecko's automatic granularity."""
    start = now - days * 86400
    if days == 1:
        step, first = 300, start
    elif days <= 90:
        step, first = 3600, start
    else:  # daily at 00:00 UTC
        step, first = 86400, math.ceil(start / 86400) * 86400
    times = [first + i * step for i in range(int((now - first) // step) + 1)]
    if times[-1] < now:
        times.append(now)  # the latest price, as CoinGecko adds
    return [[t * 1000, value * (1 + 0.02 * math.sin(t / 86400))] for t in times]


class FakeCoinGecko:
    """The fake upstream; ``with FakeCoinGecko() as fake: ...`` serves it on a thread."""

    def __init__(
        self,
        fixture: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        hang_seconds: float = DEFAULT_HANG_SECONDS,
    ) -> None:
        self._payload = load_fixture(fixture)
        self._host = host
        self._port = port
        self.hang_seconds = hang_seconds
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._release = threading.Event()
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeCoinGecko:
        if self._server is not None:
            raise RuntimeError("fake CoinGecko is already running")
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._release = threading.Event()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._release.set()  # let hanging "timeout" handlers go
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeCoinGecko:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, as ``COINGECKO_BASE_URL`` expects it (ends in ``/api/v3``)."""
        if self._server is None:
            raise RuntimeError("fake CoinGecko is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/v3"

    # -- control ---------------------------------------------------------------------------------
    def set_mode(self, mode: str, retry_after: str | float | None = None) -> None:
        """Answer every later call this way; ``retry_after`` adds that header to error answers."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
        if isinstance(retry_after, bool) or not isinstance(retry_after, str | int | float | None):
            raise ValueError("retry_after must be a header value (string or number of seconds)")
        self.set_history_mode(mode, retry_after)
        with self._lock:
            self._mode = mode
            self._retry_after = None if retry_after is None else str(retry_after)
            # Calls already hanging keep hanging: dropping them now would turn a client's timeout
            # into a connection error and blur what the tests count.

    def set_history_mode(self, mode: str, retry_after: str | float | None = None) -> None:
        """Answer later calls to the backfill endpoints this way (``set_mode`` sets both)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
        with self._lock:
            self._history_mode = mode
            self._history_retry_after = None if retry_after is None else str(retry_after)

    def scale(self, factor: object) -> None:
        """Multiply every value by ``factor`` (relative to the fixture) from the next call on."""
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise ValueError(f"factor must be a positive finite number, got {factor!r}")
        if not math.isfinite(factor) or factor <= 0:
            raise ValueError(f"factor must be a positive finite number, got {factor!r}")
        body = _scaled_body(self._payload, float(factor))
        with self._lock:
            self._body = body
            self.factor = float(factor)

    def require_key(self, key: object) -> None:
        """Refuse (401) every later call that does not send ``key``; ``None``: no key needed."""
        if key is not None and (not isinstance(key, str) or not key):
            raise ValueError("key must be a non-empty string, or null for no key")
        with self._lock:
            self._key = key

    def reset(self) -> None:
        """Back to mode ``ok``, the fixture's values, no key required, no calls recorded."""
        self.set_mode("ok")
        self.scale(1)
        self.require_key(None)
        with self._lock:
            self._call_log: list[Call] = []
            self._history_calls: list[str] = []
            self._last_headers: dict[str, str] | None = None

    # -- what happened ---------------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Requests to ``/exchange_rates`` so far, failed ones included."""
        with self._lock:
            return len(self._call_log)

    @property
    def call_times(self) -> list[float]:
        """``time.monotonic()`` of each call (system-wide clock, comparable across processes)."""
        with self._lock:
            return [call.at for call in self._call_log]

    @property
    def call_log(self) -> list[Call]:
        """Each call with the mode and Retry-After it was answered with."""
        with self._lock:
            return list(self._call_log)

    @property
    def last_headers(self) -> dict[str, str] | None:
        """Request headers of the last call, names lower-cased (``None`` before any call)."""
        with self._lock:
            return None if self._last_headers is None else dict(self._last_headers)

    @property
    def history_calls(self) -> list[str]:
        """The path and query of each call to the two backfill endpoints."""
        with self._lock:
            return list(self._history_calls)

    def _record_history_call(self, path: str, headers: dict[str, str]) -> tuple[str, str | None]:
        with self._lock:
            self._history_calls.append(path)
            mode = "401" if self._key_refused(headers) else self._history_mode
            return mode, self._history_retry_after

    def _key_refused(self, headers: dict[str, str]) -> bool:
        """Whether a key is required and ``headers`` do not send it (call with the lock held)."""
        lower = {name.lower(): value for name, value in headers.items()}
        sent = {lower.get("x-cg-demo-api-key"), lower.get("x-cg-pro-api-key")}
        return self._key is not None and self._key not in sent

    def _record_call(self, headers: dict[str, str]) -> tuple[str, str | None, bytes]:
        lower = {name.lower(): value for name, value in headers.items()}
        with self._lock:
            mode = "401" if self._key_refused(lower) else self._mode
            self._call_log.append(Call(time.monotonic(), mode, self._retry_after))
            self._last_headers = lower
            return mode, self._retry_after, self._body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testkit.fake_coingecko", description="Fake CoinGecko upstream."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9900, help="0 picks a free port")
    parser.add_argument("--fixture", help="exchange_rates JSON to serve (default: bundled sample)")
    parser.add_argument(
        "--hang-seconds",
        type=float,
        default=DEFAULT_HANG_SECONDS,
        help="how long 'timeout' mode holds a request before dropping it",
    )
    args = parser.parse_args(argv)
    try:
        fake = FakeCoinGecko(args.fixture, args.host, args.port, args.hang_seconds)
        fake.start()
    except (OSError, ValueError) as exc:
        print(f"fake CoinGecko: cannot start: {exc}", file=sys.stderr)
        return 2

    stopping = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    print(f"fake CoinGecko serving {fake.url}", flush=True)
    while not stopping.wait(1.0):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
