"""The fake CoinGecko upstream behaves as the other suites rely on it to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

from testkit.fake_coingecko import MODES, FakeCoinGecko, load_fixture, main

BACKEND = Path(__file__).resolve().parents[2]
SHARED_FIXTURE = BACKEND.parents[1] / "shared/fixtures/coingecko-exchange-rates.json"


@pytest.fixture
def fake() -> Iterator[FakeCoinGecko]:
    with FakeCoinGecko(hang_seconds=5) as server:
        yield server


def get_rates(fake: FakeCoinGecko, **kwargs: object) -> httpx.Response:
    return httpx.get(f"{fake.url}/exchange_rates", timeout=5, **kwargs)  # type: ignore[arg-type]


def test_ok_serves_the_bundled_recorded_response(fake: FakeCoinGecko) -> None:
    response = get_rates(fake)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    rates = response.json()["rates"]
    assert len(rates) == 61
    assert rates["eth"] == {"name": "Ether", "unit": "ETH", "value": 18.801, "type": "crypto"}
    assert fake.url.startswith("http://127.0.0.1:") and fake.url.endswith("/api/v3")


def test_bundled_sample_matches_the_shared_recording() -> None:
    if not SHARED_FIXTURE.exists():
        pytest.skip("shared/ is not beside this checkout")
    assert load_fixture() == json.loads(SHARED_FIXTURE.read_bytes())


def test_custom_fixture_is_served(tmp_path: Path) -> None:
    fixture = tmp_path / "rates.json"
    fixture.write_text(
        '{"rates": {"usd": {"name": "US Dollar", "unit": "$", "value": 2, "type": "fiat"}}}'
    )
    with FakeCoinGecko(fixture) as fake:
        assert get_rates(fake).json()["rates"]["usd"]["value"] == 2


@pytest.mark.parametrize("content", ["not json", '{"data": []}', '{"rates": []}'])
def test_bad_fixture_is_refused_with_a_clear_error(tmp_path: Path, content: str) -> None:
    fixture = tmp_path / "bad.json"
    fixture.write_text(content)
    with pytest.raises(ValueError, match=r"fixture .*bad\.json"):
        FakeCoinGecko(fixture)


def test_every_request_is_counted_with_time_and_headers(fake: FakeCoinGecko) -> None:
    assert fake.calls == 0 and fake.call_times == [] and fake.last_headers is None
    get_rates(fake)
    fake.set_mode("500")
    get_rates(fake, headers={"x-cg-demo-api-key": "k-123"})
    assert fake.calls == 2
    first, second = fake.call_times
    assert first <= second
    assert [(c.mode, c.retry_after) for c in fake.call_log] == [("ok", None), ("500", None)]
    assert fake.last_headers is not None
    assert fake.last_headers["x-cg-demo-api-key"] == "k-123"
    # Other paths are not upstream calls.
    assert httpx.get(f"{fake.url}/ping").status_code == 404
    assert fake.calls == 2


@pytest.mark.parametrize("retry_after", [None, "7"])
@pytest.mark.parametrize(("mode", "status"), [("500", 500), ("429", 429)])
def test_error_modes_answer_their_status_and_retry_after(
    fake: FakeCoinGecko, mode: str, status: int, retry_after: str | None
) -> None:
    fake.set_mode(mode, retry_after=retry_after)
    response = get_rates(fake)
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after


def test_html_mode_answers_an_html_page(fake: FakeCoinGecko) -> None:
    fake.set_mode("html")
    response = get_rates(fake)
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")


def test_truncated_mode_answers_invalid_json(fake: FakeCoinGecko) -> None:
    fake.set_mode("truncated")
    response = get_rates(fake)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_wrong_shape_and_empty_modes_answer_json_that_is_not_a_rates_map(
    fake: FakeCoinGecko,
) -> None:
    fake.set_mode("wrong_shape")
    assert isinstance(get_rates(fake).json()["rates"], list)
    fake.set_mode("empty")
    assert get_rates(fake).json() == {"rates": {}}


def test_timeout_mode_hangs_until_the_client_gives_up(fake: FakeCoinGecko) -> None:
    fake.set_mode("timeout")
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{fake.url}/exchange_rates", timeout=0.3)
    fake.set_mode("ok")
    assert get_rates(fake).status_code == 200
    assert fake.calls == 2


def hanging_call(fake: FakeCoinGecko, timeout: float) -> tuple[threading.Thread, list[Exception]]:
    """A call in "timeout" mode on a thread, started once the fake has seen it; errors collected."""
    fake.set_mode("timeout")
    outcome: list[Exception] = []

    def call() -> None:
        try:
            httpx.get(f"{fake.url}/exchange_rates", timeout=timeout)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while fake.calls == 0:
        time.sleep(0.01)
    return caller, outcome


def test_a_mode_change_does_not_cut_a_hanging_call_short(fake: FakeCoinGecko) -> None:
    caller, outcome = hanging_call(fake, timeout=1.0)
    fake.set_mode("ok")
    caller.join()
    # Still a timeout for the client, not a dropped connection.
    assert [type(exc) for exc in outcome] == [httpx.ReadTimeout]


def test_stop_releases_hanging_calls() -> None:
    fake = FakeCoinGecko(hang_seconds=60).start()
    caller, outcome = hanging_call(fake, timeout=30)
    fake.stop()
    caller.join(timeout=20)
    assert not caller.is_alive()
    assert [type(exc) for exc in outcome] == [httpx.RemoteProtocolError]


def test_scale_changes_every_value_relative_to_the_fixture(fake: FakeCoinGecko) -> None:
    before = get_rates(fake).json()["rates"]
    fake.scale(2)
    fake.scale(1.5)  # relative to the fixture, not cumulative
    after = get_rates(fake).json()["rates"]
    assert after.keys() == before.keys()
    for code, rate in before.items():
        assert after[code]["value"] == pytest.approx(rate["value"] * 1.5)


@pytest.mark.parametrize("factor", [0, -1, float("nan"), float("inf"), "2", True, None])
def test_bad_scale_factor_is_refused(fake: FakeCoinGecko, factor: object) -> None:
    with pytest.raises(ValueError, match="positive finite number"):
        fake.scale(factor)


def test_unknown_mode_is_refused_naming_the_valid_ones(fake: FakeCoinGecko) -> None:
    with pytest.raises(ValueError, match="valid modes: ok, 500, 429, timeout"):
        fake.set_mode("teapot")


def test_reset_restores_mode_values_and_counters(fake: FakeCoinGecko) -> None:
    original = get_rates(fake).content
    fake.set_mode("429", retry_after="3")
    fake.scale(3)
    fake.reset()
    assert fake.calls == 0 and fake.call_times == [] and fake.last_headers is None
    assert get_rates(fake).content == original


def test_http_control_endpoints(fake: FakeCoinGecko) -> None:
    control = fake.url.removesuffix("/api/v3") + "/_control"
    ok = httpx.post(f"{control}/mode", json={"mode": "429", "retry_after": "11"})
    assert ok.status_code == 200
    response = get_rates(fake)
    assert (response.status_code, response.headers["retry-after"]) == (429, "11")
    assert httpx.get(f"{control}/calls").json() == {"calls": 1, "history_calls": 0}

    assert httpx.post(f"{control}/scale", json={"factor": 2}).status_code == 200
    httpx.post(f"{control}/mode", json={"mode": "ok"})
    assert get_rates(fake).json()["rates"]["eth"]["value"] == pytest.approx(37.602)

    assert httpx.post(f"{control}/reset").status_code == 200
    assert httpx.get(f"{control}/calls").json() == {"calls": 0, "history_calls": 0}
    assert get_rates(fake).json()["rates"]["eth"]["value"] == 18.801


def test_a_required_key_refuses_calls_without_it(fake: FakeCoinGecko) -> None:
    control = fake.url.removesuffix("/api/v3") + "/_control"
    assert httpx.post(f"{control}/key", json={"key": "new-key"}).status_code == 200
    assert get_rates(fake).status_code == 401
    assert get_rates(fake, headers={"x-cg-demo-api-key": "old-key"}).status_code == 401
    assert get_rates(fake, headers={"x-cg-demo-api-key": "new-key"}).status_code == 200
    assert get_rates(fake, headers={"x-cg-pro-api-key": "new-key"}).status_code == 200
    assert [call.mode for call in fake.call_log] == ["401", "401", "ok", "ok"]
    supported = f"{fake.url}/simple/supported_vs_currencies"  # the backfill's endpoints too
    assert httpx.get(supported).status_code == 401
    assert httpx.get(supported, headers={"x-cg-demo-api-key": "new-key"}).status_code == 200
    httpx.post(f"{control}/key", json={"key": None})
    assert get_rates(fake).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("mode", {"mode": "sometimes"}, "valid modes"),
        ("key", {"key": ""}, "non-empty string"),
        ("mode", {"mode": "429", "retry_after": ["1"]}, "retry_after"),
        ("scale", {"factor": "x"}, "positive finite"),
        ("scale", [1], "JSON object"),
    ],
)
def test_http_control_refuses_bad_input_saying_why(
    fake: FakeCoinGecko, path: str, body: object, message: str
) -> None:
    control = fake.url.removesuffix("/api/v3") + "/_control"
    response = httpx.post(f"{control}/{path}", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert httpx.post(f"{control}/nowhere", json={}).status_code == 404


def test_all_documented_modes_are_served(fake: FakeCoinGecko) -> None:
    assert MODES == (
        "ok",
        "500",
        "429",
        "timeout",
        "html",
        "truncated",
        "wrong_shape",
        "empty",
        "401",
        "gzip_bomb",
        "endless",
    )


def test_url_before_start_and_double_start_are_errors() -> None:
    fake = FakeCoinGecko()
    with pytest.raises(RuntimeError, match="start"):
        _ = fake.url
    with fake, pytest.raises(RuntimeError, match="already running"):
        fake.start()
    fake.stop()  # stopping twice is harmless


def test_command_line_prints_its_url_and_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "testkit.fake_coingecko", "--port", "0"],
        env={**os.environ, "PYTHONPATH": str(BACKEND)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split()[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v3")
        assert len(httpx.get(f"{url}/exchange_rates").json()["rates"]) == 61
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_command_line_refuses_a_bad_fixture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    assert main(["--port", "0", "--fixture", str(bad)]) == 2
    error = capsys.readouterr().err
    assert "cannot start" in error and "bad.json" in error


def test_http_control_refuses_a_body_that_is_not_json(fake: FakeCoinGecko) -> None:
    control = fake.url.removesuffix("/api/v3") + "/_control"
    response = httpx.post(f"{control}/mode", content=b"ok please")
    assert response.status_code == 400
    assert "must be a JSON object" in response.json()["error"]


@pytest.mark.parametrize(
    ("days", "step", "count"), [(1, 300, 289), (30, 3600, 721), (365, 86400, 365)]
)
def test_market_chart_has_coingeckos_automatic_granularity(
    fake: FakeCoinGecko, days: int, step: int, count: int
) -> None:
    response = httpx.get(
        f"{fake.url}/coins/bitcoin/market_chart", params={"vs_currency": "usd", "days": days}
    )
    prices = response.json()["prices"]
    assert count <= len(prices) <= count + 2
    times = [t / 1000 for t, _ in prices]
    assert {round(b - a) for a, b in pairwise(times[:-1])} == {step}
    assert abs(times[-1] - time.time()) < 60  # the last point is now
    if step == 86400:
        assert all(t % 86400 == 0 for t in times[:-1])  # daily at 00:00 UTC
    usd = load_fixture()["rates"]["usd"]["value"]
    assert all(0.97 * usd < v < 1.03 * usd for _, v in prices)
    assert fake.history_calls[-1].startswith("/api/v3/coins/bitcoin/market_chart?")
    assert fake.calls == 0  # /exchange_rates' count is its own


def test_supported_units_and_the_limits_of_market_chart(fake: FakeCoinGecko) -> None:
    units = httpx.get(f"{fake.url}/simple/supported_vs_currencies").json()
    assert "usd" in units and "eth" in units and "xdr" not in units
    chart = f"{fake.url}/coins/bitcoin/market_chart"
    assert httpx.get(chart, params={"vs_currency": "usd", "days": 366}).status_code == 401
    assert httpx.get(chart, params={"vs_currency": "xdr", "days": 1}).status_code == 400


def test_history_faults_leave_exchange_rates_alone(fake: FakeCoinGecko) -> None:
    fake.set_history_mode("500")
    chart = f"{fake.url}/coins/bitcoin/market_chart"
    assert httpx.get(chart, params={"vs_currency": "usd", "days": 2}).status_code == 500
    assert get_rates(fake).status_code == 200
    fake.set_mode("429", retry_after=3)  # set_mode: every endpoint
    response = httpx.get(f"{fake.url}/simple/supported_vs_currencies")
    assert response.status_code == 429 and response.headers["retry-after"] == "3"
