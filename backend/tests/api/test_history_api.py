"""GET /api/v1/rates/{code}/history: ranges, from/to, resolution, CSV and bad windows."""

import csv
import io
import time
from datetime import UTC, datetime

import httpx
import pytest
from crypto_rates.history import DAY, HOUR, Archive, ArchivedPoint
from fastapi import FastAPI

from ..conftest import runtime
from .test_rates import put_live_data


def put_archive(app: FastAPI, days: int = 400) -> None:
    now = time.time()
    points = [
        ArchivedPoint(
            code,
            resolution,
            int((now - 48 * HOUR - i * resolution) // resolution * resolution),
            value * (1 + i / 1000),
        )
        for code, value in (("btc", 1.0), ("usd", 40_000.0), ("eth", 18.0))
        for resolution, count in ((HOUR, 88 * 24), (DAY, days))
        for i in range(1, count + 1)
    ]
    runtime(app).store.replace_archive(Archive().merged(points, now))


@pytest.mark.parametrize(
    ("range_", "resolution", "least"),
    [
        ("24h", 300, 1),
        ("7d", HOUR, 5 * 24),
        ("30d", 2 * HOUR, 300),
        ("1y", DAY, 360),
        ("max", DAY, 395),
    ],
)
async def test_each_range_answers_at_most_500_points_at_the_finest_resolution_that_fits(
    app: FastAPI,
    client: httpx.AsyncClient,
    fixture_body: bytes,
    range_: str,
    resolution: int,
    least: int,
) -> None:
    put_live_data(app, fixture_body)
    put_archive(app)
    response = await client.get(f"/api/v1/rates/usd/history?range={range_}&base=eth")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resolution_seconds"] == resolution
    assert least <= body["count"] == len(body["points"]) <= 500
    times = [datetime.fromisoformat(p["t"]) for p in body["points"]]
    assert times == sorted(times)
    assert body["points"][0]["value"] > 2000  # usd per eth
    assert body["source"] == "coingecko" and "etag" in response.headers


async def test_from_and_to_select_a_window_and_csv_matches_json_point_for_point(
    app: FastAPI, client: httpx.AsyncClient, fixture_body: bytes
) -> None:
    put_live_data(app, fixture_body)
    put_archive(app)
    start = datetime.fromtimestamp(time.time() - 200 * DAY, UTC).date()
    end = datetime.fromtimestamp(time.time() - 190 * DAY, UTC).date()
    url = f"/api/v1/rates/usd/history?from={start}&to={end}"
    body = (await client.get(url)).json()
    assert body["resolution_seconds"] == DAY and body["count"] == 11
    assert body["from"] == f"{start}T00:00:00Z" and body["to"] == f"{end}T23:59:59Z"
    by_header = await client.get(url, headers={"accept": "text/csv"})
    by_format = await client.get(url + "&format=csv")
    assert by_header.headers["content-type"].startswith("text/csv")
    assert by_header.text == by_format.text
    assert by_header.headers["etag"] != (await client.get(url)).headers["etag"]
    rows = list(csv.DictReader(io.StringIO(by_header.text)))
    assert [(r["t"], float(r["value"])) for r in rows] == [
        (p["t"], p["value"]) for p in body["points"]
    ]


async def test_the_etag_holds_while_the_data_does_and_answers_304(
    app: FastAPI, client: httpx.AsyncClient, fixture_body: bytes
) -> None:
    put_live_data(app, fixture_body)
    put_archive(app)
    first = await client.get("/api/v1/rates/usd/history?range=7d")
    again = await client.get(
        "/api/v1/rates/usd/history?range=7d", headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304
    put_archive(app, days=401)  # new data: a new ETag
    assert (await client.get("/api/v1/rates/usd/history?range=1y")).headers[
        "etag"
    ] != first.headers["etag"]


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("range=2w", "24h"),
        ("range=7d&from=2026-01-01", "either range or from/to"),
        ("from=2026-02-30", "is not an ISO 8601 date"),
        ("from=2026-03-02&to=2026-03-01", "from must be at or before to"),
        ("to=2026-03-01", "to needs from"),
        ("format=xml", "csv"),
    ],
)
async def test_invalid_or_reversed_ranges_are_422_problems_saying_what_is_valid(
    app: FastAPI, client: httpx.AsyncClient, fixture_body: bytes, query: str, detail: str
) -> None:
    put_live_data(app, fixture_body)
    response = await client.get(f"/api/v1/rates/usd/history?{query}")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
