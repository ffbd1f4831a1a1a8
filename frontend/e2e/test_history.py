"""The history chart's ranges in Chromium against a stack whose backfill has run: the fake
CoinGecko's market_chart filled a year daily and 90 days hourly (BACKFILL_CALLS_PER_MINUTE=1000,
so that takes seconds), and live refreshes every 2 s add to it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from e2e_page import axe_violations, line_pixels, screenshot
from e2e_stack import Stack
from playwright.sync_api import Locator, Page, Route, expect
from testkit.fake_coingecko import NOT_SUPPORTED, load_fixture
from testkit.processes import http_get, wait_until

ROWS = "#rates-body tr[data-code]"
WAIT_MS = 20_000
UNITS = [u for u in load_fixture()["rates"] if u not in NOT_SUPPORTED | {"btc"}]
BACKFILL_CALLS = 1 + 2 * len(UNITS)  # supported_vs_currencies, then daily and hourly per unit

BUTTONS = {"24h": "24 h", "7d": "7 d", "30d": "30 d", "1y": "1 y"}
HOUR = r"\d\d:00"
DAY = r"[A-Z][a-z]{2} \d{1,2}"
MONTH = r"[A-Z][a-z]{2}( \d{4})?"
# The x axis' labels (read from #chart's data-time-labels, "|"-separated): hours for a day
# (midnight names the day), days for a week or a month, months for a year.
LABELS = {
    "24h": rf"^(({HOUR}|{DAY})\|)+({HOUR}|{DAY})$",
    "7d": rf"^({DAY}\|)+{DAY}$",
    "30d": rf"^({DAY}\|)+{DAY}$",
    "1y": rf"^({MONTH}\|)+{MONTH}$",
}


@pytest.fixture(scope="module")
def backfilled() -> Iterator[Stack]:
    stack = Stack(REFRESH_INTERVAL="2", BACKFILL="true", BACKFILL_CALLS_PER_MINUTE="1000")
    try:
        stack.start()
        assert stack.backend is not None
        backend = stack.backend.url

        def done() -> bool:
            if len(stack.fake.history_calls) < BACKFILL_CALLS:
                return False
            counts = [
                json.loads(http_get(f"{backend}/api/v1/rates/{code}/history?range=1y")[2])["count"]
                for code in ("usd", "eth")
            ]
            return min(counts) >= 365

        wait_until("the backfill of a year for every unit", done, timeout_s=120)
        yield stack
    finally:
        stack.stop()


def open_app(page: Page, stack: Stack, query: str = "") -> None:
    page.goto(stack.url + "/" + query)
    expect(page.locator(ROWS).first).to_be_visible()


def is_history(range_: str, code: str) -> Callable[[Any], bool]:
    return lambda r: f"/api/v1/rates/{code}/history?" in r.url and f"range={range_}" in r.url


def downloaded_points(page: Page, link: Locator, name: str) -> list[tuple[str, float]]:
    """Click "Download CSV" and read the file the browser saved: a header row, then the points."""
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == name
    path = download.value.path()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("t,value\n"), text[:80]
    return [(r["t"], float(r["value"])) for r in csv.DictReader(io.StringIO(text))]


def json_points(page: Page, href: str) -> list[tuple[str, float]]:
    body = page.request.get(href.replace("&format=csv", "")).json()
    return [(p["t"], p["value"]) for p in body["points"]]


@pytest.mark.parametrize("range_", list(BUTTONS))
def test_each_range_draws_the_backfilled_series_with_labels_that_fit_and_a_csv_of_it(
    page: Page, backfilled: Stack, range_: str
) -> None:
    chart = page.locator("#chart")
    radio = page.get_by_role("radio", name=BUTTONS[range_], exact=True)
    if range_ == "24h":  # the default: the page asks for it on its own
        with page.expect_response(is_history(range_, "usd")) as answer:
            open_app(page, backfilled)
    else:
        open_app(page, backfilled)
        expect(chart).to_have_attribute("data-range", "24h", timeout=WAIT_MS)
        with page.expect_response(is_history(range_, "usd")) as answer:
            radio.click()
    body = answer.value.json()
    # The API's resolution for the range over the backfilled span (never finer than the
    # backfill's hourly points), and at least as many points as the backfill gave it.
    expected = {
        "24h": (3600, 3600, 24),
        "7d": (3600, 3600, 168),
        "30d": (3600, 86400, 300),
        "1y": (86400, 86400, 365),
    }[range_]
    assert expected[0] <= body["resolution_seconds"] <= expected[1], body["resolution_seconds"]
    assert expected[2] <= body["count"] <= 500

    # The chart shows exactly that series, with time labels that fit the range.
    expect(radio).to_have_attribute("aria-checked", "true")
    expect(page.locator('#chart-range [aria-checked="true"]')).to_have_count(1)
    expect(chart).to_have_attribute("data-range", range_)
    expect(chart).to_have_attribute("data-points", str(body["count"]))
    expect(chart).not_to_have_attribute("aria-busy", "true")
    expect(chart).to_have_attribute("data-time-labels", re.compile(LABELS[range_]))
    if range_ == "1y":
        expect(chart).to_have_attribute("data-time-labels", re.compile(r"\d{4}"))
    expect(page.locator("#chart-note")).to_contain_text(f"{body['count']} points since")
    assert line_pixels(page) > 100
    screenshot(page, f"history-{range_}")

    # The choice is in the URL (the default is not) and survives a reload.
    assert (f"range={range_}" in page.url) == (range_ != "24h")
    page.reload()
    expect(page.get_by_role("radio", name=BUTTONS[range_], exact=True)).to_have_attribute(
        "aria-checked", "true"
    )
    expect(chart).to_have_attribute("data-range", range_, timeout=WAIT_MS)

    # "Download CSV" saves the CSV form of the shown series: the same points as the JSON. Live
    # refreshes may change the newest point between two requests, so the download counts when it
    # equals the JSON asked just before or just after it.
    link = page.get_by_role("link", name="Download CSV")
    href = f"/api/v1/rates/usd/history?base=btc&range={range_}&format=csv"
    expect(link).to_have_attribute("href", href)
    url = backfilled.url + href
    for _ in range(5):
        before = json_points(page, url)
        saved = downloaded_points(page, link, f"usd-per-1-btc-{range_}.csv")
        if saved in (before, json_points(page, url)):
            break
    else:
        pytest.fail(f"the downloaded CSV never equalled the JSON ({len(saved)} rows)")
    assert len(saved) >= expected[2]

    # A crypto unit too, in another base: the link follows.
    with page.expect_response(is_history(range_, "eth")) as eth:
        page.get_by_label("Currency shown in the chart").select_option("eth")
    expect(page.locator("#chart-caption")).to_have_text("ETH per 1 BTC")
    expect(chart).to_have_attribute("data-points", str(eth.value.json()["count"]))
    assert eth.value.json()["count"] >= expected[2]
    page.get_by_label("Values per 1").select_option("usd")
    expect(link).to_have_attribute(
        "href", f"/api/v1/rates/eth/history?base=usd&range={range_}&format=csv"
    )
    expect(page.locator("#chart-caption")).to_have_text("ETH per 1 USD")
    assert axe_violations(page) == []


def test_a_new_range_shows_as_loading_until_its_series_arrives(
    page: Page, backfilled: Stack
) -> None:
    open_app(page, backfilled)
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-range", "24h", timeout=WAIT_MS)
    held: list[Route] = []
    page.route(
        lambda url: "/history?" in url and "range=30d" in url, lambda route: held.append(route)
    )
    page.get_by_role("radio", name="30 d").click()
    # The 24 h line stays, marked busy, and the note says what is coming instead of what is shown.
    expect(chart).to_have_attribute("aria-busy", "true")
    expect(page.locator("#chart-note")).to_have_text("Loading the last 30 days of USD per 1 BTC…")
    expect(chart).to_have_attribute("data-range", "24h")
    assert axe_violations(page) == []
    for _ in range(100):  # the sync API runs the route handler only while it is called
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page did not ask for 30 days"
    for route in held:
        route.continue_()
    expect(chart).to_have_attribute("data-range", "30d")
    expect(chart).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#chart-note")).to_contain_text("points since")


def test_without_recorded_history_each_range_says_so(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    # CoinGecko down from the start: the page shows the offline sample, which is never history.
    down = make_stack(upstream_mode="500", SAMPLE_FALLBACK="true")
    open_app(page, down, "?range=7d")
    expect(page.get_by_role("radio", name="7 d")).to_have_attribute("aria-checked", "true")
    expect(page.locator("#chart .chart-empty")).to_have_text(
        "No history recorded in the last 7 days yet: the service adds a point at every "
        "successful refresh from CoinGecko."
    )
    expect(page.locator("#chart")).to_have_attribute("data-points", "0")
    page.get_by_role("radio", name="1 y").click()
    expect(page.locator("#chart .chart-empty")).to_contain_text("in the last year yet")
    expect(page.locator("#chart-note")).to_have_text("")


def test_a_range_that_cannot_be_loaded_does_not_pass_off_the_old_line_as_it(
    page: Page, make_stack: Callable[..., Stack]
) -> None:
    live = make_stack(REFRESH_INTERVAL="2", nginx_env={"MICRO_CACHE_TTL": "0"})
    open_app(page, live)
    chart = page.locator("#chart")
    expect(chart.locator("canvas")).to_be_visible(timeout=WAIT_MS)
    assert live.backend is not None
    live.backend.stop()
    page.get_by_role("radio", name="7 d").click()
    expect(chart.locator(".chart-empty")).to_contain_text("History unavailable", timeout=WAIT_MS)
    expect(chart.locator("canvas")).to_have_count(0)
    expect(page.locator("#chart-note")).to_contain_text("History unavailable")
