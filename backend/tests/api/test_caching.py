"""HTTP caching on rate endpoints: ETag/304, Cache-Control, gzip, and the fast path's parity."""

import gzip
import re
import time

import httpx
import pytest
from crypto_rates.api.fast_path import FastPath
from crypto_rates.config import Settings
from crypto_rates.persistence import load_sample
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from ..conftest import runtime


def fast_path_of(app: FastAPI) -> FastPath:
    """The FastPath in the app's front door of ASGI layers (each holds the next as `.app`)."""
    layer = getattr(app, "front", None)
    while layer is not None and not isinstance(layer, FastPath):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, FastPath), "no FastPath in front of the app"
    return layer


RATE_URLS = [
    "/api/rates",
    "/api/v1/rates",
    "/api/v1/rates?base=usd&type=fiat",
    "/api/v1/rates/eth?base=usd",
    "/api/v1/rates/eth/history",
    "/api/v1/convert?from=eth&to=usd&amount=3",
]


@pytest.mark.parametrize("url", RATE_URLS)
async def test_rate_endpoints_send_etag_and_cache_control(
    app: FastAPI, client: httpx.AsyncClient, url: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 200
    assert re.fullmatch(r'W/"[0-9a-f]{20}-[0-9a-f]{12}"', response.headers["etag"])
    stale_after = int(runtime(app).settings.effective_stale_after)
    assert re.fullmatch(
        rf"public, max-age=\d+, stale-if-error={stale_after}", response.headers["cache-control"]
    )
    # History also answers CSV for Accept: text/csv.
    vary = "Accept, Accept-Encoding" if url.endswith("/history") else "Accept-Encoding"
    assert response.headers["vary"] == vary


@pytest.mark.parametrize("url", RATE_URLS)
async def test_if_none_match_with_the_current_etag_answers_304(
    client: httpx.AsyncClient, url: str
) -> None:
    etag = (await client.get(url)).headers["etag"]
    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    listed = await client.get(url, headers={"If-None-Match": f'"other", {etag}'})
    assert listed.status_code == 304
    other = await client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


async def test_the_etag_changes_when_the_snapshot_changes(
    app: FastAPI, client: httpx.AsyncClient, fixture_body: bytes
) -> None:
    from .test_rates import put_live_data

    etag = (await client.get("/api/v1/rates")).headers["etag"]
    put_live_data(app, fixture_body)
    fresh = await client.get("/api/v1/rates", headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != etag


async def test_the_etag_differs_per_query(client: httpx.AsyncClient) -> None:
    a = (await client.get("/api/v1/rates?base=usd")).headers["etag"]
    b = (await client.get("/api/v1/rates?base=eur")).headers["etag"]
    assert a != b


async def test_max_age_is_the_time_to_the_next_refresh(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    class FakePoller:
        next_refresh_at = 0.0

    import time

    FakePoller.next_refresh_at = time.time() + 120.4
    runtime(app).poller = FakePoller()  # type: ignore[assignment]
    header = (await client.get("/api/v1/rates?base=usd")).headers["cache-control"]
    max_age = int(re.search(r"max-age=(\d+)", header).group(1))  # type: ignore[union-attr]
    assert 118 <= max_age <= 120


async def test_max_age_never_exceeds_the_refresh_interval(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    """A capped but long Retry-After (an hour) puts the next poll far away; browsers and caches
    must still come back within one refresh interval."""

    class FakePoller:
        next_refresh_at = time.time() + 10 * settings.refresh_interval

    runtime(app).poller = FakePoller()  # type: ignore[assignment]
    header = (await client.get("/api/v1/rates?base=usd")).headers["cache-control"]
    max_age = int(re.search(r"max-age=(\d+)", header).group(1))  # type: ignore[union-attr]
    assert max_age <= settings.refresh_interval


@pytest.mark.parametrize("url", ["/api/rates", "/api/v1/rates", "/api/v1/rates?base=eur"])
async def test_large_bodies_are_gzipped_when_asked(client: httpx.AsyncClient, url: str) -> None:
    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    zipped = await client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["content-encoding"] == "gzip"
    # httpx decoded the gzip body; age_seconds may tick between the two requests
    assert {**zipped.json(), "age_seconds": 0} == {**plain.json(), "age_seconds": 0}
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2


async def test_gzip_refused_with_q_zero_is_not_used(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/rates", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in response.headers


async def test_small_bodies_are_not_compressed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/rates/eth", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers


async def test_the_gzip_body_is_a_real_gzip_stream(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    headers = {"Accept-Encoding": "gzip"}
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        http.stream("GET", "/api/v1/rates", headers=headers) as response,
    ):
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert gzip.decompress(raw).startswith(b'{"base":"btc"')


@pytest.mark.parametrize(
    ("fast", "routed"),
    [
        ("/api/v1/rates", "/api/v1/rates?base=btc"),
        ("/api/rates", "/api/rates?unused=1"),
    ],
)
async def test_fast_path_and_route_answer_identically(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, fast: str, routed: str
) -> None:
    # Which requests the fast path hands to the route (run directly, or behind the request
    # middleware and FastAPI) instead of answering from its own renderings.
    fast_path = fast_path_of(app)
    behind: list[str] = []

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        query = scope["query_string"].decode()
        behind.append(scope["path"] + (f"?{query}" if query else ""))
        await routed_by(scope, receive, send)

    routed_by = fast_path._routed
    monkeypatch.setattr(fast_path, "_routed", recording)
    # Bodies carry age_seconds: retry until no second boundary fell between the two requests.
    for _ in range(5):
        a = await client.get(fast)
        b = await client.get(routed)
        if a.content == (await client.get(fast)).content:
            break
    assert routed in behind, f"{routed} should be answered by the route: {behind}"
    assert fast not in behind, f"the fast path passed {fast} on instead of answering it"
    assert a.content == b.content
    assert a.headers["etag"] == b.headers["etag"]
    assert a.headers["cache-control"] == b.headers["cache-control"]
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"


async def test_errors_are_never_cached(client: httpx.AsyncClient) -> None:
    for url in ("/api/v1/rates/nope", "/api/v1/rates?type=x", "/missing"):
        response = await client.get(url)
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers


def test_sample_snapshot_has_a_stable_version() -> None:
    assert load_sample().version == load_sample().version


async def test_fast_path_requests_are_counted_under_their_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await client.get("/api/v1/rates")
    await client.get("/api/rates")
    registry = runtime(app).metrics.registry
    for handler in ("/api/v1/rates", "/api/rates"):
        labels = {"method": "GET", "handler": handler, "status": "2xx"}
        assert registry.get_sample_value("crypto_app_requests_total", labels) == 1


def test_varied_amounts_are_bounded_and_leave_the_other_bodies_cached(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crypto_rates.api.responder import RateResponder

    now = time.time()
    monkeypatch.setattr("crypto_rates.api.responder.time.time", lambda: now)  # one second of age
    responder = RateResponder(runtime(app))
    snapshot = load_sample()
    first = responder.detail(snapshot, "eth", "usd")
    for n in range(1, 1200):
        responder.conversion(snapshot, "eth", "usd", float(n))
    assert len(responder.conversions) == 512  # bounded, however many amounts are asked
    assert responder.detail(snapshot, "eth", "usd") is first  # not evicted by the amounts
    again = responder.conversion(snapshot, "eth", "usd", 1199.0)
    assert again is responder.conversion(snapshot, "eth", "usd", 1199.0)  # served from cache


def test_history_bodies_are_cached_per_second_and_follow_every_change_of_the_data(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from crypto_rates.api.responder import RateResponder
    from crypto_rates.history import HOUR, ArchivedPoint, Window, bucket
    from crypto_rates.store import HistoryPoint

    now = int(time.time()) + 0.1
    monkeypatch.setattr("crypto_rates.api.responder.time.time", lambda: now)  # one second of age
    store = runtime(app).store
    responder = RateResponder(runtime(app))
    snapshot = load_sample()
    day = Window(now - 86400, now)
    first = responder.history(snapshot, "eth", "usd", day, csv=False)
    later = Window(now - 86400 + 0.8, now + 0.8)  # a request later in the same second
    assert responder.history(snapshot, "eth", "usd", later, csv=False) is first
    # the same snapshot, another recent history (a replica restoring the shared database's)
    values = {c: r.value for c, r in snapshot.rates.items()}
    point = HistoryPoint(datetime.fromtimestamp(now - 60, UTC), values)
    store.restore(snapshot, [point])
    restored = responder.history(snapshot, "eth", "usd", day, csv=False)
    assert restored is not first and b'"count":1' in restored.body
    hour = bucket(now - 3 * HOUR, HOUR)  # a new archive (the poller loaded the backfill)
    points = [ArchivedPoint("eth", HOUR, hour, 20.0), ArchivedPoint("usd", HOUR, hour, 4e4)]
    store.replace_archive(store.archive.merged(points, now))
    assert b'"count":2' in responder.history(snapshot, "eth", "usd", day, csv=False).body
    for n in range(1, 600):  # windows are whatever a client asks: bounded
        responder.history(snapshot, "eth", "usd", Window(now - 86400 - n, now), csv=False)
    assert len(responder.histories) == 256
