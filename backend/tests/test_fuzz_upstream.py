"""Garbage in: hundreds of generated malformed upstream bodies never crash the parser or the poller,
and never replace good data."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from crypto_rates.budget import CallBudget
from crypto_rates.coingecko_payload import (
    MAX_VALUE,
    MIN_VALUE,
    InvalidResponse,
    parse_exchange_rates,
)
from crypto_rates.config import Settings
from crypto_rates.database import Database
from crypto_rates.database_url import sqlite_memory
from crypto_rates.metrics import Metrics
from crypto_rates.persistence import load_sample
from crypto_rates.poller import Poller
from crypto_rates.rate import CODE_PATTERN, RATE_TYPES, Rate
from crypto_rates.store import SnapshotStore
from crypto_rates.upstream import CoinGeckoClient
from hypothesis import given, settings
from hypothesis import strategies as st

FIXTURE = Path(__file__).resolve().parents[1] / "crypto_rates/data/sample-exchange-rates.json"
PAYLOAD: dict[str, Any] = json.loads(FIXTURE.read_bytes())
CODES = sorted(PAYLOAD["rates"])
FUZZ = settings(derandomize=True, database=None, max_examples=300, deadline=None)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()  # NaN and ±inf included: Python's json writes and reads them
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
bad_values: st.SearchStrategy[object] = st.sampled_from(
    [0, -1, -1e-300, 1e-13, 1e19, math.nan, math.inf, -math.inf, "18.8", True, None, [], {}]
)
bad_codes = st.sampled_from(["BTC", "", "a" * 17, "b c", "ü", "eth\n", "$"])
bad_names = st.sampled_from(["", "x" * 101, 7, None, ["Ether"]])
bad_types = st.text(max_size=12).filter(lambda t: t not in RATE_TYPES) | st.sampled_from([1, None])


def _with_rate(change: Any) -> st.SearchStrategy[bytes]:
    """The real payload with one rate changed by `change(rate, draw)`; always invalid."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        code = draw(st.sampled_from(CODES))
        rates = {c: dict(r) for c, r in PAYLOAD["rates"].items()}
        change(rates, code, draw)
        return json.dumps({"rates": rates}).encode()

    return build()


def _drop_field(rates: dict[str, Any], code: str, draw: st.DrawFn) -> None:
    del rates[code][draw(st.sampled_from(["name", "unit", "value", "type"]))]


def _bad_field(rates: dict[str, Any], code: str, draw: st.DrawFn) -> None:
    field, strategy = draw(
        st.sampled_from([("value", bad_values), ("name", bad_names), ("type", bad_types)])
    )
    rates[code][field] = draw(strategy)


def _bad_code(rates: dict[str, Any], code: str, draw: st.DrawFn) -> None:
    rates[draw(bad_codes)] = rates.pop(code)


def _not_an_object(rates: dict[str, Any], code: str, draw: st.DrawFn) -> None:
    rates[code] = draw(json_scalars | st.lists(json_scalars, max_size=3))


@st.composite
def _truncated(draw: st.DrawFn) -> bytes:
    body = FIXTURE.read_bytes().strip()
    return body[: draw(st.integers(min_value=0, max_value=len(body) - 1))]


@st.composite
def _wrong_top_level(draw: st.DrawFn) -> bytes:
    shape = draw(
        st.sampled_from(["list", "no rates", "rates not a map", "empty map", "scalar", "html"])
    )
    if shape == "list":
        return json.dumps(list(PAYLOAD["rates"].values())).encode()
    if shape == "no rates":
        return json.dumps({"data": PAYLOAD["rates"], "rate": draw(json_values)}).encode()
    if shape == "rates not a map":
        return json.dumps(
            {"rates": draw(json_scalars | st.lists(json_values, max_size=3))}
        ).encode()
    if shape == "empty map":
        return b'{"rates": {}}'
    if shape == "scalar":
        return json.dumps(draw(json_scalars)).encode()
    return b"<!DOCTYPE html><html><body>" + draw(st.text(max_size=40)).encode() + b"</body></html>"


# Bodies that are certainly not a valid payload.
malformed = st.one_of(
    _truncated(),
    _wrong_top_level(),
    _with_rate(_drop_field),
    _with_rate(_bad_field),
    _with_rate(_bad_code),
    _with_rate(_not_an_object),
)
# Anything at all: random bytes and random JSON (which may, rarely, be valid).
anything = st.binary(max_size=512) | json_values.map(lambda v: json.dumps(v).encode()) | malformed


def assert_valid_rates(rates: Mapping[str, Rate]) -> None:
    assert rates, "an accepted payload must have rates"
    for code, rate in rates.items():
        assert re.fullmatch(CODE_PATTERN, code) and rate.code == code
        assert rate.name and rate.type in RATE_TYPES
        assert math.isfinite(rate.value) and MIN_VALUE <= rate.value <= MAX_VALUE


def test_the_real_recording_parses() -> None:
    assert_valid_rates(parse_exchange_rates(FIXTURE.read_bytes()))


@FUZZ
@given(malformed)
def test_malformed_bodies_are_refused_saying_what_is_wrong(body: bytes) -> None:
    try:
        parse_exchange_rates(body)
    except InvalidResponse as exc:
        assert str(exc), "the refusal must say what is wrong"
    else:
        raise AssertionError(f"accepted a malformed body: {body[:200]!r}")


@FUZZ
@given(anything)
def test_any_body_is_either_refused_or_fully_valid(body: bytes) -> None:
    try:
        rates = parse_exchange_rates(body)
    except InvalidResponse:
        return
    assert_valid_rates(rates)


async def _refresh_with(body: bytes) -> tuple[bool, bool, float | None]:
    """One refresh_once() against an upstream answering `body`; returns (outcome ok, good data
    kept, invalid_response attempts counted)."""
    metrics = Metrics()
    store = SnapshotStore(history_limit=10)
    good = load_sample()
    store.replace(good)
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    upstream = Settings(
        coingecko_base_url="http://upstream.test/api/v3",
        allow_test_upstream=True,
        snapshot_path=None,
    )
    async with httpx.AsyncClient(transport=transport) as http:
        client = CoinGeckoClient(upstream, metrics, http=http)
        database = Database(sqlite_memory())
        poller = Poller(
            client, store, metrics, upstream.refresh_interval, database, CallBudget(None)
        )
        outcome = await poller.refresh_once()
    counted = metrics.registry.get_sample_value(
        "coingecko_api_calls_total", {"status": "invalid_response"}
    )
    return outcome.ok, store.current is good, counted


@settings(derandomize=True, database=None, max_examples=200, deadline=None)
@given(malformed)
def test_the_poller_survives_garbage_and_keeps_the_good_data(body: bytes) -> None:
    ok, kept, counted = asyncio.run(_refresh_with(body))
    assert not ok
    assert kept, "a malformed body replaced the snapshot being served"
    assert counted == 1
