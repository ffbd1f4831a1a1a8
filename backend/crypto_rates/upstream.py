"""The CoinGecko client: its URL and headers, attempt classification and retries.

What the payload must look like is `coingecko_payload.py`'s business.
"""

import asyncio
import json
import logging
import math
import random
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from crypto_rates import __version__
from crypto_rates.coingecko_payload import InvalidResponse, parse_exchange_rates
from crypto_rates.config import Settings
from crypto_rates.logs import redact_also
from crypto_rates.metrics import Metrics
from crypto_rates.rate import Rate

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2_000_000  # the real payload is ~6 KB; anything this big is not it
MAX_ATTEMPTS = 3
T = TypeVar("T")
# A Retry-After beyond this is capped: an hour is longer than any rate-limit window CoinGecko
# documents (per minute, per month), and short enough that a bogus or hostile value (a year,
# a date in 9999) costs at most an hour of staleness instead of needing a restart.
MAX_RETRY_AFTER = 3600.0


class AttemptStatus(StrEnum):
    SUCCESS = "success"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    INVALID_RESPONSE = "invalid_response"


RETRYABLE = {
    AttemptStatus.RATE_LIMITED,
    AttemptStatus.SERVER_ERROR,
    AttemptStatus.TIMEOUT,
    AttemptStatus.CONNECTION_ERROR,
}


class UpstreamError(Exception):
    def __init__(self, status: AttemptStatus, detail: str, retry_after: float | None = None):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), at most
    MAX_RETRY_AFTER; None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(MAX_RETRY_AFTER, float(value[:12]))  # more digits: longer than the cap anyway
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(MAX_RETRY_AFTER, max(0.0, wait))


async def read_bounded(response: httpx.Response, limit: int = MAX_BODY_BYTES) -> bytes:
    """The decoded body, refused as soon as it grows past `limit` bytes.

    Decoded here rather than by httpx: its gzip decoder inflates each network chunk whole, so one
    64 KB chunk of a gzip bomb would become ~64 MB at once. `max_length` bounds every step.
    """
    if response.is_stream_consumed:  # read already (a mock transport's answer): only measured
        if len(response.content) > limit:
            raise UpstreamError(AttemptStatus.INVALID_RESPONSE, "body too large")
        return response.content
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("identity", "gzip"):
        raise UpstreamError(AttemptStatus.INVALID_RESPONSE, f"unsupported encoding {coding[:32]!r}")
    declared = response.headers.get("content-length", "")
    if coding == "identity" and declared.isdigit() and int(declared) > limit:
        raise UpstreamError(AttemptStatus.INVALID_RESPONSE, "body too large")
    inflate = zlib.decompressobj(wbits=31) if coding == "gzip" else None
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            while chunk:
                if inflate is None:
                    body += chunk
                    chunk = b""
                else:
                    body += inflate.decompress(chunk, limit + 1 - len(body))
                    chunk = inflate.unconsumed_tail if len(body) <= limit else b""
                if len(body) > limit:
                    raise UpstreamError(AttemptStatus.INVALID_RESPONSE, "body too large")
    except zlib.error:
        raise UpstreamError(AttemptStatus.INVALID_RESPONSE, "corrupt gzip body") from None
    return bytes(body)


def _status_for(code: int) -> AttemptStatus:
    if code == 429:
        return AttemptStatus.RATE_LIMITED
    if code >= 500:
        return AttemptStatus.SERVER_ERROR
    return AttemptStatus.CLIENT_ERROR


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int
    initial_wait: float
    max_wait: float

    @classmethod
    def for_interval(cls, refresh_interval: float) -> "RetryPolicy":
        # Retries must finish well within one interval so a recovery shows up on time.
        return cls(MAX_ATTEMPTS, min(1.0, refresh_interval / 8), min(30.0, refresh_interval / 4))


def _units(payload: object) -> frozenset[str]:
    if not isinstance(payload, list) or not all(isinstance(u, str) for u in payload):
        raise ValueError("supported_vs_currencies is not a list of strings")
    return frozenset(u.lower() for u in payload)


def _prices(payload: object) -> list[tuple[float, float]]:
    """market_chart's `prices`, checked: [ms, price] pairs, finite, positive."""
    prices = payload.get("prices") if isinstance(payload, dict) else None
    if not isinstance(prices, list):
        raise ValueError("market_chart has no prices list")
    points = []
    for item in prices:
        if not (isinstance(item, list) and len(item) == 2):
            raise ValueError("a market_chart price is not a [time, price] pair")
        t, price = float(item[0]) / 1000, float(item[1])
        if not (math.isfinite(t) and math.isfinite(price) and t > 0 and 0 < price < 1e30):
            raise ValueError(f"market_chart price out of range: {item!r}"[:120])
        points.append((t, price))
    return points


class CoinGeckoClient:
    """One pooled httpx client per process; fetch_rates() retries, fetch_once() is one attempt."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,  # tests record the backoff
    ) -> None:
        self._sleep = sleep
        self._base_url = settings.base_url
        self._settings = settings
        self._auth = settings.auth_headers  # re-read on 401/403: see _reread_key
        self._url = f"{settings.base_url}/exchange_rates"
        self._timeout = settings.api_timeout
        self._metrics = metrics
        self.policy = RetryPolicy.for_interval(settings.refresh_interval)
        self._http = http or httpx.AsyncClient(
            headers={
                "accept": "application/json",
                "user-agent": f"crypto-rates/{__version__}",
                "accept-encoding": "gzip",  # the one coding read_bounded() decodes
            },
            timeout=httpx.Timeout(settings.api_timeout),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch_once(self) -> Mapping[str, Rate]:
        started = time.perf_counter()
        try:
            rates = await self._attempt()
        except UpstreamError as exc:
            self._metrics.upstream_call(exc.status, time.perf_counter() - started)
            raise
        self._metrics.upstream_call(AttemptStatus.SUCCESS, time.perf_counter() - started)
        return rates

    async def fetch_supported_units(self) -> frozenset[str]:
        """`/simple/supported_vs_currencies`: the units market_chart knows (one attempt)."""
        return await self._counted(
            self._attempt_json, "/simple/supported_vs_currencies", {}, _units
        )

    async def fetch_market_chart(self, unit: str, days: int) -> list[tuple[float, float]]:
        """The price of 1 BTC in `unit` over the last `days` days as (unix seconds, price), at
        CoinGecko's automatic granularity (one attempt)."""
        params = {"vs_currency": unit, "days": str(days)}
        return await self._counted(
            self._attempt_json, "/coins/bitcoin/market_chart", params, _prices
        )

    async def _counted(self, attempt: Callable[..., Awaitable[T]], *args: object) -> T:
        started = time.perf_counter()
        try:
            result = await attempt(*args)
        except UpstreamError as exc:
            self._metrics.upstream_call(exc.status, time.perf_counter() - started)
            raise
        self._metrics.upstream_call(AttemptStatus.SUCCESS, time.perf_counter() - started)
        return result

    async def _attempt_json(
        self, path: str, params: dict[str, str], parse: Callable[[object], T]
    ) -> T:
        body = await self._get(f"{self._base_url}{path}", params)
        try:
            return parse(json.loads(body))
        except (ValueError, TypeError) as exc:
            raise UpstreamError(AttemptStatus.INVALID_RESPONSE, str(exc)[:200]) from None

    async def _get(self, url: str, params: dict[str, str] | None = None) -> bytes:
        """The body of a GET, bounded in time and size like `_attempt`'s, with the same key."""
        try:
            # A total bound as well: httpx's timeout is per read, a slow drip could last forever.
            async with (
                asyncio.timeout(self._timeout),
                self._http.stream("GET", url, params=params, headers=self._auth) as response,
            ):
                if response.status_code in (401, 403):
                    self._reread_key()
                if response.status_code != 200:
                    raise UpstreamError(
                        _status_for(response.status_code),
                        f"HTTP {response.status_code}",
                        parse_retry_after(response.headers.get("retry-after")),
                    )
                return await read_bounded(response)
        except (TimeoutError, httpx.TimeoutException):
            raise UpstreamError(
                AttemptStatus.TIMEOUT, f"no answer within {self._timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamError(AttemptStatus.CONNECTION_ERROR, type(exc).__name__) from None

    async def _attempt(self) -> Mapping[str, Rate]:
        try:
            # A total bound as well: httpx's timeout is per read, a slow drip could last forever.
            # The body is streamed and counted as it is decoded: a huge or gzip-bombed body is
            # refused at MAX_BODY_BYTES, never held in memory whole.
            async with (
                asyncio.timeout(self._timeout),
                self._http.stream("GET", self._url, headers=self._auth) as response,
            ):
                if response.status_code in (401, 403):
                    self._reread_key()
                if response.status_code != 200:
                    raise UpstreamError(
                        _status_for(response.status_code),
                        f"HTTP {response.status_code}",
                        parse_retry_after(response.headers.get("retry-after")),
                    )
                body = await read_bounded(response)
        except (TimeoutError, httpx.TimeoutException):
            raise UpstreamError(
                AttemptStatus.TIMEOUT, f"no answer within {self._timeout:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamError(AttemptStatus.CONNECTION_ERROR, type(exc).__name__) from None
        try:
            return parse_exchange_rates(body)
        except InvalidResponse as exc:
            raise UpstreamError(AttemptStatus.INVALID_RESPONSE, str(exc)) from None

    def _reread_key(self) -> None:
        """A refused key may have been rotated: a key file (a mounted Secret) is read again, and
        the next attempt sends what it holds now."""
        if self._settings.coingecko_api_key_file is None:
            return
        try:
            auth = self._settings.auth_headers
        except OSError as exc:
            log.warning("cannot re-read COINGECKO_API_KEY_FILE", extra={"error": exc.strerror})
            return
        if auth != self._auth:
            for key in auth.values():
                redact_also(key)
            self._auth = auth
            log.info("API key refused; COINGECKO_API_KEY_FILE holds a new one, using it")

    def _wait(self, state: RetryCallState) -> float:
        # Exponential backoff with up to one initial_wait of jitter, capped at max_wait.
        initial = self.policy.initial_wait
        jitter = random.uniform(0, initial)  # noqa: S311 - spreading retries, not cryptography
        backoff = min(self.policy.max_wait, initial * 2.0 ** (state.attempt_number - 1) + jitter)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, UpstreamError) else None
        return max(backoff, retry_after or 0.0)

    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, UpstreamError) or not exc.retryable:
            return False
        # A Retry-After longer than we may wait ends this cycle; the poller honours it.
        return exc.retry_after is None or exc.retry_after <= self.policy.max_wait

    async def fetch_rates(self) -> Mapping[str, Rate]:
        """Fetch with bounded retries; raises the last UpstreamError when every attempt failed."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            reraise=True,
            sleep=self._sleep,
        )
        async for attempt in retrying:
            with attempt:
                return await self.fetch_once()
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
