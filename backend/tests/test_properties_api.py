"""Conversion properties through the HTTP API: the table in any base, the single-rate view and
/convert agree with each other, and switching base preserves every ratio."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from crypto_rates.config import Settings
from crypto_rates.main import create_app
from crypto_rates.persistence import load_sample
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

PROPERTY = settings(derandomize=True, database=None, max_examples=100, deadline=None)
REL = 1e-12
SAMPLE = load_sample()
codes = st.sampled_from(sorted(SAMPLE.rates))


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    # No lifespan (no poller): the routes serve the snapshot put in the store here.
    app = create_app(
        Settings(
            coingecko_base_url="http://upstream.test/api/v3",
            allow_test_upstream=True,
            snapshot_path=None,
        )
    )
    app.state.runtime.store.replace(SAMPLE)
    client = TestClient(app, base_url="http://testserver")  # not entered: no lifespan, no poller
    yield client
    client.close()


@pytest.fixture(scope="module")
def table(api: TestClient) -> Any:
    """The /api/v1/rates table in a base, as {code: value}; fetched once per base."""

    @functools.cache
    def in_base(base: str) -> dict[str, float]:
        response = api.get("/api/v1/rates", params={"base": base})
        assert response.status_code == 200
        return {row["code"]: row["value"] for row in response.json()["rates"]}

    return in_base


def close(a: float, b: float) -> bool:
    return a == pytest.approx(b, rel=REL, abs=0)


@PROPERTY
@given(base=codes, code=codes)
def test_table_single_rate_and_convert_agree(
    api: TestClient, table: Any, base: str, code: str
) -> None:
    in_table = table(base)[code]
    single = api.get(f"/api/v1/rates/{code}", params={"base": base}).json()["rate"]["value"]
    converted = api.get("/api/v1/convert", params={"from": base, "to": code}).json()
    assert close(single, in_table)
    assert close(converted["rate"], in_table) and close(converted["result"], in_table)


@PROPERTY
@given(base=codes, x=codes, y=codes)
def test_switching_base_preserves_every_ratio(table: Any, base: str, x: str, y: str) -> None:
    assert close(table(base)[x] / table(base)[y], table("btc")[x] / table("btc")[y])
    assert close(table(base)[base], 1.0)


@PROPERTY
@given(a=codes, b=codes, amount=st.floats(min_value=1e-6, max_value=1e12))
def test_converting_there_and_back_returns_the_amount(
    api: TestClient, a: str, b: str, amount: float
) -> None:
    there = api.get("/api/v1/convert", params={"from": a, "to": b, "amount": repr(amount)}).json()
    assert close(there["result"], amount * there["rate"])
    back = api.get("/api/v1/convert", params={"from": b, "to": a, "amount": repr(there["result"])})
    if back.status_code == 422:  # the intermediate result left the accepted amount range
        assert there["result"] > 1e15 and "amount" in back.json()["detail"]
        return
    assert close(back.json()["result"], amount)


@PROPERTY
@given(
    a=codes,
    b=codes,
    amount=st.floats(min_value=0, exclude_min=True, allow_nan=False, allow_infinity=False),
)
def test_any_amount_gets_a_finite_answer_or_a_problem_saying_why(
    api: TestClient, a: str, b: str, amount: float
) -> None:
    response = api.get("/api/v1/convert", params={"from": a, "to": b, "amount": repr(amount)})
    if response.status_code == 200:
        result = response.json()["result"]
        exact = amount * response.json()["rate"]
        assert math.isfinite(result)
        assert result == 0.0 if exact < sys.float_info.min else close(result, exact)
    else:  # only amounts the schema refuses (above its documented maximum)
        assert response.status_code == 422 and amount > 1e15
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "amount" in response.json()["detail"]
