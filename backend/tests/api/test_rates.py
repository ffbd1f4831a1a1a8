"""The rate endpoints: shapes, base switching, filters, conversion and every bad input."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from crypto_rates.coingecko_payload import parse_exchange_rates
from crypto_rates.persistence import load_sample
from crypto_rates.snapshot import build_snapshot
from fastapi import FastAPI

from ..conftest import runtime

PROBLEM_FIELDS = {"type", "title", "status", "detail"}


def put_live_data(app: FastAPI, fixture_body: bytes, age: float = 5.0) -> None:
    """Serve the fixture as if fetched from CoinGecko `age` seconds ago."""
    fetched_at = datetime.now(UTC) - timedelta(seconds=age)
    snapshot = build_snapshot(parse_exchange_rates(fixture_body), fetched_at, "coingecko")
    runtime(app).store.replace(snapshot)


async def test_legacy_endpoint_keeps_the_old_services_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/rates")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"last_updated", "rates", "total_currencies", "data_source", "cache_status"}
    assert body["total_currencies"] == len(body["rates"]) == 61
    assert body["rates"]["eth"] == {
        "name": "Ether",
        "unit": "ETH",
        "value": 18.801,
        "type": "crypto",
    }
    assert body["data_source"] == "sample"
    assert body["cache_status"] == "stale"  # sample data is always stale
    assert body["last_updated"] == "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("intervals", "status"), [(0, "fresh"), (4 / 3, "cached"), (7 / 3, "stale")]
)
async def test_legacy_cache_status_follows_the_data_age(
    app: FastAPI, client: httpx.AsyncClient, fixture_body: bytes, intervals: float, status: str
) -> None:
    # Ages in refresh intervals: cached after one, stale after two (the default STALE_AFTER).
    age = 5 + intervals * runtime(app).settings.refresh_interval
    put_live_data(app, fixture_body, age=age)
    body = (await client.get("/api/rates")).json()
    assert body["cache_status"] == status
    assert body["data_source"] == "coingecko"


async def test_v1_list_defaults_to_btc_with_every_rate(
    app: FastAPI, client: httpx.AsyncClient, fixture_body: bytes
) -> None:
    put_live_data(app, fixture_body, age=42)
    body = (await client.get("/api/v1/rates")).json()
    assert body["base"] == "btc"
    assert body["source"] == "coingecko"
    assert body["stale"] is False
    assert 42 <= body["age_seconds"] <= 44
    assert body["count"] == len(body["rates"]) == 61
    assert body["rates"][1] == {
        "code": "eth",
        "name": "Ether",
        "unit": "ETH",
        "type": "crypto",
        "value": 18.801,
    }
    fetched = datetime.fromisoformat(body["fetched_at"])
    assert abs((datetime.now(UTC) - fetched).total_seconds() - 42) < 2


async def test_v1_list_marks_old_data_stale(
    app: FastAPI, client: httpx.AsyncClient, fixture_body: bytes
) -> None:
    put_live_data(app, fixture_body, age=601)
    assert (await client.get("/api/v1/rates")).json()["stale"] is True


async def test_base_switch_gives_units_per_one_base(
    client: httpx.AsyncClient, fixture_payload: dict[str, dict[str, dict[str, float]]]
) -> None:
    rates = fixture_payload["rates"]
    body = (await client.get("/api/v1/rates", params={"base": "USD"})).json()
    assert body["base"] == "usd"
    values = {row["code"]: row["value"] for row in body["rates"]}
    assert values["usd"] == pytest.approx(1.0)
    assert values["btc"] == pytest.approx(1 / rates["usd"]["value"])
    assert values["eur"] == pytest.approx(rates["eur"]["value"] / rates["usd"]["value"])


async def test_type_filter_is_repeatable(
    client: httpx.AsyncClient, fixture_payload: dict[str, dict[str, dict[str, str]]]
) -> None:
    expected = [c for c, r in fixture_payload["rates"].items() if r["type"] != "fiat"]
    body = (await client.get("/api/v1/rates?type=crypto&type=commodity")).json()
    assert [row["code"] for row in body["rates"]] == expected
    assert body["count"] == len(expected)
    only_fiat = (await client.get("/api/v1/rates?type=fiat")).json()
    assert {row["type"] for row in only_fiat["rates"]} == {"fiat"}
    assert body["count"] + only_fiat["count"] == 61


async def test_search_matches_code_and_name_case_insensitively(client: httpx.AsyncClient) -> None:
    by_name = (await client.get("/api/v1/rates", params={"q": "DOL"})).json()
    names = {row["name"] for row in by_name["rates"]}
    assert "US Dollar" in names and "Australian Dollar" in names
    assert all(
        "dol" in n.lower() or "dol" in row["code"]
        for n, row in zip(names, by_name["rates"], strict=False)
    )
    by_code = (await client.get("/api/v1/rates", params={"q": "eth"})).json()
    assert [row["code"] for row in by_code["rates"]] == ["eth"]
    nothing = (await client.get("/api/v1/rates", params={"q": "zzzz"})).json()
    assert nothing["count"] == 0 and nothing["rates"] == []


async def test_filters_combine_with_a_base(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/rates?base=eur&type=crypto&q=bit")).json()
    assert body["base"] == "eur"
    assert {row["code"] for row in body["rates"]} == {"btc", "bch", "bits"}


async def test_one_rate_in_a_base(
    client: httpx.AsyncClient, fixture_payload: dict[str, dict[str, dict[str, float]]]
) -> None:
    rates = fixture_payload["rates"]
    body = (await client.get("/api/v1/rates/ETH", params={"base": "usd"})).json()
    assert body["base"] == "usd" and body["source"] == "sample" and body["stale"] is True
    assert body["rate"]["code"] == "eth" and body["rate"]["name"] == "Ether"
    assert body["rate"]["value"] == pytest.approx(rates["eth"]["value"] / rates["usd"]["value"])
    assert set(body) == {"base", "fetched_at", "age_seconds", "stale", "source", "rate"}


async def test_convert_gives_rate_and_result(
    client: httpx.AsyncClient, fixture_payload: dict[str, dict[str, dict[str, float]]]
) -> None:
    rates = fixture_payload["rates"]
    body = (await client.get("/api/v1/convert?from=eth&to=usd&amount=2.5")).json()
    expected_rate = rates["usd"]["value"] / rates["eth"]["value"]
    assert body["from"] == "eth" and body["to"] == "usd" and body["amount"] == 2.5
    assert body["rate"] == pytest.approx(expected_rate)
    assert body["result"] == pytest.approx(2.5 * expected_rate)
    assert body["fetched_at"] == "2024-01-01T00:00:00Z"


async def test_convert_defaults_to_an_amount_of_one(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/convert?from=btc&to=sats")).json()
    assert body["amount"] == 1 and body["result"] == pytest.approx(100_000_000)


async def test_history_lists_the_recorded_series(
    app: FastAPI, client: httpx.AsyncClient, fixture_body: bytes
) -> None:
    store = runtime(app).store
    now = datetime.now(UTC)
    for minutes, eth in ((10, b"18.0"), (5, b"19.0"), (0, b"20.0")):
        body = fixture_body.replace(b"18.801", eth)
        store.replace(
            build_snapshot(
                parse_exchange_rates(body), now - timedelta(minutes=minutes), "coingecko"
            )
        )
    history = (await client.get("/api/v1/rates/eth/history")).json()
    assert history["code"] == "eth" and history["base"] == "btc" and history["count"] == 3
    assert [p["value"] for p in history["points"]] == [18.0, 19.0, 20.0]
    times = [datetime.fromisoformat(p["t"]) for p in history["points"]]
    assert times == sorted(times)
    in_eth = (await client.get("/api/v1/rates/btc/history?base=eth")).json()
    assert [p["value"] for p in in_eth["points"]] == pytest.approx([1 / 18, 1 / 19, 1 / 20])


async def test_history_is_empty_while_only_the_sample_exists(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/rates/usd/history?base=eur")).json()
    assert body["count"] == 0 and body["points"] == []
    assert (body["code"], body["base"], body["source"], body["stale"]) == (
        "usd",
        "eur",
        "sample",
        True,
    )


@pytest.mark.parametrize("url", ["/api/v1/rates/eth/history", "/api/v1/convert?from=eth&to=usd"])
async def test_history_and_convert_carry_the_freshness_envelope(
    app: FastAPI, client: httpx.AsyncClient, fixture_body: bytes, url: str
) -> None:
    sample = (await client.get(url)).json()
    assert sample["source"] == "sample" and sample["stale"] is True
    assert sample["fetched_at"] == "2024-01-01T00:00:00Z" and sample["age_seconds"] > 10**7
    put_live_data(app, fixture_body, age=42)
    live = (await client.get(url)).json()
    assert live["source"] == "coingecko" and live["stale"] is False
    assert 42 <= live["age_seconds"] <= 44
    put_live_data(app, fixture_body, age=runtime(app).settings.effective_stale_after + 1)
    assert (await client.get(url)).json()["stale"] is True


@pytest.mark.parametrize(
    ("amount", "result"), [("1e-320", 0.0), ("5e-324", 0.0), ("1e-300", None), ("1e15", None)]
)
async def test_convert_answers_every_amount_the_schema_admits(
    client: httpx.AsyncClient, amount: str, result: float | None
) -> None:
    response = await client.get(f"/api/v1/convert?from=sats&to=xau&amount={amount}")
    assert response.status_code == 200, response.text
    body = response.json()
    if result is not None:
        assert body["result"] == result  # below the smallest normal double: 0, as documented
    else:
        assert body["result"] == pytest.approx(float(amount) * body["rate"], rel=1e-15)


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/rates/",
        "/api/v1/rates/eth/",
        "/api/v1/convert/?from=eth&to=usd",
        "/api/v1/rates/eth%2fhistory",
        "/api/v1/rates/eth%2Fhistory",
        "/api/v1%2Frates/eth",
    ],
)
async def test_trailing_and_encoded_slashes_are_404_problems_not_other_routes(
    client: httpx.AsyncClient, url: str
) -> None:
    response = await client.get(url, headers={"Host": "evil.example"})
    assert response.status_code == 404, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"


async def test_repeatable_type_filter_is_not_refused_as_repeated(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/rates?type=fiat&type=fiat&base=usd")).status_code == 200


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("/api/v1/rates/xyz", "unknown code 'xyz'"),
        ("/api/v1/rates?base=doge", "unknown base 'doge'"),
        ("/api/v1/rates/eth?base=nope", "unknown base 'nope'"),
        ("/api/v1/rates/nope/history", "unknown code 'nope'"),
        ("/api/v1/convert?from=eth&to=zzz", "unknown to 'zzz'"),
        ("/api/v1/convert?from=qqq&to=usd", "unknown from 'qqq'"),
    ],
)
async def test_unknown_codes_are_404_problems_listing_valid_codes(
    client: httpx.AsyncClient, url: str, fragment: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == PROBLEM_FIELDS and body["status"] == 404
    assert fragment in body["detail"] and "known codes: btc, eth" in body["detail"]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("/api/v1/rates?type=stock", "'type': Input should be 'crypto', 'fiat' or 'commodity'"),
        ("/api/v1/rates?q=" + "x" * 65, "'q': String should have at most 64 characters"),
        ("/api/v1/rates?base=" + "b" * 17, "'base': String should have at most 16 characters"),
        ("/api/v1/convert?from=eth&to=usd&amount=abc", "'amount': Input should be a valid number"),
        ("/api/v1/convert?from=eth&to=usd&amount=-1", "'amount': Input should be greater than 0"),
        ("/api/v1/convert?from=eth&to=usd&amount=0", "'amount': Input should be greater than 0"),
        ("/api/v1/convert?from=eth&to=usd&amount=nan", "'amount': Input should be a finite number"),
        ("/api/v1/convert?from=eth&to=usd&amount=inf", "'amount': Input should be a finite number"),
        ("/api/v1/convert?from=eth&to=usd&amount=1e16", "less than or equal to 1000000000000000"),
        ("/api/v1/convert?from=eth&amount=1", "parameter 'to' is required"),
        ("/api/v1/rates/" + "e" * 17, "'code': String should have at most 16 characters"),
        ("/api/v1/rates?base=usd&base=eur", "'base' takes one value but was given 2"),
        ("/api/v1/convert?from=eth&to=usd&to=eur", "'to' takes one value but was given 2"),
        ("/api/v1/convert?from=eth&to=usd&amount=1&amount=2", "'amount' takes one value"),
    ],
)
async def test_bad_parameters_are_422_problems_saying_what_is_valid(
    client: httpx.AsyncClient, url: str, fragment: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == PROBLEM_FIELDS and body["status"] == 422
    assert fragment in body["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "/api/rates",
        "/api/v1/rates",
        "/api/v1/rates?base=usd",
        "/api/v1/rates/eth",
        "/api/v1/rates/eth/history",
        "/api/v1/convert?from=eth&to=usd",
    ],
)
async def test_no_snapshot_at_all_is_503_with_retry_after(settings: object, url: str) -> None:
    from crypto_rates.main import create_app

    empty = create_app(settings)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=empty)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get(url)
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["content-type"] == "application/problem+json"
    assert "no exchange-rate data yet" in response.json()["detail"]


async def test_sample_is_labelled_everywhere(client: httpx.AsyncClient) -> None:
    assert load_sample().source == "sample"
    for url in ("/api/v1/rates", "/api/v1/rates/usd"):
        body = (await client.get(url)).json()
        assert body["source"] == "sample" and body["stale"] is True


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("/api/v1/rates?_=1733280000000", "base, q, type"),
        ("/api/v1/rates/eth?base=usd&junk=1", "base"),
        ("/api/v1/convert?from=eth&to=usd&callback=x", "amount, from, to"),
    ],
)
async def test_unknown_parameters_are_refused_naming_the_valid_ones(
    client: httpx.AsyncClient, url: str, valid: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert f"this endpoint reads: {valid}" in response.json()["detail"]


async def test_the_legacy_route_still_ignores_any_query(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/rates?_=1733280000000")).status_code == 200
