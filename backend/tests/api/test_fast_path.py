"""The fast path runs the app's routes directly: the same answers as FastAPI's own request path."""

import time
from types import SimpleNamespace

import httpx
import pytest
from crypto_rates.api import rates
from fastapi import FastAPI

DIRECT = {
    "/api/v1/rates/eth": 200,
    "/api/v1/rates/ETH?base=%20usd": 200,
    "/api/v1/rates/eth/history?base=usd": 200,
    "/api/v1/rates/eth/history?base=usd&range=7d": 200,
    "/api/v1/rates/eth/history?range=max&format=csv": 200,
    "/api/v1/rates/eth/history?from=2026-11-01&to=2026-11-30T12:00:00Z&base=usd": 200,
    "/api/v1/rates/eth/history?from=2026-11-01T00:00:00%2B02:00&format=csv": 200,
    "/api/v1/convert?from=eth&to=usd&amount=2": 200,
    "/api/v1/rates?base=usd&type=fiat&type=crypto&q=dollar": 200,
    "/api/rates?unused=1": 200,
    "/health/ready": 200,
    "/health/live": 200,
    "/": 200,
    "/api/v1/rates/xyz": 404,
    "/api/v1/rates/eth%2Fhistory": 404,
    "/api/v1/convert?from=eth&to=usd&amount=-1": 422,
    "/api/v1/convert?to=usd&amount=abc&amount=2": 422,
    "/api/v1/convert?to=usd&amount=abc": 422,
    "/api/v1/convert?from=eth&to=usd&amount=inf": 422,
    "/api/v1/rates?base=": 422,
    "/api/v1/rates?type=fiat&type=x": 422,
    "/api/v1/rates/eth?base=usd&base=eur": 422,
    "/api/v1/rates/" + "x" * 17: 422,
    "/api/v1/rates?type=x&q=" + "q" * 65: 422,
    "/api/v1/rates/eth/history?range=2w": 422,
    "/api/v1/rates/eth/history?range=7d&from=2026-11-01": 422,
    "/api/v1/rates/eth/history?from=2026-11-30&to=2026-11-01": 422,
    "/api/v1/rates/eth/history?from=yesterday": 422,
    "/api/v1/rates/eth/history?format=xml": 422,
    "/api/v1/rates/eth/history?range=7d&range=30d": 422,
    "/api/v1/rates/eth/history?since=2026-11-01": 422,
}
COMPARED_HEADERS = (
    "content-type",
    "content-length",
    "cache-control",
    "etag",
    "retry-after",
    "vary",
)


async def _framework_answer(
    app: FastAPI, url: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """The answer of FastAPI's own request path, without the front door's layers."""
    transport = httpx.ASGITransport(app=app.framework)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get(url, headers=headers)


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        *((url, {}) for url in [*DIRECT, "/missing", "/api/v1/rates/eth/"]),
        # The history negotiates CSV by Accept as well as by format=csv.
        ("/api/v1/rates/eth/history?range=30d", {"accept": "text/csv"}),
        ("/api/v1/rates/eth/history?from=2026-11-01", {"accept": "text/csv, */*;q=0.5"}),
        ("/api/v1/rates/eth/history?format=json", {"accept": "text/csv"}),
    ],
)
async def test_direct_answers_equal_fastapis_own(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    headers: dict[str, str],
) -> None:
    # A history's window ends now, to the microsecond: the routes' clock stands still here.
    now = time.time()
    monkeypatch.setattr(rates, "time", SimpleNamespace(time=lambda: now))
    # Bodies carry age_seconds: retry until no second boundary fell between the two requests.
    for _ in range(5):
        direct = await client.get(url, headers=headers)
        routed = await _framework_answer(app, url, headers)
        if direct.content == (await client.get(url, headers=headers)).content:
            break
    assert (direct.status_code, direct.content) == (routed.status_code, routed.content)
    for name in COMPARED_HEADERS:
        assert direct.headers.get(name) == routed.headers.get(name), name
    assert direct.headers["x-request-id"]


@pytest.mark.parametrize(("url", "status"), DIRECT.items())
async def test_routes_are_answered_without_fastapis_dependency_solving(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, url: str, status: int
) -> None:
    async def unused(**kwargs: object) -> None:
        raise AssertionError("FastAPI's request path ran")

    monkeypatch.setattr("fastapi.routing.solve_dependencies", unused)
    assert (await client.get(url)).status_code == status


async def test_no_snapshot_yet_is_left_to_the_request_middleware(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from ..conftest import runtime

    runtime(app).store._current = None  # as before the first refresh
    response = await client.get("/api/v1/rates/eth")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["detail"].startswith("no exchange-rate data yet")
