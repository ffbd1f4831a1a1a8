import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
import respx
from crypto_rates.config import Settings
from crypto_rates.metrics import Metrics
from crypto_rates.upstream import (
    MAX_BODY_BYTES,
    MAX_RETRY_AFTER,
    AttemptStatus,
    CoinGeckoClient,
    RetryPolicy,
    UpstreamError,
    parse_retry_after,
)
from testkit.fake_coingecko import FakeCoinGecko

from .conftest import RATES_URL


def calls(metrics: Metrics, status: str) -> float:
    return metrics.registry.get_sample_value("coingecko_api_calls_total", {"status": status}) or 0


class Recorder:
    """Stands in for asyncio.sleep so the backoff schedule is observed, not waited for."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def sleeps() -> Recorder:
    return Recorder()


@pytest.fixture
def make_client(
    settings: Settings, metrics: Metrics, sleeps: Recorder
) -> Callable[..., CoinGeckoClient]:
    def make(custom: Settings | None = None) -> CoinGeckoClient:
        return CoinGeckoClient(custom or settings, metrics, sleep=sleeps)

    return make


# -- Retry-After -----------------------------------------------------------------------------------


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("120") == 120.0


def test_retry_after_as_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now=now.timestamp()) == pytest.approx(90)


def test_retry_after_in_the_past_means_now() -> None:
    header = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(header) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "Mon, 99 Foo 2026"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


# -- one attempt -----------------------------------------------------------------------------------


@respx.mock
async def test_a_good_answer_is_parsed_and_counted_as_success(
    make_client: Callable[..., CoinGeckoClient], metrics: Metrics, fixture_body: bytes
) -> None:
    respx.get(RATES_URL).respond(200, content=fixture_body)
    rates = await make_client().fetch_once()
    assert len(rates) == 61
    assert calls(metrics, "success") == 1
    assert metrics.registry.get_sample_value("coingecko_api_request_duration_seconds_count") == 1


@pytest.mark.parametrize(
    ("response", "status"),
    [
        (httpx.Response(500), AttemptStatus.SERVER_ERROR),
        (httpx.Response(503), AttemptStatus.SERVER_ERROR),
        (httpx.Response(429), AttemptStatus.RATE_LIMITED),
        (httpx.Response(401), AttemptStatus.CLIENT_ERROR),
        (httpx.Response(404), AttemptStatus.CLIENT_ERROR),
        (httpx.Response(200, text="<html>oops</html>"), AttemptStatus.INVALID_RESPONSE),
        (httpx.Response(200, text='{"rates": {}}'), AttemptStatus.INVALID_RESPONSE),
        (httpx.Response(200, text='{"rates": {"btc": '), AttemptStatus.INVALID_RESPONSE),
        (httpx.Response(200, text='{"unexpected": true}'), AttemptStatus.INVALID_RESPONSE),
    ],
)
@respx.mock
async def test_each_failed_answer_is_classified_and_counted(
    make_client: Callable[..., CoinGeckoClient],
    metrics: Metrics,
    response: httpx.Response,
    status: AttemptStatus,
) -> None:
    respx.get(RATES_URL).mock(return_value=response)
    with pytest.raises(UpstreamError) as caught:
        await make_client().fetch_once()
    assert caught.value.status is status
    assert calls(metrics, status.value) == 1
    assert calls(metrics, "success") == 0


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (httpx.ConnectTimeout("slow"), AttemptStatus.TIMEOUT),
        (httpx.ReadTimeout("slow"), AttemptStatus.TIMEOUT),
        (httpx.ConnectError("refused"), AttemptStatus.CONNECTION_ERROR),
        (httpx.RemoteProtocolError("dropped"), AttemptStatus.CONNECTION_ERROR),
    ],
)
@respx.mock
async def test_transport_failures_are_classified(
    make_client: Callable[..., CoinGeckoClient],
    metrics: Metrics,
    error: Exception,
    status: AttemptStatus,
) -> None:
    respx.get(RATES_URL).mock(side_effect=error)
    with pytest.raises(UpstreamError) as caught:
        await make_client().fetch_once()
    assert caught.value.status is status
    assert caught.value.retryable
    assert calls(metrics, status.value) == 1


@respx.mock
async def test_an_oversized_body_is_refused(make_client: Callable[..., CoinGeckoClient]) -> None:
    respx.get(RATES_URL).respond(200, content=b" " * 2_000_001)
    with pytest.raises(UpstreamError, match="too large"):
        await make_client().fetch_once()


@respx.mock
async def test_the_demo_key_goes_in_its_header_and_nowhere_else(
    make_settings: Callable[..., Settings],
    make_client: Callable[..., CoinGeckoClient],
    fixture_body: bytes,
) -> None:
    route = respx.get(RATES_URL).respond(200, content=fixture_body)
    custom = make_settings(coingecko_api_plan="demo", coingecko_api_key="demo-secret")
    await make_client(custom).fetch_once()
    request = route.calls.last.request
    assert request.headers["x-cg-demo-api-key"] == "demo-secret"
    assert "x-cg-pro-api-key" not in request.headers
    assert "demo-secret" not in str(request.url)
    assert request.headers["user-agent"].startswith("crypto-rates/")


@respx.mock
async def test_the_public_plan_sends_no_key_header(
    make_client: Callable[..., CoinGeckoClient], fixture_body: bytes
) -> None:
    route = respx.get(RATES_URL).respond(200, content=fixture_body)
    await make_client().fetch_once()
    assert not [h for h in route.calls.last.request.headers if h.startswith("x-cg-")]


@respx.mock
async def test_backfill_calls_carry_the_key_and_are_bounded_like_the_rates_call(
    make_settings: Callable[..., Settings], make_client: Callable[..., CoinGeckoClient]
) -> None:
    chart_url = RATES_URL.replace("/exchange_rates", "/coins/bitcoin/market_chart")
    chart = respx.get(url__startswith=chart_url)
    chart.respond(200, json={"prices": [[1_700_000_000_000, 42.5]]})
    client = make_client(make_settings(coingecko_api_plan="demo", coingecko_api_key="demo-secret"))
    assert await client.fetch_market_chart("usd", 1) == [(1_700_000_000.0, 42.5)]
    assert chart.calls.last.request.headers["x-cg-demo-api-key"] == "demo-secret"
    chart.respond(200, content=b" " * 2_000_001)
    with pytest.raises(UpstreamError, match="too large"):
        await client.fetch_market_chart("usd", 1)


# -- retries ---------------------------------------------------------------------------------------


def test_the_retry_policy_fits_inside_one_refresh_interval() -> None:
    default = RetryPolicy.for_interval(300)
    assert (default.attempts, default.initial_wait, default.max_wait) == (3, 1.0, 30.0)
    fast = RetryPolicy.for_interval(2)
    assert fast.max_wait * (fast.attempts - 1) <= 2


@respx.mock
async def test_server_errors_are_retried_with_growing_jittered_backoff(
    make_client: Callable[..., CoinGeckoClient],
    metrics: Metrics,
    sleeps: Recorder,
    fixture_body: bytes,
) -> None:
    route = respx.get(RATES_URL)
    route.side_effect = [
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(200, content=fixture_body),
    ]
    rates = await make_client().fetch_rates()
    assert len(rates) == 61
    assert route.call_count == 3
    assert calls(metrics, "server_error") == 2 and calls(metrics, "success") == 1
    first, second = sleeps.waits
    # wait_exponential_jitter: initial * 2**n plus up to 1 s of jitter, capped at max_wait
    assert 1.0 <= first <= 2.0
    assert 2.0 <= second <= 3.0


@respx.mock
async def test_attempts_per_refresh_are_bounded(
    make_client: Callable[..., CoinGeckoClient], metrics: Metrics
) -> None:
    route = respx.get(RATES_URL).respond(500)
    with pytest.raises(UpstreamError) as caught:
        await make_client().fetch_rates()
    assert caught.value.status is AttemptStatus.SERVER_ERROR
    assert route.call_count == 3
    assert calls(metrics, "server_error") == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
@respx.mock
async def test_other_client_errors_are_not_retried(
    make_client: Callable[..., CoinGeckoClient], sleeps: Recorder, status: int
) -> None:
    route = respx.get(RATES_URL).respond(status)
    with pytest.raises(UpstreamError):
        await make_client().fetch_rates()
    assert route.call_count == 1
    assert sleeps.waits == []


@respx.mock
async def test_an_invalid_body_is_not_retried(make_client: Callable[..., CoinGeckoClient]) -> None:
    route = respx.get(RATES_URL).respond(200, text="<html></html>")
    with pytest.raises(UpstreamError):
        await make_client().fetch_rates()
    assert route.call_count == 1


@respx.mock
async def test_timeouts_and_connection_errors_are_retried(
    make_client: Callable[..., CoinGeckoClient], metrics: Metrics, fixture_body: bytes
) -> None:
    route = respx.get(RATES_URL)
    route.side_effect = [
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.Response(200, content=fixture_body),
    ]
    await make_client().fetch_rates()
    assert calls(metrics, "timeout") == 1 and calls(metrics, "connection_error") == 1


@respx.mock
async def test_a_short_retry_after_is_waited_for_before_retrying(
    make_client: Callable[..., CoinGeckoClient], sleeps: Recorder, fixture_body: bytes
) -> None:
    route = respx.get(RATES_URL)
    route.side_effect = [
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, content=fixture_body),
    ]
    await make_client().fetch_rates()
    assert sleeps.waits[0] >= 7


@respx.mock
async def test_a_429_without_retry_after_backs_off_exponentially(
    make_client: Callable[..., CoinGeckoClient], sleeps: Recorder, fixture_body: bytes
) -> None:
    route = respx.get(RATES_URL)
    route.side_effect = [httpx.Response(429), httpx.Response(200, content=fixture_body)]
    await make_client().fetch_rates()
    assert 1.0 <= sleeps.waits[0] <= 2.0


@respx.mock
async def test_a_long_retry_after_ends_the_cycle_and_is_reported(
    make_client: Callable[..., CoinGeckoClient], sleeps: Recorder
) -> None:
    route = respx.get(RATES_URL).respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(UpstreamError) as caught:
        await make_client().fetch_rates()
    assert route.call_count == 1
    assert sleeps.waits == []
    assert caught.value.retry_after == 3600


# -- hostile bodies, from a real HTTP server on 127.0.0.1 ------------------------------------------


@pytest.mark.parametrize("mode", ["gzip_bomb", "endless"])
async def test_a_huge_body_is_refused_at_the_limit_without_being_held_in_memory(
    make_settings: Callable[..., Settings], metrics: Metrics, mode: str
) -> None:
    with FakeCoinGecko() as fake:
        fake.set_mode(mode)
        client = CoinGeckoClient(make_settings(coingecko_base_url=fake.url, api_timeout=5), metrics)
        tracemalloc.start()
        try:
            with pytest.raises(UpstreamError) as caught:
                await client.fetch_once()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await client.aclose()
    assert (caught.value.status, caught.value.detail) == (
        AttemptStatus.INVALID_RESPONSE,
        "body too large",
    )
    # The bomb inflates to 100 MB and the endless body never ends; reading stops at the limit.
    assert peak < 8 * MAX_BODY_BYTES, f"peak {peak / 1e6:.0f} MB while reading the body"


async def test_a_gzip_encoded_body_within_the_limit_is_read(
    make_settings: Callable[..., Settings], metrics: Metrics
) -> None:
    with FakeCoinGecko() as fake:
        client = CoinGeckoClient(make_settings(coingecko_base_url=fake.url), metrics)
        try:
            rates = await client.fetch_once()
        finally:
            await client.aclose()
        assert fake.last_headers is not None
        assert fake.last_headers["accept-encoding"] == "gzip"
    assert "usd" in rates


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("31536000", MAX_RETRY_AFTER),
        pytest.param("9" * 400, MAX_RETRY_AFTER, id="400-digits"),
        ("3599", 3599.0),
    ],
)
def test_retry_after_in_seconds_is_capped(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_as_a_far_future_date_is_capped() -> None:
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") == MAX_RETRY_AFTER


async def test_a_rotated_key_file_is_read_again_when_the_key_is_refused(
    make_settings: Callable[..., Settings], metrics: Metrics, tmp_path: Path
) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_text("old-key\n")
    with FakeCoinGecko() as fake:
        settings = make_settings(
            coingecko_base_url=fake.url,
            coingecko_api_plan="demo",
            coingecko_api_key_file=key_file,
        )
        client = CoinGeckoClient(settings, metrics)
        try:
            await client.fetch_once()
            key_file.write_text("new-key\n")  # the kubelet updates the mounted Secret
            await client.fetch_once()
            assert fake.last_headers is not None
            assert fake.last_headers["x-cg-demo-api-key"] == "old-key"  # no read per request
            fake.set_mode("401")
            with pytest.raises(UpstreamError):
                await client.fetch_once()
            fake.set_mode("ok")
            await client.fetch_once()
        finally:
            await client.aclose()
        assert fake.last_headers["x-cg-demo-api-key"] == "new-key"
