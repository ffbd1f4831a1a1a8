"""CoinGecko's payload: what is accepted, what is refused and why, and the shape written back."""

import json
from typing import Any

import pytest
from crypto_rates.coingecko_payload import InvalidResponse, parse_exchange_rates, rates_payload


def test_the_recorded_response_parses_into_61_rates(fixture_body: bytes) -> None:
    rates = parse_exchange_rates(fixture_body)
    assert len(rates) == 61
    assert rates["btc"].value == 1
    assert rates["eth"].name == "Ether"
    assert rates["usd"].type == "fiat"
    assert rates["xau"].type == "commodity"
    assert list(rates)[:3] == ["btc", "eth", "ltc"]  # upstream order is kept
    assert all(code == rate.code for code, rate in rates.items())


def test_unknown_extra_fields_are_tolerated() -> None:
    body = json.dumps(
        {
            "rates": {
                "btc": {"name": "Bitcoin", "unit": "BTC", "value": 1, "type": "crypto", "x": 1}
            },
            "meta": {"new": "field"},
        }
    ).encode()
    assert parse_exchange_rates(body)["btc"].value == 1.0


def _one(**fields: Any) -> bytes:
    rate = {"name": "US Dollar", "unit": "$", "value": 90000.5, "type": "fiat", **fields}
    return json.dumps({"rates": {"usd": rate}}).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "not JSON"),
        (b'{"rates": {"btc": {"name": "Bitcoin"', "not JSON"),
        (b'{"data": {}}', "rates: Field required"),
        (b'{"rates": {}}', "rates: Dictionary should have at least 1 item"),
        (b"[1, 2, 3]", "Input should be a valid dictionary"),
        (_one(value="90000.5"), "value: Input should be a valid number"),
        (_one(value=0), "value: Input should be greater than or equal to"),
        (_one(value=-3), "value: Input should be greater than or equal to"),
        (b'{"rates": {"usd": {"name": "x", "unit": "$", "value": NaN, "type": "fiat"}}}', "finite"),
        (_one(value=1e300), "value: Input should be less than or equal to"),
        (_one(type="stock"), "type: Input should be 'crypto', 'fiat' or 'commodity'"),
        (_one(name=""), "name: String should have at least 1 character"),
        (
            json.dumps(
                {"rates": {"USD!": {"name": "x", "unit": "$", "value": 1, "type": "fiat"}}}
            ).encode(),
            "rates.USD!",
        ),
        (b"\xff\xfe garbage", "not JSON"),
    ],
)
def test_bad_bodies_are_rejected_saying_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidResponse, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_exchange_rates(body)


def test_rates_payload_writes_back_what_was_parsed(fixture_body: bytes) -> None:
    rates = parse_exchange_rates(fixture_body)
    assert parse_exchange_rates(json.dumps({"rates": rates_payload(rates)}).encode()) == rates
